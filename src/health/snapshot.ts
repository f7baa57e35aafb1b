/** What status shows of a service's health: its real servers' rows, from the scheduler's jobs. Pure. */
import { destId, destSpec } from '../table/index.js';
import type { TcpWatchState } from '../net/index.js';
import type { ServiceEntry } from './job.js';
import type { StateTable } from './state-table.js';
import { overlayWatch } from './native-watch.js';
import type { RealServerStatus, ServiceStatus } from './scheduler-types.js';
import { effectiveWeight, statusOf } from './state.js';

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
