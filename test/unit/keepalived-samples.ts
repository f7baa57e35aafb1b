/** Where keepalived's doc/samples are: $LVSD_KEEPALIVED_SAMPLES, the shared corpus, or Debian's keepalived package. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './config-fixtures.js';

export function samplesDir(): string | undefined {
  return [process.env.LVSD_KEEPALIVED_SAMPLES, join(ROOT, '../shared/corpus/keepalived-samples'), '/work/shared/corpus/keepalived-samples', '/usr/share/doc/keepalived/samples']
    .find((d): d is string => d !== undefined && existsSync(join(d, 'keepalived.conf.sample')));
}
