/**
 * The VRRP manager on the daemon's main thread (LVSD_VRRP_THREAD=main, thread-mode.ts): the same face as
 * the worker's port (port.ts, VrrpWorker) without a second isolate (~12 MiB) or messages. Snapshots are
 * read from the manager when asked, counters and transitions are handed to the hooks as they happen, track
 * scripts, notify commands and the Accept_Mode filter are started here, where they run (no spawn relay).
 *
 * What the worker gave, and what stands for it here:
 * - a backup's Master_Down: the main thread can be held (a drift pass, a large reload, GC) longer than
 *   Master_Down_Interval; node then runs the expired timer before it reads the socket. The instance reads
 *   the socket first, each advert dated by the kernel's receive time, and acts only on a deadline no advert
 *   moved (machine-timers.ts, masterDownStands): a held backup never takes over from a live master, and one whose
 *   master went silent takes over as soon as it runs (test/netns/vrrp-main-thread.test.ts).
 * - a master's adverts: sent by the main thread's timers, so as late as that thread is held (the C advert
 *   timer of the addon is what keeps them on time whatever JavaScript does).
 * - the thread is never made real-time: the main thread probes, reconciles and spawns (realtime.ts is for
 *   the worker's thread alone).
 * - a track script or notify command is started from this thread with the clone spawn (src/spawn-child.ts,
 *   no fork of the daemon's page tables): what it costs this thread is its own start, not a held protocol.
 */
import { LvsdError, asLvsdError } from '../errors.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { InstanceSnapshot, InstanceTransition } from './instance.js';
import { VrrpManager } from './manager.js';
import { closeListeners, sinceOn, type EarlyListener } from './early-listen.js';
import { systemClock } from './runner-io.js';
import type { VrrpSide, VrrpWorkerHooks } from './port.js';

/** How long a clean stop may take before the daemon goes on without it (the worker's grace before terminate()). */
const STOP_GRACE_MS = 3000;

export class VrrpInline implements VrrpSide {
  private readonly manager: VrrpManager;
  private readonly transitionListeners: Array<(t: InstanceTransition) => void> = [];
  private begun = false;
  private stopped = false;

  private constructor(private readonly log: Logger, private readonly hooks: VrrpWorkerHooks) {
    this.manager = new VrrpManager(log, {
      onTransition: (t) => this.transition(t),
      // the advert clock's sends come in counts, read when a snapshot is taken (status, a scrape)
      onAdvertSent: (instance, count) => this.hooks.onAdvert?.('sent', instance, undefined, count ?? 1),
      onAdvertReceived: (instance) => this.hooks.onAdvert?.('received', instance, undefined, 1),
      onInvalid: (instance, reason) => this.hooks.onAdvert?.('invalid', instance, reason, 1),
      onNetlinkOverrun: (socket) => this.hooks.onNetlinkOverrun?.(socket, 1),
    });
  }

  /** Nothing to boot: the manager is created now and starts no instance before begin(). */
  static boot(log: Logger, hooks: VrrpWorkerHooks = {}): VrrpInline {
    return new VrrpInline(log, hooks);
  }

  static async start(config: Config, log: Logger, hooks: VrrpWorkerHooks = {}): Promise<VrrpInline> {
    const side = VrrpInline.boot(log, hooks);
    await side.begin(config);
    return side;
  }

  /** As VrrpWorker.begin: once; `early` sockets are adopted by their instances (the rest are closed). */
  async begin(config: Config, opts: { waitForTable?: boolean; early?: EarlyListener[] } = {}): Promise<void> {
    const early = opts.early ?? [];
    if (this.begun || this.stopped) {
      closeListeners(early);
      throw new LvsdError('LVSD_INTERNAL', 'cannot start the VRRP instances: they were started already');
    }
    this.begun = true;
    try {
      // the sockets opened at exec: since when they listen, on the runners' clock, read at once
      const now = systemClock.now();
      await this.manager.start({ vrrp: config.vrrp, syncGroups: config.syncGroups }, {
        waitForTable: opts.waitForTable ?? false,
        early: early.map((l) => ({ ...l, since: sinceOn(now, l.since) })),
      });
    } catch (e) {
      // what started (the link watch, instances of a partial start) stops: lvsd does not run without its VRRP side
      await this.manager.stop().catch(() => undefined);
      this.stopped = true;
      throw asLvsdError(e, 'cannot start the VRRP instances: ');
    }
  }

  /** Nothing runs before begin(). */
  async discard(): Promise<void> {
    this.stopped = true;
  }

  async update(config: Config): Promise<void> {
    if (this.stopped) throw new LvsdError('LVSD_INTERNAL', 'the VRRP instances are stopped');
    try {
      await this.manager.update({ vrrp: config.vrrp, syncGroups: config.syncGroups });
    } catch (e) {
      throw asLvsdError(e, '');
    }
  }

  async tableReady(ok: boolean, error?: string): Promise<void> {
    if (!this.stopped) this.manager.tableReady(ok, error);
  }

  snapshot(): InstanceSnapshot[] {
    return this.manager.snapshot();
  }

  async freshSnapshot(): Promise<InstanceSnapshot[]> {
    return this.manager.snapshot();
  }

  onTransition(listener: (t: InstanceTransition) => void): void {
    this.transitionListeners.push(listener);
  }

  /**
   * Clean stop (priority 0, VIPs released, sockets closed). A stop that has not finished `graceMs` later is
   * logged and left to finish in the background: the daemon's own stop goes on (the worker was terminated).
   */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const stopping = this.manager.stop().then(() => 'stopped' as const, (e: Error) => {
      this.log.error({ event: 'vrrp.stop_failed', err: e.message }, `VRRP stop failed: ${e.message}`);
      return 'stopped' as const;
    });
    const how = await Promise.race([stopping, late]);
    clearTimeout(timer);
    if (how === 'late') {
      this.log.warn({ event: 'vrrp.stop_late', graceMs }, `VRRP instances did not stop within ${graceMs} ms: the daemon stops without waiting for them`);
    }
  }

  /**
   * A transition reaches the daemon (metrics, the connection-sync switch) from inside the instance's step:
   * a listener that throws is logged, never let into the protocol's code.
   */
  private transition(t: InstanceTransition): void {
    for (const f of [(x: InstanceTransition) => this.hooks.onTransition?.(x), ...this.transitionListeners]) {
      try {
        f(t);
      } catch (e) {
        this.log.error({ event: 'vrrp.transition_listener_failed', instance: t.instance, err: (e as Error).message },
          `a listener of ${t.instance}'s transition to ${t.to} failed: ${(e as Error).message}`);
      }
    }
  }
}

