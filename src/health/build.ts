/**
 * A config's probes and services as the scheduler's records: one Job per distinct probe (check + real
 * server + every check parameter, check-key.ts), shared by the services using it. Pure: a job of the
 * running set whose identity is unchanged is reused (its state and schedule kept), nothing is mutated.
 */
import type { ServiceConfig } from '../config/types.js';
import { probeOffset, probeTarget, realServerKey } from './check-key.js';
import type { Job, Member, ServiceEntry } from './job.js';
import type { HealthInput } from './scheduler-types.js';
import { desiredDests, type ServiceDesired } from './service-policy.js';
import { effectiveWeight, initialState } from './state.js';

export interface Built {
  jobs: Map<string, Job>;
  /** per job key, the services using it (set on the job when installed) */
  users: Map<string, Set<string>>;
  services: Map<string, ServiceEntry>;
}

/**
 * The jobs and services of a config at `now`, reusing `old` jobs by identity. A service whose config is the
 * very object `oldServices` holds (a reload reused it: config/service-memo.ts) and whose jobs all still run
 * keeps its members and its last desired list (commit() computes every service's list again anyway).
 */
export function buildJobs(
  input: HealthInput, old: ReadonlyMap<string, Job>, now: number, oldServices: ReadonlyMap<string, ServiceEntry> = new Map(),
): Built {
  const jobs = new Map<string, Job>();
  const users = new Map<string, Set<string>>();
  const services = new Map<string, ServiceEntry>();
  const use = (key: string, job: Job, name: string) => {
    let names = users.get(key);
    if (!names) users.set(key, (names = new Set()));
    names.add(name);
    jobs.set(key, job);
  };
  for (const config of input.services) {
    const before = oldServices.get(config.name);
    if (before !== undefined && before.config === config && before.members.every(({ job }) => old.get(job.key) === job)) {
      for (const { job } of before.members) use(job.key, job, config.name);
      services.set(config.name, { config, members: before.members, desired: before.desired });
      continue;
    }
    const members: Member[] = [];
    for (const rs of config.realServers) {
      const target = probeTarget(rs);
      const key = realServerKey(rs);
      let job = jobs.get(key) ?? old.get(key);
      if (!job) {
        const intervalMs = Math.max(1, rs.healthCheck.interval * 1000);
        job = {
          key, check: rs.healthCheck, target, intervalMs, due: 0,
          offsetMs: probeOffset(key, intervalMs),
          state: initialState(rs.healthCheck.type === 'none' ? 'up' : config.initialState, now),
          services: new Set(),
          alive: true,
        };
      }
      use(key, job, config.name);
      members.push({ rs, job });
    }
    services.set(config.name, { config, members, desired: computeDesired(config, members, now) });
  }
  return { jobs, users, services };
}

/** The destinations a service should have at `now`, from its members' states. */
export function computeDesired(config: ServiceConfig, members: readonly Member[], now: number): ServiceDesired {
  return desiredDests(
    config,
    members.map(({ rs, job }) => ({
      spec: rs.spec,
      up: job.state.up,
      weight: effectiveWeight(job.state, rs.spec.weight, config.slowStart, now),
    })),
  );
}
