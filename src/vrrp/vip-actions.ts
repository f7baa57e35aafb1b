/**
 * The address side of one instance: VIPs added and removed, gratuitous ARP / unsolicited NA bursts and
 * their periodic refresh, and the announcements (transition hooks, notify) that must wait for them.
 *
 * Address changes and bursts go through one queue, so a GARP never precedes its address; an idle queue
 * starts a task at once, in the caller's tick (a takeover's RTM_NEWADDR goes out before the advert).
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { RunnerClock, RunnerIo, TimerHandle } from './runner-io.js';
import type { TakeoverTiming } from './takeover-timing.js';

export interface VipContext {
  config(): VrrpInstanceConfig;
  /** Bursts stop as soon as the instance is no longer master. */
  isMaster(): boolean;
  /** The advert socket's interface index, when known. */
  ifindex(): number | undefined;
  io: RunnerIo;
  clock: RunnerClock;
  log: Logger;
  takeover: TakeoverTiming;
}

export class VipActions {
  private queue: Promise<void> = Promise.resolve();
  /** Tasks queued or running: with none, a new one starts at once. */
  private queued = 0;
  /** The last VIP add queued: a transition to master is announced once it settled. */
  private vipsAdded: Promise<void> = Promise.resolve();
  /** Transition hooks and notifies, in order (a master one waits for its VIPs). */
  private announced: Promise<void> = Promise.resolve();
  /** The interface's MAC, looked up at start and when the link comes back (no lookup per GARP). */
  private mac: string | undefined;
  private refresh: TimerHandle | undefined;
  /** The timers of burst rounds still to come. */
  private readonly rounds = new Set<TimerHandle>();

  constructor(private readonly ctx: VipContext) {}

  /**
   * Without net.ipv4.conf.IF.promote_secondaries, removing the first address of a subnet removes every other
   * address of that subnet too: one instance going backup would take another instance's VIP with it.
   */
  promoteSecondaries(): void {
    const cfg = this.ctx.config();
    try {
      this.ctx.io.promoteSecondaries(cfg.interface);
    } catch (e) {
      const file = `/proc/sys/net/ipv4/conf/${cfg.interface}/promote_secondaries`;
      this.ctx.log.warn({ event: 'vrrp.sysctl_failed', instance: cfg.name, file, err: (e as Error).message },
        `${cfg.name}: cannot set ${file}: removing one VIP may remove others of its subnet`);
    }
  }

  /** Adds the VIPs (queued) and starts the periodic GARP refresh. */
  add(): void {
    this.vipsAdded = this.enqueue(() => this.addVips());
    this.startRefresh();
  }

  /** Removes the VIPs (queued); `leftover`: at start, only those a previous run left, logged only if any. */
  remove(leftover = false): void {
    this.stopRefresh();
    this.enqueue(() => this.removeVips(leftover));
  }

  /** One GARP / NA burst (queued after the address changes before it). */
  garp(): void {
    this.enqueue(() => this.round(0));
  }

  /** Runs `fn` after the announcements before it, and, when `afterVips`, after the VIP add queued last. */
  announce(afterVips: boolean, fn: () => void): void {
    const vips = this.vipsAdded;
    this.announced = this.announced.then(() => (afterVips ? vips : undefined)).then(fn).catch((e: Error) => this.failed(e));
  }

  async learnMac(): Promise<void> {
    const { io, config } = this.ctx;
    this.mac = await io.linkMac(config().interface);
  }

  /** The refresh period may have changed (reload): restart it. */
  restartRefresh(): void {
    this.startRefresh();
  }

  /** Stops the periodic refresh and the rounds of a burst still to come. */
  stopRefresh(): void {
    this.ctx.clock.clearInterval(this.refresh);
    this.refresh = undefined;
    for (const h of this.rounds) this.ctx.clock.clearTimeout(h);
    this.rounds.clear();
  }

  /** Resolves when every queued task and announcement settled. */
  async idle(): Promise<void> {
    await this.queue;
    await this.announced;
  }

  vipList(): string[] {
    return this.ctx.config().addresses.map((a) => `${a.address}/${a.prefixLength}`);
  }

  private failed(e: Error): void {
    this.ctx.log.error({ event: 'vrrp.action_failed', instance: this.ctx.config().name, err: e.message }, e.message);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const started = this.queued === 0 ? task() : this.queue.then(task);
    this.queued++;
    this.queue = started.catch((e: Error) => this.failed(e)).finally(() => { this.queued--; });
    return this.queue;
  }

  private ifindexOption(): { ifindex?: number } {
    const index = this.ctx.ifindex();
    return index !== undefined && index > 0 ? { ifindex: index } : {};
  }

  private async addVips(): Promise<void> {
    const { io, takeover, log } = this.ctx;
    const cfg = this.ctx.config();
    takeover.mark('addStart');
    for (const vip of cfg.addresses) await io.addAddress(cfg.interface, vip.address, vip.prefixLength, this.ifindexOption());
    takeover.mark('addAcked');
    log.info({ event: 'vrrp.vips_added', instance: cfg.name, vips: this.vipList() });
  }

  private async removeVips(leftover: boolean): Promise<void> {
    const cfg = this.ctx.config();
    const removed: string[] = [];
    for (const vip of cfg.addresses) {
      if (await this.ctx.io.removeAddress(cfg.interface, vip.address, vip.prefixLength, this.ifindexOption())) removed.push(`${vip.address}/${vip.prefixLength}`);
    }
    if (leftover && removed.length === 0) return;
    this.ctx.log.info({ event: 'vrrp.vips_removed', instance: cfg.name, vips: leftover ? removed : this.vipList(), ...(leftover ? { reason: 'leftover' } : {}) });
  }

  /**
   * One round of a GARP / NA burst, run in the queue; the next round is queued `interval` later by a timer,
   * so the queue never sleeps inside a burst: a step down in the middle of one removes the VIPs at once, and
   * no round goes out once the instance is not master (one did, after its sleep, before the VIPs went).
   */
  private async round(i: number): Promise<void> {
    const { io, clock, log } = this.ctx;
    const cfg = this.ctx.config();
    const { count, interval } = cfg.garp;
    if (!this.ctx.isMaster()) return;
    const options = this.mac !== undefined ? { mac: this.mac } : {};
    await Promise.all(cfg.addresses.map((vip) => io.announce(cfg.interface, vip.address, options).catch((e: Error) =>
      log.warn({ event: 'vrrp.garp_failed', instance: cfg.name, vip: vip.address, err: e.message }, e.message))));
    if (i === 0) {
      this.ctx.takeover.finish();
      void this.learnMac(); // a MAC changed while the link stayed up is right from the next GARP on
    }
    if (i + 1 >= Math.max(1, count)) {
      log.debug({ event: 'vrrp.garp', instance: cfg.name, count });
    } else if (interval <= 0) {
      await this.round(i + 1);
    } else {
      const handle = clock.setTimeout(() => {
        this.rounds.delete(handle);
        this.enqueue(() => this.round(i + 1));
      }, interval * 1000);
      this.rounds.add(handle);
    }
  }

  private startRefresh(): void {
    this.ctx.clock.clearInterval(this.refresh);
    this.refresh = undefined;
    const period = this.ctx.config().garp.refresh;
    if (period > 0) {
      this.refresh = this.ctx.clock.setInterval(() => {
        if (this.ctx.isMaster()) this.garp();
      }, period * 1000);
    }
  }
}
