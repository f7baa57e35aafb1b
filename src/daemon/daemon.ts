/**
 * The daemon: wires config, IPVS reconcile, health checks, VRRP, the control socket and metrics.
 * Data flows one way: config (+ health results, drains) -> desired table -> reconcile -> kernel;
 * VRRP state -> addresses and the connection-sync daemon.
 *
 * Everything that changes the kernel's IPVS table goes through one queue, so two reconciles never
 * interleave. A full reconcile (start, reload, drift timer) dumps the whole table; a health change plans
 * only the service concerned, against the kernel entry of the last dump, and touches only that service.
 * Any operation that fails is logged, counted, kept in status (repair.ts) and retried by full reconciles
 * that back off, until one applies everything.
 *
 * A reload is a transaction: the new config is loaded, IPVS read, health and VRRP prepared first; only
 * when every part has taken it does the daemon switch, all at once (reload.md in docs/operations.md).
 */
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import { LvsdError, isLvsdError, type LvsdErrorCode } from '../errors.js';
import { HealthScheduler, type HealthChange, type HealthSchedulerOptions, type PreparedHealth, type Prober } from '../health/index.js';
import { createIpvsClient } from '../ipvs/index.js';
import { destId, serviceId, type DestSpec, type IpvsClient, type KernelEntry } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import {
  DEFAULT_STATE_FILE, applyPlan, canonicalServiceId, loadOwned, nextOwned, ownedAfterError, planReconcile, reconcile, saveOwned,
} from '../reconcile/index.js';
import type { DrainRequest, DrainResult, ReloadResult } from './control-server.js';
import { adoptDests, desiredEntry, drainKey, type Adoption, type DesiredEntry } from './desired.js';
import type { IpvsApplyStatus, LoadOutcome, LoadResult, StatusSnapshot, VrrpInstanceStatus } from './status.js';
import { buildSnapshot } from './snapshot.js';
import { ConnSync } from './conn-sync.js';
import { timerDelay } from '../timer-delay.js';
import { ProbeUsers, realServerPairs } from './probe-users.js';
import {
  DEFAULT_BACKOFF, RepairState, backoffMs, passFailure, recordsOf, type BackoffOptions, type FailureRecord,
} from './repair.js';
import { loadDrains, saveDrains, type DrainRecord } from './drains-file.js';

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
  reload(result: LoadOutcome): void;
  /** One pass over the kernel: kind (start, reload, drift, repair, adopted, health, drain) and result. */
  reconcilePass?(kind: PassKind, result: PassResult): void;
  /** Failed kernel operations by command and reason (repair.ts FailureReason). */
  ipvsOpFailed?(op: string, reason: string, count?: number): void;
  ipvsFailuresPending?(count: number): void;
  /** A real server, service or VRRP instance left the config: its series go. */
  forgetRealServer?(service: string, realServer: string): void;
  forgetInstance?(instance: string): void;
  /** Netlink replies lost on a socket ('ipvs'); the table is re-read. */
  netlinkOverrun?(socket: string, count?: number): void;
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
  /** Waits between repair attempts after a kernel operation failed. Default 1 s doubling to 30 s. */
  repairBackoff?: BackoffOptions;
}

export type PassKind = 'start' | 'reload' | 'drift' | 'repair' | 'adopted' | 'health' | 'drain';
export type PassResult = 'ok' | 'partial' | 'failed';
/** Where a reload came from (logged with its outcome). */
export type ReloadTrigger = 'control' | 'sighup' | 'file';

interface PassOutcome {
  result: PassResult;
  ops: number;
  failures: FailureRecord[];
  /** The first failure's code and message, when not ok. */
  error?: { code: string | undefined; message: string };
}

const NOTHING_TO_DO: PassOutcome = { result: 'ok', ops: 0, failures: [] };

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
  private fullPending: Promise<PassOutcome> | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  /** Per service name: what the kernel held at start, kept until the health checker has had its say. */
  private adoption = new Map<string, { kernel: DestSpec[]; verdicts: Set<string> }>();
  private adoptionTimer: NodeJS.Timeout | undefined;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly repair = new RepairState();
  private repairTimer: NodeJS.Timeout | undefined;
  private lastReconcile: IpvsApplyStatus['lastReconcile'] = null;
  private readonly probeUsers = new ProbeUsers(() => this.config);

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
      d.recordLoad('load', 'refused', e);
      throw e;
    }
    d.config = config;
    try {
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
    } catch (e) {
      // what did start must not keep probing or hold the VIPs: the process is about to report the error
      await d.stop();
      throw e;
    }
    const outcome = await d.fullReconcile('start', 'start');
    // the config is in force either way; what the kernel did not take is retried (repair) and shown
    d.recordLoad('load', outcome.result === 'ok' ? 'ok' : 'partial', outcome.error ? ipvsError(outcome) : undefined);
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

  /** The generic-netlink client, its overruns logged (ipvs.netlink.overrun) and counted (lvsd_netlink_overruns_total). */
  private createIpvsClient(): Promise<IpvsClient> {
    return createIpvsClient({ logger: this.log, onOverrun: () => this.opts.metrics?.netlinkOverrun?.('ipvs') });
  }

  private async ensureClient(): Promise<void> {
    if (this.client || this.config.services.length === 0) return;
    this.client = await (this.opts.ipvs ?? (() => this.createIpvsClient()))();
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
      void this.fullReconcile('adopted', 'adopted');
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
    this.health = this.makeHealth(this.config);
    this.health.start();
    this.publishHealthUp();
  }

  /** A scheduler for `config`, not started. */
  private makeHealth(config: Config): HealthScheduler {
    // An adopted service's real servers start up: the kernel's weights stand until a probe says otherwise
    // (a fall takes a dead one out; no rise is needed, so no slow-start ramp and no blip at restart).
    const services = config.services.map((s) => (this.adoption.has(s.name) ? { ...s, initialState: 'up' as const } : s));
    return new HealthScheduler(
      { services, health: config.health },
      {
        logger: this.log.child({ component: 'health' }),
        onChange: (service, _dests, change) => this.onHealthChange(service, change),
        // no prober given: the real checkers, and TCP checks run by the addon on its own schedule
        ...(this.opts.prober ? { prober: this.opts.prober } : {}),
        onProbeResult: this.probeMetrics(),
      },
    );
  }

  /** Counts each probe result per service using that probe (probes are shared), and its duration. */
  private probeMetrics(): HealthSchedulerOptions['onProbeResult'] {
    const m = this.opts.metrics;
    if (!m?.healthResult && !m?.healthProbeDuration) return undefined;
    return (check, target, result) => {
      m.healthProbeDuration?.(check.type, result.latencyMs / 1000);
      if (m.healthResult) {
        const verdict = result.ok ? 'up' : 'down';
        for (const u of this.probeUsers.of(check, target)) m.healthResult(u.service, u.realServer, verdict);
      }
    };
  }

  private publishHealthUp(): void {
    const up = this.opts.metrics?.healthUp;
    if (!up || !this.health) return;
    for (const s of this.health.snapshot().services) {
      for (const r of s.realServers) up(s.name, r.realServer, r.status === 'up' || r.status === 'drain');
    }
  }

  /** A real server or VRRP instance that left the config: its metric series go with it. */
  private forgetRemoved(old: Config, next: Config): void {
    const m = this.opts.metrics;
    if (m?.forgetRealServer) {
      const kept = realServerPairs(next);
      for (const pair of realServerPairs(old)) {
        if (kept.has(pair)) continue;
        const [service, realServer] = pair.split('\0') as [string, string];
        m.forgetRealServer(service, realServer);
      }
    }
    if (m?.forgetInstance) {
      const kept = new Set(next.vrrp.map((v) => v.name));
      for (const v of old.vrrp) if (!kept.has(v.name)) m.forgetInstance(v.name);
    }
  }

  private recordLoad(kind: 'load' | 'reload', result: LoadOutcome, error?: unknown): LoadResult {
    const at = new Date().toISOString();
    if (result === 'ok' || error === undefined) {
      this.lastLoad = { kind, at, ok: result === 'ok', result };
    } else {
      const problems = isLvsdError(error, 'LVSD_CONFIG_INVALID') && Array.isArray(error.details)
        ? (error.details as LoadResult['problems'])
        : undefined;
      const code = (error as { code?: unknown }).code;
      this.lastLoad = {
        kind, at, ok: false, result,
        ...(typeof code === 'string' && code.startsWith('LVSD_') ? { code } : {}),
        error: error instanceof Error ? error.message : String(error),
        ...(problems ? { problems } : {}),
      };
    }
    this.opts.metrics?.reload(result);
    return this.lastLoad;
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

  /** Dump, plan against everything declared and owned, apply. Coalesces: one pending full reconcile at most. Never rejects. */
  fullReconcile(reason: string, kind: PassKind = 'drift'): Promise<PassOutcome> {
    if (this.fullPending) return this.fullPending;
    const p = this.enqueue(async () => {
      this.fullPending = undefined;
      return this.reconcileAll(reason, kind);
    });
    this.fullPending = p;
    return p;
  }

  /** One full pass; `kernel`: the table as read a moment ago in the same queue turn (the reload's). Never throws. */
  private async reconcileAll(reason: string, kind: PassKind, kernel?: KernelEntry[]): Promise<PassOutcome> {
    if (this.stopped) return NOTHING_TO_DO;
    const started = performance.now();
    const desired = this.desired();
    let outcome: PassOutcome;
    try {
      await this.ensureClient();
      const client = this.client;
      if (!client) return NOTHING_TO_DO;
      const result = await reconcile(client, desired, {
        owned: this.owned,
        ownWholeTable: this.config.ipvs.ownWholeTable,
        ...(this.config.ipvs.timeouts ? { timeouts: this.config.ipvs.timeouts } : {}),
        ...(kernel ? { kernel } : {}),
        log: this.log.child({ component: 'reconcile', reason }),
      });
      this.owned = nextOwned(desired, this.owned, result.report);
      await saveOwned(this.stateFile(), this.owned).catch((e: Error) =>
        this.log.error({ event: 'state.save_failed', file: this.stateFile(), err: e.message }, 'cannot save the state file'));
      this.kernel.clear();
      // The plan was applied; what the kernel holds now is the desired table minus failures. The next
      // drift pass re-reads it; until then targeted changes plan against the desired entries.
      const failed = new Set([...result.report.failed, ...result.report.skipped].map((f) => f.op.serviceId));
      for (const e of desired) {
        const id = canonicalServiceId(e.service.key);
        if (!failed.has(id)) this.kernel.set(id, { service: e.service, dests: e.dests.map(asKernelDest) });
      }
      const failures = recordsOf(result.report, (id) => this.nameOf(id), Date.now());
      this.opts.metrics?.reconcile((performance.now() - started) / 1000, failures.length);
      outcome = { result: failures.length > 0 ? 'partial' : 'ok', ops: result.plan.ops.length, failures, ...firstError(failures) };
      this.log[failures.length > 0 ? 'warn' : 'info']({
        event: 'daemon.reconcile', reason, ops: result.plan.ops.length, failed: failures.length,
        ms: Math.round(performance.now() - started),
      }, `reconcile (${reason}): ${result.plan.ops.length} operations${failures.length > 0 ? `, ${failures.length} failed` : ''}`);
    } catch (e) {
      // Nobody knows what landed: own everything declared (and owned before) so the next pass can clean up.
      this.owned = ownedAfterError(desired, this.owned);
      await saveOwned(this.stateFile(), this.owned).catch(() => undefined);
      this.kernel.clear();
      this.opts.metrics?.reconcile((performance.now() - started) / 1000, 1);
      const failure = passFailure(this.client ? 'reconcile' : 'connect', e, Date.now());
      outcome = { result: 'failed', ops: 0, failures: [failure], ...firstError([failure]) };
      this.log.error({ event: 'daemon.reconcile_failed', reason, err: failure.message, code: failure.code },
        `reconcile (${reason}) failed: ${failure.message}`);
    }
    this.afterPass(kind, outcome, true);
    this.lastReconcile = {
      at: new Date().toISOString(), reason, result: outcome.result, ops: outcome.ops, failed: outcome.failures.length,
      error: outcome.error?.message ?? null,
    };
    return outcome;
  }

  /** The config name of a service id (canonical), when it is declared. */
  private nameOf(id: string): string | undefined {
    if (this.namesOf?.config !== this.config) {
      this.namesOf = { config: this.config, map: new Map(this.config.services.map((s) => [canonicalServiceId(s.spec.key), s.name])) };
    }
    return this.namesOf.map.get(id);
  }

  private namesOf: { config: Config; map: Map<string, string> } | undefined;

  /**
   * Counts a pass and its failures and keeps them for status: a full pass's list replaces what was
   * outstanding (it read and planned everything), except one that failed as a whole; a targeted pass adds.
   * While anything is outstanding a repair (a full reconcile) is scheduled, backing off.
   */
  private afterPass(kind: PassKind, outcome: PassOutcome, full: boolean): void {
    const m = this.opts.metrics;
    m?.reconcilePass?.(kind, outcome.result);
    for (const f of outcome.failures) m?.ipvsOpFailed?.(f.op, f.reason);
    let repaired = false;
    if (full && outcome.result !== 'failed') {
      const attempts = this.repair.attempts;
      const since = this.repair.sinceMs;
      repaired = this.repair.replace(outcome.failures);
      if (repaired) {
        this.log.info({ event: 'daemon.repaired', kind, attempts, failedForMs: since === undefined ? null : Date.now() - since },
          `IPVS repaired: the kernel holds everything lvsd wants (after ${attempts} retr${attempts === 1 ? 'y' : 'ies'})`);
      }
    } else {
      this.repair.add(outcome.failures);
    }
    m?.ipvsFailuresPending?.(this.repair.count);
    if (this.repair.pending) this.scheduleRepair();
    else if (this.repairTimer) {
      clearTimeout(this.repairTimer);
      this.repairTimer = undefined;
    }
  }

  private scheduleRepair(): void {
    if (this.stopped || this.repairTimer) return;
    const delay = backoffMs(this.repair.attempts, this.opts.repairBackoff ?? DEFAULT_BACKOFF);
    this.repair.attempts++;
    this.repair.nextAttemptAtMs = Date.now() + delay;
    const first = this.repair.list(1)[0];
    this.log.warn({
      event: 'daemon.repair_scheduled', attempt: this.repair.attempts, inMs: delay, failedOps: this.repair.count,
      ...(first ? { service: first.service ?? first.serviceId, realServer: first.realServer, op: first.op, reason: first.reason } : {}),
    }, `${this.repair.count} IPVS operation(s) outstanding: full reconcile #${this.repair.attempts} in ${delay} ms`);
    this.repairTimer = setTimeout(() => {
      this.repairTimer = undefined;
      this.repair.nextAttemptAtMs = undefined;
      void this.fullReconcile('repair', 'repair');
    }, delay);
    this.repairTimer.unref();
  }

  private ipvsStatus(): IpvsApplyStatus {
    const r = this.repair;
    return {
      state: r.pending ? 'repairing' : 'ok',
      failedOps: r.count,
      failures: r.list(20).map((f) => ({
        service: f.service ?? f.serviceId, realServer: f.realServer, op: f.op, reason: f.reason, code: f.code, message: f.message,
        at: new Date(f.atMs).toISOString(),
      })),
      repair: r.pending
        ? {
          since: new Date(r.sinceMs ?? Date.now()).toISOString(), attempts: r.attempts,
          nextAttemptAt: r.nextAttemptAtMs === undefined ? null : new Date(r.nextAttemptAtMs).toISOString(),
        }
        : null,
      lastReconcile: this.lastReconcile,
    };
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
    this.enqueue(() => {
      this.healthFlushQueued = false;
      const batch = new Map(this.healthDirty);
      this.healthDirty.clear();
      return this.reconcileServices(batch, 'health');
    }).catch((e: unknown) => this.internalError('health.flush', e));
  }

  /** A bug reached the top of an asynchronous path: say so, and let the repair machinery converge. */
  private internalError(where: string, e: unknown): void {
    this.log.error({ event: 'daemon.internal_error', where, err: (e as Error)?.stack ?? String(e) }, `internal error in ${where}`);
  }

  private readonly healthDirty = new Map<string, string>();
  private healthFlushQueued = false;

  /** Plans the named services (name -> why) against the kernel entries of the last dump, and applies. Never throws. */
  private async reconcileServices(batch: ReadonlyMap<string, string>, kind: 'health' | 'drain'): Promise<void> {
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
        await this.reconcileAll(`${kind}:${name}${batch.size > 1 ? ` and ${batch.size - 1} more` : ''}`, kind);
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
    const log = this.log.child({ component: 'reconcile', ...context });
    let report: Awaited<ReturnType<typeof applyPlan>>;
    try {
      report = await applyPlan(this.client, plan, { log });
    } catch (e) {
      // the client failed (socket closed, replies lost): nobody knows which of these landed
      for (const entry of entries) this.kernel.delete(entry.id);
      const at = Date.now();
      const failures = plan.ops.map((op) => ({
        ...passFailure(op.command.cmd, e, at),
        serviceId: op.serviceId ?? null, service: (op.serviceId !== undefined ? this.nameOf(op.serviceId) : undefined) ?? null,
        realServer: op.destId ?? null,
      }));
      for (const f of failures) {
        log.warn({ event: 'ipvs.op_failed', op: f.op, service: f.serviceId, dest: f.realServer, reason: f.message, code: f.code },
          `failed: ${f.op} ${f.serviceId ?? ''}${f.realServer ? ` ${f.realServer}` : ''}: ${f.message}`);
      }
      this.afterPass(kind, { result: 'failed', ops: plan.ops.length, failures, ...firstError(failures) }, false);
      return;
    }
    const failed = new Set([...report.failed, ...report.skipped].map((f) => f.op.serviceId));
    for (const e of entries) {
      if (failed.has(e.id)) this.kernel.delete(e.id);
      else this.kernel.set(e.id, { service: e.desired.service, dests: e.desired.dests.map(asKernelDest) });
    }
    const failures = recordsOf(report, (id) => this.nameOf(id), Date.now());
    this.afterPass(kind, { result: failures.length > 0 ? 'partial' : 'ok', ops: plan.ops.length, failures, ...firstError(failures) }, false);
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
    this.driftTimer = setInterval(() => void this.fullReconcile('drift', 'drift'), timerDelay(ms));
    this.driftTimer.unref();
  }

  /**
   * Re-reads the config and switches to it, or keeps the running one whole (refused or failed), and says
   * which. Never rejects. Reloads run one at a time (SIGHUP, a file change and `lvsd reload` may arrive
   * together). Every outcome is logged, counted and shown in status whatever the trigger.
   */
  reload(trigger: ReloadTrigger = 'control'): Promise<ReloadResult> {
    const run = this.reloadChain.then(() => this.reloadNow(trigger)).catch((e: unknown) => {
      this.internalError('reload', e);
      return this.reloadFailed(trigger, 'internal', new LvsdError('LVSD_INTERNAL', `reload failed: ${(e as Error)?.message ?? String(e)}`));
    });
    this.reloadChain = run;
    return run;
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.stopped) return { ok: false, applied: false, code: 'LVSD_CONTROL', error: 'lvsd is stopping' };
    let next: Config;
    try {
      next = await loadConfig(this.opts.configPath);
    } catch (e) {
      const load = this.recordLoad('reload', 'refused', e);
      this.log.error({ event: 'config.reload_refused', trigger, code: load.code, err: load.error, problems: load.problems },
        `reload refused, the running config stays: ${load.error ?? ''}`);
      return { ok: false, applied: false, error: load.error ?? 'refused', ...(load.code ? { code: load.code } : {}), ...(load.problems ? { problems: load.problems } : {}) };
    }
    if (next.vrrp.length > 0 && !this.vrrp && !this.opts.vrrp) {
      return this.reloadFailed(trigger, 'vrrp', new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP instances are configured but VRRP is not available in this build'));
    }
    // The whole switch holds the kernel queue: no health change or drift pass lands between reading the
    // table and applying the new config to it.
    return this.enqueue(() => this.switchTo(next, trigger));
  }

  /** A reload that could not switch: the running config stays whole. */
  private reloadFailed(trigger: ReloadTrigger, step: string, e: unknown): ReloadResult {
    const load = this.recordLoad('reload', 'failed', e);
    this.log.error({ event: 'config.reload_failed', trigger, step, code: load.code, err: load.error },
      `reload failed (${step}), the running config stays: ${load.error ?? ''}`);
    return { ok: false, applied: false, error: load.error ?? 'failed', ...(load.code ? { code: load.code } : {}) };
  }

  /**
   * Prepare every part for `next` (IPVS reachable and read, health built, VRRP updated); if one cannot
   * take it, nothing has switched and the old config stays. Then switch all at once and apply the table.
   */
  private async switchTo(next: Config, trigger: ReloadTrigger): Promise<ReloadResult> {
    // a stop came while the config was read: nothing may start now
    if (this.stopped) return { ok: false, applied: false, code: 'LVSD_CONTROL', error: 'lvsd is stopping' };
    let step = 'ipvs';
    let newClient: IpvsClient | undefined;
    let kernel: KernelEntry[] | undefined;
    let preparedHealth: PreparedHealth | undefined;
    let newHealth: HealthScheduler | undefined;
    let newVrrp: VrrpPort | undefined;
    try {
      if (next.services.length > 0 && !this.client) newClient = await (this.opts.ipvs ?? (() => this.createIpvsClient()))();
      const client = this.client ?? newClient;
      if (client && (next.services.length > 0 || this.owned.size > 0)) kernel = await client.dump();
      step = 'health';
      if (this.health) preparedHealth = this.health.prepare({ services: next.services, health: next.health });
      else if (next.services.length > 0) newHealth = this.makeHealth(next);
      // VRRP last: the one part that acts while preparing (the worker applies the new instances whole,
      // or rejects and keeps the old ones), so nothing after it may fail
      step = 'vrrp';
      if (this.vrrp) {
        if (next.vrrp.length > 0 || this.config.vrrp.length > 0) await this.vrrp.update(next);
      } else if (next.vrrp.length > 0) {
        newVrrp = await this.opts.vrrp!(next, this.log.child({ component: 'vrrp' }));
      }
    } catch (e) {
      newClient?.close();
      return this.reloadFailed(trigger, step, e);
    }
    if (this.stopped) {
      newClient?.close();
      await newVrrp?.stop().catch(() => undefined);
      return { ok: false, applied: false, code: 'LVSD_CONTROL', error: 'lvsd is stopping' };
    }

    // ---- switch: nothing below throws, nothing awaits before the table is planned ----
    const old = this.config;
    this.config = next;
    if (newClient) this.client = newClient;
    if (preparedHealth) this.health!.commit(preparedHealth);
    if (newHealth) {
      this.health = newHealth;
      newHealth.start();
    }
    if (newVrrp) this.vrrp = newVrrp;
    this.publishHealthUp();
    this.forgetRemoved(old, next);
    const syncing = this.connSync ? this.connSync.update(next.connectionSync) : (this.startConnSync(), Promise.resolve());
    this.armDrift();

    const outcome = await this.reconcileAll('reload', 'reload', kernel);
    await syncing;
    if (outcome.result !== 'ok') {
      // valid and in force, but the kernel did not take all of it: not a success; the repair retries
      const error = ipvsError(outcome);
      const load = this.recordLoad('reload', 'partial', error);
      this.log.error({ event: 'config.reload_partial', trigger, code: load.code, err: load.error, failedOps: outcome.failures.length },
        `reload: ${load.error ?? ''}`);
      return { ok: false, applied: true, error: load.error ?? 'partial', code: error.code };
    }
    this.recordLoad('reload', 'ok');
    this.log.info({ event: 'config.reloaded', trigger, services: next.services.length, vrrp: next.vrrp.length }, 'config reloaded');
    return { ok: true, applied: true };
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
    const next = new Map(this.drains);
    if (on) next.set(target.key, { service: target.service, realServer: target.realServer, since: new Date().toISOString() });
    else next.delete(target.key);
    // recorded first: a drain the daemon could not write down would be lost at the next restart
    try {
      await saveDrains(this.drainsFile(), [...next.values()]);
    } catch (e) {
      this.log.error({ event: 'daemon.drains_save_failed', file: this.drainsFile(), service: target.service, realServer: target.realServer, err: (e as Error).message },
        `cannot record the ${on ? 'drain' : 'undrain'} of ${target.service} ${target.realServer}: ${(e as Error).message}`);
      throw new LvsdError('LVSD_STATE', `cannot record the ${on ? 'drain' : 'undrain'} in ${this.drainsFile()}: ${(e as Error).message}; nothing changed`, { cause: e });
    }
    this.drains = next;
    this.log.info({ event: on ? 'daemon.drain' : 'daemon.undrain', service: target.service, realServer: target.realServer },
      `${on ? 'drained' : 'undrained'} ${target.service} ${target.realServer}`);
    await this.enqueue(() => this.reconcileServices(new Map([[target.service, on ? 'drain' : 'undrain']]), 'drain'));
    return { ok: true, changed: true };
  }

  /** The recorded drains; throws LVSD_STATE when they cannot be known (drains-file.ts), so start fails rather than forget them. */
  private async loadDrains(): Promise<void> {
    for (const d of await loadDrains(this.drainsFile(), this.log)) this.drains.set(`${d.service}/${d.realServer}`, d);
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
      ipvs: this.ipvsStatus(),
    });
  }

  /** Clean stop: VRRP hands over (priority 0) and releases the VIPs; the IPVS table is left as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.driftTimer);
    clearTimeout(this.adoptionTimer);
    clearTimeout(this.repairTimer);
    await this.reloadChain; // a reload in progress ends first (it sees `stopped` and switches nothing)
    await this.vrrp?.stop().catch((e: Error) => this.log.error({ event: 'vrrp.stop_failed', err: e.message }, e.message));
    await this.connSync?.stop();
    await this.health?.stop();
    await this.queue.catch(() => undefined);
    try {
      this.client?.close();
    } catch (e) {
      this.log.warn({ event: 'ipvs.close_failed', err: (e as Error).message }, 'closing the IPVS socket failed');
    }
    this.log.info({ event: 'daemon.stopped' }, 'lvsd stopped; the IPVS table is left in place');
  }
}

function firstError(failures: readonly FailureRecord[]): Pick<PassOutcome, 'error'> {
  const f = failures[0];
  return f ? { error: { code: f.code ?? undefined, message: `${f.op}${f.service ?? f.serviceId ? ` ${f.service ?? f.serviceId}` : ''}${f.realServer ? ` ${f.realServer}` : ''}: ${f.message}` } } : {};
}

/** The error a load or reload reports when IPVS did not take all of the config. */
function ipvsError(outcome: PassOutcome): LvsdError {
  const n = outcome.failures.length;
  const code = (outcome.error?.code as LvsdErrorCode | undefined) ?? 'LVSD_IPVS_KERNEL';
  return new LvsdError(code, outcome.result === 'failed'
    ? `the new config is in force but IPVS could not be reached: ${outcome.error?.message ?? 'unknown error'}; lvsd retries`
    : `the new config is in force but ${n} IPVS operation${n === 1 ? '' : 's'} failed (first: ${outcome.error?.message ?? '?'}); lvsd retries`);
}

function asKernelDest(d: DestSpec): KernelEntry['dests'][number] {
  return { ...d, activeConns: 0, inactiveConns: 0, persistentConns: 0 };
}
