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
  /** When BIRD's protocol last changed state, as BIRD printed it (epoch seconds); undefined when BIRD did not say. */
  changedAt: string | undefined;
}

/**
 * How far BIRD's printed change time must move to be a change. BIRD keeps the time on its monotonic clock
 * and prints it as wall-clock time minus the age, the two clocks read at different moments: the same
 * change prints a few microseconds apart from one read to the next (measured on 2.0.12), more when BIRD
 * is preempted between the two readings on a loaded host. A real flap moves it by a second or more: with
 * lvsd's `connect delay time 1` and `error wait time 1, 10` a session is down at least a second.
 */
export const CHANGE_TOLERANCE_S = 0.5;

/**
 * 'changed': the BGP or BFD state differs; 'flapped': the same states, but BIRD's protocol changed state
 * in between (went down and came back, or restarted after an error); 'same': nothing happened.
 */
export function sessionChange(before: SessionRead, now: SessionRead): 'changed' | 'flapped' | 'same' {
  if (before.bgp !== now.bgp || before.bfd !== now.bfd) return 'changed';
  const a = seconds(before.changedAt);
  const b = seconds(now.changedAt);
  if (a !== undefined && b !== undefined && Math.abs(b - a) > CHANGE_TOLERANCE_S) return 'flapped';
  return 'same';
}

function seconds(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d+(\.\d+)?$/.test(text)) return undefined;
  return Number(text);
}
