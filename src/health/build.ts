/**
 * A config's probes and services as the scheduler's records: one Job per distinct probe (check + real
 * server + every check parameter, check-key.ts), shared by the services using it. Pure: a job of the
 * running set whose identity is unchanged is reused (its state and schedule kept), nothing is mutated.
 */
import type { ServiceConfig } from '../config/types.js';
import { destId, destSpec, type DestSpec } from '../table/index.js';
import { probeOffset, probeTarget, realServerKey } from './check-key.js';
import type { Job, Member, ServiceEntry } from './job.js';
import type { HealthInput } from './scheduler-types.js';
import { desiredDests, type ServiceDesired } from './service-policy.js';
import { effectiveWeight, initialState } from './state.js';

export interface Built {
  /** Jobs to add to the running set, and keys of jobs to take out of it (install applies both). */
  added: Map<string, Job>;
  deleted: string[];
  /** per job key, the services using it (set on the job when installed); only the jobs whose users changed */
  users: Map<string, Set<string>>;
  services: Map<string, ServiceEntry>;
  /** The running entries kept as they are (same config object, same jobs): commit() leaves them alone. */
  kept: Set<ServiceEntry>;
  /** Running jobs no service uses any more. */
  removed: Job[];
}

/**
 * The jobs and services of a config at `now`, reusing `old` jobs by identity. A service whose config is the
 * very object `oldServices` holds (a reload reused it: config/service-memo.ts) and whose jobs all still run
 * keeps its running entry (members, desired list, ramp timer); only the jobs of services added, changed or
 * removed have their users counted again, so a reload that changed one service costs about one service.
 */
export function buildJobs(
  input: HealthInput, old: ReadonlyMap<string, Job>, now: number, oldServices: ReadonlyMap<string, ServiceEntry> = new Map(),
): Built {
  const added = new Map<string, Job>();
  const jobs = { get: (key: string) => added.get(key) ?? old.get(key) };
  const services = new Map<string, ServiceEntry>();
  const kept = new Set<ServiceEntry>();
  /** Job keys whose users may differ from the running job's `services`. */
  const dirty = new Set<string>();
  /** Users of dirty keys among the services built here. */
  const builtUsers = new Map<string, Set<string>>();
  for (const config of input.services) {
    const before = oldServices.get(config.name);
    // (a running entry's jobs are all installed; `alive` is the cheap check that none was taken out)
    if (before !== undefined && before.config === config && before.members.every(({ job }) => job.alive)) {
      services.set(config.name, before);
      kept.add(before);
      continue;
    }
    if (before !== undefined) for (const { job } of before.members) dirty.add(job.key);
    const members: Member[] = [];
    for (const rs of config.realServers) {
      const target = probeTarget(rs);
      const key = realServerKey(rs);
      let job = jobs.get(key);
      if (!job) {
        const intervalMs = Math.max(1, rs.healthCheck.interval * 1000);
        // every field in the literal, those set later too: one added afterwards moves the object's
        // properties out of it (a property array per job, ~40 bytes)
        job = {
          key, check: rs.healthCheck, target, intervalMs,
          offsetMs: probeOffset(key, intervalMs),
          state: initialState(rs.healthCheck.type === 'none' ? 'up' : config.initialState, now),
          services: [],
          due: 0, queueIndex: undefined, watchId: undefined, inFlight: undefined, ctl: undefined, probingSince: undefined,
          alive: true,
        };
        added.set(key, job);
      }
      dirty.add(key);
      let names = builtUsers.get(key);
      if (!names) builtUsers.set(key, (names = new Set()));
      names.add(config.name);
      members.push({ rs, job, dest: undefined });
    }
    services.set(config.name, { config, members, desired: computeDesired(config, members, now) });
  }
  for (const [name, before] of oldServices) {
    if (services.get(name) === before) continue;
    for (const { job } of before.members) dirty.add(job.key);
  }
  const users = new Map<string, Set<string>>();
  const removed: Job[] = [];
  const deleted: string[] = [];
  for (const key of dirty) {
    const names = new Set<string>();
    // a kept service uses exactly the jobs it used before
    for (const name of old.get(key)?.services ?? []) {
      const svc = services.get(name);
      if (svc !== undefined && kept.has(svc)) names.add(name);
    }
    for (const name of builtUsers.get(key) ?? []) names.add(name);
    if (names.size > 0) {
      users.set(key, names);
      continue;
    }
    deleted.push(key);
    const gone = old.get(key);
    if (gone !== undefined) removed.push(gone);
  }
  return { added, deleted, users, services, kept, removed };
}

/**
 * Whether a service's list needs desiredDests' general path: two real servers with one destination, or one
 * that is also the sorry server (config/normalise-services.ts refuses both; kept exact all the same).
 * Per config object, which a reload that changes nothing hands again.
 */
const irregular = new WeakMap<ServiceConfig, boolean>();

function isIrregular(config: ServiceConfig): boolean {
  let v = irregular.get(config);
  if (v === undefined) {
    const ids = new Set(config.realServers.map((rs) => destId(rs.spec)));
    v = ids.size !== config.realServers.length || (config.sorryServer !== undefined && ids.has(destId(config.sorryServer)));
    irregular.set(config, v);
  }
  return v;
}

/**
 * The destinations a service should have at `now`, from its members' states: desiredDests over the
 * members (service-policy.ts), built for a list recomputed on every batch of outcomes. A member keeps the
 * destination it was last given (`Member.dest`) and gets it again while its weight is the same, so a
 * recompute allocates only for the real servers whose weight changed, and an unchanged entry is the very
 * object of the previous list (diffDests compares those by identity first). Measured at 100,000 real
 * servers rising at start: the lists recomputed with a fresh object and id string per real server were
 * most of ~9 GB allocated in 45 s and a heap that peaked at 1.2 GB. The objects are shared with the
 * lists the scheduler hands out: nobody mutates them.
 */
export function computeDesired(config: ServiceConfig, members: readonly Member[], now: number): ServiceDesired {
  if (isIrregular(config)) {
    return desiredDests(config, members.map(({ rs, job }) => ({
      spec: rs.spec, up: job.state.up, weight: effectiveWeight(job.state, rs.spec.weight, config.slowStart, now),
    })));
  }
  let up = 0;
  for (const m of members) if (m.job.state.up) up++;
  const quorumMet = config.quorum === undefined || up >= config.quorum.minUp;
  const sorryActive = (quorumMet ? up : 0) === 0 && config.sorryServer !== undefined;
  const inhibit = config.onFailure === 'inhibit';
  const dests: DestSpec[] = [];
  for (const m of members) {
    const state = m.job.state;
    let weight: number;
    if (state.up && quorumMet) weight = effectiveWeight(state, m.rs.spec.weight, config.slowStart, now);
    else if (inhibit) weight = 0;
    else continue;
    const last = m.dest;
    if (last !== undefined && last.weight === weight) dests.push(last);
    else dests.push((m.dest = weight === m.rs.spec.weight ? m.rs.spec : destSpec(m.rs.spec, weight))); // at its configured weight: the config's own object
  }
  if (sorryActive) dests.push(config.sorryServer!);
  return { dests, up, quorumMet, sorryActive };
}
