/** What status shows of a service's health: its real servers' rows and statuses, from the scheduler's jobs. Pure. */
import { destId, destSpec } from '../table/index.js';
import type { TcpWatchState } from '../net/index.js';
import type { ServiceEntry } from './job.js';
import type { StateTable } from './state-table.js';
import { overlayWatch } from './native-watch.js';
import type { RealServerStatus, ServiceStatus } from './scheduler-types.js';
import { effectiveWeight, statusOf, type HealthStatus } from './state.js';

/** `watch(id)`: what the addon last saw of a TCP watch (its runs and last outcome are kept there). */
export function serviceStatus(svc: ServiceEntry, states: StateTable, now: number, watch: (id: number) => TcpWatchState | undefined): ServiceStatus {
  return {
    name: svc.config.name,
    up: svc.desired.up,
    quorumMet: svc.desired.quorumMet,
    sorryActive: svc.desired.sorryActive,
    dests: svc.desired.dests.map((d) => destSpec(d)),
    realServers: svc.config.realServers.map((rs, i) => {
      const job = svc.jobs[i]!;
      const s = states.read(job.slot);
      const row: RealServerStatus = {
        realServer: destId(rs.spec),
        check: job.check.type,
        status: statusOf(s),
        since: s.since,
        reason: s.reason,
        successes: s.successes,
        failures: s.failures,
        configuredWeight: rs.spec.weight,
        effectiveWeight: effectiveWeight(s, rs.spec.weight, svc.config.slowStart, now),
      };
      if (s.lastProbeAt !== undefined) row.lastProbeAt = s.lastProbeAt;
      if (job.turn?.probingSince !== undefined) row.probingSince = job.turn.probingSince;
      if (s.lastResult) {
        row.lastResult = s.lastResult;
        row.latencyMs = s.lastResult.latencyMs;
      }
      if (job.watchId !== undefined) overlayWatch(row, job, watch(job.watchId), now);
      return row;
    }),
  };
}

/** Neither `rise` successes nor `fall` failures nor a status change since the real server's probe was made. */
function noVerdictYet(job: ServiceEntry['jobs'][number], s: ReturnType<StateTable['read']>): boolean {
  return s.reason === 'initial' && s.successes < job.check.rise && s.failures < job.check.fall;
}

/**
 * How many real servers of the service have no first verdict yet: probed, but neither `rise` successes nor
 * `fall` failures since the start (or since they were added). `none` checks are always settled.
 */
export function unsettledCount(svc: ServiceEntry, states: StateTable, now: number): number {
  // a server that flaps and so never completes a rise or a fall counts as settled after twice the time one takes
  return svc.jobs.filter((job) => {
    if (job.check.type === 'none') return false; // no check, no verdict to wait for (every check has a rise and a fall)
    const s = states.read(job.slot);
    return noVerdictYet(job, s) &&
      now - s.since < 2 * (Math.max(job.check.rise, job.check.fall) * job.intervalMs + job.check.timeout * 1000);
  }).length;
}

/**
 * How many real servers (probes) of the service have had no verdict at all since they were made: neither
 * `rise` successes nor `fall` failures nor a status change. Unlike unsettledCount, no time makes one
 * settled: in the TCG VM at a loaded host a start's first verdicts took 125 s, and the flapping rule's
 * 42 s (2 x (fall x 10 s + 1 s)) counted every real server not yet probed as settled long before.
 */
export function awaitingFirstVerdict(svc: ServiceEntry, states: StateTable): number {
  let n = 0;
  for (const job of svc.jobs) {
    if (job.check.type === 'none') continue;
    if (noVerdictYet(job, states.read(job.slot))) n++;
  }
  return n;
}

/** The real servers (destIds) of the service whose check says up now. */
export function upServerIds(svc: ServiceEntry, states: StateTable): string[] {
  return svc.config.realServers.filter((_, i) => statusOf(states.read(svc.jobs[i]!.slot)) === 'up').map((rs) => destId(rs.spec));
}

/** Each real server's status (up, down, drain ...) of the service, by its destination id, from the probes' states alone. */
export function serverStatusesOf(svc: ServiceEntry, states: StateTable): Array<{ realServer: string; status: HealthStatus }> {
  return svc.config.realServers.map((rs, i) => ({ realServer: destId(rs.spec), status: statusOf(states.read(svc.jobs[i]!.slot)) }));
}
