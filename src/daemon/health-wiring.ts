/**
 * The daemon's health checker: the scheduler it runs (its changes, quorum and transition commands, the
 * probers tests inject), and its results as metrics: each probe result counted per (service, real server)
 * using it (probes are shared), the up gauges after a start or reload, the series of what left the config.
 */
import type { Config, ServiceConfig } from '../config/types.js';
import { HealthScheduler, type HealthSchedulerOptions, type Prober, type TcpWatcher } from '../health/index.js';
import type { Logger } from '../log.js';
import { destId } from '../table/index.js';
import { DURATION_BUCKETS } from './buckets.js';
import type { DaemonMetrics } from './daemon-types.js';
import { realServerOwner } from './desired.js';
import { runQuorumCommand, runRealServerCommand } from './health-commands.js';
import { realServerPairs, type ProbeUsers } from './probe-users.js';

export interface HealthWiring {
  log: Logger;
  /** The config in force (a quorum's commands are looked up in it when the quorum changes). */
  running: () => Config;
  onChange: NonNullable<HealthSchedulerOptions['onChange']>;
  metrics: DaemonMetrics | undefined;
  probeUsers: ProbeUsers;
  /** Tests inject these; absent: the real checkers, and TCP checks run by the addon on its own schedule. */
  prober?: Prober | undefined;
  watcher?: TcpWatcher | undefined;
}

/** A scheduler for `services` (the config's, as the health checker is to run them) and `config`'s health section, not started. */
export function createHealth(config: Config, services: ServiceConfig[], w: HealthWiring): HealthScheduler {
  // one child logger for the commands (made per real server's transition before: 10,000 at a start, each
  // its bindings serialised, in the ramp's main thread)
  const log = w.log.child({ component: 'health' });
  return new HealthScheduler(
    { services, health: config.health },
    {
      logger: log,
      onChange: w.onChange,
      onQuorum: (service, met, up) => {
        const q = w.running().services.find((s) => s.name === service)?.quorum;
        runQuorumCommand(met ? q?.up : q?.down, { service, met, up }, q?.user, log);
      },
      onTransition: (t) => runRealServerCommand(t, log),
      ...(w.prober ? { prober: w.prober } : {}),
      ...(w.watcher ? { watcher: w.watcher } : {}),
      onProbeResult: probeMetrics(w.metrics, w.probeUsers),
      ...probeCountMetrics(w.metrics, w.probeUsers),
    },
  );
}

/** Counts each probe result per service using that probe (probes are shared), and its duration. */
export function probeMetrics(m: DaemonMetrics | undefined, probeUsers: ProbeUsers): HealthSchedulerOptions['onProbeResult'] {
  if (!m?.healthResult && !m?.healthProbeDuration && !m?.healthLocalFailure) return undefined;
  return (check, target, result) => {
    if (result.local !== undefined) return m.healthLocalFailure?.(result.local);
    m.healthProbeDuration?.(check.type, result.latencyMs / 1000);
    if (m.healthResult) {
      const verdict = result.ok ? 'up' : 'down';
      for (const u of probeUsers.of(check, target)) m.healthResult(u.service, u.realServer, verdict);
    }
  };
}

/** The same for the TCP checks the addon runs: counted there, taken at scrape (healthCountsFrom). */
export function probeCountMetrics(
  m: DaemonMetrics | undefined, probeUsers: ProbeUsers,
): Pick<HealthSchedulerOptions, 'onProbeCounts' | 'onProbeDurations' | 'durationBuckets'> {
  return {
    durationBuckets: DURATION_BUCKETS,
    onProbeCounts: (check, target, ok, failed) => {
      if (!m?.healthResult) return;
      for (const u of probeUsers.of(check, target)) {
        if (ok > 0) m.healthResult(u.service, u.realServer, 'up', ok);
        if (failed > 0) m.healthResult(u.service, u.realServer, 'down', failed);
      }
    },
    onProbeDurations: (type, h) => m?.healthProbeDurations?.(type, h),
  };
}

/**
 * The up gauge of every real server of `services` from the health checker's state, after a start or a
 * reload (a reload passes the services it did not reuse whole: a reused one's gauges stand as they are).
 */
export function publishHealthUp(m: DaemonMetrics | undefined, health: HealthScheduler | undefined, services: readonly ServiceConfig[]): void {
  const up = m?.healthUp;
  if (!up || !health) return;
  for (const svc of services) {
    for (const r of health.serverStatuses(svc.name) ?? []) {
      const rs = svc.group ? svc.realServers.find((x) => destId(x.spec) === r.realServer) : undefined;
      const owner = rs ? realServerOwner(svc, rs) : { service: svc.name, realServer: r.realServer };
      up(owner.service, owner.realServer, r.status === 'up' || r.status === 'drain');
    }
  }
}

/**
 * A real server or VRRP instance that left the config: its metric series go with it. `before` and `after`:
 * the services of `old` and `next` that the reload did not reuse whole (a reused service keeps its pairs,
 * and no other service has them: names are unique, a group is one item).
 */
export function forgetRemoved(
  m: DaemonMetrics | undefined, old: Config, next: Config, before: readonly ServiceConfig[], after: readonly ServiceConfig[],
): void {
  if (m?.forgetRealServer) {
    const kept = realServerPairs({ services: after as ServiceConfig[] });
    for (const pair of realServerPairs({ services: before as ServiceConfig[] })) {
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

/** The service label of a service's metric series: its group's name when it is a member (one map per config). */
export class SeriesNames {
  private names: { config: Config; map: Map<string, string> } | undefined;

  of(config: Config, service: string): string {
    if (this.names?.config !== config) {
      this.names = { config, map: new Map(config.services.flatMap((s) => (s.group ? [[s.name, s.group.name] as const] : []))) };
    }
    return this.names.map.get(service) ?? service;
  }

  /**
   * The config in force is `next` now: the labels carry over when it has the names and groups of `old` (a
   * reload that changed services in place: service-delta.ts), else they go (they would hold `old`).
   */
  switched(old: Config, next: Config, same: boolean): void {
    if (this.names?.config !== old) return;
    if (same) this.names.config = next;
    else this.names = undefined;
  }
}
