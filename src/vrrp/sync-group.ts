/**
 * Sync groups: VRRP instances that must be master on the same director (typically the outside VIP and
 * the inside gateway of a NAT director). Pure: from the members' machine states and the transition one of
 * them just made, the sync commands the runner feeds to the others (as `{ type: 'sync', command }` events).
 *
 * Semantics (keepalived's, which users expect):
 *  - one member faulty on its own (its interface or a weight-0 tracked interface down) puts every other
 *    running member in Fault (`fault`); a master among them sends priority 0 so the peer director's
 *    instances take over in Skew_Time. When no member is faulty on its own any more, all are released
 *    (`release`) and start again as Backup.
 *  - a member that becomes Master by itself (its Master_Down_Timer, or the owner starting) makes every
 *    Backup member Master (`master`).
 *  - a member that stops being Master because a peer won (higher priority) makes every Master member
 *    step down (`backup`): they send priority 0 and stay Backup without preempting until they are Master
 *    again (their Master_Down_Timer, or the group's `master`).
 *  - transitions the group itself caused (reason `sync_group_*`) never propagate again, so one change
 *    settles in one round.
 */
import type { SyncCommand, TransitionReason, VrrpState, VrrpStateName } from './machine-types.js';
import { ownFaultCause } from './machine-formulas.js';

export interface MemberTransition {
  member: string;
  from: VrrpStateName;
  to: VrrpStateName;
  reason: TransitionReason;
}

export interface SyncOrder {
  member: string;
  command: SyncCommand;
}

const live = (s: VrrpState) => s.current === 'backup' || s.current === 'master' || s.current === 'fault';

/**
 * The commands for the members of one group after a member's step. Call it after every step of any
 * member (with the transition, if the step made one): fault and release follow the members' states, so a
 * fault cause that comes or goes without a transition (a member already in Fault) is seen too.
 * `members` holds every member's state after that step.
 */
export function syncGroupOrders(members: ReadonlyMap<string, VrrpState>, transition?: MemberTransition): SyncOrder[] {
  const orders: SyncOrder[] = [];
  const anyOwnFault = [...members.values()].some((s) => live(s) && ownFaultCause(s) !== undefined);
  for (const [name, s] of members) {
    if (!live(s)) continue;
    if (anyOwnFault && !s.groupFault && ownFaultCause(s) === undefined) orders.push({ member: name, command: 'fault' });
    if (!anyOwnFault && s.groupFault) orders.push({ member: name, command: 'release' });
  }
  if (anyOwnFault || !transition || transition.reason.startsWith('sync_group')) return orders;

  const follow = (from: VrrpStateName, command: SyncCommand) => {
    for (const [name, s] of members) {
      if (name !== transition.member && s.current === from) orders.push({ member: name, command });
    }
  };
  if (transition.to === 'master') follow('backup', 'master');
  else if (transition.from === 'master' && transition.to === 'backup') follow('master', 'backup');
  return orders;
}
