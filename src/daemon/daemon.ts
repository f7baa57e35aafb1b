/**
 * The daemon: holds the running config and its parts (IPVS reconcile, health checks, VRRP, connection
 * sync, ECMP) and switches them together. Data flows one way: config (+ health results, drains) -> desired
 * table -> reconcile -> kernel; VRRP state -> addresses and the connection-sync daemon. The kernel's table is
 * owned by the reconciler (src/reconcile/reconciler.ts: the desired table, the kept view, one queue, repair of
 * failed operations); what is wanted beyond the config is wanted.ts; the parts, how each is opened or made and
 * wired to the others, are daemon-parts.ts. run.ts wires the daemon into a process (namespace guard, control
 * socket, metrics, file watcher, signals).
 *
 * A reload is a transaction: the new config is loaded, IPVS asked, health and VRRP prepared first; only
 * when every part has taken it does the daemon switch, all at once (docs/operations.md, Reload).
 */
import { hostname } from 'node:os';
import { performance, type IntervalHistogram } from 'node:perf_hooks';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import { LvsdError } from '../errors.js';
import { serviceId } from '../table/index.js';
import type { Logger } from '../log.js';
import { loadOwned, type PassKind, type PassOutcome, type PassResult } from '../reconcile/index.js';
import { timerDelay } from '../timer-delay.js';
import type { DrainRequest, DrainResult, ReloadResult, StatusQuery } from './control-server.js';
import { DaemonParts } from './daemon-parts.js';
import type { DaemonOptions, ReloadTrigger } from './daemon-types.js';
import { drainRealServer } from './drain.js';
import { ipvsError, loadRecord, logConfigWarnings } from './load-record.js';
import {
  dropPrepared, failedAnswer, followServices, logReloaded, partialAnswer, prepareParts, refusedAnswer, stoppingResult, type ReloadFacts,
} from './reload.js';
import { watchingLoop } from '../loop-delay.js';
import { servicesDelta } from './service-delta.js';
import { buildSnapshotInTurns } from './snapshot.js';
import type { LoadOutcome, LoadResult, StatusSnapshot } from './status.js';
import { readStatusTable } from './status-read.js';

export type { PassKind, PassOutcome, PassResult };
export type { DaemonMetrics, DaemonOptions, ReloadTrigger, VrrpPort } from './daemon-types.js';

export class Daemon {
  readonly startedAtMs = Date.now();
  private readonly parts: DaemonParts;
  private lastLoad: LoadResult | null = null;
  private driftTimer: NodeJS.Timeout | undefined;
  /** Which arming of the drift chain is current: a pass armed by an older one does not arm another. */
  private driftEpoch = 0;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;

  // without the starting config: the daemon lives on, and a reload must not leave that config behind in memory
  private constructor(private readonly opts: Omit<DaemonOptions, 'config'>) {
    this.log = opts.log;
    this.parts = new DaemonParts(opts);
  }

  /** Loads the config (a bad one is fatal at start), applies it, starts health checks, VRRP and the drift timer. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const { config: given, ...rest } = opts;
    const d = new Daemon(rest);
    let config: Config;
    try {
      config = given ?? await loadConfig(opts.configPath, { hostChecks: true, cache: d.parts.configCache });
    } catch (e) {
      d.recordLoad('load', 'refused', e);
      throw e;
    }
    d.parts.config = config;
    try {
      await d.prepareStart(opts.vrrp, opts.beforeKernel);
      d.parts.startConnSync();
    } catch (e) {
      // what did start must not keep probing or hold the VIPs: the process is about to report the error
      await d.stop();
      throw e;
    }
    // VRRP may claim mastership once the table is in the kernel (or the first attempt failed: see
    // tableReady), not after the state file is written too
    let told: Promise<void> | undefined;
    const tellVrrp = (outcome: PassOutcome): void => {
      told ??= (d.parts.vrrp?.tableReady?.(outcome.result === 'ok', outcome.result === 'ok' ? undefined : ipvsError(outcome).message) ?? Promise.resolve())
        .catch((e: Error) => d.log.error({ event: 'vrrp.table_ready_failed', err: e.message }, `cannot tell VRRP the table is programmed: ${e.message}`));
    };
    const outcome = await d.parts.reconciler.applyDesired(d.parts.wanted.table(), 'start', 'start', tellVrrp);
    tellVrrp(outcome);
    await told;
    // the config is in force either way; what the kernel did not take is retried (repair) and shown
    d.recordLoad('load', outcome.result === 'ok' ? 'ok' : 'partial', outcome.error ? ipvsError(outcome) : undefined);
    logConfigWarnings(d.log, config);
    try {
      // after the first pass: what is announced follows a table that is in the kernel
      if (config.ecmp) await d.parts.ecmp.start(config.ecmp);
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
    const config = this.parts.config;
    const gate = Promise.resolve(beforeKernel);
    const owned = loadOwned(this.parts.stateFile(), this.log).then((o) => {
      this.parts.reconciler.owned = o;
    });
    const drains = this.parts.loadDrains();
    // with services declared (or the whole table owned) IPVS is opened whatever the state file says
    const client = (config.services.length > 0 || config.ipvs.ownWholeTable ? Promise.resolve() : owned).then(() => this.parts.openClientAtStart());
    const known = Promise.all([gate, drains, client]);
    // the adoption's read could start with IPVS open, but it arms the settle timer that applies the table
    const sysctls = known.then(() => this.parts.applyIpvsSysctls('start'));
    const adopted = known.then(() => this.parts.adoptKernel());
    const health = adopted.then(() => this.parts.startHealth());
    const vrrpSide = config.vrrp.length === 0 ? Promise.resolve() : vrrp
      ? vrrp(config, this.log.child({ component: 'vrrp' })).then((port) => {
        this.parts.vrrp = port;
        // a takeover (or any transition) keeps the page-out of node's mapped files waiting (page-out-guard.ts)
        port.onTransition(() => {
          this.parts.busyAtMs = performance.now();
        });
      })
      : Promise.reject(new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP instances are configured but VRRP is not available in this build'));
    const steps = [gate, owned, drains, client, sysctls, adopted, health, vrrpSide];
    const settled = await Promise.allSettled(steps);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** When the daemon was last busy (performance.now()): its start, a health change, a VRRP transition, a reload. */
  get busyAtMs(): number {
    return this.parts.busyAtMs;
  }

  /** Real servers with no health verdict yet (0 without health checks): the start's ramp is over at 0. */
  awaitingFirstVerdicts(): number {
    return this.parts.health?.awaitingFirstVerdicts() ?? 0;
  }

  /** Whether stop() was called. */
  get stopping(): boolean {
    return this.stopped;
  }

  get currentConfig(): Config {
    return this.parts.config;
  }

  private recordLoad(kind: 'load' | 'reload', result: LoadOutcome, error?: unknown): LoadResult {
    this.lastLoad = loadRecord(kind, result, error, new Date());
    this.opts.metrics?.reload(result);
    return this.lastLoad;
  }

  /** The full read: the kernel's table read, everything declared and owned planned, applied. Coalesces. Never rejects. */
  fullReconcile(reason: string, kind: PassKind = 'drift'): Promise<PassOutcome> {
    return this.parts.reconciler.repairDrift(reason, kind);
  }

  /**
   * The next drift pass `driftInterval` from now (a start, a reload) or from the end of the last one: a chain,
   * not a fixed rate, so a pass slower than the interval (a very large table on a slow or loaded host) is
   * followed by an interval of quiet, never by the next pass at once (passes of 54-431 s ran back to back at
   * 100,000 real servers in the test VM with a 60 s interval, and a start never finished weighting).
   */
  private armDrift(): void {
    const ms = Math.max(1, this.parts.config.ipvs.driftInterval) * 1000;
    clearTimeout(this.driftTimer);
    const epoch = ++this.driftEpoch;
    this.driftTimer = setTimeout(() => void this.driftTick(epoch), timerDelay(ms));
    this.driftTimer.unref();
  }

  /** At each drift time: the kernel's table read and repaired, and the IPVS sysctls in force read again (set where someone else changed them); then the next one armed. */
  private async driftTick(epoch: number): Promise<void> {
    void this.parts.applyIpvsSysctls('drift');
    await this.fullReconcile('drift', 'drift'); // never rejects
    // a reload or a stop meanwhile armed (or ended) the chain itself
    if (!this.stopped && epoch === this.driftEpoch) this.armDrift();
  }

  /**
   * Re-reads the config and switches to it, or keeps the running one whole (refused or failed), and says
   * which. Never rejects. Reloads run one at a time (SIGHUP, a file change and `lvsd reload` may arrive
   * together). Every outcome is logged, counted and shown in status whatever the trigger.
   */
  reload(trigger: ReloadTrigger = 'control'): Promise<ReloadResult> {
    const asked = performance.now();
    this.parts.busyAtMs = asked;
    const run = this.reloadChain.then(() => this.reloadNow(trigger, asked)).catch((e: unknown) => {
      this.parts.internalError('reload', e);
      return this.reloadFailed(trigger, 'internal', new LvsdError('LVSD_INTERNAL', `reload failed: ${(e as Error)?.message ?? String(e)}`));
    }).finally(() => {
      this.parts.busyAtMs = performance.now();
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
        await loadConfig(this.opts.configPath, { hostChecks: true, cache: this.parts.configCache });
      } catch {
        // the next reload reads it again and says what is wrong
      }
      this.log.info({ event: 'config.warmed', ms: Math.round(performance.now() - started) }, 'config read once more (the reload path warmed)');
    });
    this.reloadChain = run;
    return run;
  }

  private async reloadNow(trigger: ReloadTrigger, asked: number): Promise<ReloadResult> {
    if (this.stopped) return stoppingResult();
    return watchingLoop((loop) => this.loadAndSwitch(trigger, loop, asked));
  }

  private async loadAndSwitch(trigger: ReloadTrigger, loop: IntervalHistogram, asked: number): Promise<ReloadResult> {
    let next: Config;
    const started = performance.now();
    try {
      next = await loadConfig(this.opts.configPath, { hostChecks: true, cache: this.parts.configCache });
    } catch (e) {
      return refusedAnswer(this.log, trigger, this.recordLoad('reload', 'refused', e));
    }
    // the file watcher woke on a write whose content is what is in force (every file the very bytes the
    // running config was built from: config/cache.ts hands that config out again): a reload of it would
    // switch nothing, so none runs (an edit `lvsd reload` took right after the write, when the request's
    // read was too close to the write for the reload queue to tell by the files' status alone)
    if (trigger === 'file' && next === this.parts.config) {
      this.log.info({ event: 'config.change_covered', path: this.opts.configPath, by: 'content', read: true, ms: Math.round(performance.now() - started) },
        'config changed on disk: its content is the config in force, nothing to reload');
      return { ok: true, applied: true };
    }
    if (next.vrrp.length > 0 && !this.parts.vrrp && !this.opts.vrrp) {
      return this.reloadFailed(trigger, 'vrrp', new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP instances are configured but VRRP is not available in this build'));
    }
    // The whole switch holds the kernel queue: no health change, drain or other pass lands between planning
    // the new config and applying it. A drift pass's read runs outside the queue: the reload goes ahead of
    // it, and the pass keeps what the reload did (reconciler.ts, repairDrift).
    const load: ReloadFacts = {
      started, loop, loadMs: Math.round(performance.now() - started), ...this.parts.configCache.stats, phases: { ...this.parts.configCache.phases }, marks: {},
      chainMs: started - asked,
    };
    return this.parts.reconciler.enqueue(() => this.switchTo(next, trigger, load));
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
    const delta = next === this.parts.config ? { before: [], after: [] } : servicesDelta(this.parts.config, next, this.parts.configCache.servicesChanged(this.parts.config, next));
    const prepared = await prepareParts(next, {
      config: this.parts.config, client: this.parts.client, health: this.parts.health, vrrp: this.parts.vrrp, owned: this.parts.reconciler.owned.size,
    }, {
      ipvs: () => this.parts.openIpvsClient(),
      health: (config) => this.parts.makeHealth(config),
      healthConfig: (service) => this.parts.wanted.runningHealthConfig(service),
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
    const old = this.parts.config;
    this.parts.config = next;
    if (newClient) this.parts.client = newClient;
    if (preparedHealth) this.parts.health!.commit(preparedHealth);
    if (newHealth) {
      this.parts.health = newHealth;
      newHealth.start();
    }
    // services the reload reused whole (config/service-memo.ts): their lists, health series and metrics stay
    followServices(old, next, delta, { wanted: this.parts.wanted, seriesNames: this.parts.seriesNames, metrics: this.opts.metrics, health: this.parts.health, probeUsers: this.parts.probeUsers });
    if (newVrrp) this.parts.vrrp = newVrrp;
    const syncing = this.parts.connSync ? this.parts.connSync.update(next.connectionSync) : (this.parts.startConnSync(), Promise.resolve());
    this.armDrift();
    const marks = facts.marks;
    marks.prepared = performance.now();
    await this.parts.applyIpvsSysctls('reload');
    marks.sysctls = performance.now();
    // a drift pass reading the table now (outside the queue) does not hold this reload back
    if (this.parts.reconciler.driftReading) facts.aheadOfDrift = true;

    const outcome = await ((delta && this.parts.reconciler.applyChangesNow(this.parts.wanted.changes(delta), 'reload', 'reload'))
      ?? this.parts.reconciler.applyDesiredNow(this.parts.wanted.table(), 'reload', 'reload'));
    marks.applied = performance.now();
    facts.ops = outcome.ops;
    await syncing;
    logConfigWarnings(this.log, next);
    await this.parts.ecmp.switch(next.ecmp);
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
    return this.parts.ecmp.drainDirector(on);
  }

  /** `lvsd drain` / `lvsd undrain` of a real server (drain.ts). */
  drain(req: DrainRequest, on: boolean): Promise<DrainResult> {
    return drainRealServer(req, on, {
      config: () => this.parts.config, wanted: this.parts.wanted, file: () => this.parts.drainsFile(), log: this.log, reconciler: this.parts.reconciler,
      changed: () => this.parts.ecmp.evaluate(),
    });
  }

  /**
   * The status snapshot from the kept view of the table, with the counters read for the services shown
   * (`service`: that one only); `fresh`: the whole table read from the kernel instead (status-read.ts).
   */
  async status(query: StatusQuery = {}): Promise<StatusSnapshot> {
    const services = query.service === undefined
      ? this.parts.config.services
      : this.parts.config.services.filter((s) => s.name === query.service || serviceId(s.spec.key) === query.service);
    const { kernel, daemons } = this.parts.client
      ? await readStatusTable(this.parts.client, this.parts.reconciler, services, query.fresh === true, this.log)
      : { kernel: undefined, daemons: [] };
    // the health of the services shown, read one by one as the snapshot is built a slice per turn
    const healthOf = this.parts.health?.statusReader();
    return buildSnapshotInTurns({
      nowMs: Date.now(),
      startedAtMs: this.startedAtMs,
      node: hostname(),
      version: this.opts.version ?? '0.0.0',
      configPath: this.opts.configPath,
      config: query.service === undefined ? this.parts.config : { ...this.parts.config, services },
      lastLoad: this.lastLoad,
      kernel,
      daemons,
      health: this.parts.health?.snapshot({ services: false }),
      healthOf,
      vrrp: this.parts.vrrp ? await (this.parts.vrrp.freshSnapshot?.() ?? this.parts.vrrp.snapshot()) : [],
      drains: [...this.parts.wanted.drains.values()],
      ipvs: this.parts.reconciler.status(),
      connectionSyncProblem: this.parts.connSync?.problem(),
      ecmp: this.parts.ecmp.status(),
    });
  }

  /** Clean stop: VRRP hands over (priority 0) and releases the VIPs; the IPVS table is left as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.driftTimer);
    clearTimeout(this.parts.adoptionTimer);
    await this.reloadChain; // a reload in progress ends first (it sees `stopped` and switches nothing)
    // VRRP first: a master sends priority 0 and releases its VIPs before the rest stops, so the backup takes
    // over at once (on SIGTERM the worker thread has begun this already, on its own: src/vrrp/worker.ts)
    await this.parts.vrrp?.stop().catch((e: Error) => this.log.error({ event: 'vrrp.stop_failed', err: e.message }, e.message));
    // then ECMP: withdraw, give the routers withdrawWait to move the flows, then stop BIRD; what still
    // arrives meanwhile is served by the table, which stays
    await this.parts.ecmp.stop();
    await this.parts.connSync?.stop();
    await this.parts.health?.stop();
    await this.parts.reconciler.stop();
    try {
      this.parts.client?.close();
    } catch (e) {
      this.log.warn({ event: 'ipvs.close_failed', err: (e as Error).message }, 'closing the IPVS socket failed');
    }
    this.log.info({ event: 'daemon.stopped' }, 'lvsd stopped; the IPVS table is left in place');
  }
}
