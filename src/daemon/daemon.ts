/**
 * The daemon: wires config, IPVS reconcile, health checks, VRRP, the control socket and metrics.
 * Data flows one way: config (+ health results, drains) -> desired table -> reconcile -> kernel;
 * VRRP state -> addresses and the connection-sync daemon. The kernel's table is owned by the reconciler
 * (src/reconcile/reconciler.ts: the desired table, the kept view, one queue, repair of failed operations).
 *
 * A reload is a transaction: the new config is loaded, IPVS asked, health and VRRP prepared first; only
 * when every part has taken it does the daemon switch, all at once (docs/operations.md, Reload).
 */
import { hostname } from 'node:os';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { ConfigCache, loadConfig, type LoadStats } from '../config/index.js';
import type { Config, ServiceConfig } from '../config/types.js';
import { LvsdError, isLvsdError, type LvsdErrorCode } from '../errors.js';
import {
  HealthScheduler, type HealthChange, type HealthSchedulerOptions, type TcpWatcher, type PreparedHealth, type ProbeHistogram, type Prober,
} from '../health/index.js';
import { DURATION_BUCKETS } from './buckets.js';
import { createIpvsClient } from '../ipvs/index.js';
import type { IpvsClient } from '../ipvs/types.js';
import { destId, serviceId, type DestSpec, type KernelEntry } from '../table/index.js';
import type { Logger } from '../log.js';
import {
  DEFAULT_STATE_FILE, Reconciler, canonicalServiceId, loadOwned, reasonOf,
  type BackoffOptions, type DesiredTable, type PassKind, type PassOutcome, type PassResult,
} from '../reconcile/index.js';
import type { DrainRequest, DrainResult, ReloadResult } from './control-server.js';
import { adoptDests, desiredEntry, realServerDrainKey, realServerOwner, type Adoption, type DesiredEntry } from './desired.js';
import type { LoadOutcome, LoadResult, StatusSnapshot, VrrpInstanceStatus } from './status.js';
import { buildSnapshot } from './snapshot.js';
import type { StatusQuery } from './control-server.js';
import { ConnSync } from './conn-sync.js';
import { timerDelay } from '../timer-delay.js';
import { ProbeUsers, realServerPairs } from './probe-users.js';
import { applyIpvsSysctls, ipvsSysctls } from '../ipvs/sysctl.js';
import { runQuorumCommand, runRealServerCommand } from './health-commands.js';
import { mergeCounters } from './snapshot.js';

export type { PassKind, PassOutcome, PassResult };
import { loadDrains, saveDrains, type DrainRecord } from './drains-file.js';
import type { Ecmp, EcmpOptions, ServiceQuorum } from '../ecmp/index.js';
import { addAddress } from '../net/index.js';

/** What the daemon needs from the VRRP side; src/vrrp provides it (a worker thread runs the protocol). */
export interface VrrpPort {
  update(config: Config): Promise<void>;
  snapshot(): VrrpInstanceStatus[];
  /** The same, taken now (status reads this; snapshot() is as of the last transition or fresh read). */
  freshSnapshot?(): Promise<VrrpInstanceStatus[]>;
  /** Clean stop: priority 0 so the peer takes over at once, VIPs released. */
  stop(): Promise<void>;
  onTransition(listener: (instance: string, from: string, to: string) => void): void;
  /**
   * The first reconcile of the declared table finished (ok: the kernel took all of it). Until then an
   * instance started with services declared does not claim mastership (it would take VIPs it cannot
   * serve); a failed first pass releases it too, with an error logged (docs/architecture.md).
   */
  tableReady?(ok: boolean, error?: string): Promise<void>;
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
  healthResult?(service: string, realServer: string, result: 'up' | 'down', count?: number): void;
  healthProbeDuration?(type: string, seconds: number): void;
  /** Many durations at once (the addon's TCP checks): counts per DURATION_BUCKETS bound and one beyond. */
  healthProbeDurations?(type: string, histogram: ProbeHistogram): void;
  /** `take` hands the addon's TCP check counts over (to the two above); metrics call it at each scrape. */
  healthCountsFrom?(take: () => void): void;
  healthUp?(service: string, realServer: string, up: boolean): void;
  /** A probe that failed because of the director itself (errno name): not counted as up or down. */
  healthLocalFailure?(errno: string): void;
}

/** What a reload measured on its way, logged with config.reloaded. */
interface ReloadFacts extends LoadStats {
  started: number;
  loop: IntervalHistogram;
  loadMs: number;
}

export interface DaemonOptions {
  configPath: string;
  /** The config, already loaded from configPath (`lvsd run` loads it once, to claim the socket); absent: start loads it. */
  config?: Config;
  /** What loaded `config` kept (ConfigCache): reloads reuse the files and services that did not change. Absent: a new one. */
  configCache?: ConfigCache;
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
  /** What runs the TCP checks (tests inject a fake addon). Default: the addon. */
  healthWatcher?: TcpWatcher;
  version?: string;
  /** Waits between repair attempts after a kernel operation failed. Default 1 s doubling to 30 s. */
  repairBackoff?: BackoffOptions;
  /** Where IPVS's sysctls are (tests point it at a directory). Default /proc/sys/net/ipv4/vs, skipped when `ipvs` is injected. */
  ipvsSysctlDir?: string;
  /** Tests: where the ECMP sysctls are written (default /proc/sys), and BIRD's restart backoff. */
  sysctlRoot?: string;
  bgpBackoff?: EcmpOptions['backoff'];
}

/** Where a reload came from (logged with its outcome). */
export type ReloadTrigger = 'control' | 'sighup' | 'file';


export class Daemon {
  readonly startedAtMs = Date.now();
  private config!: Config;
  private readonly configCache: ConfigCache;
  /** The desired entry last made for a service config, and what it was made from (desiredFor). */
  private readonly desiredMade = new WeakMap<ServiceConfig, {
    health: DestSpec[] | undefined; adopted: Adoption | undefined; verdicts: number; drains: ReadonlyMap<string, unknown>; entry: DesiredEntry;
  }>();
  /** The copy of an adopted service's config the health checker runs (healthConfig). */
  private readonly healthConfigs = new WeakMap<ServiceConfig, ServiceConfig>();
  private lastLoad: LoadResult | null = null;
  private client: IpvsClient | undefined;
  private drains = new Map<string, DrainRecord>();
  private health: HealthScheduler | undefined;
  private vrrp: VrrpPort | undefined;
  private connSync: ConnSync | undefined;
  private ecmp: Ecmp | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  /** Per service name: what the kernel held at start, kept until the health checker has had its say. */
  private adoption = new Map<string, { kernel: DestSpec[]; verdicts: Set<string> }>();
  private adoptionTimer: NodeJS.Timeout | undefined;
  private reloadChain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly log: Logger;
  private readonly reconciler: Reconciler;
  /** Per service name: the destinations the health checker wants, as its last change event said. */
  private healthDests = new Map<string, DestSpec[]>();
  private readonly probeUsers = new ProbeUsers(() => this.config);

  private constructor(private readonly opts: DaemonOptions) {
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
    opts.metrics?.healthCountsFrom?.(() => this.health?.takeCounts());
  }

  /** Runs `task` after every queued kernel change (the reload holds the queue while it switches). */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    return this.reconciler.enqueue(task);
  }

  /** Loads the config (a bad one is fatal at start), applies it, starts health checks, VRRP and the drift timer. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(opts);
    let config: Config;
    try {
      config = opts.config ?? await loadConfig(opts.configPath, { hostChecks: true, cache: d.configCache });
    } catch (e) {
      d.recordLoad('load', 'refused', e);
      throw e;
    }
    d.config = config;
    try {
      d.reconciler.owned = await loadOwned(d.stateFile(), d.log);
      await d.loadDrains();
      await d.ensureClient();
      await d.applyIpvsSysctls();
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
    const outcome = await d.reconciler.applyDesired(d.desiredTable(), 'start', 'start');
    // VRRP may claim mastership now: the table is in the kernel (or the first attempt failed: see tableReady)
    await d.vrrp?.tableReady?.(outcome.result === 'ok', outcome.result === 'ok' ? undefined : ipvsError(outcome).message)
      .catch((e: Error) => d.log.error({ event: 'vrrp.table_ready_failed', err: e.message }, `cannot tell VRRP the table is programmed: ${e.message}`));
    // the config is in force either way; what the kernel did not take is retried (repair) and shown
    d.recordLoad('load', outcome.result === 'ok' ? 'ok' : 'partial', outcome.error ? ipvsError(outcome) : undefined);
    d.logWarnings(config);
    try {
      // after the first pass: what is announced follows a table that is in the kernel
      if (config.ecmp) d.ecmp = await d.startEcmp(config.ecmp);
    } catch (e) {
      await d.stop();
      throw e;
    }
    d.armDrift();
    return d;
  }

  private logWarnings(config: Config): void {
    for (const w of config.warnings ?? []) {
      this.log.warn({ event: 'config.warning', file: w.file, pointer: w.pointer, message: w.message }, `${w.file}: ${w.pointer}: ${w.message}`);
    }
  }

  /** The ECMP side (src/ecmp): BIRD, the sysctls, the addresses on the VIP interface. */
  private async startEcmp(ecmp: NonNullable<Config['ecmp']>): Promise<Ecmp> {
    // imported here: a director without ecmp never loads BIRD's supervisor (child_process, readline)
    const { Ecmp } = await import('../ecmp/index.js');
    return Ecmp.start({
      config: ecmp,
      log: this.log.child({ component: 'ecmp' }),
      stateDir: dirname(this.stateFile()),
      addresses: { add: (ifname, address, plen) => addAddress(ifname, address, plen) },
      host: { quorums: () => this.quorums(), directorProblems: () => this.directorProblems() },
      ...(this.opts.sysctlRoot !== undefined && { sysctlRoot: this.opts.sysctlRoot }),
      ...(this.opts.bgpBackoff && { backoff: this.opts.bgpBackoff }),
    });
  }

  /**
   * Per ECMP service: its real servers that are up (health check up, not drained by the operator,
   * configured weight above 0; the sorry server never counts) and its quorum.
   */
  private quorums(): ServiceQuorum[] {
    const out: ServiceQuorum[] = [];
    for (const svc of this.config.services) {
      if (svc.spec.key.kind !== 'addr') continue;
      const healthy = new Set(this.health?.upServers(svc.name) ?? svc.realServers.map((r) => destId(r.spec)));
      const up = svc.realServers.filter((r) => r.spec.weight > 0 && healthy.has(destId(r.spec)) && !this.drains.has(realServerDrainKey(svc, r))).length;
      const unsettled = this.health?.unsettledServers(svc.name) ?? 0;
      out.push({ name: svc.name, address: svc.spec.key.address, up, quorum: svc.quorum?.minUp ?? 1, ...(unsettled > 0 && { unsettled }) });
    }
    return out;
  }

  /** Why this director cannot serve at all: IPVS could not be read or written at the last full pass. */
  private directorProblems(): string[] {
    const last = this.reconciler.status().lastReconcile;
    return last?.result === 'failed' ? [`IPVS unreachable: ${last.error ?? 'the last reconcile failed'}`] : [];
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

  /** Sets IPVS's sysctls the config asks for (ipvs/sysctl.ts); a failure is logged, never fatal. Never throws. */
  private async applyIpvsSysctls(): Promise<void> {
    if (!this.client || (this.opts.ipvs && this.opts.ipvsSysctlDir === undefined)) return;
    const out = await applyIpvsSysctls(ipvsSysctls(this.config.ipvs), this.opts.ipvsSysctlDir);
    for (const [name, [from, to]] of Object.entries(out.changed)) {
      this.log.info({ event: 'ipvs.sysctl_set', name, from, to }, `net.ipv4.vs.${name}: ${from} -> ${to}`);
    }
    for (const f of out.failed) {
      this.log.warn({ event: 'ipvs.sysctl_failed', name: f.name, path: f.path, err: f.error, code: f.code },
        `cannot set net.ipv4.vs.${f.name} (${f.error}): servers taken out may still get new connections from reused ports or persistence templates`);
    }
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
      kernel = await this.reconciler.read();
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
    this.log.info({ event: 'daemon.adopt', services: this.adoption.size > 100 ? this.adoption.size : [...this.adoption.keys()], settleSeconds: settleS },
      `adopting ${this.adoption.size} service(s) found in the kernel`);
    if (settleS === 0) {
      this.adoption.clear();
      return;
    }
    this.adoptionTimer = setTimeout(() => {
      this.adoption.clear();
      void this.reconciler.applyDesired(this.desiredTable(), 'adopted', 'adopted');
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
      onFailed: (op, code) => this.opts.metrics?.ipvsOpFailed?.(op, reasonOf(code)),
    });
    vrrp.onTransition((instance, from, to) => this.connSync?.transition(instance, from, to));
  }

  private startHealth(): void {
    if (this.config.services.length === 0) return;
    this.health = this.makeHealth(this.config);
    this.health.start();
    this.refreshHealthDests();
    this.publishHealthUp();
  }

  /**
   * The health checker's lists for every service, read when its config changes (events keep them current).
   * `kept`: services a reload reused whole (the same config object): the checker kept them as they were, so
   * their lists are taken from what this daemon already holds.
   */
  private refreshHealthDests(kept: ReadonlySet<ServiceConfig> = new Set()): void {
    const next = new Map<string, DestSpec[]>();
    for (const svc of this.config.services) {
      const dests = (kept.has(svc) ? this.healthDests.get(svc.name) : undefined) ?? this.health?.desired(svc.name);
      if (dests) next.set(svc.name, dests);
    }
    this.healthDests = next;
  }

  /** What the health checker is given for a service: an adopted one starts up (makeHealth), the same object for the same config. */
  private healthConfig(s: ServiceConfig): ServiceConfig {
    if (!this.adoption.has(s.name)) return s;
    let c = this.healthConfigs.get(s);
    if (c === undefined) this.healthConfigs.set(s, (c = { ...s, initialState: 'up' }));
    return c;
  }

  /** A scheduler for `config`, not started. */
  private makeHealth(config: Config): HealthScheduler {
    // An adopted service's real servers start up: the kernel's weights stand until a probe says otherwise
    // (a fall takes a dead one out; no rise is needed, so no slow-start ramp and no blip at restart).
    const services = config.services.map((s) => this.healthConfig(s));
    return new HealthScheduler(
      { services, health: config.health },
      {
        logger: this.log.child({ component: 'health' }),
        onChange: (service, dests, change) => this.onHealthChange(service, dests, change),
        onQuorum: (service, met, up) => {
          const q = this.config.services.find((s) => s.name === service)?.quorum;
          runQuorumCommand(met ? q?.up : q?.down, { service, met, up }, q?.user, this.log.child({ component: 'health' }));
        },
        onTransition: (t) => runRealServerCommand(t, this.log.child({ component: 'health' })),
        // no prober given: the real checkers, and TCP checks run by the addon on its own schedule
        ...(this.opts.prober ? { prober: this.opts.prober } : {}),
        ...(this.opts.healthWatcher ? { watcher: this.opts.healthWatcher } : {}),
        onProbeResult: this.probeMetrics(),
        ...this.probeCountMetrics(),
      },
    );
  }

  /** Counts each probe result per service using that probe (probes are shared), and its duration. */
  private probeMetrics(): HealthSchedulerOptions['onProbeResult'] {
    const m = this.opts.metrics;
    if (!m?.healthResult && !m?.healthProbeDuration && !m?.healthLocalFailure) return undefined;
    return (check, target, result) => {
      if (result.local !== undefined) return m.healthLocalFailure?.(result.local);
      m.healthProbeDuration?.(check.type, result.latencyMs / 1000);
      if (m.healthResult) {
        const verdict = result.ok ? 'up' : 'down';
        for (const u of this.probeUsers.of(check, target)) m.healthResult(u.service, u.realServer, verdict);
      }
    };
  }

  /** The same for the TCP checks the addon runs: counted there, taken at scrape (healthCountsFrom). */
  private probeCountMetrics(): Pick<HealthSchedulerOptions, 'onProbeCounts' | 'onProbeDurations' | 'durationBuckets'> {
    const m = this.opts.metrics;
    return {
      durationBuckets: DURATION_BUCKETS,
      onProbeCounts: (check, target, ok, failed) => {
        if (!m?.healthResult) return;
        for (const u of this.probeUsers.of(check, target)) {
          if (ok > 0) m.healthResult(u.service, u.realServer, 'up', ok);
          if (failed > 0) m.healthResult(u.service, u.realServer, 'down', failed);
        }
      },
      onProbeDurations: (type, h) => m?.healthProbeDurations?.(type, h),
    };
  }

  private publishHealthUp(kept: ReadonlySet<ServiceConfig> = new Set()): void {
    const up = this.opts.metrics?.healthUp;
    if (!up || !this.health) return;
    const byName = new Map(this.config.services.map((s) => [s.name, s]));
    const names = this.config.services.filter((s) => !kept.has(s)).map((s) => s.name);
    for (const s of kept.size > 0 ? this.health.serviceStatuses(names) : this.health.snapshot().services) {
      const svc = byName.get(s.name);
      for (const r of s.realServers) {
        const rs = svc?.group ? svc.realServers.find((x) => destId(x.spec) === r.realServer) : undefined;
        const owner = svc && rs ? realServerOwner(svc, rs) : { service: s.name, realServer: r.realServer };
        up(owner.service, owner.realServer, r.status === 'up' || r.status === 'drain');
      }
    }
  }

  private groupNames: { config: Config; map: Map<string, string> } | undefined;

  /** The service label of a service's metric series: its group's name when it is a member. */
  private seriesName(service: string): string {
    if (this.groupNames?.config !== this.config) {
      this.groupNames = { config: this.config, map: new Map(this.config.services.flatMap((s) => (s.group ? [[s.name, s.group.name] as const] : []))) };
    }
    return this.groupNames.map.get(service) ?? service;
  }

  /** A real server or VRRP instance that left the config: its metric series go with it. */
  private forgetRemoved(old: Config, next: Config, reused: ReadonlySet<ServiceConfig>): void {
    const m = this.opts.metrics;
    if (m?.forgetRealServer) {
      // a reused service keeps its pairs, and no other service has them (names are unique, a group is one item)
      const kept = realServerPairs({ services: next.services.filter((s) => !reused.has(s)) });
      for (const pair of realServerPairs({ services: old.services.filter((s) => !reused.has(s)) })) {
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

  /** The table lvsd wants now, for the reconciler. */
  private desiredTable(): DesiredTable {
    return {
      entries: ((drains) => this.config.services.map((s) => this.desiredFor(s, drains)))(new Set(this.drains.keys())),
      names: new Map(this.config.services.map((s) => [canonicalServiceId(s.spec.key), s.name])),
      ownWholeTable: this.config.ipvs.ownWholeTable,
      timeouts: this.config.ipvs.timeouts,
    };
  }

  /**
   * One service as it should be now: health verdicts (or the adopted kernel state), then drains. The entry
   * made last time is handed out again while nothing it was made from changed (the same config object, the
   * same health list object, the same adoption and verdict count, the same drains map), so a reload that
   * reused a service plans it in O(1) (the reconciler compares entries by identity first).
   */
  private desiredFor(svc: Config['services'][number], drains: ReadonlySet<string> = new Set(this.drains.keys())): DesiredEntry {
    const health = this.healthDests.get(svc.name);
    const adopted: Adoption | undefined = this.adoption.get(svc.name);
    const verdicts = adopted?.verdicts.size ?? 0;
    const made = this.desiredMade.get(svc);
    if (made && made.health === health && made.adopted === adopted && made.verdicts === verdicts && made.drains === this.drains) return made.entry;
    const dests = health && adopted ? adoptDests(svc, health, adopted) : health;
    const entry = desiredEntry(svc, {
      ...(dests ? { healthDests: new Map([[svc.name, dests]]) } : {}),
      drains,
    });
    this.desiredMade.set(svc, { health, adopted, verdicts, drains: this.drains, entry });
    return entry;
  }

  /**
   * A health change carries the service's new list (the transitions of one batch of outcomes folded into
   * one event per service): the reconciler plans that service again (coalesced).
   */
  private onHealthChange(service: string, dests: DestSpec[], change: HealthChange): void {
    const adopted = this.adoption.get(service);
    const series = this.opts.metrics?.healthUp ? this.seriesName(service) : service;
    for (const t of change.transitions) {
      adopted?.verdicts.add(t.realServer);
      // a group's members report the same probe: their series is the group's (t.realServer is the shared id)
      this.opts.metrics?.healthUp?.(series, t.realServer, t.to === 'up' || t.to === 'drain');
    }
    const svc = this.serviceNamed(service);
    if (!svc) return;
    this.healthDests.set(service, dests);
    const n = change.transitions.length;
    const what = `${change.realServer} ${change.from} -> ${change.to} (${change.reason})${n > 1 ? ` and ${n - 1} more` : ''}`;
    void this.reconciler.update([this.desiredFor(svc)], `health: ${what}`, 'health');
    void this.ecmp?.evaluate();
  }

  private servicesByName: { config: Config; map: Map<string, Config['services'][number]> } | undefined;

  /** A service of the running config by name (first declaration), without a scan per health event. */
  private serviceNamed(name: string): Config['services'][number] | undefined {
    if (this.servicesByName?.config !== this.config) {
      const map = new Map<string, Config['services'][number]>();
      for (const s of this.config.services) if (!map.has(s.name)) map.set(s.name, s);
      this.servicesByName = { config: this.config, map };
    }
    return this.servicesByName.map.get(name);
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

  private async reloadNow(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.stopped) return { ok: false, applied: false, code: 'LVSD_CONTROL', error: 'lvsd is stopping' };
    // how long the reload held this thread at most (health probes and the control socket wait meanwhile)
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    try {
      return await this.loadAndSwitch(trigger, loop);
    } finally {
      loop.disable();
    }
  }

  private async loadAndSwitch(trigger: ReloadTrigger, loop: IntervalHistogram): Promise<ReloadResult> {
    let next: Config;
    const started = performance.now();
    try {
      next = await loadConfig(this.opts.configPath, { hostChecks: true, cache: this.configCache });
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
    const load: ReloadFacts = { started, loop, loadMs: Math.round(performance.now() - started), ...this.configCache.stats };
    return this.enqueue(() => this.switchTo(next, trigger, load));
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
  private async switchTo(next: Config, trigger: ReloadTrigger, facts: ReloadFacts): Promise<ReloadResult> {
    // a stop came while the config was read: nothing may start now
    if (this.stopped) return { ok: false, applied: false, code: 'LVSD_CONTROL', error: 'lvsd is stopping' };
    let step = 'ipvs';
    let newClient: IpvsClient | undefined;
    let preparedHealth: PreparedHealth | undefined;
    let newHealth: HealthScheduler | undefined;
    let newVrrp: VrrpPort | undefined;
    try {
      if (next.services.length > 0 && !this.client) newClient = await (this.opts.ipvs ?? (() => this.createIpvsClient()))();
      const client = this.client ?? newClient;
      // IPVS must answer (one small request); the table itself is not read: the reconciler keeps it
      if (client && (next.services.length > 0 || this.reconciler.owned.size > 0)) await client.info();
      step = 'health';
      // a service the reload reused is handed over as the same object, so the checker keeps it as it runs
      // (a new or changed one is handed over as configured: a real server the reload adds starts as its config says)
      if (this.health) preparedHealth = this.health.prepare({ services: next.services.map((s) => this.healthConfigs.get(s) ?? s), health: next.health });
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
    // services the reload reused whole (config/service-memo.ts): their lists, health series and metrics stay
    const kept = new Set(old.services);
    const reused = new Set(next.services.filter((s) => kept.has(s)));
    this.refreshHealthDests(reused);
    if (newVrrp) this.vrrp = newVrrp;
    this.publishHealthUp(reused);
    this.forgetRemoved(old, next, reused);
    const syncing = this.connSync ? this.connSync.update(next.connectionSync) : (this.startConnSync(), Promise.resolve());
    this.armDrift();
    await this.applyIpvsSysctls();

    const outcome = await this.reconciler.applyDesiredNow(this.desiredTable(), 'reload', 'reload');
    await syncing;
    this.logWarnings(next);
    await this.switchEcmp(next);
    if (outcome.result !== 'ok') {
      // valid and in force, but the kernel did not take all of it: not a success; the repair retries
      const error = ipvsError(outcome);
      const load = this.recordLoad('reload', 'partial', error);
      this.log.error({ event: 'config.reload_partial', trigger, code: load.code, err: load.error, failedOps: outcome.failures.length },
        `reload: ${load.error ?? ''}`);
      return { ok: false, applied: true, error: load.error ?? 'partial', code: error.code };
    }
    this.recordLoad('reload', 'ok');
    const { started, loop, ...load } = facts;
    this.log.info({
      event: 'config.reloaded', trigger, services: next.services.length, vrrp: next.vrrp.length, ...load,
      ms: Math.round(performance.now() - started), loopDelayMaxMs: Math.round(loop.max / 1e6),
    }, 'config reloaded');
    return { ok: true, applied: true };
  }

  /** ECMP after a reload: started, updated or stopped (BIRD stops: the routers drop this director). */
  private async switchEcmp(next: Config): Promise<void> {
    try {
      if (next.ecmp && this.ecmp) await this.ecmp.update(next.ecmp);
      else if (next.ecmp) this.ecmp = await this.startEcmp(next.ecmp);
      else if (this.ecmp) {
        const old = this.ecmp;
        this.ecmp = undefined;
        await old.withdrawForStop();
        await old.stop();
      }
    } catch (e) {
      this.log.error({ event: 'ecmp.switch_failed', err: (e as Error).message }, `ecmp: ${(e as Error).message}`);
    }
  }

  /** `lvsd drain --director` / `lvsd undrain --director`: withdraw every address (and wait for the routers) or announce again. */
  async drainDirector(on: boolean): Promise<{ ok: true; changed: boolean }> {
    if (!this.ecmp) throw new LvsdError('LVSD_CONTROL', 'this director has no ecmp section: nothing is announced, so there is nothing to drain (drain real servers with lvsd drain SERVICE REALSERVER)');
    return { ok: true, ...(await this.ecmp.drain(on)) };
  }

  private findDrainTarget(req: DrainRequest): { key: string; service: string; realServer: string; members: string[] } | DrainResult {
    // a group is drained by its name (or any member's): the server goes to weight 0 in every member
    const byName = this.config.services.find((s) => s.name === req.service || serviceId(s.spec.key) === req.service);
    const groupName = byName?.group?.name ?? (byName ? undefined : this.config.services.find((s) => s.group?.name === req.service)?.group?.name);
    const svc = groupName !== undefined ? this.config.services.find((s) => s.group?.name === groupName) : byName;
    if (!svc) return { ok: false, notFound: 'service', message: `no service named ${JSON.stringify(req.service)}` };
    const rs = svc.realServers.find((r) => destId(r.spec) === req.realServer || r.shared?.id === req.realServer || r.spec.address === req.realServer);
    if (!rs) {
      return { ok: false, notFound: 'realServer', message: `service ${groupName ?? svc.name} has no real server ${req.realServer}` };
    }
    const owner = realServerOwner(svc, rs);
    const members = groupName !== undefined ? this.config.services.filter((s) => s.group?.name === groupName).map((s) => s.name) : [svc.name];
    return { key: realServerDrainKey(svc, rs), ...owner, members };
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
    // a group's drain: the server in every member, in one update
    const members = new Set(target.members);
    const svcs = this.config.services.filter((s) => members.has(s.name));
    const asked = Date.now();
    if (svcs.length > 0) await this.reconciler.update(svcs.map((s) => this.desiredFor(s)), `${on ? 'drain' : 'undrain'}: ${target.realServer}`, 'drain');
    void this.ecmp?.evaluate();
    // recorded either way; but the operator must hear when the kernel did not take it (the repair retries)
    const failed = this.reconciler.status().failures.find((f) =>
      members.has(String(f.service)) && (f.realServer === null || f.realServer === undefined || f.realServer === target.realServer) && Date.parse(f.at) >= asked - 1000);
    if (failed) return { ok: true, changed: true, kernel: { applied: false, error: `${failed.op}: ${failed.message}` } };
    return { ok: true, changed: true };
  }

  /** The recorded drains; throws LVSD_STATE when they cannot be known (drains-file.ts), so start fails rather than forget them. */
  private async loadDrains(): Promise<void> {
    // a new map, never changed in place: desiredFor knows the drains changed by the map's identity
    const drains = new Map(this.drains);
    for (const d of await loadDrains(this.drainsFile(), this.log)) drains.set(`${d.service}/${d.realServer}`, d);
    this.drains = drains;
  }

  /**
   * The status snapshot from the kept view of the table, with the counters read for the services shown
   * (`service`: that one only); `fresh`: the whole table read from the kernel instead.
   */
  async status(query: StatusQuery = {}): Promise<StatusSnapshot> {
    const services = query.service === undefined
      ? this.config.services
      : this.config.services.filter((s) => s.name === query.service || serviceId(s.spec.key) === query.service);
    let kernel: KernelEntry[] | undefined;
    let daemons: Awaited<ReturnType<IpvsClient['getDaemons']>> = [];
    if (this.client) {
      const view = query.fresh ? undefined : this.reconciler.snapshot(services.map((s) => canonicalServiceId(s.spec.key)));
      try {
        if (view) {
          const only = new Set(services.map((s) => serviceId(s.spec.key)));
          const [counters, ds] = await Promise.all([only.size > 0 ? this.client.dump(only) : Promise.resolve([]), this.client.getDaemons()]);
          kernel = mergeCounters(view, counters);
          daemons = ds;
        } else {
          [kernel, daemons] = await Promise.all([this.client.dump(), this.client.getDaemons()]);
        }
      } catch (e) {
        kernel = view;
        this.log.warn({ event: 'status.dump_failed', err: (e as Error).message }, 'status: cannot read the IPVS table');
      }
    }
    return buildSnapshot({
      nowMs: Date.now(),
      startedAtMs: this.startedAtMs,
      node: hostname(),
      version: this.opts.version ?? '0.0.0',
      configPath: this.opts.configPath,
      config: query.service === undefined ? this.config : { ...this.config, services },
      lastLoad: this.lastLoad,
      kernel,
      daemons,
      health: this.health?.snapshot(),
      vrrp: this.vrrp ? await (this.vrrp.freshSnapshot?.() ?? this.vrrp.snapshot()) : [],
      drains: [...this.drains.values()],
      ipvs: this.reconciler.status(),
      connectionSyncProblem: this.connSync?.problem(),
      ecmp: this.ecmp?.status() ?? null,
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
    if (this.ecmp) {
      await this.ecmp.withdrawForStop().catch((e: Error) => this.log.error({ event: 'ecmp.stop_failed', err: e.message }, e.message));
      await this.ecmp.stop().catch((e: Error) => this.log.error({ event: 'ecmp.stop_failed', err: e.message }, e.message));
    }
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

/** The error a load or reload reports when IPVS did not take all of the config. */
function ipvsError(outcome: PassOutcome): LvsdError {
  const n = outcome.failures.length;
  const code = (outcome.error?.code as LvsdErrorCode | undefined) ?? 'LVSD_IPVS_KERNEL';
  return new LvsdError(code, outcome.result === 'failed'
    ? `the new config is in force but IPVS could not be reached: ${outcome.error?.message ?? 'unknown error'}; lvsd retries`
    : `the new config is in force but ${n} IPVS operation${n === 1 ? '' : 's'} failed (first: ${outcome.error?.message ?? '?'}); lvsd retries`);
}
