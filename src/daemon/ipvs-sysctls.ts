/** IPVS's sysctls the config asks for (ipvs/sysctl.ts), set at start and after a reload, each change logged. */
import type { Config } from '../config/types.js';
import { applyIpvsSysctls, ipvsSysctls } from '../ipvs/sysctl.js';
import type { Logger } from '../log.js';

/** Sets them under `dir` (default /proc/sys/net/ipv4/vs); a failure is logged, never fatal. Never throws. */
export async function applyConfiguredSysctls(ipvs: Config['ipvs'], dir: string | undefined, log: Logger): Promise<void> {
  const out = await applyIpvsSysctls(ipvsSysctls(ipvs), dir);
  for (const [name, [from, to]] of Object.entries(out.changed)) {
    log.info({ event: 'ipvs.sysctl_set', name, from, to }, `net.ipv4.vs.${name}: ${from} -> ${to}`);
  }
  for (const f of out.failed) {
    log.warn({ event: 'ipvs.sysctl_failed', name: f.name, path: f.path, err: f.error, code: f.code },
      `cannot set net.ipv4.vs.${f.name} (${f.error}): servers taken out may still get new connections from reused ports or persistence templates`);
  }
}
