import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { loadConfig } from '../../config/index.js';
import { LvsdError } from '../../errors.js';
import { keepalivedConf } from '../../lab/keepalived-conf.js';
import { EXIT } from '../exit.js';

/**
 * `lvsd export keepalived`: the keepalived.conf equivalent of the config, the way back (a rollback). What
 * keepalived cannot express is refused with its reason, never written differently.
 */
export async function exportCommand(opts: { format: string; config: string; output?: string; routerId?: string }): Promise<number> {
  if (opts.format !== 'keepalived') throw new LvsdError('LVSD_USAGE', `lvsd export: unknown format "${opts.format}" (known: keepalived)`);
  const config = await loadConfig(opts.config);
  const text = keepalivedConf(config, { routerId: opts.routerId ?? hostname().split('.')[0]!, vrrpRtPriority: 0, vrrpRlimitRttime: 0 });
  if (opts.output) writeFileSync(opts.output, text);
  else process.stdout.write(text);
  return EXIT.ok;
}
