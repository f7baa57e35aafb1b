/**
 * The main thread's handle on the VRRP worker thread (worker.ts): start, update on reload, snapshots for
 * status, transitions for the connection-sync daemon and metrics, clean stop.
 */
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config/types.js';
import { LvsdError, asLvsdError, type ErrorParts } from '../errors.js';
import type { Logger } from '../log.js';
import type { InstanceSnapshot, InstanceTransition } from './instance.js';
import type { ManagerConfig } from './manager.js';
import { createVrrpThread, takeEarlyVrrpThread } from './early-thread.js';
import { closeListeners, type EarlyListener } from './early-listen.js';
import { SpawnHost } from './spawn-host.js';
import type { SpawnReply, SpawnRequest } from './spawn-relay.js';

export type WorkerRequest =
  /** `early`: sockets opened at exec (early-listen.ts); the thread owns their descriptors once it has the message. */
  | { type: 'start'; id: number; config: ManagerConfig; waitForTable?: boolean; early?: EarlyListener[] }
  /** The daemon's first reconcile finished (ok: the kernel took all of it): instances may claim mastership. */
  | { type: 'table-ready'; id: number; ok: boolean; error?: string }
  | { type: 'update'; id: number; config: ManagerConfig }
  | { type: 'stop'; id: number }
  /** Answered by the advert counts, a snapshot, then `done`: what status reads and metrics scrapes ask for. */
  | { type: 'refresh'; id: number };

export type WorkerEvent =
  | { type: 'done'; id: number; error?: ErrorParts }
  | { type: 'snapshot'; instances: InstanceSnapshot[] }
  | { type: 'transition'; transition: InstanceTransition }
  /** `count` adverts of this kind since the last such message (sent before every snapshot) */
  | { type: 'advert'; kind: 'sent' | 'received' | 'invalid'; instance: string; reason?: string; count: number }
  /** `count` netlink overruns on the worker's `socket` ('links') since the last such message */
  | { type: 'netlink-overrun'; socket: string; count: number }
  /** A track script or notify command for this thread to start (spawn-relay.ts, spawn-host.ts) */
  | SpawnRequest;

/** What the thread receives: requests (answered by `done`) and the answers to its spawn requests. */
export type WorkerInbound = WorkerRequest | SpawnReply;

export interface VrrpWorkerHooks {
  onTransition?(t: InstanceTransition): void;
  onAdvert?(kind: 'sent' | 'received' | 'invalid', instance: string, reason: string | undefined, count: number): void;
  onNetlinkOverrun?(socket: string, count: number): void;
}

/**
 * What the daemon's VRRP side (src/daemon/vrrp-port.ts) needs of whatever runs the manager: this worker
 * thread, or the main thread itself (inline.ts; LVSD_VRRP_THREAD, thread-mode.ts).
 */
export interface VrrpSide {
  /** Starts the instances of `config` (once); see VrrpWorker.begin. */
  begin(config: Config, opts?: { waitForTable?: boolean; early?: EarlyListener[] }): Promise<void>;
  /** Ends a side booted and never begun. */
  discard(): Promise<void>;
  update(config: Config): Promise<void>;
  tableReady(ok: boolean, error?: string): Promise<void>;
  snapshot(): InstanceSnapshot[];
  freshSnapshot(): Promise<InstanceSnapshot[]>;
  onTransition(listener: (t: InstanceTransition) => void): void;
  /** Clean stop: priority 0, VIPs released, sockets closed. */
  stop(): Promise<void>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Set by the bundle (packaging/bundle.ts: the worker as one CommonJS file); tsc's dist/src runs worker.js. */
declare const __LVSD_VRRP_WORKER__: string | undefined;
const WORKER_FILE = typeof __LVSD_VRRP_WORKER__ === 'string' ? __LVSD_VRRP_WORKER__ : './worker.js';

function managerConfig(config: Config): ManagerConfig {
  return { vrrp: config.vrrp, syncGroups: config.syncGroups };
}

export class VrrpWorker implements VrrpSide {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private latest: InstanceSnapshot[] = [];
  private readonly transitionListeners: Array<(t: InstanceTransition) => void> = [];
  private exited = false;
  /** Why the thread ended, when it did by failing: what a request made afterwards is told. */
  private failure: LvsdError | undefined;
  /** Starts the thread's track scripts and notify commands here (spawn-relay.ts says why). */
  private readonly spawns: SpawnHost;

  private constructor(private readonly log: Logger, logLevel: string, private readonly hooks: VrrpWorkerHooks) {
    this.spawns = new SpawnHost((m) => this.post(m), log);
    const file = fileURLToPath(new URL(WORKER_FILE, import.meta.url));
    // the thread the bundle's launcher started at exec, if any (early-thread.ts)
    const early = takeEarlyVrrpThread(file, logLevel);
    this.worker = early ?? createVrrpThread(file, logLevel);
    log.debug({ event: 'vrrp.worker_boot', early: early !== undefined }, early ? 'VRRP worker: the thread started at exec' : 'VRRP worker: thread starting');
    // a booting worker does not keep the process alive: a start that fails before begin() just exits
    this.worker.unref();
    this.worker.on('message', (m: WorkerEvent) => this.onMessage(m));
    this.worker.on('error', (e) => {
      log.error({ event: 'vrrp.worker_error', err: e.message }, `VRRP worker failed: ${e.message}`);
      this.failure ??= new LvsdError('LVSD_INTERNAL', `the VRRP worker thread failed: ${e.message}`, { cause: e });
      this.failAll(this.failure);
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      this.spawns.close();
      this.failure ??= new LvsdError('LVSD_INTERNAL', `the VRRP worker thread exited with code ${code}`);
      this.failAll(this.failure);
    });
  }

  /**
   * Starts the thread (node's bootstrap, the worker's modules) without starting any instance: `lvsd run`
   * boots it while the main thread loads the config (issue #11, fast start). begin() starts the instances;
   * discard() ends a worker that will not be used.
   */
  static boot(log: Logger, hooks: VrrpWorkerHooks = {}): VrrpWorker {
    return new VrrpWorker(log, log.level, hooks);
  }

  static async start(config: Config, log: Logger, hooks: VrrpWorkerHooks = {}): Promise<VrrpWorker> {
    const w = VrrpWorker.boot(log, hooks);
    await w.begin(config);
    return w;
  }

  /**
   * Starts the instances of `config` (once); the worker keeps the process alive from here on. With
   * `waitForTable`, no instance claims mastership until tableReady(). `early`: the sockets opened at exec
   * for these instances (early-listen.ts), handed to the thread (closed here if it cannot take them).
   */
  async begin(config: Config, opts: { waitForTable?: boolean; early?: EarlyListener[] } = {}): Promise<void> {
    this.worker.ref();
    const early = opts.early ?? [];
    if (this.exited) closeListeners(early); // never posted; once posted, the thread owns them
    try {
      await this.request({ type: 'start', config: managerConfig(config), waitForTable: opts.waitForTable ?? false, ...(early.length > 0 ? { early } : {}) });
    } catch (e) {
      await this.worker.terminate();
      // lvsd does not run without its VRRP side: the daemon's start fails with this
      throw asLvsdError(e, 'cannot start the VRRP instances: ');
    }
  }

  /** Ends a booted worker that was never begun. */
  async discard(): Promise<void> {
    await this.worker.terminate();
  }

  private post(m: WorkerInbound): void {
    if (!this.exited) this.worker.postMessage(m);
  }

  private onMessage(m: WorkerEvent): void {
    if (this.spawns.handle(m)) return;
    switch (m.type) {
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) return;
        if (m.error) p.reject(asLvsdError(m.error));
        else p.resolve();
        return;
      }
      case 'snapshot':
        this.latest = m.instances;
        return;
      case 'transition':
        this.hooks.onTransition?.(m.transition);
        for (const l of this.transitionListeners) l(m.transition);
        return;
      case 'advert':
        this.hooks.onAdvert?.(m.kind, m.instance, m.reason, m.count);
        return;
      case 'netlink-overrun':
        this.hooks.onNetlinkOverrun?.(m.socket, m.count);
        return;
      default:
        return;
    }
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private request(body: DistributiveOmit<WorkerRequest, 'id'>): Promise<void> {
    if (this.exited) return Promise.reject(this.failure ?? new LvsdError('LVSD_INTERNAL', 'the VRRP worker thread is not running'));
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id });
    });
  }

  update(config: Config): Promise<void> {
    return this.request({ type: 'update', config: managerConfig(config) });
  }

  /** The daemon's first reconcile finished: instances waiting for it may claim mastership (once; later calls do nothing). */
  tableReady(ok: boolean, error?: string): Promise<void> {
    return this.request({ type: 'table-ready', ok, ...(error !== undefined ? { error } : {}) });
  }

  snapshot(): InstanceSnapshot[] {
    return this.latest;
  }

  /** A snapshot taken now by the worker; the last one received if the worker does not answer within `waitMs`. */
  async freshSnapshot(waitMs = 1000): Promise<InstanceSnapshot[]> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.request({ type: 'refresh' }).catch(() => undefined),
      new Promise((r) => { timer = setTimeout(r, waitMs); }),
    ]);
    clearTimeout(timer);
    return this.latest;
  }

  onTransition(listener: (t: InstanceTransition) => void): void {
    this.transitionListeners.push(listener);
  }

  /**
   * Clean stop: the worker hands over (priority 0), releases the VIPs, closes its sockets and ends by itself;
   * it is terminated only if it has not ended `graceMs` later (the last resort: a terminated worker sends
   * no priority 0 and leaves its VIPs where they are).
   */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.request({ type: 'stop' }).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const how = await Promise.race([exited.then(() => 'exited' as const), late]);
    clearTimeout(timer);
    if (how === 'late' && !this.exited) {
      this.log.warn({ event: 'vrrp.worker_terminated', graceMs }, `VRRP worker did not end within ${graceMs} ms of stopping: terminating it`);
      await this.worker.terminate();
    }
  }
}
