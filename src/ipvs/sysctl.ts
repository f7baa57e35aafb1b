/**
 * IPVS's per-network-namespace switches under /proc/sys/net/ipv4/vs that decide whether a server taken out
 * (weight 0: a failed check with onFailure inhibit, a drain) still gets new connections:
 * - expire_quiescent_template: a persistent client's template to a weight-0 server is dropped when the client
 *   connects again, so its new connections go to a server in service, not to the failed one for the whole
 *   persistence timeout;
 * - expire_nodest_conn: a SYN that matches an old connection entry (a client reusing a source port while the
 *   entry lingers: FIN_WAIT lasts 2 min in DR, CLOSE 10 s after a reset) to a weight-0 server is scheduled
 *   afresh instead of following the entry; and the connections of a removed server are expired on their next
 *   packet rather than silently dropped until they time out.
 * lvsd sets both by default (`ipvs.expireQuiescentTemplate`, `ipvs.expireNodestConn`), writes only what
 * differs, and never fails over them: a read-only /proc/sys is reported, the table is still programmed.
 */
import { setSysctls } from '../sysctl.js';

export const IPVS_SYSCTL_DIR = '/proc/sys/net/ipv4/vs';

/** What the config asks of the kernel, by sysctl name. Pure. */
export function ipvsSysctls(ipvs: { expireNodestConn: boolean; expireQuiescentTemplate: boolean }): Record<string, number> {
  return {
    expire_nodest_conn: ipvs.expireNodestConn ? 1 : 0,
    expire_quiescent_template: ipvs.expireQuiescentTemplate ? 1 : 0,
  };
}

export interface SysctlOutcome {
  /** set because they differed: name -> [before, after] */
  changed: Record<string, [number, number]>;
  failed: Array<{ name: string; path: string; error: string; code?: string }>;
}

/** Reads each value and writes those that differ (src/sysctl.ts). Never throws. */
export async function applyIpvsSysctls(values: Record<string, number>, dir = IPVS_SYSCTL_DIR): Promise<SysctlOutcome> {
  const out: SysctlOutcome = { changed: {}, failed: [] };
  for (const r of await setSysctls(Object.entries(values).map(([name, v]) => ({ name, value: String(v) })), dir)) {
    if (r.changed) out.changed[r.name] = [Number(r.from), values[r.name]!];
    else if (!r.ok) out.failed.push({ name: r.name, path: r.path, error: r.error!, ...(r.code && { code: r.code }) });
  }
  return out;
}
