/** The scheduler's public vocabulary: its input, its change events, its options and its status snapshot. */
import type { HealthCheckConfig, HealthGlobalConfig, RealServerConfig, ServiceConfig } from '../config/types.js';
import type { DestSpec } from '../table/index.js';
import type { Logger } from '../log.js';
import type { TcpProber } from '../net/index.js';
import type { DestChange } from './service-policy.js';
import type { HealthStatus } from './state.js';
import type { Clock, ProbeResult, Prober, ProbeTarget } from './types.js';

export interface HealthInput {
  services: ServiceConfig[];
  health: HealthGlobalConfig;
}

/** One real server's verdict or weight changing. */
export interface HealthTransition {
  /** "10.0.1.11:8080" */
  realServer: string;
  from: HealthStatus;
  to: HealthStatus;
  reason: string;
  latencyMs: number;
}

/**
 * A service's list changed. The outcomes the addon delivers in one batch are folded into one event per
 * service (at 10,000 real servers rising at start, one list per service per batch instead of one per
 * server): the top-level fields are the first transition, `transitions` has every one (at least one).
 */
export interface HealthChange extends HealthTransition {
  transitions: HealthTransition[];
  /** The destinations that differ from the previous list. */
  changes: DestChange[];
}

/**
 * `dests` is the scheduler's own list (an unchanged real server's entry is the same object from one change
 * to the next): a listener keeps it or copies it, and mutates neither the list nor its objects.
 */
export type ChangeListener = (service: string, dests: DestSpec[], change: HealthChange) => void;

/** What the scheduler uses of the addon's TCP prober (src/net/tcp-probe.ts): its watches. */
export type TcpWatcher = Pick<TcpProber,
  'watch' | 'unwatch' | 'next' | 'limit' | 'configure' | 'stats' | 'watchState' | 'takeHistogram' | 'pullCounts' | 'takeCounts' | 'nice'>;

export interface HealthSchedulerOptions {
  clock?: Clock;
  prober?: Prober;
  /** Runs the TCP checks (tests inject a fake). Default: the addon's, unless a prober or clock is given. */
  watcher?: TcpWatcher;
  logger?: Logger;
  onChange?: ChangeListener;
  /** A service with a quorum gained it (`met`) or lost it, with how many real servers are up. */
  onQuorum?: (service: string, met: boolean, up: number) => void;
  /**
   * A real server went up or down (once per group, for the group's name): its notify commands run here.
   * Not ordered with the 'change' it causes (outcomes the addon reports in a batch are folded first).
   */
  onTransition?: (e: RealServerTransition) => void;
  /** Milliseconds between loop-health heartbeats. Default 1000. */
  heartbeatMs?: number;
  /**
   * While outcomes the addon told wait to be read in later turns, the lists are recomputed once they all
   * have been, or this many ms after the first transition held (default FOLD_HOLD_MS, 500).
   */
  foldHoldMs?: number;
  /**
   * Every probe result, before it is applied (metrics count them here), except those of the TCP checks the
   * addon runs: it counts them itself, and takeCounts() hands them to onProbeCounts / onProbeDurations
   * (their local failures still come here, one by one).
   */
  onProbeResult?: (check: HealthCheckConfig, target: ProbeTarget, result: ProbeResult) => void;
  /** Results of an addon TCP check since the last takeCounts(): how many connected, how many failed. */
  onProbeCounts?: (check: HealthCheckConfig, target: ProbeTarget, ok: number, failed: number) => void;
  /** Their latencies since the last takeCounts(), as a histogram over durationBuckets. */
  onProbeDurations?: (type: HealthCheckConfig['type'], histogram: ProbeHistogram) => void;
  /** Upper bounds (seconds, ascending, at most 32) of the histogram onProbeDurations gets. */
  durationBuckets?: readonly number[];
}

/** Counts per bucket (one per bound, then one beyond the last), their sum in seconds, their count. */
export interface ProbeHistogram {
  buckets: number[];
  sumSeconds: number;
  count: number;
}

export interface RealServerStatus {
  realServer: string;
  check: HealthCheckConfig['type'];
  status: HealthStatus;
  since: number;
  reason: string;
  successes: number;
  failures: number;
  lastProbeAt?: number;
  /** Set while a probe runs: when it started. Much older than the check's timeout means a stuck checker. */
  probingSince?: number;
  lastResult?: ProbeResult;
  latencyMs?: number;
  configuredWeight: number;
  effectiveWeight: number;
}

export interface ServiceStatus {
  name: string;
  up: number;
  quorumMet: boolean;
  sorryActive: boolean;
  dests: DestSpec[];
  realServers: RealServerStatus[];
}

export interface HealthSnapshot {
  running: boolean;
  loop: {
    /** When the heartbeat last ran (ms); old means the loop is stuck. */
    lastTickAt?: number;
    /** How late the last heartbeat fired, and the worst seen, ms. */
    lagMs: number;
    maxLagMs: number;
    probes: number;
    inFlight: number;
    queued: number;
    /** Turns skipped because the previous probe of the same check was still running. */
    skipped: number;
  };
  services: ServiceStatus[];
}

/** A real server's health verdict changed. */
export interface RealServerTransition {
  /** The service's name, or its group's. */
  service: string;
  realServer: RealServerConfig;
  /** Its id as status and drains name it. */
  id: string;
  from: HealthStatus;
  to: HealthStatus;
  reason: string;
}

/** A config built by prepare(), switched to by commit(). */
export interface PreparedHealth {
  readonly health: HealthGlobalConfig;
  /** @internal */
  readonly built: unknown;
  /** @internal the running jobs it was built against */
  readonly from: unknown;
}
