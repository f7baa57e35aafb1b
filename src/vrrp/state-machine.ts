/**
 * The VRRP state machine of RFC 5798 section 6.4 (and RFC 3768 section 6.4 for v2), pure:
 * `step(state, event, now) -> { state, actions }`. The runner owns the socket, the timers and rtnetlink;
 * it feeds events in and performs the actions out, in order. Time is milliseconds on the runner's
 * monotonic clock; timers are named and set by absolute deadline on that clock.
 *
 * Beyond the RFC: Fault (own interface down, or a tracked interface with weight 0 down, or the sync group
 * in fault) and Stopped (after a clean shutdown) states, tracked-interface weights, preempt delay, sync
 * group commands, the "two masters meet" reassertion, and the wait for the daemon's table (no claim of
 * mastership before the first reconcile finished: `waitingForTable`). docs/vrrp.md explains each decision.
 */
import { advertIntervalMs, compareAddresses, effectivePriority, masterDownInterval, ownFaultCause, skewTime } from './machine-formulas.js';
import type { MachineConfig } from './machine-config.js';
import type {
  NotifyKind, StepResult, SyncCommand, TimerName, TransitionReason, VrrpAction, VrrpEvent, VrrpState, VrrpStateName,
} from './machine-types.js';
import type { Advert } from './packet.js';
import type { TrackEffect } from './track.js';

export { machineConfigFrom, wireInterval, type MachineConfig } from './machine-config.js';
export { compareAddresses, effectivePriority, masterDownInterval, ownFaultCause, skewTime } from './machine-formulas.js';
export type {
  NotifyKind, StepResult, SyncCommand, TimerName, TransitionReason, VrrpAction, VrrpEvent, VrrpState, VrrpStateName,
} from './machine-types.js';

export function createMachine(
  config: MachineConfig,
  init: { interfaceUp?: boolean; trackDown?: string[]; trackEffects?: Record<string, TrackEffect>; waitForTable?: boolean } = {},
): VrrpState {
  return {
    config,
    current: 'initialize',
    interfaceUp: init.interfaceUp ?? true,
    trackDown: [...new Set(init.trackDown ?? [])].sort(),
    trackEffects: { ...init.trackEffects },
    groupFault: false,
    holdBackup: false,
    masterAdverInterval: config.advertInterval,
    timers: {},
    preemptReady: false,
    addressMismatches: 0,
    waitingForTable: init.waitForTable ?? false,
  };
}

// ---- the machine ----------------------------------------------------------------------------------------

/** A step in progress: a mutable copy of the state and the actions so far. */
class Draft {
  s: { -readonly [K in keyof VrrpState]: VrrpState[K] };
  timers: Partial<Record<TimerName, number>>;
  readonly actions: VrrpAction[] = [];

  constructor(state: VrrpState, readonly now: number) {
    this.s = { ...state };
    this.timers = { ...state.timers };
  }
  get priority(): number { return effectivePriority(this.s); }
  get mdi(): number { return masterDownInterval(this.s.config.version, this.priority, this.s.masterAdverInterval); }
  get skew(): number { return skewTime(this.s.config.version, this.priority, this.s.masterAdverInterval); }

  arm(timer: TimerName, at: number): void {
    this.timers[timer] = at;
    this.actions.push({ type: 'set_timer', timer, at });
  }
  disarm(timer: TimerName): void {
    if (this.timers[timer] === undefined) return;
    delete this.timers[timer];
    this.actions.push({ type: 'cancel_timer', timer });
  }
  disarmAll(): void {
    for (const t of ['advert', 'master_down', 'preempt'] as const) this.disarm(t);
  }
  send(priority = this.priority): void { this.actions.push({ type: 'send_advert', priority }); }
  move(to: VrrpStateName, reason: TransitionReason): void {
    const from = this.s.current;
    this.s.current = to;
    this.actions.push({ type: 'transition', from, to, reason });
    this.actions.push({ type: 'notify', kind: to === 'stopped' ? 'stop' : (to as NotifyKind) });
  }
  result(): StepResult {
    return { state: { ...this.s, timers: this.timers }, actions: this.actions };
  }

  /**
   * Become master, unless the daemon's table is not programmed yet: then stay backup, remember the claim
   * and make it at `table_ready` (the Master_Down timer is not re-armed: nobody is heard as master).
   */
  claim(reason: TransitionReason): void {
    if (!this.s.waitingForTable) return this.becomeMaster(reason);
    if (this.s.current !== 'backup') this.becomeBackup(reason);
    this.disarm('master_down');
    if (this.s.deferredClaim === undefined) this.actions.push({ type: 'claim_deferred', reason });
    this.s.deferredClaim = reason;
  }
  becomeMaster(reason: TransitionReason): void {
    delete this.s.deferredClaim;
    this.disarm('master_down');
    this.disarm('preempt');
    this.s.preemptReady = false;
    this.s.holdBackup = false;
    delete this.s.master;
    this.actions.push({ type: 'add_vips' });
    this.send();
    this.actions.push({ type: 'send_garp' });
    this.arm('advert', this.now + this.s.config.advertInterval);
    this.move('master', reason);
  }
  becomeBackup(reason: TransitionReason): void {
    const wasMaster = this.s.current === 'master';
    this.disarm('advert');
    if (wasMaster) this.actions.push({ type: 'remove_vips' });
    this.arm('master_down', this.now + this.mdi);
    this.move('backup', reason);
  }
  /** The RFC's Startup event, also used when a fault clears. */
  startup(reason: TransitionReason): void {
    const fault = ownFaultCause(this.s) ?? (this.s.groupFault ? 'sync_group_fault' : undefined);
    if (fault) return this.becomeFault(fault);
    this.s.masterAdverInterval = this.s.config.advertInterval;
    if (this.s.config.priority === 255) this.claim(reason);
    else this.becomeBackup(reason);
  }
  leave(): void {
    if (this.s.current === 'master') {
      // A master with a working interface tells the backups to take over now (priority 0).
      if (this.s.interfaceUp) this.send(0);
      this.actions.push({ type: 'remove_vips' });
    }
    this.disarmAll();
    this.s.preemptReady = false;
    this.s.holdBackup = false;
    delete this.s.master;
    delete this.s.deferredClaim;
  }
  becomeFault(reason: TransitionReason): void {
    this.leave();
    this.move('fault', reason);
  }
}

const running = (s: VrrpState) => s.current === 'backup' || s.current === 'master';

/** Apply one event at time `now` (ms, the runner's monotonic clock). Never throws for any event. */
export function step(state: VrrpState, event: VrrpEvent, now: number): StepResult {
  const d = new Draft(state, now);
  switch (event.type) {
    case 'start':
      if (state.current === 'initialize' || state.current === 'stopped') d.startup('start');
      break;
    case 'shutdown':
      if (state.current !== 'initialize' && state.current !== 'stopped') {
        d.leave();
        d.move('stopped', 'shutdown');
      }
      break;
    case 'interface':
      d.s.interfaceUp = event.up;
      reconsiderFault(d);
      break;
    case 'track': {
      const down = new Set(d.s.trackDown);
      if (event.up) down.delete(event.name);
      else down.add(event.name);
      d.s.trackDown = [...down].sort();
      reconsiderFault(d);
      break;
    }
    case 'track_effect': {
      const effects = { ...d.s.trackEffects };
      if (event.effect === null) delete effects[event.key];
      else effects[event.key] = event.effect;
      d.s.trackEffects = effects;
      reconsiderFault(d);
      break;
    }
    case 'sync':
      onSync(d, event.command);
      break;
    case 'table_ready': {
      if (!state.waitingForTable) break;
      d.s.waitingForTable = false;
      const claim = d.s.deferredClaim;
      delete d.s.deferredClaim;
      // the address owner is master whenever it runs (RFC 5798 6.4.1), whatever it heard meanwhile
      const owner = d.s.config.priority === 255;
      if (d.s.current === 'backup' && (claim !== undefined || owner)) d.becomeMaster(claim ?? 'start');
      break;
    }
    case 'timer':
      if (state.timers[event.timer] !== undefined) onTimer(d, event.timer);
      break;
    case 'advert':
      if (running(state)) onAdvert(d, event.advert);
      break;
  }
  return d.result();
}

/** After an interface, tracked interface or group-fault change: enter or leave Fault as the causes say. */
function reconsiderFault(d: Draft): void {
  const cause = ownFaultCause(d.s) ?? (d.s.groupFault ? 'sync_group_fault' : undefined);
  if (running(d.s) && cause) d.becomeFault(cause);
  else if (d.s.current === 'fault' && !cause) d.startup('fault_cleared');
}

function onSync(d: Draft, command: SyncCommand): void {
  switch (command) {
    case 'fault':
      // A member faulty on its own is the group's fault, not held by it: when its cause clears it starts again.
      if (ownFaultCause(d.s)) return;
      d.s.groupFault = true;
      if (running(d.s)) d.becomeFault('sync_group_fault');
      break;
    case 'release':
      if (!d.s.groupFault) return;
      d.s.groupFault = false;
      if (d.s.current === 'fault' && !ownFaultCause(d.s)) d.startup('sync_group_release');
      break;
    case 'master':
      if (d.s.current === 'backup') d.claim('sync_group_master');
      break;
    case 'backup':
      if (d.s.current === 'master') {
        d.send(0); // the peer instance of the group takes over after its Skew_Time
        d.becomeBackup('sync_group_backup');
      }
      if (d.s.current === 'backup') d.s.holdBackup = true;
      break;
  }
}

function onTimer(d: Draft, timer: TimerName): void {
  delete d.timers[timer]; // it fired
  switch (timer) {
    case 'master_down':
      if (d.s.current === 'backup') d.claim('master_down');
      break;
    case 'advert':
      if (d.s.current === 'master') {
        d.send();
        d.arm('advert', d.now + d.s.config.advertInterval);
      }
      break;
    case 'preempt':
      if (d.s.current === 'backup') d.s.preemptReady = true;
      break;
  }
}

function checkAddresses(d: Draft, a: Advert): void {
  const got = [...a.addresses].sort();
  const want = [...d.s.config.addresses].sort();
  if (got.length === want.length && got.every((x, i) => x === want[i])) {
    if (d.s.lastMismatch?.startsWith(`${a.source} `)) delete d.s.lastMismatch;
    return;
  }
  d.s.addressMismatches++;
  const key = `${a.source} ${got.join(',')}`;
  if (d.s.lastMismatch === key) return;
  d.s.lastMismatch = key;
  d.actions.push({ type: 'address_mismatch', source: a.source, advertised: [...a.addresses], configured: [...d.s.config.addresses] });
}

function onAdvert(d: Draft, a: Advert): void {
  checkAddresses(d, a);
  const local = d.priority;
  if (d.s.current === 'backup') {
    if (a.priority === 0) {
      // The master is leaving: take over after Skew_Time unless someone else speaks first.
      d.arm('master_down', d.now + d.skew);
      delete d.s.master;
      delete d.s.deferredClaim; // a master was heard: no claim until its timer runs out again
      return;
    }
    const lower = a.priority < local;
    if (lower && d.s.config.preempt && !d.s.holdBackup && d.s.config.preemptDelay > 0 && !d.s.preemptReady && d.timers.preempt === undefined) {
      d.arm('preempt', d.now + d.s.config.preemptDelay);
    }
    if (!lower) {
      d.disarm('preempt');
      d.s.preemptReady = false;
    }
    const waiting = d.timers.preempt !== undefined; // preempt delay still running
    if (!d.s.config.preempt || d.s.holdBackup || !lower || waiting) {
      if (d.s.config.version === 3) d.s.masterAdverInterval = advertIntervalMs(a);
      d.s.master = { address: a.source, priority: a.priority };
      d.arm('master_down', d.now + d.mdi);
      delete d.s.deferredClaim;
    }
    // else: a preempting backup discards it, and its Master_Down_Timer runs out.
    return;
  }
  // Master
  if (a.priority === 0) {
    d.send();
    d.arm('advert', d.now + d.s.config.advertInterval);
    return;
  }
  const owner = d.s.config.priority === 255;
  const higher = a.priority > local || (a.priority === local && compareAddresses(a.source, d.s.config.localAddress) > 0);
  if (higher && !owner) {
    if (d.s.config.version === 3) d.s.masterAdverInterval = advertIntervalMs(a);
    d.s.master = { address: a.source, priority: a.priority };
    d.becomeBackup('higher_priority');
    return;
  }
  // Another owner: a misconfiguration. RFC 5798 7.1 has an owner discard every advert; replying would ping-pong.
  if (owner && a.priority === 255) return;
  // Two masters meet and we win: say so at once and re-announce the VIPs so the network forgets the other.
  // The other side sees a higher priority (or address) and steps down, so this never echoes back and forth.
  d.send();
  d.actions.push({ type: 'send_garp' });
  d.arm('advert', d.now + d.s.config.advertInterval);
}
