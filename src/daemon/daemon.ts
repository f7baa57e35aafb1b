/**
 * The daemon: holds the running config and its parts (IPVS reconcile, health checks, VRRP, connection
 * sync, ECMP) and switches them together. Data flows one way: config (+ health results, drains) -> desired
 * table -> reconcile -> kernel; VRRP state -> addresses and the connection-sync daemon. The kernel's table is
 * owned by the reconciler (src/reconcile/reconciler.ts: the desired table, the kept view, one queue, repair of
 * failed operations); what is wanted beyond the config is wanted.ts. run.ts wires the daemon into a process
 * (namespace guard, control socket, metrics, file watcher, signals).
 *
 * A reload is a transaction: the new config is loaded, IPVS asked, health and VRRP prepared first; only
 * when every part has taken it does the daemon switch, all at once (docs/operations.md, Reload).
 */
import { hostname } from 'node:os';
import { performance, type IntervalHistogram } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { ConfigCache, loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import { LvsdError } from '../errors.js';
import type { HealthChange, HealthScheduler } from '../health/index.js';
import { createIpvsClient } from '../ipvs/index.js';
import type { IpvsClient } from '../ipvs/types.js';
import { serviceId, type DestSpec } from '../table/index.js';
import type { Logger } from '../log.js';
import { DEFAULT_STATE_FILE, Reconciler, loadOwned, reasonOf, type PassKind, type PassOutcome, type PassResult } from '../reconcile/index.js';
import { timerDelay } from '../timer-delay.js';
import type { DrainRequest, DrainResult, ReloadResult, StatusQuery } from './control-server.js';
import { adoptKernelTable } from './adoption.js';
import { ConnSync } from './conn-sync.js';
import type { DaemonOptions, ReloadTrigger, VrrpPort } from './daemon-types.js';
import { drainRealServer, loadDrainMap } from './drain.js';
import { EcmpSide, directorProblems, ecmpQuorums } from './ecmp-side.js';
import { SeriesNames, createHealth, publishHealthUp } from './health-wiring.js';
import { applyConfiguredSysctls } from './ipvs-sysctls.js';
import { ipvsError, loadRecord, logConfigWarnings } from './load-record.js';
import {
  dropPrepared, failedAnswer, followServices, logReloaded, partialAnswer, prepareParts, refusedAnswer, stoppingResult, watchingLoop, type ReloadFacts,
} from './reload.js';
import { servicesDelta } from './service-delta.js';
import { ProbeUsers } from './probe-users.js';
import { buildSnapshotInTurns } from './snapshot.js';
import type { LoadOutcome, LoadResult, StatusSnapshot } from './status.js';
import { readStatusTable } from './status-read.js';
import { Wanted } from './wanted.js';

export type { PassKind, PassOutcome, PassResult };
export type { DaemonMetrics, DaemonOptions, ReloadTrigger, VrrpPort } from './daemon-types.js';

export class Daemon {
  readonly startedAtMs = Date.now();
  private config!: Config;
  private readonly configCache: ConfigCache;
  private lastLoad: LoadResult | null = null;
  private client: IpvsClient | undefined;
  private health: HealthScheduler | undefined;
  private vrrp: VrrpPort | undefined;
  private connSync: ConnSync | undefined;
  private readonly ecmp: EcmpSide;
  private driftTimer: NodeJS.Timeout | undefined;
  private adoptionTimer: NodeJS.Timeout | undefined;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly reconciler: Reconciler;
  /** Health lists, adoption and drains: what is wanted in the kernel beyond the config. */
  private readonly wanted = new Wanted(() => this.config);
  private readonly probeUsers = new ProbeUsers(() => this.config);
  private readonly seriesNames = new SeriesNames();

  // without the starting config: the daemon lives on, and a reload must not leave that config behind in memory
  private constructor(private readonly opts: Omit<DaemonOptions, 'config'>) {
    this.log = opts.log;
    this.configCache = opts.configCache ?? new ConfigCache();
    this.reconciler = new Reconciler({
      log: opts.log, events: opts.metrics, backoff: opts.repairBackoff,
      stateFile: () => this.stateFile(),
      client: async () => {
        await this.ensureClient();
        return this.client;
      },
      internalError: (where, e) => this.internalError(where, e),
    });
    this.ecmp = new EcmpSide({
      log: this.log,
      stateDir: () => dirname(this.stateFile()),
      host: {
        quorums: () => ecmpQuorums(this.config, this.health, this.wanted.drains),
        directorProblems: () => directorProblems(this.reconciler.status()),
      },
      sysctlRoot: opts.sysctlRoot,
      backoff: opts.bgpBackoff,
    });
    opts.metrics?.healthCountsFrom?.(() => this.health?.takeCounts());
  }

  /** Loads the config (a bad one is fatal at start), applies it, starts health checks, VRRP and the drift timer. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config: given, ...rest } = opts;
    const d = new Daemon(rest);
    let config: Config;
    try {
      config = given ?? await loadConfig(opts.configPath, { hostChecks: true, cache: d.configCache });
    } catch (e) {
      d.recordLoad('load', 'refused', e);
      throw e;
    }
    d.config = config;
    try {
      await d.prepareStart(opts.vrrp, opts.beforeKernel);
      d.startConnSync();
    } catch (e) {
      // what did start must not keep probing or hold the VIPs: the process is about to report the error
      await d.stop();
      throw e;
    }
    // VRRP may claim mastership once the table is in the kernel (or the first attempt failed: see
    // tableReady), not after the state file is written too
    let told: Promise<void> | undefined;
    const tellVrrp = (outcome: PassOutcome): void => {
      told ??= (d.vrrp?.tableReady?.(outcome.result === 'ok', outcome.result === 'ok' ? undefined : ipvsError(outcome).message) ?? Promise.resolve())
        .catch((e: Error) => d.log.error({ event: 'vrrp.table_ready_failed', err: e.message }, `cannot tell VRRP the table is programmed: ${e.message}`));
    };
    const outcome = await d.reconciler.applyDesired(d.wanted.table(), 'start', 'start', tellVrrp);
    tellVrrp(outcome);
    await told;
    // the config is in force either way; what the kernel did not take is retried (repair) and shown
    d.recordLoad('load', outcome.result === 'ok' ? 'ok' : 'partial', outcome.error ? ipvsError(outcome) : undefined);
    logConfigWarnings(d.log, config);
    try {
      // after the first pass: what is announced follows a table that is in the kernel
      if (config.ecmp) await d.ecmp.start(config.ecmp);
    } catch (e) {
      await d.stop();
      throw e;
    }
    d.armDrift();
    return d;
  }

  /**
   * The start's steps before the first table write, each begun as soon as what it needs is known
   * (docs/architecture.md, "Start"):
   *
   *   state file --(only with no service declared: whether IPVS is needed)--> IPVS opened --+--> sysctls
   *   drains file ---------------------------------------------------------------------------+--> table read (adoption) --> health checks
   *   `beforeKernel` (lvsd run: the control socket opening) ---------------------------------+
   *   the VRRP side (the worker started at exec)
   *
   * Nothing that changes the kernel (the sysctls, the adoption's settle timer, the first pass) runs before
   * the drains are known, IPVS is open and `beforeKernel` has settled, and no probe starts before that
   * either. Every step has settled before this returns, so the first write (and a failed start's stop)
   * never runs beside one; a start that fails throws the error of the first failed step in the order they
   * had when they ran one after the other: control socket, drains, IPVS, health, VRRP.
   */
  private async prepareStart(vrrp: DaemonOptions['vrrp'], beforeKernel: Promise<unknown> | undefined): Promise<void> {
    const config = this.config;
    const gate = Promise.resolve(beforeKernel);
    const owned = loadOwned(this.stateFile(), this.log).then((o) => {
      this.reconciler.owned = o;
    });
    const drains = this.loadDrains();
    // with services declared (or the whole table owned) IPVS is opened whatever the state file says
    const client = (config.services.length > 0 || config.ipvs.ownWholeTable ? Promise.resolve() : owned).then(() => this.openClientAtStart());
    const known = Promise.all([gate, drains, client]);
    // the adoption's read could start with IPVS open, but it arms the settle timer that applies the table
    const sysctls = known.then(() => this.applyIpvsSysctls());
    const adopted = known.then(() => this.adoptKernel());
    const health = adopted.then(() => this.startHealth());
    const vrrpSide = config.vrrp.length === 0 ? Promise.resolve() : vrrp
      ? vrrp(config, this.log.child({ component: 'vrrp' })).then((port) => {
        this.vrrp = port;
      })
      : Promise.reject(new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP instances are configured but VRRP is not available in this build'));
    const steps = [gate, owned, drains, client, sysctls, adopted, health, vrrpSide];
    const settled = await Promise.allSettled(steps);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
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

  /** Sets IPVS's sysctls the config asks for (ipvs-sysctls.ts), not with an injected client unless told where. Never throws. */
  private async applyIpvsSysctls(): Promise<void> {
    if (!this.client || (this.opts.ipvs && this.opts.ipvsSysctlDir === undefined)) return;
    await applyConfiguredSysctls(this.config.ipvs, this.opts.ipvsSysctlDir, this.log);
  }

  /**
   * IPVS is opened when there is something to manage: services declared, services a previous daemon owned
   * (its state file: a restart on a config without them removes them), or the whole table owned.
   */
  private async ensureClient(): Promise<void> {
    if (this.client || !this.managesIpvs()) return;
    this.client = await (this.opts.ipvs ?? (() => this.createIpvsClient()))();
  }

  private managesIpvs(): boolean {
    return this.config.services.length > 0 || this.reconciler.owned.size > 0 || this.config.ipvs.ownWholeTable;
  }

  /**
   * At start: IPVS that cannot be opened is fatal when services are declared; with none declared (only
   * what a previous daemon owned is to be removed) VRRP starts anyway and the removal is retried (repair).
   */
  private async openClientAtStart(): Promise<void> {
    try {
      await this.ensureClient();
    } catch (e) {
      if (this.config.services.length > 0) throw e;
      this.log.warn({ event: 'ipvs.open_failed', owned: this.reconciler.owned.size, err: (e as Error).message },
        `cannot open IPVS to remove the ${this.reconciler.owned.size} service(s) a previous lvsd owned; retrying: ${(e as Error).message}`);
    }
  }

  /** A restart adopts the table the previous daemon left (adoption.ts). */
  private async adoptKernel(): Promise<void> {
    if (!this.client || this.config.services.length === 0) return;
    this.adoptionTimer = await adoptKernelTable(this.config, this.reconciler, this.wanted, this.log);
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
      onFailed: (op, code) => this.opts.metrics?.ipvsOpFailed?.(op, reasonOf(code)),
    });
    vrrp.onTransition((instance, from, to) => this.connSync?.transition(instance, from, to));
  }

  private startHealth(): void {
    if (this.config.services.length === 0) return;
    this.health = this.makeHealth(this.config);
    this.health.start();
    this.refreshHealthDests();
    publishHealthUp(this.opts.metrics, this.health, this.config.services);
  }

  /** The health checker's lists for every service (Wanted.refreshHealth). */
  private refreshHealthDests(): void {
    this.wanted.refreshHealth((service) => this.health?.desired(service));
  }

  /** A scheduler for `config`, not started (health-wiring.ts). */
  private makeHealth(config: Config): HealthScheduler {
    // An adopted service's real servers start up: the kernel's weights stand until a probe says otherwise
    // (a fall takes a dead one out; no rise is needed, so no slow-start ramp and no blip at restart).
    return createHealth(config, config.services.map((s) => this.wanted.healthConfig(s)), {
      log: this.log, running: () => this.config, onChange: (service, dests, change) => this.onHealthChange(service, dests, change),
      metrics: this.opts.metrics, probeUsers: this.probeUsers, prober: this.opts.prober, watcher: this.opts.healthWatcher,
    });
  }

  private recordLoad(kind: 'load' | 'reload', result: LoadOutcome, error?: unknown): LoadResult {
    this.lastLoad = loadRecord(kind, result, error, new Date());
    this.opts.metrics?.reload(result);
    return this.lastLoad;
  }

  /**
   * A health change carries the service's new list (the transitions of one batch of outcomes folded into
   * one event per service): the reconciler plans that service again (coalesced).
   */
  private onHealthChange(service: string, dests: DestSpec[], change: HealthChange): void {
    const healthUp = this.opts.metrics?.healthUp;
    if (healthUp) {
      const series = this.seriesNames.of(this.config, service);
      // a group's members report the same probe: their series is the group's (t.realServer is the shared id)
      for (const t of change.transitions) healthUp(series, t.realServer, t.to === 'up' || t.to === 'drain');
    }
    const svc = this.wanted.healthChanged(service, dests, change.transitions);
    if (!svc) return;
    const n = change.transitions.length;
    const what = `${change.realServer} ${change.from} -> ${change.to} (${change.reason})${n > 1 ? ` and ${n - 1} more` : ''}`;
    void this.reconciler.update([this.wanted.entry(svc)], `health: ${what}`, 'health');
    this.ecmp.evaluate();
  }

  /** A bug reached the top of an asynchronous path: say so; the repair machinery converges. */
  private internalError(where: string, e: unknown): void {
    this.log.error({ event: 'daemon.internal_error', where, err: (e as Error)?.stack ?? String(e) }, `internal error in ${where}`);
  }

  /** The full read: the kernel's table read, everything declared and owned planned, applied. Coalesces. Never rejects. */
  fullReconcile(reason: string, kind: PassKind = 'drift'): Promise<PassOutcome> {
    return this.reconciler.repairDrift(reason, kind);
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

  /**
   * Reads the config once more after the start and switches nothing: the first reload after the start
   * otherwise runs the load's code for the first time (uncompiled, its inline caches empty), which in the
   * test VM made it 3-9x a later one (docs/benchmarks.md). In the reload chain like a reload; never rejects.
   * What it reads is kept in the config cache as any load's is (a file edited meanwhile is then the next
   * reload's to switch to; one it cannot read or finds invalid is the next reload's to report).
   */
  warm(): Promise<void> {
    const run = this.reloadChain.then(async () => {
      if (this.stopped) return;
      const started = performance.now();
      try {
        await loadConfig(this.opts.configPath, { hostChecks: true, cache: this.configCache });
      } catch {
        // the next reload reads it again and says what is wrong
      }
      this.log.info({ event: 'config.warmed', ms: Math.round(performance.now() - started) }, 'config read once more (the reload path warmed)');
    });
    this.reloadChain = run;
    return run;
  }

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.stopped) return stoppingResult();
    return watchingLoop((loop) => this.loadAndSwitch(trigger, loop));
  }

  private async loadAndSwitch(trigger: ReloadTrigger, loop: IntervalHistogram): Promise<ReloadResult> {
    let next: Config;
    const started = performance.now();
    try {
      next = await loadConfig(this.opts.configPath, { hostChecks: true, cache: this.configCache });
    } catch (e) {
      return refusedAnswer(this.log, trigger, this.recordLoad('reload', 'refused', e));
    }
    if (next.vrrp.length > 0 && !this.vrrp && !this.opts.vrrp) {
      return this.reloadFailed(trigger, 'vrrp', new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP instances are configured but VRRP is not available in this build'));
    }
    // The whole switch holds the kernel queue: no health change or drift pass lands between reading the
    // table and applying the new config to it.
    const load: ReloadFacts = { started, loop, loadMs: Math.round(performance.now() - started), ...this.configCache.stats, phases: { ...this.configCache.phases }, marks: {} };
    return this.reconciler.enqueue(() => this.switchTo(next, trigger, load));
  }

  /** A reload that could not switch: the running config stays whole. */
  private reloadFailed(trigger: ReloadTrigger, step: string, e: unknown): ReloadResult {
    return failedAnswer(this.log, trigger, step, this.recordLoad('reload', 'failed', e));
  }

  /**
   * Prepare every part for `next` (IPVS reachable and read, health built, VRRP updated); if one cannot
   * take it, nothing has switched and the old config stays. Then switch all at once and apply the table.
   */
  private async switchTo(next: Config, trigger: ReloadTrigger, facts: ReloadFacts): Promise<ReloadResult> {
    // a stop came while the config was read: nothing may start now
    if (this.stopped) return stoppingResult();
    // the services changed in place only (service-delta.ts): every part works on those alone
    const delta = next === this.config ? { before: [], after: [] } : servicesDelta(this.config, next, this.configCache.servicesChanged(this.config, next));
    const prepared = await prepareParts(next, {
      config: this.config, client: this.client, health: this.health, vrrp: this.vrrp, owned: this.reconciler.owned.size,
    }, {
      ipvs: () => (this.opts.ipvs ?? (() => this.createIpvsClient()))(),
      health: (config) => this.makeHealth(config),
      healthConfig: (service) => this.wanted.runningHealthConfig(service),
      vrrp: this.opts.vrrp,
      log: this.log,
    }, delta);
    if (!prepared.ok) return this.reloadFailed(trigger, prepared.step, prepared.error);
    const { newClient, preparedHealth, newHealth, newVrrp } = prepared.parts;
    if (this.stopped) {
      await dropPrepared(prepared.parts);
      return stoppingResult();
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
    // services the reload reused whole (config/service-memo.ts): their lists, health series and metrics stay
    followServices(old, next, delta, { wanted: this.wanted, seriesNames: this.seriesNames, metrics: this.opts.metrics, health: this.health, probeUsers: this.probeUsers });
    if (newVrrp) this.vrrp = newVrrp;
    const syncing = this.connSync ? this.connSync.update(next.connectionSync) : (this.startConnSync(), Promise.resolve());
    this.armDrift();
    const marks = facts.marks;
    marks.prepared = performance.now();
    await this.applyIpvsSysctls();
    marks.sysctls = performance.now();

    const outcome = await ((delta && this.reconciler.applyChangesNow(this.wanted.changes(delta), 'reload', 'reload'))
      ?? this.reconciler.applyDesiredNow(this.wanted.table(), 'reload', 'reload'));
    marks.applied = performance.now();
    await syncing;
    logConfigWarnings(this.log, next);
    await this.ecmp.switch(next.ecmp);
    if (outcome.result !== 'ok') {
      // valid and in force, but the kernel did not take all of it: not a success; the repair retries
      const error = ipvsError(outcome);
      return partialAnswer(this.log, trigger, this.recordLoad('reload', 'partial', error), outcome.failures.length, error.code);
    }
    this.recordLoad('reload', 'ok');
    logReloaded(this.log, trigger, next, facts);
    return { ok: true, applied: true };
  }

  /** `lvsd drain --director` / `lvsd undrain --director`: withdraw every address (and wait for the routers) or announce again. */
  drainDirector(on: boolean): Promise<{ ok: true; changed: boolean }> {
    return this.ecmp.drainDirector(on);
  }

  /** `lvsd drain` / `lvsd undrain` of a real server (drain.ts). */
  drain(req: DrainRequest, on: boolean): Promise<DrainResult> {
    return drainRealServer(req, on, {
      config: () => this.config, wanted: this.wanted, file: () => this.drainsFile(), log: this.log, reconciler: this.reconciler,
      changed: () => this.ecmp.evaluate(),
    });
  }

  /** The recorded drains; throws LVSD_STATE when they cannot be known (drains-file.ts), so start fails rather than forget them. */
  private async loadDrains(): Promise<void> {
    this.wanted.drains = await loadDrainMap(this.drainsFile(), this.wanted.drains, this.log);
  }

  /**
   * The status snapshot from the kept view of the table, with the counters read for the services shown
   * (`service`: that one only); `fresh`: the whole table read from the kernel instead (status-read.ts).
   */
  async status(query: StatusQuery = {}): Promise<StatusSnapshot> {
    const services = query.service === undefined
      ? this.config.services
      : this.config.services.filter((s) => s.name === query.service || serviceId(s.spec.key) === query.service);
    const { kernel, daemons } = this.client
      ? await readStatusTable(this.client, this.reconciler, services, query.fresh === true, this.log)
      : { kernel: undefined, daemons: [] };
    // the health of the services shown, read one by one as the snapshot is built a slice per turn
    const healthOf = this.health?.statusReader();
    return buildSnapshotInTurns({
      nowMs: Date.now(),
      startedAtMs: this.startedAtMs,
      node: hostname(),
      version: this.opts.version ?? '0.0.0',
      configPath: this.opts.configPath,
      config: query.service === undefined ? this.config : { ...this.config, services },
      lastLoad: this.lastLoad,
      kernel,
      daemons,
      health: this.health?.snapshot({ services: false }),
      healthOf,
      vrrp: this.vrrp ? await (this.vrrp.freshSnapshot?.() ?? this.vrrp.snapshot()) : [],
      drains: [...this.wanted.drains.values()],
      ipvs: this.reconciler.status(),
      connectionSyncProblem: this.connSync?.problem(),
      ecmp: this.ecmp.status(),
    });
  }

  /** Clean stop: VRRP hands over (priority 0) and releases the VIPs; the IPVS table is left as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.driftTimer);
    clearTimeout(this.adoptionTimer);
    await this.reloadChain; // a reload in progress ends first (it sees `stopped` and switches nothing)
    // ECMP first: withdraw, give the routers withdrawWait to move the flows, then stop BIRD; what still
    // arrives meanwhile is served by the table, which stays
    await this.ecmp.stop();
    await this.vrrp?.stop().catch((e: Error) => this.log.error({ event: 'vrrp.stop_failed', err: e.message }, e.message));
    await this.connSync?.stop();
    await this.health?.stop();
    await this.reconciler.stop();
    try {
      this.client?.close();
    } catch (e) {
      this.log.warn({ event: 'ipvs.close_failed', err: (e as Error).message }, 'closing the IPVS socket failed');
    }
    this.log.info({ event: 'daemon.stopped' }, 'lvsd stopped; the IPVS table is left in place');
  }
}
