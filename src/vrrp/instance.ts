/**
 * The runner of one VRRP instance: it feeds the pure state machine (state-machine.ts) with packets from
 * the wire, timers and link events, and performs the machine's actions: adverts out, VIPs added and
 * removed over rtnetlink, gratuitous ARP / unsolicited NA, notify commands, log lines.
 *
 * Sends and timers happen synchronously in the event handler that caused them (adverts keep time);
 * address changes and GARP bursts go through a per-instance queue so a GARP never precedes its address.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { addAddress, announceAddress, getLink, openVrrpSocket, primaryAddress, removeAddress, type VrrpSocket } from '../net/index.js';
import { encodeAdvert, decodeAdvert, VRRP_MULTICAST_IPV4, VRRP_MULTICAST_IPV6, type Advert, type DropReason } from './packet.js';
import {
  createMachine, effectivePriority, machineConfigFrom, step, wireInterval,
  type NotifyKind, type SyncCommand, type TimerName, type VrrpAction, type VrrpEvent, type VrrpState, type VrrpStateName,
} from './state-machine.js';
import type { MemberTransition } from './sync-group.js';
import { NotifyRunner } from './notify.js';
import { timerDelay } from '../timer-delay.js';
import { InstanceTrackers, type TrackChange, type TrackedStatus } from './trackers.js';

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  invalid: Partial<Record<DropReason | 'foreign_peer', number>>;
  transitions: number;
  /** Valid adverts whose address list differed from ours (every one; the log line is once per peer and list). */
  addressMismatches: number;
  /** Receive and send failures the socket reported (it keeps reading). */
  socketErrors: number;
  /** Sockets replaced because one stopped reading. */
  socketReopens: number;
}

export interface InstanceTransition {
  instance: string;
  from: VrrpStateName;
  to: VrrpStateName;
  reason: string;
  at: number;
}

export interface InstanceHooks {
  /** Every transition, after the actions it implies were started. */
  onTransition?(t: InstanceTransition): void;
  onAdvertSent?(instance: string): void;
  onAdvertReceived?(instance: string): void;
  onInvalid?(instance: string, reason: string): void;
  /** The master heard (address or priority) changed: status should not wait for the next periodic snapshot. */
  onMasterChange?(instance: string): void;
  /** Netlink notifications were lost on `socket` ('links') and are being re-read (the manager's, not an instance's). */
  onNetlinkOverrun?(socket: string): void;
}

export interface InstanceSnapshot {
  name: string;
  interface: string;
  vrid: number;
  family: 'ipv4' | 'ipv6';
  version: 2 | 3;
  state: VrrpStateName;
  priority: { configured: number; effective: number };
  since: number;
  master: { address: string; advertInterval: number; priority: number } | null;
  vips: string[];
  syncGroup: string | null;
  trackInterfaces: Array<{ name: string; up: boolean; weight: number }>;
  /** Tracked scripts, files and processes. */
  tracks: TrackedStatus[];
  counters: InstanceCounters;
  /** Send-time lateness of adverts (ms): the last 256 samples, for the jitter benchmark. */
  advertLateness: number[];
}

const now = (): number => performance.now();
/** Wall-clock ms with sub-ms precision (comparable with `ip -ts monitor` stamps). */
const wall = (t: number = now()): number => Math.round((performance.timeOrigin + t) * 1000) / 1000;

/** How long a clean stop waits for running notify commands before leaving them to finish on their own. */
const NOTIFY_STOP_GRACE_MS = 1000;

/** Do two configs of an instance speak the same on the wire (same socket, same VIPs)? Else it must be replaced. */
export function sameWire(a: VrrpInstanceConfig, b: VrrpInstanceConfig): boolean {
  const wire = (c: VrrpInstanceConfig) => JSON.stringify([c.name, c.interface, c.vrid, c.family, c.version, c.unicast ?? null, c.addresses]);
  return wire(a) === wire(b);
}

export class VrrpInstance {
  private machine: VrrpState;
  private socket: VrrpSocket | undefined;
  private readonly timers = new Map<TimerName, { handle: NodeJS.Timeout; at: number }>();
  private queue: Promise<void> = Promise.resolve();
  /** Tasks queued or running: with none, a new one starts at once (its netlink request goes out in this tick). */
  private queued = 0;
  /** The last VIP add queued: a transition to master is told to the main thread (and notified) once it settled. */
  private vipsAdded: Promise<void> = Promise.resolve();
  /** Transition hooks and master notifies, in order (a master one waits for its VIPs). */
  private announced: Promise<void> = Promise.resolve();
  /** The interface's MAC, looked up at start and when the link comes back (no lookup per GARP). */
  private mac: string | undefined;
  private garpRefresh: NodeJS.Timeout | undefined;
  private since = Date.now();
  private lastMaster: { address: string; advertInterval: number; priority: number } | null = null;
  private readonly lateness: number[] = [];
  private readonly trackUp = new Map<string, boolean>();
  private trackers: InstanceTrackers | undefined;
  readonly counters: InstanceCounters = { advertsSent: 0, advertsReceived: 0, invalid: {}, transitions: 0, addressMismatches: 0, socketErrors: 0, socketReopens: 0 };
  private source = '';
  /** Monotonic time of the last advert accepted from the wire (for the takeover timing line). */
  private lastAdvertAt: number | undefined;
  /** The instants of a takeover in progress (monotonic ms), logged once as vrrp.takeover_timing. */
  private takeover: Record<string, number> | undefined;

  constructor(
    private cfg: VrrpInstanceConfig,
    private readonly log: Logger,
    private readonly hooks: InstanceHooks = {},
    /** After every step (with the transition it made, if any): the manager's sync-group hook. */
    private readonly onStep?: (instance: string, transition?: MemberTransition) => void,
  ) {
    this.machine = createMachine(machineConfigFrom(cfg, '0.0.0.0'));
    this.notifier = new NotifyRunner(log);
  }

  /** Notify commands (notify.ts). */
  private readonly notifier: NotifyRunner;

  get config(): VrrpInstanceConfig {
    return this.cfg;
  }

  get name(): string {
    return this.config.name;
  }

  get state(): VrrpStateName {
    return this.machine.current;
  }

  /** The machine's state (for sync-group decisions). */
  get machineState(): VrrpState {
    return this.machine;
  }

  /** Opens the socket, learns the source address, and starts the machine (Initialize -> Backup/Master). */
  async start(initial: { interfaceUp: boolean; trackDown: string[] }): Promise<void> {
    await this.open();
    await this.run(initial);
  }

  /**
   * The part of start() that can fail: the source address and the socket. Nothing runs yet (packets are
   * not read): a reload opens every new instance first, and stops or replaces running ones only when all
   * of them opened. close() gives up an instance opened and never run.
   */
  async open(): Promise<void> {
    const cfg = this.config;
    const source = cfg.unicast?.source ?? (await primaryAddress(cfg.interface, cfg.family));
    if (!source) {
      this.log.warn({ event: 'vrrp.no_source', instance: cfg.name, interface: cfg.interface },
        `${cfg.name}: ${cfg.interface} has no ${cfg.family === 'ipv4' ? 'IPv4' : 'link-local IPv6'} address to send adverts from`);
    }
    this.source = source ?? (cfg.family === 'ipv4' ? '0.0.0.0' : '::');
    this.socket = this.openSocket();
  }

  private openSocket(): VrrpSocket {
    const cfg = this.config;
    const source = this.source === '0.0.0.0' || this.source === '::' ? undefined : this.source;
    const socket = openVrrpSocket({ family: cfg.family, interface: cfg.interface, multicast: !cfg.unicast, ...(source ? { source } : {}) });
    socket.on('error', (e) => {
      this.counters.socketErrors++;
      this.log.warn({ event: 'vrrp.socket_error', instance: cfg.name, err: e.message, code: (e.details as { code?: string } | undefined)?.code }, e.message);
    });
    socket.on('broken', (e) => this.replaceSocket(e.message));
    if (this.running) socket.on('packet', (payload, info) => this.onPacket(payload, info.source, info.destination, info.ttl));
    return socket;
  }

  /** Whether run() wired the packets to the machine (an opened, never run instance reads nothing). */
  private running = false;
  private reopenTimer: NodeJS.Timeout | undefined;

  /**
   * The socket stopped reading: a backup that hears no advert makes itself master (two masters), so open
   * a new one at once, and every second until that works. Logged at error level and counted.
   */
  private replaceSocket(why: string): void {
    if (!this.socket) return;
    this.socket.close();
    this.socket = undefined;
    this.counters.socketReopens++;
    const attempt = (): void => {
      this.reopenTimer = undefined;
      if (this.stopping) return;
      try {
        this.socket = this.openSocket();
        this.log.error({ event: 'vrrp.socket_reopened', instance: this.config.name, err: why },
          `${this.config.name}: the VRRP socket stopped reading (${why}); a new one is open`);
      } catch (e) {
        this.log.error({ event: 'vrrp.socket_reopen_failed', instance: this.config.name, err: (e as Error).message },
          `${this.config.name}: the VRRP socket stopped reading (${why}) and cannot be opened again: ${(e as Error).message}; retrying in 1 s`);
        this.reopenTimer = setTimeout(attempt, 1000);
      }
    };
    attempt();
  }

  private stopping = false;

  /** Starts an opened instance's machine (Initialize -> Backup/Master). */
  async run(initial: { interfaceUp: boolean; trackDown: string[] }): Promise<void> {
    const cfg = this.config;
    if (cfg.family === 'ipv4') this.promoteSecondaries();
    for (const t of cfg.trackInterfaces) this.trackUp.set(t.name, !initial.trackDown.includes(t.name));
    // files and processes are read once before the machine starts: a master with its daemon dead never starts as master
    this.trackers = new InstanceTrackers(cfg, (c) => this.onTrackChange(c));
    await this.trackers.start();
    this.machine = createMachine(machineConfigFrom(cfg, this.source), { ...initial, trackEffects: this.trackers.effects() });
    this.logTracks('start');
    this.running = true;
    this.socket?.on('packet', (payload, info) => this.onPacket(payload, info.source, info.destination, info.ttl));
    await this.learnMac();
    this.feed({ type: 'start' });
  }

  /** Gives up an instance that was opened and never run. */
  close(): void {
    this.stopping = true;
    this.trackers?.stop();
    clearTimeout(this.reopenTimer);
    this.socket?.close();
    this.socket = undefined;
  }

  /**
   * Without net.ipv4.conf.IF.promote_secondaries, removing the first address of a subnet removes every other
   * address of that subnet too: one instance going backup would take another instance's VIP with it.
   */
  private promoteSecondaries(): void {
    const file = `/proc/sys/net/ipv4/conf/${this.config.interface}/promote_secondaries`;
    try {
      if (readFileSync(file, 'utf8').trim() !== '1') writeFileSync(file, '1\n');
    } catch (e) {
      this.log.warn({ event: 'vrrp.sysctl_failed', instance: this.config.name, file, err: (e as Error).message },
        `${this.config.name}: cannot set ${file}: removing one VIP may remove others of its subnet`);
    }
  }

  /** Feeds one event to the machine and performs its actions; `at`: when it happened (default now). */
  feed(event: VrrpEvent, at = now()): void {
    const result = step(this.machine, event, at);
    this.machine = result.state;
    this.perform(result.actions);
    const t = result.actions.filter((a) => a.type === 'transition').at(-1);
    this.onStep?.(this.config.name, t?.type === 'transition' ? { member: this.config.name, from: t.from, to: t.to, reason: t.reason } : undefined);
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
    if (this.machine.current === 'master') {
      this.stopGarpRefresh();
      this.startGarpRefresh();
    }
    // a fault cause may have come or gone with the tracked interfaces: let the machine reconsider
    this.feed({ type: 'interface', up: this.machine.interfaceUp });
    this.log.info({ event: 'vrrp.reconfigured', instance: cfg.name, priority: effectivePriority(this.machine), state: this.machine.current },
      `${cfg.name}: new settings taken in place`);
  }

  /** A tracked script, file or process changed: log it, and tell the machine when its effect changed. */
  private onTrackChange(c: TrackChange): void {
    const s = c.status;
    const effectChanged = c.before !== s.effect;
    if (effectChanged && !this.stopping) this.feed({ type: 'track_effect', key: c.key, effect: s.effect });
    this.log[effectChanged ? 'info' : 'debug']({
      event: 'vrrp.track_change', instance: this.config.name, kind: s.kind, name: s.name, up: s.up,
      ...(s.value !== undefined ? { value: s.value } : {}), weight: s.weight, effect: s.effect, ...(c.before !== undefined ? { before: c.before } : {}),
      ...(s.detail !== undefined ? { detail: s.detail } : {}), priority: effectivePriority(this.machine), state: this.machine.current,
    }, `${this.config.name}: tracked ${s.kind} ${s.name} is ${s.kind === 'file' ? `${s.value ?? (s.up ? 'not a number' : 'unreadable')}` : s.up ? 'up' : 'down'}` +
      ` (effect ${s.effect}${s.detail ? `, ${s.detail}` : ''})`);
    this.hooks.onMasterChange?.(this.config.name); // status shows it without waiting for the periodic snapshot
  }

  /** The tracked objects as the machine starts: one line each that is not neutral. */
  private logTracks(when: string): void {
    for (const s of this.trackers?.snapshot() ?? []) {
      if (s.effect === 0 && s.up) continue;
      this.log.info({ event: 'vrrp.track_change', instance: this.config.name, kind: s.kind, name: s.name, up: s.up,
        ...(s.value !== undefined ? { value: s.value } : {}), weight: s.weight, effect: s.effect, at: when },
      `${this.config.name}: tracked ${s.kind} ${s.name} at ${when}: effect ${s.effect}`);
    }
  }

  sync(command: SyncCommand): void {
    this.feed({ type: 'sync', command });
  }

  link(name: string, up: boolean): void {
    if (name === this.config.interface) {
      if (up) void this.learnMac();
      this.feed({ type: 'interface', up });
    }
    if (this.trackUp.has(name) && this.trackUp.get(name) !== up) {
      this.trackUp.set(name, up);
      this.feed({ type: 'track', name, up });
    }
  }

  private onPacket(payload: Buffer, source: string, destination: string, ttl: number): void {
    // The advert's time is its arrival here, not after the decoding and the hooks below: Master_Down_Timer
    // runs from it (under emulation the two were 7 ms apart, all of it added to every takeover).
    const arrived = now();
    const cfg = this.config;
    const decoded = decodeAdvert(payload, {
      family: cfg.family, source, destination, ttl,
      expect: { version: cfg.version, vrid: cfg.vrid, ...(cfg.version === 2 ? { advertInterval: wireInterval(2, cfg.advertInterval) } : {}) },
    });
    if (!decoded.ok) {
      if (decoded.reason === 'vrid') return; // another virtual router on the link: normal
      this.countInvalid(decoded.reason);
      return;
    }
    if (source === this.source) return; // our own advert looped back
    if (cfg.unicast && !cfg.unicast.peers.includes(source)) {
      this.countInvalid('foreign_peer');
      return;
    }
    this.counters.advertsReceived++;
    this.lastAdvertAt = arrived;
    const advert = decoded.advert;
    let masterChanged = false;
    if (advert.priority !== 0) {
      const heard = {
        address: advert.source,
        priority: advert.priority,
        advertInterval: advert.version === 3 ? advert.maxAdvertInterval / 100 : advert.advertInterval,
      };
      const last = this.lastMaster;
      masterChanged = !last || last.address !== heard.address || last.priority !== heard.priority || last.advertInterval !== heard.advertInterval;
      this.lastMaster = heard;
    }
    this.feed({ type: 'advert', advert }, arrived);
    this.hooks.onAdvertReceived?.(cfg.name);
    if (masterChanged) this.hooks.onMasterChange?.(cfg.name);
  }

  /** The interface's MAC for GARPs; on failure the GARP path looks it up itself. */
  private async learnMac(): Promise<void> {
    try {
      this.mac = (await getLink(this.config.interface)).mac;
    } catch {
      this.mac = undefined;
    }
  }

  private countInvalid(reason: DropReason | 'foreign_peer'): void {
    this.counters.invalid[reason] = (this.counters.invalid[reason] ?? 0) + 1;
    this.hooks.onInvalid?.(this.config.name, reason);
  }

  private perform(actions: VrrpAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send_advert':
          this.sendAdvert(a.priority);
          break;
        case 'set_timer':
          this.setTimer(a.timer, a.at);
          break;
        case 'cancel_timer':
          this.cancelTimer(a.timer);
          break;
        case 'add_vips':
          this.vipsAdded = this.enqueue(() => this.addVips());
          this.startGarpRefresh();
          break;
        case 'remove_vips':
          this.stopGarpRefresh();
          this.enqueue(() => this.removeVips());
          break;
        case 'send_garp':
          this.enqueue(() => this.garpBurst());
          break;
        case 'transition':
          // A director that starts as backup (or faulty) must not answer for VIPs a crashed run left on the interface.
          if (a.from === 'initialize' && a.to !== 'master') this.enqueue(() => this.removeVips(true));
          this.counters.transitions++;
          this.since = Date.now();
          if (a.to === 'master') this.lastMaster = null;
          this.log.info({
            event: 'vrrp.transition', instance: this.config.name, from: a.from, to: a.to, reason: a.reason,
            priority: effectivePriority(this.machine),
          }, `${this.config.name}: ${a.from} -> ${a.to} (${a.reason})`);
          // The main thread reacts to a transition (the IPVS sync daemon's switch, which holds rtnl_lock for
          // tens of ms under emulation): a new master tells it only once its VIPs are in, so the address add
          // does not queue behind it. Measured: docs/vrrp-runner.md "Takeover path".
          this.announce(a.to === 'master', ((t: InstanceTransition) => () => this.hooks.onTransition?.(t))(
            { instance: this.config.name, from: a.from, to: a.to, reason: a.reason, at: Date.now() }));
          break;
        case 'notify': {
          const kind = a.kind;
          this.announce(kind === 'master', () => this.notify(kind));
          break;
        }
        case 'address_mismatch':
          this.log.warn({
            event: 'vrrp.address_mismatch', instance: this.config.name, peer: a.source, advertised: a.advertised, configured: a.configured,
          }, `${this.config.name}: ${a.source} advertises other addresses than ours (one director reloaded before the other?)`);
          break;
      }
    }
  }

  private destinations(): string[] {
    const cfg = this.config;
    if (cfg.unicast) return cfg.unicast.peers;
    return [cfg.family === 'ipv4' ? VRRP_MULTICAST_IPV4 : VRRP_MULTICAST_IPV6];
  }

  private sendAdvert(priority: number): void {
    const cfg = this.config;
    const scheduled = this.timers.get('advert')?.at;
    for (const destination of this.destinations()) {
      const base = {
        family: cfg.family, vrid: cfg.vrid, priority,
        addresses: cfg.addresses.map((a) => a.address), source: this.source, destination,
      };
      const advert: Advert = cfg.version === 3
        ? { ...base, version: 3, maxAdvertInterval: wireInterval(3, cfg.advertInterval) }
        : { ...base, version: 2, family: 'ipv4', advertInterval: wireInterval(2, cfg.advertInterval) };
      try {
        this.socket?.send(encodeAdvert(advert), destination);
        this.counters.advertsSent++;
        this.hooks.onAdvertSent?.(cfg.name);
      } catch (e) {
        this.log.warn({ event: 'vrrp.send_failed', instance: cfg.name, destination, err: (e as Error).message }, (e as Error).message);
      }
    }
    if (scheduled !== undefined) {
      this.lateness.push(Math.max(0, now() - scheduled));
      if (this.lateness.length > 256) this.lateness.shift();
    }
  }

  private setTimer(timer: TimerName, at: number): void {
    this.cancelTimer(timer);
    const handle = setTimeout(() => {
      this.timers.delete(timer);
      if (timer === 'master_down') this.takeover = { deadline: at, fired: now(), ...(this.lastAdvertAt !== undefined ? { lastAdvert: this.lastAdvertAt } : {}) };
      this.feed({ type: 'timer', timer });
      if (this.takeover && this.machine.current !== 'master') this.takeover = undefined;
      if (this.takeover && this.takeover.stepDone === undefined) this.takeover.stepDone = now();
    }, timerDelay(at - now()));
    this.timers.set(timer, { handle, at });
  }

  private cancelTimer(timer: TimerName): void {
    const t = this.timers.get(timer);
    if (t) clearTimeout(t.handle);
    this.timers.delete(timer);
  }

  /** Runs `task` after the address and GARP tasks queued before it; resolves when it settled (never rejects). */
  private enqueue(task: () => Promise<void>): Promise<void> {
    // An idle queue runs the task now rather than in a microtask after the rest of the step (the advert,
    // the log line): a takeover's RTM_NEWADDR is then sent, and the kernel adds the address, before them.
    const started = this.queued === 0 ? task() : this.queue.then(task);
    this.queued++;
    this.queue = started
      .catch((e: Error) => this.log.error({ event: 'vrrp.action_failed', instance: this.config.name, err: e.message }, e.message))
      .finally(() => { this.queued--; });
    return this.queue;
  }

  /** Runs `fn` after the announcements before it, and, when `afterVips`, after the VIP add queued last. */
  private announce(afterVips: boolean, fn: () => void): void {
    const vips = this.vipsAdded;
    this.announced = this.announced.then(() => (afterVips ? vips : undefined)).then(fn).catch((e: Error) =>
      this.log.error({ event: 'vrrp.action_failed', instance: this.config.name, err: e.message }, e.message));
  }

  private async addVips(): Promise<void> {
    const t = this.takeover;
    if (t) t.addStart = now();
    for (const vip of this.config.addresses) {
      await addAddress(this.config.interface, vip.address, vip.prefixLength, this.ifindexOption());
    }
    if (t) t.addAcked = now();
    this.log.info({ event: 'vrrp.vips_added', instance: this.config.name, vips: this.vipList() });
  }

  /** One line per takeover by Master_Down_Timer: where the time went, ms from the last advert heard. */
  private logTakeover(): void {
    const t = this.takeover;
    this.takeover = undefined;
    if (!t || t.fired === undefined) return;
    const ref = t.lastAdvert ?? t.fired;
    const rel = (x: number | undefined) => (x === undefined ? null : Math.round((x - ref) * 10) / 10);
    this.log.info({
      event: 'vrrp.takeover_timing', instance: this.config.name,
      lastAdvertWall: t.lastAdvert !== undefined ? wall(t.lastAdvert) : null,
      deadline: rel(t.deadline), fired: rel(t.fired), stepDone: rel(t.stepDone), addStart: rel(t.addStart),
      addAcked: rel(t.addAcked), garpSent: rel(t.garpSent), addAckedWall: t.addAcked !== undefined ? wall(t.addAcked) : null,
    }, `${this.config.name}: takeover timing`);
  }

  /** Removes the VIPs; `leftover`: at start, only those a previous run left behind (crash, kill -9). */
  private async removeVips(leftover = false): Promise<void> {
    const removed: string[] = [];
    for (const vip of this.config.addresses) {
      if (await removeAddress(this.config.interface, vip.address, vip.prefixLength, this.ifindexOption())) removed.push(`${vip.address}/${vip.prefixLength}`);
    }
    if (leftover && removed.length === 0) return;
    this.log.info({ event: 'vrrp.vips_removed', instance: this.config.name, vips: leftover ? removed : this.vipList(), ...(leftover ? { reason: 'leftover' } : {}) });
  }

  private async garpBurst(): Promise<void> {
    const { count, interval } = this.config.garp;
    for (let i = 0; i < Math.max(1, count); i++) {
      if (this.machine.current !== 'master') return;
      if (i > 0 && interval > 0) await new Promise((r) => setTimeout(r, timerDelay(interval * 1000)));
      await Promise.all(this.config.addresses.map((vip) =>
        announceAddress(this.config.interface, vip.address, this.mac !== undefined ? { mac: this.mac } : {}).catch((e: Error) =>
          this.log.warn({ event: 'vrrp.garp_failed', instance: this.config.name, vip: vip.address, err: e.message }, e.message))));
      if (i === 0) {
        if (this.takeover) {
          this.takeover.garpSent = now();
          this.logTakeover();
        }
        void this.learnMac(); // a MAC changed while the link stayed up is right from the next GARP on
      }
    }
    this.log.debug({ event: 'vrrp.garp', instance: this.config.name, count });
  }

  private startGarpRefresh(): void {
    this.stopGarpRefresh();
    const refresh = this.config.garp.refresh;
    if (refresh > 0) {
      this.garpRefresh = setInterval(() => {
        if (this.machine.current === 'master') this.enqueue(() => this.garpBurst());
      }, timerDelay(refresh * 1000));
    }
  }

  private stopGarpRefresh(): void {
    clearInterval(this.garpRefresh);
    this.garpRefresh = undefined;
  }

  private notify(kind: NotifyKind): void {
    const n = this.config.notify;
    this.notifier.run(n[kind], { kind, instance: this.config.name, priority: effectivePriority(this.machine), user: n.user });
  }

  /** The interface index of our socket (bound to it), so an address change needs no link lookup first. */
  private ifindexOption(): { ifindex?: number } {
    const index = this.socket?.ifindex;
    return index !== undefined && index > 0 ? { ifindex: index } : {};
  }

  private vipList(): string[] {
    return this.config.addresses.map((a) => `${a.address}/${a.prefixLength}`);
  }

  snapshot(): InstanceSnapshot {
    const cfg = this.config;
    return {
      name: cfg.name,
      interface: cfg.interface,
      vrid: cfg.vrid,
      family: cfg.family,
      version: cfg.version,
      state: this.machine.current,
      priority: { configured: cfg.priority, effective: effectivePriority(this.machine) },
      since: this.since,
      master: this.machine.current === 'master'
        ? { address: this.source, advertInterval: cfg.advertInterval, priority: effectivePriority(this.machine) }
        : this.lastMaster,
      vips: this.vipList(),
      syncGroup: cfg.syncGroup ?? null,
      trackInterfaces: cfg.trackInterfaces.map((t) => ({ name: t.name, up: this.trackUp.get(t.name) ?? true, weight: t.weight })),
      tracks: this.trackers?.snapshot() ?? [],
      counters: { ...this.counters, invalid: { ...this.counters.invalid }, addressMismatches: this.machine.addressMismatches },
      advertLateness: [...this.lateness],
    };
  }

  /** Clean stop: priority 0 so the peer takes over at once, VIPs released, socket closed. */
  async stop(): Promise<void> {
    this.trackers?.stop();
    this.feed({ type: 'shutdown' });
    for (const t of [...this.timers.keys()]) this.cancelTimer(t);
    this.stopGarpRefresh();
    await this.queue;
    await this.announced; // the stop notify below is started from here
    this.stopping = true;
    clearTimeout(this.reopenTimer);
    this.socket?.close();
    this.socket = undefined;
    // notify commands (the stop one just started) get a moment; a slow one must not hold the daemon's exit
    await this.notifier.settle(NOTIFY_STOP_GRACE_MS);
  }
}
