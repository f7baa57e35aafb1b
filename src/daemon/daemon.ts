/**
 * The daemon: wires config, IPVS reconcile, health checks, VRRP, the control socket and metrics.
 * Data flows one way: config (+ health results, drains) -> desired table -> reconcile -> kernel;
 * VRRP state -> addresses and the connection-sync daemon.
 *
 * Everything that changes the kernel's IPVS table goes through one queue, so two reconciles never
 * interleave. A full reconcile (start, reload, drift timer) dumps the whole table; a health change plans
 * only the service concerned, against the kernel entry of the last dump, and touches only that service.
 */
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { readFile, writeFile, rename, mkdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import { LvsdError, isLvsdError } from '../errors.js';
import { HealthScheduler, checkKey, type HealthChange, type HealthSchedulerOptions, type Prober } from '../health/index.js';
import { createIpvsClient } from '../ipvs/index.js';
import { destId, serviceId, type DestSpec, type IpvsClient, type KernelEntry } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import {
  DEFAULT_STATE_FILE, applyPlan, canonicalServiceId, loadOwned, nextOwned, ownedAfterError, planReconcile, reconcile, saveOwned,
} from '../reconcile/index.js';
import type { DrainRequest, DrainResult, ReloadResult } from './control-server.js';
import { adoptDests, desiredEntry, drainKey, type Adoption, type DesiredEntry } from './desired.js';
import type { LoadResult, StatusSnapshot, VrrpInstanceStatus } from './status.js';
import { buildSnapshot } from './snapshot.js';
import { ConnSync } from './conn-sync.js';
import { timerDelay } from '../timer-delay.js';

/** What the daemon needs from the VRRP side; src/vrrp provides it (a worker thread runs the protocol). */
export interface VrrpPort {
  update(config: Config): Promise<void>;
  snapshot(): VrrpInstanceStatus[];
  /** The same, taken now (status reads this; snapshot() may be up to a second old). */
  freshSnapshot?(): Promise<VrrpInstanceStatus[]>;
  /** Clean stop: priority 0 so the peer takes over at once, VIPs released. */
  stop(): Promise<void>;
  onTransition(listener: (instance: string, from: string, to: string) => void): void;
}

/** What the daemon reports to metrics; src/daemon/metrics.ts provides it. */
export interface DaemonMetrics {
  reconcile(durationSeconds: number, errors: number): void;
  reload(ok: boolean): void;
  /** One probe result for a real server of a service ('up' or 'down'). */
  healthResult?(service: string, realServer: string, result: 'up' | 'down'): void;
  healthProbeDuration?(type: string, seconds: number): void;
  healthUp?(service: string, realServer: string, up: boolean): void;
}

export interface DaemonOptions {
  configPath: string;
  log: Logger;
  /** Overrides config.ipvs.stateFile. */
  stateFile?: string | undefined;
  /** Creates the IPVS client (tests inject). Default: the generic-netlink client. */
  ipvs?: () => Promise<IpvsClient>;
  /** Creates the VRRP side; absent = no VRRP (instances in the config are then refused). */
  vrrp?: (config: Config, log: Logger) => Promise<VrrpPort>;
  metrics?: DaemonMetrics;
  /** The health prober (tests inject). Default: the real checkers. */
  prober?: Prober;
  version?: string;
}

interface DrainRecord { service: string; realServer: string; since: string }

export class Daemon {
  readonly startedAtMs = Date.now();
  private config!: Config;
  private lastLoad: LoadResult | null = null;
  private client: IpvsClient | undefined;
  private owned = new Set<string>();
  private drains = new Map<string, DrainRecord>();
  private health: HealthScheduler | undefined;
  private vrrp: VrrpPort | undefined;
  private connSync: ConnSync | undefined;
  private kernel = new Map<string, KernelEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  private fullPending: Promise<void> | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  /** Per service name: what the kernel held at start, kept until the health checker has had its say. */
  private adoption = new Map<string, { kernel: DestSpec[]; verdicts: Set<string> }>();
  private adoptionTimer: NodeJS.Timeout | undefined;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;

  private constructor(private readonly opts: DaemonOptions) {
    this.log = opts.log;
  }

  /** Loads the config (a bad one is fatal at start), applies it, starts health checks, VRRP and the drift timer. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(opts);
    let config: Config;
    try {
      config = await loadConfig(opts.configPath);
    } catch (e) {
      d.recordLoad('load', e);
      throw e;
    }
    d.config = config;
    d.owned = await loadOwned(d.stateFile(), d.log);
    await d.loadDrains();
    await d.ensureClient();
    await d.adoptKernel();
    d.startHealth();
    if (config.vrrp.length > 0) {
      if (!opts.vrrp) throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP instances are configured but VRRP is not available in this build');
      d.vrrp = await opts.vrrp(config, d.log.child({ component: 'vrrp' }));
    }
    d.startConnSync();
    await d.fullReconcile('start');
    d.recordLoad('load');
    d.armDrift();
    return d;
  }

  get currentConfig(): Config {
    return this.config;
  }

  private stateFile(config: Config = this.config): string {
    return this.opts.stateFile ?? config.ipvs.stateFile ?? DEFAULT_STATE_FILE;
  }

  private drainsFile(): string {
    return join(dirname(this.stateFile()), 'drains.json');
  }

  private async ensureClient(): Promise<void> {
    if (this.client || this.config.services.length === 0) return;
    this.client = await (this.opts.ipvs ?? createIpvsClient)();
  }

  /**
   * A restart finds the table the previous daemon left. Until the health checker has a verdict on a real
   * server (or the settle time has passed), that server keeps its kernel weight, so a restart changes
   * nothing in the kernel (desired.ts adoptDests).
   */
  private async adoptKernel(): Promise<void> {
    if (!this.client || this.config.services.length === 0) return;
    let kernel: KernelEntry[];
    try {
      kernel = await this.client.dump();
    } catch {
      return; // the first reconcile will say what is wrong
    }
    const byId = new Map(kernel.map((e) => [canonicalServiceId(e.service.key), e]));
    for (const svc of this.config.services) {
      const k = byId.get(canonicalServiceId(svc.spec.key));
      if (k) this.adoption.set(svc.name, { kernel: k.dests.map(({ activeConns: _a, inactiveConns: _i, persistentConns: _p, stats: _s, ...d }) => d), verdicts: new Set() });
    }
    if (this.adoption.size === 0) return;
    // Long enough for every probed real server to rise or fall once.
    let settleS = 0;
    for (const svc of this.config.services) {
      for (const rs of svc.realServers) {
        const c = rs.healthCheck;
        if (c.type !== 'none') settleS = Math.max(settleS, c.interval * (Math.max(c.rise, c.fall) + 1) + c.timeout);
      }
    }
    this.log.info({ event: 'daemon.adopt', services: [...this.adoption.keys()], settleSeconds: settleS },
      `adopting ${this.adoption.size} service(s) found in the kernel`);
    if (settleS === 0) {
      this.adoption.clear();
      return;
    }
    this.adoptionTimer = setTimeout(() => {
      this.adoption.clear();
      void this.fullReconcile('adopted');
    }, timerDelay(settleS * 1000));
    this.adoptionTimer.unref();
  }

  /** Connection sync (conn-sync.ts): the kernel's sync daemon follows the named VRRP instance's state. */
  private startConnSync(): void {
    const cs = this.config.connectionSync;
    if (!cs || !this.client || !this.vrrp) return;
    const vrrp = this.vrrp;
    // read the state and subscribe in the same tick, so no transition falls between
    this.connSync = ConnSync.create({
      client: this.client, config: cs, state: vrrp.snapshot().find((i) => i.name === cs.instance)?.state,
      log: this.log.child({ component: 'connsync' }),
    });
    vrrp.onTransition((instance, from, to) => this.connSync?.transition(instance, from, to));
  }

  private startHealth(): void {
    if (this.config.services.length === 0) return;
    // An adopted service's real servers start up: the kernel's weights stand until a probe says otherwise
    // (a fall takes a dead one out; no rise is needed, so no slow-start ramp and no blip at restart).
    const services = this.config.services.map((s) => (this.adoption.has(s.name) ? { ...s, initialState: 'up' as const } : s));
    this.health = new HealthScheduler(
      { services, health: this.config.health },
      {
        logger: this.log.child({ component: 'health' }),
        onChange: (service, _dests, change) => this.onHealthChange(service, change),
        // no prober given: the real checkers, and TCP checks run by the addon on its own schedule
        ...(this.opts.prober ? { prober: this.opts.prober } : {}),
        onProbeResult: this.probeMetrics(),
      },
    );
    this.health.start();
    this.publishHealthUp();
  }

  /** Counts each probe result per service using that probe (probes are shared), and its duration. */
  private probeMetrics(): HealthSchedulerOptions['onProbeResult'] {
    const m = this.opts.metrics;
    if (!m?.healthResult && !m?.healthProbeDuration) return undefined;
    return (check, target, result) => {
      m.healthProbeDuration?.(check.type, result.latencyMs / 1000);
      if (m.healthResult) {
        const verdict = result.ok ? 'up' : 'down';
        for (const u of this.usersOf(check, target)) m.healthResult(u.service, u.realServer, verdict);
      }
    };
  }

  /** Per probe identity, the (service, real server) pairs that use it: built once per config, not per probe. */
  private probeUsersOf: { config: Config; users: Map<string, Array<{ service: string; realServer: string }>> } | undefined;

  /** The same, per target object (the scheduler keeps one per probe): no key is rebuilt per probe. */
  private readonly usersByTarget = new WeakMap<object, { config: Config; users: Array<{ service: string; realServer: string }> }>();

  private usersOf(check: Parameters<Prober>[0], target: Parameters<Prober>[1]): Array<{ service: string; realServer: string }> {
    const hit = this.usersByTarget.get(target);
    if (hit?.config === this.config) return hit.users;
    const users = this.probeUsers().get(checkKey(check, target)) ?? [];
    this.usersByTarget.set(target, { config: this.config, users });
    return users;
  }

  private probeUsers(): Map<string, Array<{ service: string; realServer: string }>> {
    if (this.probeUsersOf?.config === this.config) return this.probeUsersOf.users;
    const users = new Map<string, Array<{ service: string; realServer: string }>>();
    for (const s of this.config.services) {
      for (const rs of s.realServers) {
        const key = checkKey(rs.healthCheck, rs.spec);
        let list = users.get(key);
        if (!list) users.set(key, (list = []));
        list.push({ service: s.name, realServer: destId(rs.spec) });
      }
    }
    this.probeUsersOf = { config: this.config, users };
    return users;
  }

  private publishHealthUp(): void {
    const up = this.opts.metrics?.healthUp;
    if (!up || !this.health) return;
    for (const s of this.health.snapshot().services) {
      for (const r of s.realServers) up(s.name, r.realServer, r.status === 'up' || r.status === 'drain');
    }
  }

  private recordLoad(kind: 'load' | 'reload', error?: unknown): void {
    const at = new Date().toISOString();
    if (error === undefined) {
      this.lastLoad = { kind, at, ok: true };
    } else {
      const problems = isLvsdError(error, 'LVSD_CONFIG_INVALID') && Array.isArray(error.details)
        ? (error.details as LoadResult['problems'])
        : undefined;
      this.lastLoad = {
        kind, at, ok: false,
        error: error instanceof Error ? error.message : String(error),
        ...(problems ? { problems } : {}),
      };
    }
    this.opts.metrics?.reload(error === undefined);
  }

  private desired(): DesiredEntry[] {
    return this.config.services.map((s) => this.desiredFor(s));
  }

  /** One service as it should be now: health verdicts (or the adopted kernel state), then drains. */
  private desiredFor(svc: Config['services'][number]): DesiredEntry {
    let dests = this.health?.desired(svc.name);
    const adopted: Adoption | undefined = this.adoption.get(svc.name);
    if (dests && adopted) dests = adoptDests(svc, dests, adopted);
    return desiredEntry(svc, {
      ...(dests ? { healthDests: new Map([[svc.name, dests]]) } : {}),
      drains: new Set(this.drains.keys()),
    });
  }

  /** Runs `task` after every queued kernel change. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Dump, plan against everything declared and owned, apply. Coalesces: one pending full reconcile at most. */
  fullReconcile(reason: string): Promise<void> {
    if (this.fullPending) return this.fullPending;
    const p = this.enqueue(async () => {
      this.fullPending = undefined;
      await this.reconcileAll(reason);
    });
    this.fullPending = p;
    return p;
  }

  private async reconcileAll(reason: string): Promise<void> {
    if (this.stopped) return;
    await this.ensureClient();
    const client = this.client;
    if (!client) return;
    const started = performance.now();
    const desired = this.desired();
    try {
      const result = await reconcile(client, desired, {
        owned: this.owned,
        ownWholeTable: this.config.ipvs.ownWholeTable,
        ...(this.config.ipvs.timeouts ? { timeouts: this.config.ipvs.timeouts } : {}),
        log: this.log.child({ component: 'reconcile', reason }),
      });
      this.owned = nextOwned(desired, this.owned, result.report);
      await saveOwned(this.stateFile(), this.owned).catch((e: Error) =>
        this.log.error({ event: 'state.save_failed', file: this.stateFile(), err: e.message }, 'cannot save the state file'));
      this.kernel.clear();
      // The plan was applied; what the kernel holds now is the desired table minus failures. The next
      // drift pass re-reads it; until then targeted changes plan against the desired entries.
      const failed = new Set(result.report.failed.map((f) => f.op.serviceId));
      for (const e of desired) {
        const id = canonicalServiceId(e.service.key);
        if (!failed.has(id)) this.kernel.set(id, { service: e.service, dests: e.dests.map(asKernelDest) });
      }
      this.opts.metrics?.reconcile((performance.now() - started) / 1000, result.report.failed.length);
      this.log.info({
        event: 'daemon.reconcile', reason, ops: result.plan.ops.length, failed: result.report.failed.length,
        ms: Math.round(performance.now() - started),
      }, `reconcile (${reason}): ${result.plan.ops.length} operations`);
    } catch (e) {
      // Nobody knows what landed: own everything declared (and owned before) so the next pass can clean up.
      this.owned = ownedAfterError(desired, this.owned);
      await saveOwned(this.stateFile(), this.owned).catch(() => undefined);
      this.kernel.clear();
      this.opts.metrics?.reconcile((performance.now() - started) / 1000, 1);
      this.log.error({ event: 'daemon.reconcile_failed', reason, err: (e as Error).message, code: (e as LvsdError).code },
        `reconcile (${reason}) failed: ${(e as Error).message}`);
    }
  }

  /**
   * A health change: plan and apply only the services concerned. Changes coalesce: they mark their service
   * dirty, and one queued flush takes every service marked by the time it runs, in one plan and one
   * pipelined batch (a rack going dark, or 10,000 real servers rising at start, is a handful of batches,
   * not one kernel round trip and log line per real server).
   */
  private onHealthChange(service: string, change: HealthChange): void {
    this.adoption.get(service)?.verdicts.add(change.realServer);
    this.opts.metrics?.healthUp?.(service, change.realServer, change.to === 'up' || change.to === 'drain');
    this.healthDirty.set(service, `health: ${change.realServer} ${change.from} -> ${change.to} (${change.reason})`);
    if (this.healthFlushQueued) return;
    this.healthFlushQueued = true;
    void this.enqueue(() => {
      this.healthFlushQueued = false;
      const batch = new Map(this.healthDirty);
      this.healthDirty.clear();
      return this.reconcileServices(batch);
    });
  }

  private readonly healthDirty = new Map<string, string>();
  private healthFlushQueued = false;

  private reconcileService(name: string, reason: string): Promise<void> {
    return this.reconcileServices(new Map([[name, reason]]));
  }

  /** Plans the named services (name -> why) against the kernel entries of the last dump, and applies. */
  private async reconcileServices(batch: ReadonlyMap<string, string>): Promise<void> {
    if (this.stopped || !this.client || batch.size === 0) return;
    const byName = this.servicesByName();
    const entries: Array<{ name: string; desired: DesiredEntry; id: string; cached: KernelEntry }> = [];
    for (const name of batch.keys()) {
      const svc = byName.get(name);
      if (!svc) continue;
      const desired = this.desiredFor(svc);
      const id = canonicalServiceId(desired.service.key);
      const cached = this.kernel.get(id);
      if (!cached) {
        // not in the last dump (none yet, or a failure dropped it): one full pass covers the whole batch
        await this.reconcileAll(`health:${name}${batch.size > 1 ? ` and ${batch.size - 1} more` : ''}`);
        return;
      }
      entries.push({ name, desired, id, cached });
    }
    if (entries.length === 0) return;
    const plan = planReconcile({ desired: entries.map((e) => e.desired), kernel: entries.map((e) => e.cached), owned: new Set(), ownWholeTable: false });
    if (plan.ops.length === 0) return;
    const [first] = batch;
    const context = batch.size === 1
      ? { reason: first![1], service: first![0] }
      : { reason: `health: ${batch.size} services (${first![1]}, ...)`, services: batch.size };
    const report = await applyPlan(this.client, plan, { log: this.log.child({ component: 'reconcile', ...context }) });
    const failed = new Set([...report.failed, ...report.skipped].map((f) => f.op.serviceId));
    for (const e of entries) {
      if (failed.has(e.id)) this.kernel.delete(e.id);
      else this.kernel.set(e.id, { service: e.desired.service, dests: e.desired.dests.map(asKernelDest) });
    }
    if (!report.ok) void this.fullReconcile(`repair:${entries.filter((e) => failed.has(e.id)).map((e) => e.name).join(',') || 'health'}`);
  }

  private servicesByNameOf: { config: Config; map: Map<string, Config['services'][number]> } | undefined;

  private servicesByName(): Map<string, Config['services'][number]> {
    if (this.servicesByNameOf?.config !== this.config) {
      this.servicesByNameOf = { config: this.config, map: new Map(this.config.services.map((s) => [s.name, s])) };
    }
    return this.servicesByNameOf.map;
  }

  private armDrift(): void {
    const ms = Math.max(1, this.config.ipvs.driftInterval) * 1000;
    clearInterval(this.driftTimer);
    this.driftTimer = setInterval(() => void this.fullReconcile('drift'), timerDelay(ms));
    this.driftTimer.unref();
  }

  /**
   * Re-reads the config; a bad one is refused and the running state kept. Never throws. Reloads run one
   * at a time (SIGHUP, a file change and `lvsd reload` may arrive together).
   */
  reload(): Promise<ReloadResult> {
    const run = this.reloadChain.then(() => this.reloadNow());
    this.reloadChain = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<ReloadResult> {
    let next: Config;
    try {
      next = await loadConfig(this.opts.configPath);
    } catch (e) {
      this.recordLoad('reload', e);
      this.log.error({ event: 'config.reload_refused', err: (e as Error).message, problems: (e as LvsdError).details },
        `reload refused, the running config stays: ${(e as Error).message}`);
      return { ok: false, error: (e as Error).message, ...(this.lastLoad?.problems ? { problems: this.lastLoad.problems } : {}) };
    }
    if (next.vrrp.length > 0 && !this.vrrp && !this.opts.vrrp) {
      const error = 'VRRP instances are configured but VRRP is not available in this build';
      this.recordLoad('reload', new Error(error));
      return { ok: false, error };
    }
    this.config = next;
    try {
      await this.ensureClient();
    } catch (e) {
      this.log.error({ event: 'ipvs.unavailable', err: (e as Error).message }, (e as Error).message);
    }
    if (this.health) {
      this.health.update({ services: next.services, health: next.health });
      this.publishHealthUp();
    } else {
      this.startHealth();
    }
    if (next.vrrp.length > 0 || this.vrrp) {
      if (this.vrrp) await this.vrrp.update(next);
      else this.vrrp = await this.opts.vrrp!(next, this.log.child({ component: 'vrrp' }));
    }
    if (this.connSync) await this.connSync.update(next.connectionSync);
    else this.startConnSync();
    await this.fullReconcile('reload');
    this.armDrift();
    this.recordLoad('reload');
    this.log.info({ event: 'config.reloaded', services: next.services.length, vrrp: next.vrrp.length }, 'config reloaded');
    return { ok: true };
  }

  private findDrainTarget(req: DrainRequest): { key: string; service: string; realServer: string } | DrainResult {
    const svc = this.config.services.find((s) => s.name === req.service || serviceId(s.spec.key) === req.service);
    if (!svc) return { ok: false, notFound: 'service', message: `no service named ${JSON.stringify(req.service)}` };
    const rs = svc.realServers.find((r) => destId(r.spec) === req.realServer || r.spec.address === req.realServer);
    if (!rs) {
      return { ok: false, notFound: 'realServer', message: `service ${svc.name} has no real server ${req.realServer}` };
    }
    return { key: drainKey(svc.name, rs.spec), service: svc.name, realServer: destId(rs.spec) };
  }

  async drain(req: DrainRequest, on: boolean): Promise<DrainResult> {
    const target = this.findDrainTarget(req);
    if ('ok' in target) return target;
    const had = this.drains.has(target.key);
    if (on === had) return { ok: true, changed: false };
    if (on) this.drains.set(target.key, { service: target.service, realServer: target.realServer, since: new Date().toISOString() });
    else this.drains.delete(target.key);
    await this.saveDrains();
    this.log.info({ event: on ? 'daemon.drain' : 'daemon.undrain', service: target.service, realServer: target.realServer },
      `${on ? 'drained' : 'undrained'} ${target.service} ${target.realServer}`);
    await this.enqueue(() => this.reconcileService(target.service, on ? 'drain' : 'undrain'));
    return { ok: true, changed: true };
  }

  private async loadDrains(): Promise<void> {
    try {
      const list = JSON.parse(await readFile(this.drainsFile(), 'utf8')) as DrainRecord[];
      for (const d of list) {
        if (typeof d.service === 'string' && typeof d.realServer === 'string') this.drains.set(`${d.service}/${d.realServer}`, d);
      }
    } catch {
      // no drains recorded yet
    }
  }

  private async saveDrains(): Promise<void> {
    const file = this.drainsFile();
    await mkdir(dirname(file), { recursive: true });
    await writeFile(`${file}.tmp`, JSON.stringify([...this.drains.values()], null, 2) + '\n');
    await rename(`${file}.tmp`, file);
  }

  async status(): Promise<StatusSnapshot> {
    let kernel: KernelEntry[] | undefined;
    let daemons: Awaited<ReturnType<IpvsClient['getDaemons']>> = [];
    if (this.client) {
      try {
        [kernel, daemons] = await Promise.all([this.client.dump(), this.client.getDaemons()]);
      } catch (e) {
        this.log.warn({ event: 'status.dump_failed', err: (e as Error).message }, 'status: cannot read the IPVS table');
      }
    }
    return buildSnapshot({
      nowMs: Date.now(),
      startedAtMs: this.startedAtMs,
      node: hostname(),
      version: this.opts.version ?? '0.0.0',
      configPath: this.opts.configPath,
      config: this.config,
      lastLoad: this.lastLoad,
      kernel,
      daemons,
      health: this.health?.snapshot(),
      vrrp: this.vrrp ? await (this.vrrp.freshSnapshot?.() ?? this.vrrp.snapshot()) : [],
      drains: [...this.drains.values()],
    });
  }

  /** Clean stop: VRRP hands over (priority 0) and releases the VIPs; the IPVS table is left as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.driftTimer);
    clearTimeout(this.adoptionTimer);
    await this.vrrp?.stop().catch((e: Error) => this.log.error({ event: 'vrrp.stop_failed', err: e.message }, e.message));
    await this.connSync?.stop();
    await this.health?.stop();
    await this.queue.catch(() => undefined);
    this.client?.close();
    this.log.info({ event: 'daemon.stopped' }, 'lvsd stopped; the IPVS table is left in place');
  }
}

function asKernelDest(d: DestSpec): KernelEntry['dests'][number] {
  return { ...d, activeConns: 0, inactiveConns: 0, persistentConns: 0 };
}
