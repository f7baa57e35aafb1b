/**
 * Runs the probes and turns their results into desired destinations per service.
 *
 * - Each distinct probe (check type + real server + check parameters) runs once per interval, however many
 *   services use it; its first run is at a fixed offset within the interval derived from its identity, so a
 *   thousand probes are spread over the interval, not fired at once.
 * - At most health.maxConcurrent probes are in flight; a probe still running when its next turn comes skips it.
 * - A result goes through the pure state (state.ts) and service policy (service-policy.ts); when a service's
 *   desired destinations change, 'change' is emitted with the new list and what caused it.
 * - update(config) keeps the state of every probe whose identity is unchanged: a reload never resets a healthy
 *   real server.
 */
import { EventEmitter } from 'node:events';
import type { HealthGlobalConfig, ServiceConfig } from '../config/types.js';
import { destSpec, type DestSpec } from '../table/index.js';
import { getSystemErrorName } from 'node:util';
import { silentLogger, type Logger } from '../log.js';
import { probe as realProbe } from './checkers/index.js';
import { nativeTcpWatcher, tcpOutcomeResult } from './checkers/tcp.js';
import { buildChanges, buildJobs, computeDesired, type Built } from './build.js';
import type { Job, ServiceEntry } from './job.js';
import { Heartbeat } from './heartbeat.js';
import { LocalFailureLog } from './local-log.js';
import { ProbeRunner } from './probe-runner.js';
import { LOCAL_ERRNOS } from './local-failure.js';
import { takeWatchCounts, timeoutMsOf, watchOptions } from './native-watch.js';
import { awaitingFirstVerdict, serverStatusesOf, serviceStatus, unsettledCount, upServerIds } from './snapshot.js';
import { applyProbe, applyRun, type HealthStatus } from './state.js';
import { ServiceLists } from './service-lists.js';
import { SlicedReader } from './sliced-reader.js';
import { StateTable } from './state-table.js';
import type {
  HealthInput, HealthSchedulerOptions, HealthSnapshot, PreparedHealth, ServiceStatus, TcpWatcher,
} from './scheduler-types.js';
import { systemClock, type Clock, type ProbeResult } from './types.js';

export type {
  ChangeListener, HealthChange, HealthTransition, TcpWatcher, HealthInput, HealthSchedulerOptions, HealthSnapshot, PreparedHealth, ProbeHistogram,
  RealServerStatus, RealServerTransition, ServiceStatus,
} from './scheduler-types.js';

/** A probe that failed because of the director itself is tried again this soon (or at its interval, if shorter). */
export const LOCAL_RETRY_MS = 1000;
/** Milliseconds of told outcomes read in one turn of the event loop before the rest waits for the next. */
const TOLD_SLICE_MS = 10;
/**
 * While told outcomes wait to be read (a batch larger than a slice), the services' lists are recomputed
 * (and the daemon's health pass made) once they have all been read, or at the latest this long after the
 * first transition held (service-lists.ts).
 */
export const FOLD_HOLD_MS = 500;
/** At most one health.local_failure line this often; the ones in between are counted in the next. */
const LOCAL_LOG_EVERY_MS = 10_000;

/** An errno as its name (EACCES), or its number when Node has no name for it. */
function errnoText(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return String(errno);
  }
}

export class HealthScheduler extends EventEmitter {
  private readonly clock: Clock;
  /** the addon's prober, which runs TCP checks on its own schedule; only with the real prober and clock */
  private readonly watcher: TcpWatcher | undefined;
  private readonly onProbeResult: HealthSchedulerOptions['onProbeResult'];
  private readonly onProbeCounts: HealthSchedulerOptions['onProbeCounts'];
  private readonly onProbeDurations: HealthSchedulerOptions['onProbeDurations'];
  private readonly log: Logger;
  private readonly jobs = new Map<string, Job>();
  /** The jobs' health states, by their slots (columns: state-table.ts). */
  private readonly states = new StateTable();
  /** The last build prepared and not yet committed: the jobs it made hold state slots, freed if it is given up. */
  private pending: Built | undefined;
  /** Counts installs: a prepared build belongs to the one it was made from. */
  private generation = 0;
  private global: HealthGlobalConfig;
  private running = false;
  /** The loop's lag as status shows it (heartbeat.ts). */
  private readonly heartbeat: Heartbeat;
  /** Probes that failed because of the director itself (local-failure.ts), logged at most once per 10 s. */
  private readonly localLog: LocalFailureLog;
  private readonly runner: ProbeRunner;
  /** The services and their lists (recomputed per batch of outcomes, slow-start timers). */
  private readonly lists: ServiceLists;
  /** The jobs by the id of their addon watch; one callback for every watch (onWatch), not a closure each. */
  private readonly byWatch: Array<Job | undefined> = [];
  private readonly onWatch = (errno: number, latencyMs: number, run: number, id: number): void => {
    const job = this.byWatch[id];
    if (job !== undefined) this.told(job, id, tcpOutcomeResult(errno, latencyMs, timeoutMsOf(job)), run);
  };
  /** Outcomes told by the addon, read at most TOLD_SLICE_MS per turn of the event loop. */
  private readonly reader: SlicedReader<{ job: Job; watchId: number; result: ProbeResult; run: number }>;

  constructor(input: HealthInput, options: HealthSchedulerOptions = {}) {
    super();
    this.clock = options.clock ?? systemClock;
    this.watcher = options.watcher ?? (options.prober || options.clock ? undefined : nativeTcpWatcher());
    this.onProbeResult = options.onProbeResult;
    this.onProbeCounts = options.onProbeCounts;
    this.onProbeDurations = options.onProbeDurations;
    this.log = (options.logger ?? silentLogger).child({ component: 'health' });
    this.localLog = new LocalFailureLog(this.log, LOCAL_LOG_EVERY_MS);
    const nice = this.watcher?.nice;
    if (nice) {
      // refused: a warning when the operator asked for the value, a note for the default
      const refused = nice.errno !== 0 ? errnoText(nice.errno) : undefined;
      const asked = process.env.LVSD_PROBE_NICE !== undefined && process.env.LVSD_PROBE_NICE !== '';
      this.log[refused && asked ? 'warn' : 'info']({ event: 'health.probe_nice', nice: nice.asked, ...(refused ? { error: refused } : {}) },
        refused ? `the probing thread's nice ${nice.asked} refused (${refused}): it runs at the main thread's priority` : `the probing thread runs at nice ${nice.asked}`);
    }
    this.heartbeat = new Heartbeat(this.clock, options.heartbeatMs ?? 1000);
    if (options.onChange) this.on('change', options.onChange);
    if (options.onQuorum) this.on('quorum', options.onQuorum);
    if (options.onTransition) this.on('transition', options.onTransition);
    this.global = input.health;
    this.lists = new ServiceLists(this.clock, this.log, this.states, {
      change: (service, dests, change) => this.emit('change', service, dests, change),
      quorum: (service, met, up) => this.emit('quorum', service, met, up),
    }, { waiting: () => this.reader.waiting, ms: options.foldHoldMs ?? FOLD_HOLD_MS });
    this.reader = new SlicedReader(TOLD_SLICE_MS, (b) => this.onWatched(b.job, b.watchId, b.result, b.run), () => this.running,
      () => this.lists.settleFolded());
    this.runner = new ProbeRunner(this.clock, options.prober ?? realProbe, input.health.maxConcurrent, (job, result) => {
      this.onProbeResult?.(job.check, job.target, result);
      this.onResult(job, result, undefined, true);
    });
    this.runner.env = { execUser: input.health.execUser, execOutputLimit: input.health.execOutputLimit };
    this.watcher?.limit(input.health.maxConcurrent);
    this.watcher?.configure(LOCAL_ERRNOS, options.durationBuckets ?? []);
    this.load(input);
  }

  /** Starts probing: each probe first runs at its offset within its interval from now. */
  start(): void {
    if (this.running) return;
    this.running = this.runner.running = this.lists.running = true;
    const now = this.clock.now();
    for (const job of this.jobs.values()) if (job.check.type !== 'none' && job.alive) this.schedule(job, now + job.offsetMs);
    for (const svc of this.lists.entries.values()) this.lists.armRamp(svc);
    this.heartbeat.start(now);
  }

  /** Stops every timer, aborts probes in flight and resolves when they have ended. */
  async stop(): Promise<void> {
    this.running = this.runner.running = this.lists.running = false;
    this.lists.dropFolded();
    this.reader.clear();
    this.heartbeat.stop();
    this.takeCounts();
    for (const job of this.jobs.values()) this.disarm(job);
    for (const svc of this.lists.entries.values()) this.lists.clearRamp(svc);
    await this.runner.idle();
  }

  /** Takes a new config; probes whose identity is unchanged keep their state and schedule. Emits nothing. */
  update(input: HealthInput): void {
    this.commit(this.prepare(input));
  }

  /**
   * Builds what update() would switch to, touching nothing that runs: a reload prepares every part first
   * and switches them all only when each could take the new config. Throws on a config it cannot run.
   * Commit it before the next prepare or commit (it reuses the running probes' state).
   */
  prepare(input: HealthInput): PreparedHealth {
    this.releasePending();
    const built = buildJobs(input, this.jobs, this.states, this.clock.now(), this.lists.entries);
    this.pending = built;
    return { health: input.health, built, from: this.generation };
  }

  /**
   * prepare() for the services running with `changed` in place of the running services of the same names
   * (a reload that changed those in place alone), in proportion to the change: what prepare() of the whole
   * list would build. Undefined when a name is not running: prepare() the whole list then.
   */
  prepareChanges(changed: readonly ServiceConfig[], health: HealthGlobalConfig): PreparedHealth | undefined {
    this.releasePending();
    const built = buildChanges(changed, this.jobs, this.states, this.clock.now(), this.lists.entries);
    this.pending = built;
    return built && { health, built, from: this.generation };
  }

  /** A build prepared and never committed (a reload given up): the state slots of the jobs it made go back. */
  private releasePending(): void {
    for (const job of this.pending?.made ?? []) this.states.free(job.slot);
    this.pending = undefined;
  }

  /** Switches to a prepared config. Never throws. */
  commit(prepared: PreparedHealth): void {
    if (prepared.from !== this.generation) throw new Error('health: prepare() and commit() interleaved with another update');
    const built = prepared.built as Built;
    if (built !== this.pending) throw new Error('health: commit() of a build another prepare() has replaced');
    this.pending = undefined;
    // transitions of the batch being read are told against the lists they changed, before those are replaced
    this.lists.flushFolded();
    const health = prepared.health;
    if (health.maxConcurrent !== this.global.maxConcurrent) {
      this.runner.limit(health.maxConcurrent);
      this.watcher?.limit(health.maxConcurrent);
    }
    this.global = health;
    this.runner.env = { execUser: health.execUser, execOutputLimit: health.execOutputLimit };
    // a kept entry is the running one, results included: its list and ramp timer stay
    for (const svc of built.dropped) this.lists.clearRamp(svc);
    this.install(built);
    // results that came in since prepare() changed the probes' state: the built services' lists follow it
    const now = this.clock.now();
    for (const svc of built.built) svc.desired = computeDesired(svc, this.states, now);
    if (built.removed.some((job) => job.watchId !== undefined)) this.takeCounts(built.removed);
    for (const job of built.removed) this.retire(job);
    if (this.running) {
      const now = this.clock.now();
      // a job whose users did not change was running before and is scheduled: only the others may need arming
      for (const key of built.users.keys()) {
        const job = this.jobs.get(key)!;
        if (!this.runner.has(job) && job.watchId === undefined && job.check.type !== 'none') this.arm(job, now + job.offsetMs);
      }
      for (const svc of built.built) this.lists.armRamp(svc);
    }
  }

  /** The destinations a service should have now, or undefined for a service the scheduler does not know. */
  desired(service: string): DestSpec[] | undefined {
    return this.lists.entries.get(service)?.desired.dests.map((d) => destSpec(d));
  }

  /**
   * How many real servers of the service have no first verdict yet (snapshot.ts unsettledCount), or
   * undefined for a service the scheduler does not know.
   */
  unsettledServers(service: string): number | undefined {
    const svc = this.lists.entries.get(service);
    return svc && unsettledCount(svc, this.states, this.clock.now());
  }

  /**
   * Real servers of every service with no verdict at all yet (snapshot.ts awaitingFirstVerdict: a start's
   * ramp is over at 0; no time limit, unlike unsettledServers; a group's shared probe counted per member).
   */
  awaitingFirstVerdicts(): number {
    let n = 0;
    for (const svc of this.lists.entries.values()) n += awaitingFirstVerdict(svc, this.states);
    return n;
  }

  /** The real servers (destIds) of a service whose check says up now, or undefined for a service the scheduler does not know. */
  upServers(service: string): string[] | undefined {
    const svc = this.lists.entries.get(service);
    return svc && upServerIds(svc, this.states);
  }

  /**
   * Each real server's status (up, down, drain ...) of a service, by its destination id, from the probes'
   * states alone (statusReader() also copies the addon's watch states, every watch's, for the rows' details);
   * undefined for a service the scheduler does not know.
   */
  serverStatuses(service: string): Array<{ realServer: string; status: HealthStatus }> | undefined {
    const svc = this.lists.entries.get(service);
    return svc && serverStatusesOf(svc, this.states);
  }

  /** The status of these services (those the scheduler knows), as snapshot() shows them. */
  serviceStatuses(names: Iterable<string>): ServiceStatus[] {
    const read = this.statusReader();
    const out: ServiceStatus[] = [];
    for (const name of names) {
      const status = read(name);
      if (status) out.push(status);
    }
    return out;
  }

  /**
   * Every service's status, or with `services: false` only the loop's (the status of one service, or of
   * every service a slice at a time, comes from statusReader()).
   */
  snapshot(opts: { services?: boolean } = {}): HealthSnapshot {
    let inFlight = 0;
    for (const job of this.jobs.values()) if (job.turn?.inFlight) inFlight++;
    const native = this.watcher?.stats();
    if (native) inFlight += native.watchedUnderWay;
    const services: ServiceStatus[] = [];
    if (opts.services !== false) {
      const read = this.statusReader();
      for (const name of this.lists.entries.keys()) services.push(read(name)!);
    }
    const loop: HealthSnapshot['loop'] = {
      lagMs: this.heartbeat.lagMs,
      maxLagMs: this.heartbeat.maxLagMs,
      probes: this.jobs.size,
      inFlight,
      queued: this.runner.queued,
      skipped: this.runner.skipped + (native?.skipped ?? 0),
    };
    if (this.heartbeat.lastTickAt !== undefined) loop.lastTickAt = this.heartbeat.lastTickAt;
    return { running: this.running, loop, services };
  }

  /**
   * Reads services' statuses as of now, one by one: the addon's watch states are copied once, so a status
   * built a slice at a time (lvsd status at 100,000 real servers) reads them once, and `-s NAME` builds one.
   */
  statusReader(): (name: string) => ServiceStatus | undefined {
    const now = this.clock.now();
    const watch = this.watcher?.watchState() ?? (() => undefined);
    return (name) => {
      const svc = this.lists.entries.get(name);
      return svc ? serviceStatus(svc, this.states, now, watch) : undefined;
    };
  }

  /**
   * Hands the results the addon counted for its TCP watches since the last call to onProbeCounts, and
   * their latencies to onProbeDurations (metrics call this at scrape; results of other checks go one by
   * one to onProbeResult as they come).
   */
  takeCounts(jobs: Iterable<Job> = this.jobs.values()): void {
    const watcher = this.watcher;
    if (!watcher) return;
    const counts = this.onProbeCounts;
    takeWatchCounts(watcher, jobs, (job, ok, failed) => counts?.(job.check, job.target, ok, failed));
    const h = watcher.takeHistogram();
    if (h.count > 0) this.onProbeDurations?.('tcp', h);
  }

  // ---- internals ----

  private load(input: HealthInput): void {
    let n = 0;
    for (const svc of input.services) n += svc.realServers.length;
    this.states.reserve(n);
    this.install(buildJobs(input, new Map(), this.states, this.clock.now()));
  }

  /** Applies a build to the running set (in place: a reload that changed one service touches about one service's jobs). */
  private install(built: Built): void {
    this.generation++;
    for (const [key, job] of built.added) this.jobs.set(key, job);
    for (const key of built.deleted) this.jobs.delete(key);
    // jobs with the same users share one array (the real servers of a service: one per service, not per probe)
    const lists = new Map<string, readonly string[]>();
    for (const [key, names] of built.users) {
      const list = [...names];
      const id = list.join('\0');
      let shared = lists.get(id);
      if (shared === undefined) lists.set(id, (shared = list));
      this.jobs.get(key)!.services = shared;
    }
    if (built.services) this.lists.entries = built.services;
    // the same names: each entry replaced where it stands, so the map's order is the config's still
    for (const [name, svc] of built.patch ?? []) this.lists.entries.set(name, svc);
  }

  private arm(job: Job, due: number): void {
    if (job.check.type === 'none' || !job.alive) return;
    this.schedule(job, due);
  }

  /** Its first turn at `due`: in the addon for a TCP check when it can, else in this scheduler's queue. */
  private schedule(job: Job, due: number): void {
    if (this.watcher && job.check.type === 'tcp' && job.watchId === undefined) {
      try {
        const id = this.watcher.watch(watchOptions(job, this.states.read(job.slot), due - this.clock.now()), this.onWatch);
        this.byWatch[id] = job;
        job.watchId = id;
        return;
      } catch (e) {
        this.log.warn({ event: 'health.native_unavailable', realServer: job.key, err: (e as Error).message }, 'TCP check through a socket instead');
      }
    }
    this.runner.set(job, due);
  }

  /** An outcome the addon told: read now, or a later turn when the batch has taken its slice (sliced-reader.ts). */
  private told(job: Job, watchId: number, result: ProbeResult, run: number): void {
    if (this.reader.readNow()) return this.onWatched(job, watchId, result, run);
    this.reader.defer({ job, watchId, result, run });
  }

  /** An outcome the addon told (run: its place in the run of its verdict); counted by takeCounts(), not here. */
  private onWatched(job: Job, watchId: number, result: ProbeResult, run: number): void {
    if (!this.running || !job.alive || job.watchId !== watchId) return;
    if (result.local !== undefined || run === 0) {
      this.onProbeResult?.(job.check, job.target, result);
      return this.onLocalFailure(job, result);
    }
    this.onResult(job, result, run, true);
  }

  private disarm(job: Job): void {
    if (job.watchId !== undefined) {
      if (this.byWatch[job.watchId] === job) this.byWatch[job.watchId] = undefined;
      this.watcher?.unwatch(job.watchId);
    }
    job.watchId = undefined;
    this.runner.delete(job);
    if (!this.jobs.has(job.key) || this.jobs.get(job.key) !== job) job.alive = false;
  }

  /** A job no service uses any more: no turns, and its state slot goes back to the table. */
  private retire(job: Job): void {
    this.disarm(job);
    if (job.alive) return; // still the running job of its key (not expected: removed jobs left the map)
    this.states.free(job.slot);
    job.slot = -1;
  }

  /**
   * A probe that failed because of the director itself says nothing about the real server: its state
   * stays as it is, the event is logged (at most once per LOCAL_LOG_EVERY_MS, with how many were not)
   * and the probe is tried again within LOCAL_RETRY_MS.
   */
  private onLocalFailure(job: Job, result: ProbeResult): void {
    const now = this.clock.now();
    this.localLog.record(job.target, job.check, result, now);
    if (!this.running || !job.alive || job.intervalMs <= LOCAL_RETRY_MS) return;
    const retryAt = now + LOCAL_RETRY_MS;
    if (job.watchId !== undefined) {
      this.watcher?.next(job.watchId, LOCAL_RETRY_MS); // the addon runs this watch: its next turn at the retry
    } else if ((this.runner.dueOf(job) ?? -Infinity) > retryAt) {
      this.runner.set(job, retryAt);
    }
  }

  /**
   * A probe's result; `run` when it is the run-th in a row with its verdict and those before were not told.
   * `fold`: part of a batch the addon delivers, so its services are recomputed once after the batch.
   */
  private onResult(job: Job, result: ProbeResult, run?: number, fold = false): void {
    if (result.local !== undefined) return this.onLocalFailure(job, result);
    const now = this.clock.now();
    const before = this.states.read(job.slot);
    const { state, transition, weightChanged } = run === undefined
      ? applyProbe(before, result, job.check, now)
      : applyRun(before, result, run, job.check, now);
    this.states.set(job.slot, state);
    // a weight reported while down changes nothing until the server is up again
    if (!transition && !(weightChanged && state.up)) return;
    // its first verdict: never up nor seen failing since it was made (a start, an added real server)
    const first = before.reason === 'initial' && before.failures === 0;
    const transitions = this.lists.tell(job, state, transition, result, now, fold, first);
    for (const t of transitions) this.emit('transition', t);
  }
}
