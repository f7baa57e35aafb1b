/**
 * The VRRP state machine's vocabulary (state-machine.ts): its state, the events fed in, the actions it asks
 * the runner to perform, the reasons of its transitions. Types only.
 */
import type { MachineConfig } from './machine-config.js';
import type { Advert } from './packet.js';
import type { TrackEffect } from './track.js';

export type VrrpStateName = 'initialize' | 'backup' | 'master' | 'fault' | 'stopped';
export type TimerName = 'advert' | 'master_down' | 'preempt';

export interface VrrpState {
  readonly config: MachineConfig;
  readonly current: VrrpStateName;
  readonly interfaceUp: boolean;
  /** Names of tracked interfaces that are down, sorted. */
  readonly trackDown: readonly string[];
  /** Effects of tracked scripts, files and processes by key (track.ts): a priority delta or 'fault'. */
  readonly trackEffects: Readonly<Record<string, TrackEffect>>;
  /** The sync group holds this instance in Fault (another member is faulty). */
  readonly groupFault: boolean;
  /** The sync group made this instance Backup: it does not preempt until it is Master again. */
  readonly holdBackup: boolean;
  /** Master_Adver_Interval, ms: ours until a master's advert teaches us its own (v3). */
  readonly masterAdverInterval: number;
  /** Armed timers and their deadlines. */
  readonly timers: Readonly<Partial<Record<TimerName, number>>>;
  /** The preempt delay has run out: lower-priority adverts are discarded again (RFC preemption). */
  readonly preemptReady: boolean;
  /** The last master we accepted an advert from (Backup). */
  readonly master?: { address: string; priority: number };
  /** The last address mismatch reported (source + list), so a mismatch is reported once, not per advert. */
  readonly lastMismatch?: string;
  /** Adverts received whose address list differs from ours. */
  readonly addressMismatches: number;
  /**
   * The daemon's first reconcile of its IPVS table has not finished: the instance may not become master
   * (by Master_Down, preemption, the sync group or as the address owner) until the `table_ready` event.
   */
  readonly waitingForTable: boolean;
  /** While waiting for the table: the takeover it would have made (its reason), made at `table_ready`. */
  readonly deferredClaim?: TransitionReason;
}

export type SyncCommand = 'master' | 'backup' | 'fault' | 'release';

export type VrrpEvent =
  | { type: 'start' }
  /** Clean stop: a Master sends priority 0 so a Backup takes over after Skew_Time, then leaves. */
  | { type: 'shutdown' }
  | { type: 'advert'; advert: Advert }
  | { type: 'timer'; timer: TimerName }
  | { type: 'interface'; up: boolean }
  | { type: 'track'; name: string; up: boolean }
  /** A tracked script, file or process has a new effect (null: no longer tracked). */
  | { type: 'track_effect'; key: string; effect: TrackEffect | null }
  | { type: 'sync'; command: SyncCommand }
  /** The daemon's first reconcile finished (ok or not): a claim deferred while waiting for it is made now. */
  | { type: 'table_ready' };

export type TransitionReason =
  | 'start'             // Initialize/Stopped -> Backup, or -> Master for the address owner
  | 'master_down'       // Backup: Master_Down_Timer fired
  | 'higher_priority'   // Master: an advert with higher priority (or equal and higher address)
  | 'shutdown'
  | 'interface_down'
  | 'track_down'        // a tracked interface with weight 0 went down, or a tracked script, file or process is in fault
  | 'fault_cleared'     // every fault cause is gone: start again
  | 'sync_group_master'
  | 'sync_group_backup'
  | 'sync_group_fault'
  | 'sync_group_release';

export type NotifyKind = 'master' | 'backup' | 'fault' | 'stop';

export type VrrpAction =
  | { type: 'send_advert'; priority: number }
  | { type: 'set_timer'; timer: TimerName; at: number }
  | { type: 'cancel_timer'; timer: TimerName }
  | { type: 'add_vips' }
  | { type: 'remove_vips' }
  /** Gratuitous ARP (IPv4) / unsolicited NA with the router flag (IPv6) burst for every VIP. */
  | { type: 'send_garp' }
  | { type: 'transition'; from: VrrpStateName; to: VrrpStateName; reason: TransitionReason }
  | { type: 'notify'; kind: NotifyKind }
  | { type: 'address_mismatch'; source: string; advertised: string[]; configured: string[] }
  /** It would have become master (reason) but waits for the daemon's table: it stays backup for now. */
  | { type: 'claim_deferred'; reason: TransitionReason };

export interface StepResult {
  state: VrrpState;
  actions: VrrpAction[];
}
