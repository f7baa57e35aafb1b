/**
 * The runner of one VRRP instance: it feeds the pure state machine (state-machine.ts) with packets from
 * the wire (advert-intake.ts), timers (machine-timers.ts) and link events, and performs the machine's
 * actions: adverts out, VIPs and GARP / NA (vip-actions.ts), notify commands (notify.ts), log lines,
 * takeover telemetry (takeover-timing.ts).
 *
 * Everything it does to the world goes through a RunnerIo and a RunnerClock (runner-io.ts): the daemon
 * passes the real ones, the unit tests a fake link and a virtual clock. Sends and timers happen
 * synchronously in the event handler that caused them (adverts keep time).
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { VrrpPacketInfo } from '../net/index.js';
import { closeListeners } from './early-listen.js';
import { AdvertIntake } from './advert-intake.js';
import { MachineTimers } from './machine-timers.js';
import {
  createMachine, effectivePriority, machineConfigFrom, step,
  type NotifyKind, type SyncCommand, type TimerName, type VrrpAction, type VrrpEvent, type VrrpState, type VrrpStateName,
} from './state-machine.js';
import type { MemberTransition } from './sync-group.js';
import { NotifyRunner } from './notify.js';
import { InstanceTrackers, type TrackChange } from './trackers.js';
import { logTrackChange, logTracksAtStart } from './track-log.js';
import { AdvertChannel } from './advert-channel.js';
import { netIo, systemClock, type InstanceDeps, type Notifier, type RunnerClock, type RunnerIo } from './runner-io.js';
import { TakeoverTiming } from './takeover-timing.js';
import { LateAdverts } from './late-advert.js';
import { VipActions } from './vip-actions.js';
import { AdvertSender } from './advert-sender.js';
import { ClockedAdverts } from './advert-clock.js';
import { StartHold } from './start-hold.js';
import { instanceSnapshot, type InstanceCounters, type InstanceHooks, type InstanceSnapshot, type InstanceTransition } from './instance-types.js';

export { sameWire, type InstanceCounters, type InstanceHooks, type InstanceSnapshot, type InstanceTransition } from './instance-types.js';
export type { AdvertSocket, AdvertSocketHandlers, InstanceDeps, Notifier, RunnerClock, RunnerIo } from './runner-io.js';

/** How an instance starts: its links' state, and whether it waits for the daemon's table before any claim. */
export interface RunInitial {
  interfaceUp: boolean;
  trackDown: string[];
  waitForTable?: boolean;
}

/** A socket opened before the instance (at exec: early-listen.ts), and since when it listens (the runner's clock). */
export interface EarlySocket {
  fd: number;
  since: number;
}

/** The thread's late-advert watch (late-advert.ts): one per thread, its schedstat baseline is the thread's. */
let lateAdverts: LateAdverts | undefined;
function threadLateAdverts(): LateAdverts {
  return (lateAdverts ??= new LateAdverts(() => systemClock.now()));
}

/** How a clean stop waits for running notify commands before leaving them to finish on their own. */
const NOTIFY_STOP_GRACE_MS = 1000;

export class VrrpInstance {
  private machine: VrrpState;
  /** The machine's timers (machine-timers.ts). */
  private readonly timers: MachineTimers;
  private since: number;
  private readonly trackUp = new Map<string, boolean>();
  private trackers: InstanceTrackers | undefined;
  readonly counters: InstanceCounters = { advertsSent: 0, advertsReceived: 0, invalid: {}, transitions: 0, addressMismatches: 0, socketErrors: 0, socketReopens: 0 };
  private source = '';
  /** The adverts taken from the wire, the master last heard (advert-intake.ts). */
  private readonly intake: AdvertIntake;
  /** Whether run() wired the packets to the machine; until then they are held (start-hold.ts), and fed once it starts. */
  private running = false;
  private readonly startHold = new StartHold();
  private stopping = false;
  private readonly io: RunnerIo;
  private readonly clock: RunnerClock;
  private readonly notifier: Notifier;
  private readonly takeover: TakeoverTiming;
  private readonly late: LateAdverts;
  private readonly vips: VipActions;
  private readonly channel: AdvertChannel;
  private readonly sender: AdvertSender;
  /** The advert timer of a master, when the advert clock holds it (advert-clock.ts). */
  private readonly clocked: ClockedAdverts;

  constructor(
    private cfg: VrrpInstanceConfig,
    private readonly log: Logger,
    private readonly hooks: InstanceHooks = {},
    /** After every step (with the transition it made, if any): the manager's sync-group hook. */
    private readonly onStep?: (instance: string, transition?: MemberTransition) => void,
    deps: InstanceDeps = {},
  ) {
    this.io = deps.io ?? netIo;
    this.clock = deps.clock ?? systemClock;
    this.notifier = deps.notifier ?? new NotifyRunner(log);
    this.since = this.clock.wall();
    this.machine = createMachine(machineConfigFrom(cfg, '0.0.0.0'));
    this.takeover = new TakeoverTiming(cfg.name, log, () => this.clock.now());
    // a virtual clock (tests) gets its own watch, with no thread times to read
    this.late = deps.lateAdverts ?? (this.clock === systemClock ? threadLateAdverts() : new LateAdverts(() => this.clock.now(), () => undefined));
    this.channel = new AdvertChannel({
      instance: cfg.name, io: this.io, clock: this.clock, log, counters: this.counters,
      onPacket: (payload, info) => {
        // The advert's time is when the kernel received it (a thread held by the scheduler, a GC pause or
        // a stop reads it late), and otherwise its arrival here, before the decoding and the hooks below
        // (under emulation the two were 7 ms apart, all of it added to every takeover).
        const now = this.clock.now();
        const at = info.receivedAt !== undefined ? Math.min(info.receivedAt, now) : now;
        if (this.running) this.onPacket(payload, info, at);
        else if (!this.stopping) this.startHold.hold(payload, info, at);
      },
    });
    this.sender = new AdvertSender({ channel: this.channel, clock: this.clock, log, counters: this.counters, hooks: this.hooks, late: this.late });
    this.clocked = new ClockedAdverts({
      name: cfg.name, io: this.io, channel: this.channel, sender: this.sender, log, counters: this.counters, hooks: this.hooks, late: this.late,
      // a replaced socket refused the adverts: this thread's timer sends them from now
      onLost: () => this.timers.set('advert', this.clock.now(), false),
    });
    this.timers = new MachineTimers({
      clock: this.clock,
      toClock: (at) => this.clocked.arm(this.cfg, this.source, effectivePriority(this.machine), at),
      disarmClock: () => this.clocked.disarm(),
      drain: () => this.channel.drain(),
      fire: (timer, at) => this.fire(timer, at),
    });
    this.intake = new AdvertIntake(this.counters, this.hooks);
    this.vips = new VipActions({
      config: () => this.cfg, isMaster: () => this.machine.current === 'master', ifindex: () => this.channel.ifindex,
      io: this.io, clock: this.clock, log, takeover: this.takeover,
    });
  }

  get config(): VrrpInstanceConfig {
    return this.cfg;
  }

  get name(): string {
    return this.cfg.name;
  }

  get state(): VrrpStateName {
    return this.machine.current;
  }

  /** The machine's state (for sync-group decisions). */
  get machineState(): VrrpState {
    return this.machine;
  }

  /** Opens the socket, learns the source address, and starts the machine (Initialize -> Backup/Master). */
  async start(initial: RunInitial): Promise<void> {
    await this.open();
    await this.run(initial);
  }

  /**
   * The part of start() that can fail: the source address and the socket. Nothing runs yet (packets are
   * held for the machine): a reload opens every new instance first, and stops or replaces running ones
   * only when all of them opened. close() gives up an instance opened and never run.
   *
   * `early`: the socket `lvsd run` opened for this instance at exec (early-listen.ts). It is adopted, and
   * the Master_Down timer runs from when it began to listen (run() reads what it queued first); this
   * instance owns its descriptor from now on, adopted or not.
   */
  async open(early?: EarlySocket): Promise<void> {
    const cfg = this.cfg;
    let source: string | undefined;
    try {
      source = cfg.unicast?.source ?? (await this.io.primaryAddress(cfg.interface, cfg.family));
    } catch (e) {
      // not handed to the addon yet: closed here (once handed, the addon closes it with the socket, or
      // refused it as no VRRP socket of this interface and left it alone)
      if (early) closeListeners([early]);
      throw e;
    }
    if (!source) {
      this.log.warn({ event: 'vrrp.no_source', instance: cfg.name, interface: cfg.interface },
        `${cfg.name}: ${cfg.interface} has no ${cfg.family === 'ipv4' ? 'IPv4' : 'link-local IPv6'} address to send adverts from`);
    }
    this.source = source ?? (cfg.family === 'ipv4' ? '0.0.0.0' : '::');
    const adopted = this.channel.open({
      family: cfg.family, interface: cfg.interface, multicast: !cfg.unicast, ...(source ? { source } : {}), ...(early ? { adoptFd: early.fd } : {}),
    });
    if (adopted) this.startHold.listenSince = early!.since;
  }

  /** Starts an opened instance's machine (Initialize -> Backup/Master). */
  async run(initial: RunInitial): Promise<void> {
    const cfg = this.cfg;
    if (cfg.family === 'ipv4') this.vips.promoteSecondaries();
    for (const t of cfg.trackInterfaces) this.trackUp.set(t.name, !initial.trackDown.includes(t.name));
    // files and processes are read once before the machine starts: a master with its daemon dead never starts as master
    this.trackers = new InstanceTrackers(cfg, (c) => this.onTrackChange(c));
    await this.trackers.start();
    this.machine = createMachine(machineConfigFrom(cfg, this.source), { ...initial, trackEffects: this.trackers.effects() });
    logTracksAtStart(this.log, this.cfg.name, this.trackers.snapshot());
    await this.vips.learnMac();
    this.clocked.prepare(); // the advert clock's thread starts now, not on the way to master
    // From here to the end, synchronously: what the socket holds is read, the machine starts (its
    // Master_Down timer from when the socket began to listen, if every packet since was heard), and what was
    // heard before the start is fed to it, at its arrival (never before the start: a timer it restarts
    // ends no earlier than the start's). No timer can fire in between, so no advert heard is skipped.
    const now = this.clock.now();
    const at = this.startHold.startTime(now, this.channel.drain(), cfg.name, cfg.priority, this.log);
    this.running = true;
    this.feed({ type: 'start' }, at);
    for (const h of this.startHold.take()) this.onPacket(h.payload, h.info, Math.max(h.at, at));
  }

  /** Gives up an instance that was opened and never run. */
  close(): void {
    this.stopping = true;
    this.startHold.take();
    this.trackers?.stop();
    this.channel.close();
  }

  /** Feeds one event to the machine and performs its actions; `at`: when it happened (default now). */
  feed(event: VrrpEvent, at = this.clock.now()): void {
    const result = step(this.machine, event, at);
    this.machine = result.state;
    this.perform(result.actions);
    // a new priority (tracked script, reload) or interval (reload): the clock's next adverts carry it
    if (this.clocked.armed) this.clocked.refresh(this.cfg, this.source, effectivePriority(this.machine));
    const t = result.actions.filter((a) => a.type === 'transition').at(-1);
    this.onStep?.(this.cfg.name, t?.type === 'transition' ? { member: this.cfg.name, from: t.from, to: t.to, reason: t.reason } : undefined);
  }

  /**
   * A reload that changes only what the running machine can take in place (priority, preempt, preempt
   * delay, interval, tracked interfaces, GARP, notify, sync group): no new socket, no state change of its
   * own, so no VIP moves unless the new priorities make the peer (or us) take over by the protocol.
   * `linkUp` tells the state of interfaces newly tracked. Callers check sameWire() first.
   */
  reconfigure(cfg: VrrpInstanceConfig, linkUp: (name: string) => boolean | undefined): void {
    this.cfg = cfg;
    const trackUp = new Map(cfg.trackInterfaces.map((t) => [t.name, this.trackUp.get(t.name) ?? linkUp(t.name) ?? true] as const));
    this.trackUp.clear();
    for (const [name, up] of trackUp) this.trackUp.set(name, up);
    const trackDown = [...trackUp].filter(([, up]) => !up).map(([name]) => name).sort();
    const old = this.trackers;
    old?.stop();
    this.trackers = new InstanceTrackers(cfg, (c) => this.onTrackChange(c), old);
    void this.trackers.start(true); // what changed since the last reading reaches the machine as track_effect
    this.machine = { ...this.machine, config: machineConfigFrom(cfg, this.source), trackDown, trackEffects: this.trackers.effects() };
    if (this.machine.current === 'master') this.vips.restartRefresh();
    // a fault cause may have come or gone with the tracked interfaces: let the machine reconsider
    this.feed({ type: 'interface', up: this.machine.interfaceUp });
    this.log.info({ event: 'vrrp.reconfigured', instance: cfg.name, priority: effectivePriority(this.machine), state: this.machine.current },
      `${cfg.name}: new settings taken in place`);
  }

  /** A tracked script, file or process changed: log it, and tell the machine when its effect changed. */
  private onTrackChange(c: TrackChange): void {
    const effectChanged = c.before !== c.status.effect;
    if (effectChanged && !this.stopping) this.feed({ type: 'track_effect', key: c.key, effect: c.status.effect });
    logTrackChange(this.log, this.cfg.name, c, effectivePriority(this.machine), this.machine.current);
    this.hooks.onMasterChange?.(this.cfg.name); // status shows it without waiting for the periodic snapshot
  }

  sync(command: SyncCommand): void {
    this.feed({ type: 'sync', command });
  }

  /** The daemon's first reconcile finished: the instance may claim mastership from now on. */
  tableReady(): void {
    if (this.running && this.machine.waitingForTable) this.feed({ type: 'table_ready' });
  }

  link(name: string, up: boolean): void {
    if (name === this.cfg.interface) {
      if (up) void this.vips.learnMac();
      this.feed({ type: 'interface', up });
    }
    if (this.trackUp.has(name) && this.trackUp.get(name) !== up) {
      this.trackUp.set(name, up);
      this.feed({ type: 'track', name, up });
    }
  }

  /** One datagram from the socket, received at `arrived` (the runner's clock): Master_Down_Timer runs from it. */
  private onPacket(payload: Buffer, info: VrrpPacketInfo, arrived: number): void {
    const cfg = this.cfg;
    const taken = this.intake.take(cfg, this.source, payload, info, arrived);
    if (!taken) return;
    this.feed({ type: 'advert', advert: taken.advert }, arrived);
    this.hooks.onAdvertReceived?.(cfg.name);
    if (taken.masterChanged) this.hooks.onMasterChange?.(cfg.name);
  }

  private perform(actions: VrrpAction[]): void {
    // the advert clock stops before the machine sends, re-arms or cancels on its own: no advert of its crosses theirs
    if (this.clocked.armed && actions.some((a) => a.type === 'send_advert' || ((a.type === 'set_timer' || a.type === 'cancel_timer') && a.timer === 'advert'))) {
      this.clocked.disarm();
    }
    for (const a of actions) {
      switch (a.type) {
        case 'send_advert':
          this.sendAdvert(a.priority);
          break;
        case 'set_timer':
          this.timers.set(a.timer, a.at);
          break;
        case 'cancel_timer':
          this.timers.cancel(a.timer);
          break;
        case 'add_vips':
          this.vips.add();
          break;
        case 'remove_vips':
          this.vips.remove();
          break;
        case 'send_garp':
          this.vips.garp();
          break;
        case 'transition':
          this.transition(a.from, a.to, a.reason);
          break;
        case 'notify': {
          const kind = a.kind;
          this.vips.announce(kind === 'master', () => this.notify(kind));
          break;
        }
        case 'claim_deferred':
          this.log.info({ event: 'vrrp.waiting_for_table', instance: this.cfg.name, reason: a.reason, priority: effectivePriority(this.machine) },
            `${this.cfg.name}: would become master (${a.reason}) but the IPVS table is not programmed yet: staying backup until it is`);
          break;
        case 'address_mismatch':
          this.log.warn({
            event: 'vrrp.address_mismatch', instance: this.cfg.name, peer: a.source, advertised: a.advertised, configured: a.configured,
          }, `${this.cfg.name}: ${a.source} advertises other addresses than ours (one director reloaded before the other?)`);
          break;
      }
    }
  }

  private transition(from: VrrpStateName, to: VrrpStateName, reason: string): void {
    const name = this.cfg.name;
    // A director that starts as backup (or faulty) must not answer for VIPs a crashed run left on the interface.
    if (from === 'initialize' && to !== 'master') this.vips.remove(true);
    this.counters.transitions++;
    this.since = this.clock.wall();
    if (to === 'master') this.intake.lastMaster = null;
    this.log.info({ event: 'vrrp.transition', instance: name, from, to, reason, priority: effectivePriority(this.machine) }, `${name}: ${from} -> ${to} (${reason})`);
    // The main thread reacts to a transition (the IPVS sync daemon's switch, which holds rtnl_lock for
    // tens of ms under emulation): a new master tells it only once its VIPs are in, so the address add
    // does not queue behind it. Measured: docs/vrrp-runner.md "Takeover path".
    const t: InstanceTransition = { instance: name, from, to, reason, at: this.clock.wall() };
    this.vips.announce(to === 'master', () => this.hooks.onTransition?.(t));
  }

  /** When the advert timer that is sending now was due (undefined for adverts sent by other events). */
  private advertDue: number | undefined;

  private sendAdvert(priority: number): void {
    const scheduled = this.advertDue;
    this.advertDue = undefined;
    this.sender.send(this.cfg, this.source, priority, scheduled);
  }

  /** A machine timer expired (machine-timers.ts): the machine is told, the takeover timed. */
  private fire(timer: TimerName, at: number): void {
    if (timer === 'advert') this.advertDue = at; // the advert it sends is this late (snapshot's advertLateness)
    if (timer === 'master_down') this.takeover.begin(at, this.intake.lastAdvertAt);
    this.feed({ type: 'timer', timer });
    this.takeover.stepped(this.machine.current === 'master');
  }

  private notify(kind: NotifyKind): void {
    const n = this.cfg.notify;
    this.notifier.run(n[kind], { kind, instance: this.cfg.name, priority: effectivePriority(this.machine), user: n.user });
  }

  snapshot(): InstanceSnapshot {
    this.clocked.collect();
    return instanceSnapshot(this.cfg, {
      machine: this.machine, since: this.since, source: this.source, lastMaster: this.intake.lastMaster, trackUp: this.trackUp,
      tracks: this.trackers?.snapshot() ?? [], counters: this.counters, lateness: this.sender.lateness, vips: this.vips.vipList(),
    });
  }

  /** Clean stop: priority 0 so the peer takes over at once, VIPs released, socket closed. */
  async stop(): Promise<void> {
    this.trackers?.stop();
    this.feed({ type: 'shutdown' });
    this.timers.cancelAll();
    this.vips.stopRefresh();
    await this.vips.idle(); // the stop notify below is started from here
    this.stopping = true;
    this.channel.close();
    // notify commands (the stop one just started) get a moment; a slow one must not hold the daemon's exit
    await this.notifier.settle(NOTIFY_STOP_GRACE_MS);
  }
}
