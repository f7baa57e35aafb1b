/**
 * VRRP Accept_Mode off (RFC 5798 6.4.3): a master that is not the address owner must not accept packets
 * addressed to its VIPs. lvsd keeps one nftables table, `inet lvsd_vrrp`, whose input chain drops packets
 * to the VIPs of such instances. The chain hooks input at priority 200, after IPVS (LOCAL_IN at 98 and 99),
 * so traffic to a virtual service on a VIP is still forwarded: what is dropped is what would reach the
 * director itself (ssh, ping, a local listener). IPv6 neighbour solicitations and advertisements to a VIP
 * are let through: neighbour unreachability detection needs them, as ARP (not IP) does for IPv4.
 *
 * The rules do not depend on the VRRP state: a backup does not hold the VIPs, so nothing reaches its input
 * hook for them. The table is written whole, in one `nft -f` transaction, at start and at every reload, and
 * deleted when no instance needs it (also a leftover of a crashed run).
 */
import { LvsdError } from '../errors.js';
import type { Logger } from '../log.js';
import { familyOf } from './address.js';

export const ACCEPT_FILTER_TABLE = 'lvsd_vrrp';
/** After IPVS's LOCAL_IN hooks (NF_IP_PRI_NAT_SRC - 2 and - 1). */
export const ACCEPT_FILTER_PRIORITY = 200;

/** The nft script that makes the table drop packets to `vips` (none: delete it). Pure. */
export function acceptFilterScript(vips: readonly string[]): string {
  const table = `inet ${ACCEPT_FILTER_TABLE}`;
  // "add table" then "delete table" removes it whether or not it exists; the rest recreates it, one transaction
  const lines = [`add table ${table}`, `delete table ${table}`];
  if (vips.length === 0) return `${lines.join('\n')}\n`;
  const v4 = vips.filter((a) => familyOf(a) === 'ipv4');
  const v6 = vips.filter((a) => familyOf(a) === 'ipv6');
  const elements = (list: string[]) => (list.length > 0 ? ` elements = { ${list.join(', ')} };` : '');
  lines.push(
    `table ${table} {`,
    `  set vips4 { type ipv4_addr;${elements(v4)} }`,
    `  set vips6 { type ipv6_addr;${elements(v6)} }`,
    '  chain input {',
    `    type filter hook input priority ${ACCEPT_FILTER_PRIORITY}; policy accept;`,
    '    ip daddr @vips4 drop',
    '    ip6 daddr @vips6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept',
    '    ip6 daddr @vips6 drop',
    '  }',
    '}',
  );
  return `${lines.join('\n')}\n`;
}

/**
 * Makes the kernel drop packets to `vips` (see the module comment); an empty list removes the table.
 * Throws LvsdError LVSD_FIREWALL when nft is missing or refuses the script, unless the list is empty and
 * nft is missing (then there is nothing lvsd could have installed).
 */
export async function setAcceptFilter(vips: readonly string[], nft = 'nft', log?: Logger): Promise<void> {
  // started by the clone that copies nothing of the daemon (src/spawn-child.ts), the rules on its stdin;
  // imported on first use: not among the VRRP thread's start-up modules
  const { runProgram } = await import('../spawn-child.js');
  const r = await runProgram(nft, ['-f', '-'], { env: processEnv(), input: acceptFilterScript(vips), timeoutMs: 10_000, ...(log ? { log } : {}) });
  if (!r.error && r.code === 0) return;
  if (r.error?.code === 'ENOENT' && vips.length === 0) return;
  const why = r.error?.code === 'ENOENT'
    ? `${nft} is not installed (Debian: apt install nftables)`
    : r.error ? `${nft} could not be started: ${r.error.message}`
      : `${nft} refused the rules: ${r.stderr.trim() || (r.timedOut ? `no answer in 10 s${r.killed ? ' (killed: it did not end on SIGTERM)' : ''}` : r.code !== null ? `exit code ${r.code}` : `killed by ${r.signal}`)}`;
  throw new LvsdError('LVSD_FIREWALL', `cannot ${vips.length > 0 ? 'install' : 'remove'} the Accept_Mode filter for ${vips.join(', ') || 'no address'}: ${why}`,
    { details: { vips: [...vips] }, ...(r.error ? { cause: r.error } : {}) });
}

/** The daemon's environment (what execFile gave nft), without unset entries. */
function processEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}
