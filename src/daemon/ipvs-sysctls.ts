/**
 * IPVS's sysctls the config asks for (ipvs/sysctl.ts), as the daemon keeps them: set at start; at a reload
 * only when the config asks for other values than those in force, or the last attempt did not set them
 * all; and read again at each drift tick, which sets again what was changed behind lvsd's back. Each
 * change is logged. A reload of a one-weight edit used to read both files every time (in the test VM 3-23 ms
 * of a 100-180 ms reload at 22,000 objects, docs/benchmarks.md 2026-12-06 06:00), and what it guarded
 * against (a value changed by someone else) was only undone when a reload happened to come.
 */
import type { Config } from '../config/types.js';
import { applyIpvsSysctls, ipvsSysctls } from '../ipvs/sysctl.js';
import type { Logger } from '../log.js';

/** Sets them under `dir` (default /proc/sys/net/ipv4/vs); a failure is logged, never fatal. Never throws. Whether every one is in force. */
export async function applyConfiguredSysctls(ipvs: Config['ipvs'], dir: string | undefined, log: Logger): Promise<boolean> {
  const out = await applyIpvsSysctls(ipvsSysctls(ipvs), dir);
  for (const [name, [from, to]] of Object.entries(out.changed)) {
    log.info({ event: 'ipvs.sysctl_set', name, from, to }, `net.ipv4.vs.${name}: ${from} -> ${to}`);
  }
  for (const f of out.failed) {
    log.warn({ event: 'ipvs.sysctl_failed', name: f.name, path: f.path, err: f.error, code: f.code },
      `cannot set net.ipv4.vs.${f.name} (${f.error}): servers taken out may still get new connections from reused ports or persistence templates`);
  }
  return out.failed.length === 0;
}

/** What the config asks for, as one comparable key. Pure. */
function wantedKey(ipvs: Config['ipvs']): string {
  const w = ipvsSysctls(ipvs);
  return Object.keys(w).sort().map((k) => `${k}=${w[k]}`).join(' ');
}

/** The daemon's IPVS sysctls: what it last put in force, and when to set them again. */
export class IpvsSysctls {
  /** The values the last attempt put in force, every one of them (wantedKey); undefined: none yet, or one failed. */
  private inForce: string | undefined;

  constructor(private readonly dir: string | undefined, private readonly log: Logger) {}

  /** Sets them (start): each read, the ones that differ written. Never throws. */
  async set(ipvs: Config['ipvs']): Promise<void> {
    const key = wantedKey(ipvs);
    this.inForce = undefined;
    if (await applyConfiguredSysctls(ipvs, this.dir, this.log)) this.inForce = key;
  }

  /** A reload: set only when the config asks for other values than those in force, or the last attempt failed. Whether it set them. */
  async follow(ipvs: Config['ipvs']): Promise<boolean> {
    if (this.inForce === wantedKey(ipvs)) return false;
    await this.set(ipvs);
    return true;
  }

  /**
   * A drift tick: those in force read again and set where someone else changed them (logged as any change).
   * Not while the last attempt failed (a read-only /proc/sys): its warning was logged, and the next reload
   * tries again, so a drift tick does not repeat it every interval.
   */
  async check(ipvs: Config['ipvs']): Promise<void> {
    if (this.inForce === undefined) return;
    await this.set(ipvs);
  }
}
