/**
 * What one read of BIRD's sessions tells about a peer, compared with the read before (pure). lvsd reads
 * BIRD every second; a session that goes down and comes back between two reads shows the same state
 * both times, but BIRD's protocol changed state meanwhile (its `since` in `show protocols` moved): that
 * is a flap, which an operator wants to hear about as much as a session that stays down.
 */

export interface SessionRead {
  /** BGP state ('Established', 'Active', ..., 'Down', 'unknown'). */
  bgp: string;
  /** BFD state, 'off' without BFD. */
  bfd: string;
  /** When BIRD's protocol last changed state (its own text); undefined when BIRD did not say. */
  changedAt: string | undefined;
}

/**
 * 'changed': the BGP or BFD state differs; 'flapped': the same states, but BIRD's protocol changed state
 * in between (went down and came back, or restarted after an error); 'same': nothing happened.
 */
export function sessionChange(before: SessionRead, now: SessionRead): 'changed' | 'flapped' | 'same' {
  if (before.bgp !== now.bgp || before.bfd !== now.bfd) return 'changed';
  if (before.changedAt !== undefined && now.changedAt !== undefined && before.changedAt !== now.changedAt) return 'flapped';
  return 'same';
}
