/**
 * The environment lvsd runs with as installed: the `Environment=` lines of the packaged systemd unit
 * (examples/lvsd.service, e.g. MALLOC_ARENA_MAX), so the benches measure lvsd as deployed, as they take
 * its node flags from the launcher's first line. LVSD_BENCH_UNIT_ENV=0 runs lvsd without them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function unitEnvironment(root: string): Record<string, string> {
  if (process.env.LVSD_BENCH_UNIT_ENV === '0') return {};
  let unit: string;
  try {
    unit = readFileSync(join(root, 'examples', 'lvsd.service'), 'utf8');
  } catch {
    return {};
  }
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$/gm)) env[m[1]!] = m[2]!;
  return env;
}
