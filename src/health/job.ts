/** The scheduler's own records (internal to src/health): one Job per distinct probe, the services using them. */
import type { HealthCheckConfig, ServiceConfig } from '../config/types.js';
import type { DestSpec } from '../table/index.js';
import type { ServiceDesired } from './service-policy.js';
import type { ProbeTarget, TimerHandle } from './types.js';

export interface Job {
  key: string;
  check: HealthCheckConfig;
  target: ProbeTarget;
  intervalMs: number;
  offsetMs: number;
  /** Its health state's slot in the scheduler's StateTable (state-table.ts): columns, not an object per probe. */
  slot: number;
  /** The services using it (in a group: each member). An array: one Set per probe cost ~100 bytes more at 100,000 probes. */
  services: readonly string[];
  /** a TCP check the addon runs by itself (its watch id), instead of this scheduler's queue */
  watchId?: number | undefined;
  /**
   * Its turns in this process's queue (probe-runner.ts), made at its first: only the checks the addon does
   * not run have one (their five fields, one a boxed time, were ~50 bytes on every probe).
   */
  turn?: Turn | undefined;
  alive: boolean;
}

/** A job's place in the runner's queue and its probe in flight. */
export interface Turn {
  readonly job: Job;
  /** when its next turn is (DueQueue entry; queueIndex set while queued) */
  due: number;
  queueIndex?: number | undefined;
  inFlight?: AbortController | undefined;
  /** reused by every probe of this job until aborted */
  ctl?: AbortController | undefined;
  /** When the probe in flight started (left the queue), for status. */
  probingSince?: number | undefined;
}

/**
 * A service the scheduler runs. Its real servers are `config.realServers`; what it keeps per real server is
 * in arrays by the same index, not in an object per real server (a member object was ~50 bytes at 100,000).
 */
export interface ServiceEntry {
  config: ServiceConfig;
  /** The job probing each real server: `jobs[i]` probes `config.realServers[i]`. */
  jobs: Job[];
  /**
   * The destination its list last had for real server i where that is not the configured one, `rs.spec`
   * (undefined there); made at the first such (build.ts computeDesired reuses an entry while its weight is the same).
   */
  dests: Array<DestSpec | undefined> | undefined;
  desired: ServiceDesired;
  rampTimer?: TimerHandle;
  /**
   * The indexes of its real servers by job (built at the first result) when it has more than members.ts's
   * SCAN_MEMBERS, so a result finds them without a scan; one index as itself, not an array of one.
   */
  byJob?: Map<Job, number | number[]>;
}
