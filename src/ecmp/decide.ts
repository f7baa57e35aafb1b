/**
 * What a director announces, as a function of what it knows: a service address (VIP) is announced while
 * lvsd is not stopping, the director is not drained and has no problem of its own (IPVS unreachable,
 * sloppy TCP not in force, the address not on its interface), and every service on that address has at
 * least its quorum of real servers taking traffic. Pure: the ECMP manager feeds it and acts on the result.
 */

/** One service on an address: how many of its real servers take traffic now, and how many it needs. */
export interface ServiceQuorum {
  name: string;
  /** The service address (canonical text). */
  address: string;
  /** Real servers at a weight above 0 (the sorry server not counted). */
  up: number;
  /** `quorum.minUp`, else 1. */
  quorum: number;
  /**
   * Real servers without a first health verdict yet (a director just started). While any is unsettled the
   * VIP stays withdrawn: `mh` gives every director the same choice only over the same weighted servers, so
   * a director announcing with one server still at its initial weight would send the flows the routers move
   * to it to other servers than the rest do (and sloppy TCP could not save them).
   */
  unsettled?: number;
}

export interface DirectorState {
  /** `lvsd drain --director` is in force. */
  drained: boolean;
  /** SIGTERM: lvsd is withdrawing before it stops. */
  stopping: boolean;
  /** Why the director itself cannot serve (empty when it can): each withdraws every address. */
  problems: readonly string[];
  /** Addresses not (yet) on the VIP interface: each of these is withdrawn. */
  missingAddresses?: ReadonlySet<string>;
}

export interface VipDecision {
  address: string;
  /** The prefix BIRD announces: /32 or /128. */
  prefix: string;
  announce: boolean;
  /** Why it is withdrawn ('' when announced). */
  reason: string;
}

export function vipPrefix(address: string): string {
  return address.includes(':') ? `${address}/128` : `${address}/32`;
}

/** One decision per distinct service address, in the order the addresses first appear. */
export function decide(services: readonly ServiceQuorum[], director: DirectorState): VipDecision[] {
  const byAddress = new Map<string, ServiceQuorum[]>();
  for (const s of services) {
    const list = byAddress.get(s.address);
    if (list) list.push(s);
    else byAddress.set(s.address, [s]);
  }
  const out: VipDecision[] = [];
  for (const [address, list] of byAddress) {
    out.push({ address, prefix: vipPrefix(address), ...verdict(address, list, director) });
  }
  return out;
}

function verdict(address: string, list: readonly ServiceQuorum[], d: DirectorState): { announce: boolean; reason: string } {
  if (d.stopping) return { announce: false, reason: 'lvsd is stopping' };
  if (d.drained) return { announce: false, reason: 'director drained' };
  if (d.problems.length > 0) return { announce: false, reason: `director: ${d.problems.join('; ')}` };
  if (d.missingAddresses?.has(address)) return { announce: false, reason: `${address} is not on the VIP interface` };
  const waiting = list.filter((s) => (s.unsettled ?? 0) > 0);
  if (waiting.length > 0) {
    return {
      announce: false,
      reason: waiting.map((s) => `${s.name}: waiting for the first health verdict of ${s.unsettled} real server${s.unsettled === 1 ? '' : 's'}`).join('; '),
    };
  }
  const short = list.filter((s) => s.up < s.quorum);
  if (short.length > 0) {
    return {
      announce: false,
      reason: short.map((s) => `${s.name}: ${s.up} real server${s.up === 1 ? '' : 's'} up, quorum ${s.quorum}`).join('; '),
    };
  }
  return { announce: true, reason: '' };
}

/** The addresses announced in a set of decisions (what BIRD's static protocol holds). */
export function announced(decisions: readonly VipDecision[]): string[] {
  return decisions.filter((d) => d.announce).map((d) => d.prefix);
}
