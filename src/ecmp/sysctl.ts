/**
 * The sysctls active-active needs in lvsd's network namespace (docs/ecmp.md): sloppy TCP and SCTP, so a
 * director picks up a flow in mid-stream when the routers move it there, and ARP settings so a director
 * never answers for a service address it holds on `lo` (routed VIPs are never ARPed for; an address that
 * happens to be on-link must not be claimed by a director the routers no longer send it to).
 */
import { setSysctls } from '../sysctl.js';

export interface Sysctl {
  /** Dotted name, e.g. net.ipv4.vs.sloppy_tcp. */
  name: string;
  value: string;
  /** Without it the director must not announce (a flow moved to it would be reset). */
  required: boolean;
}

export const ECMP_SYSCTLS: readonly Sysctl[] = [
  { name: 'net.ipv4.vs.sloppy_tcp', value: '1', required: true },
  { name: 'net.ipv4.vs.sloppy_sctp', value: '1', required: false },
  { name: 'net.ipv4.conf.all.arp_ignore', value: '1', required: false },
  { name: 'net.ipv4.conf.all.arp_announce', value: '2', required: false },
];

export interface SysctlResult {
  name: string;
  ok: boolean;
  required: boolean;
  /** Why it is not in force. */
  error?: string;
}

/**
 * Sets each sysctl under `root` (/proc/sys): written, or already at the value (a read-only /proc/sys
 * where someone set it is fine). Never throws.
 */
export async function applySysctls(root = '/proc/sys', list: readonly Sysctl[] = ECMP_SYSCTLS): Promise<SysctlResult[]> {
  const results = await setSysctls(list, root);
  return list.map((s, i) => {
    const r = results[i]!;
    return { name: s.name, ok: r.ok, required: s.required, ...(r.error !== undefined && { error: r.error }) };
  });
}
