/**
 * A config's probes and services as the scheduler's records: one Job per distinct probe (check + real
 * server + every check parameter, check-key.ts), shared by the services using it. No I/O: a job of the
 * running set whose identity is unchanged is reused (its state and schedule kept), nothing running is
 * mutated; a new job's state takes a slot of the StateTable (state-table.ts), which the scheduler frees when
 * the build is not installed.
 */
import type { ServiceConfig } from '../config/types.js';
import { destId, destSpec, type DestSpec } from '../table/index.js';
import { probeOffset, probeTarget, realServerKey } from './check-key.js';
import type { Job, ServiceEntry } from './job.js';
import type { HealthInput } from './scheduler-types.js';
import { desiredDests, type ServiceDesired } from './service-policy.js';
import { effectiveWeight, initialState } from './state.js';
import type { StateTable } from './state-table.js';

export interface Built {
  /** Jobs to add to the running set, and keys of jobs to take out of it (install applies both). */
  added: Map<string, Job>;
  deleted: string[];
  /** per job key, the services using it (set on the job when installed); only the jobs whose users changed */
  users: Map<string, Set<string>>;
  /** A whole build: every service's entry, in the config's order (the running ones kept included). */
  services?: Map<string, ServiceEntry>;
  /** A build of changes: entries that replace the running ones of the same names, where they stand. */
  patch?: Map<string, ServiceEntry>;
  /** The entries built (new or changed); every other entry is a running one kept as it is (same config object, same jobs). */
  built: ServiceEntry[];
  /** The running entries replaced or dropped. */
  dropped: ServiceEntry[];
  /** Running jobs no service uses any more. */
  removed: Job[];
  /** The jobs made by this build (their state slots are taken: freed if the build is not installed). */
  made: Job[];
}

/** The jobs of the services built, and the job keys whose users may have changed. */
class Builder {
  readonly added = new Map<string, Job>();
  /** Job keys whose users may differ from the running job's `services`. */
  readonly dirty = new Set<string>();
  /** Users of dirty keys among the services built here. */
  private readonly builtUsers = new Map<string, Set<string>>();
  readonly built: ServiceEntry[] = [];
  readonly dropped: ServiceEntry[] = [];
  private readonly droppedSet = new Set<ServiceEntry>();
  readonly made: Job[] = [];

  constructor(private readonly old: ReadonlyMap<string, Job>, private readonly states: StateTable, private readonly now: number) {}

  /** Frees the state slots of the jobs made (a build given up before it is handed out). */
  release(): void {
    for (const job of this.made) this.states.free(job.slot);
    this.made.length = 0;
  }

  /** A running entry that a built one replaces, or that is gone: the users of its jobs are counted again. */
  drop(before: ServiceEntry): void {
    if (this.droppedSet.has(before)) return;
    this.droppedSet.add(before);
    this.dropped.push(before);
    for (const job of before.jobs) this.dirty.add(job.key);
  }

  build(config: ServiceConfig): ServiceEntry {
    const jobs: Job[] = [];
    for (const rs of config.realServers) {
      const target = probeTarget(rs);
      const key = realServerKey(rs);
      let job = this.added.get(key) ?? this.old.get(key);
      if (!job) {
        const intervalMs = Math.max(1, rs.healthCheck.interval * 1000);
        // every field in the literal, those set later too: one added afterwards moves the object's
        // properties out of it (a property array per job, ~40 bytes)
        job = {
          key, check: rs.healthCheck, target, intervalMs,
          offsetMs: probeOffset(key, intervalMs),
          slot: this.states.alloc(initialState(rs.healthCheck.type === 'none' ? 'up' : config.initialState, this.now)),
          services: [],
          watchId: undefined, turn: undefined,
          alive: true,
        };
        this.added.set(key, job);
        this.made.push(job);
      }
      this.dirty.add(key);
      let names = this.builtUsers.get(key);
      if (!names) this.builtUsers.set(key, (names = new Set()));
      names.add(config.name);
      jobs.push(job);
    }
    const entry: ServiceEntry = { config, jobs, dests: undefined, desired: { dests: [], up: 0, quorumMet: false, sorryActive: false } };
    entry.desired = computeDesired(entry, this.states, this.now);
    this.built.push(entry);
    return entry;
  }

  /** The users of every dirty key: the running users still `kept`, and the services built. */
  finish(kept: (name: string) => boolean): Pick<Built, 'added' | 'deleted' | 'users' | 'built' | 'dropped' | 'removed' | 'made'> {
    const users = new Map<string, Set<string>>();
    const removed: Job[] = [];
    const deleted: string[] = [];
    for (const key of this.dirty) {
      const names = new Set<string>();
      // a kept service uses exactly the jobs it used before
      for (const name of this.old.get(key)?.services ?? []) if (kept(name)) names.add(name);
      for (const name of this.builtUsers.get(key) ?? []) names.add(name);
      if (names.size > 0) {
        users.set(key, names);
        continue;
      }
      deleted.push(key);
      const gone = this.old.get(key);
      if (gone !== undefined) removed.push(gone);
    }
    return { added: this.added, deleted, users, built: this.built, dropped: this.dropped, removed, made: this.made };
  }
}

/** A running entry that a build may keep for `config`: the same config object, and (a cheap check that none was taken out) its jobs all installed. */
function keeps(before: ServiceEntry | undefined, config: ServiceConfig): before is ServiceEntry {
  return before !== undefined && before.config === config && before.jobs.every((job) => job.alive);
}

/**
 * The jobs and services of a config at `now`, reusing `old` jobs by identity. A service whose config is the
 * very object `oldServices` holds (a reload reused it: config/service-memo.ts) and whose jobs all still run
 * keeps its running entry (jobs, desired list, ramp timer); only the jobs of services added, changed or
 * removed have their users counted again.
 */
export function buildJobs(
  input: HealthInput, old: ReadonlyMap<string, Job>, states: StateTable, now: number, oldServices: ReadonlyMap<string, ServiceEntry> = new Map(),
): Built {
  const b = new Builder(old, states, now);
  const services = new Map<string, ServiceEntry>();
  const kept = new Set<ServiceEntry>();
  for (const config of input.services) {
    const before = oldServices.get(config.name);
    if (keeps(before, config)) {
      services.set(config.name, before);
      kept.add(before);
      continue;
    }
    if (before !== undefined) b.drop(before);
    services.set(config.name, b.build(config));
  }
  for (const [name, before] of oldServices) if (services.get(name) !== before) b.drop(before);
  return { ...b.finish((name) => kept.has(services.get(name)!)), services };
}

/**
 * What buildJobs gives for the running services with `changed` put in place of the running services of
 * the same names (a reload that changed those alone: daemon/service-delta.ts), built in proportion to the
 * change: the running entries of every other service are kept without a look at each. Undefined when a
 * name is not running, or given twice: build the whole config then.
 */
export function buildChanges(
  changed: readonly ServiceConfig[], old: ReadonlyMap<string, Job>, states: StateTable, now: number, oldServices: ReadonlyMap<string, ServiceEntry>,
): Built | undefined {
  const b = new Builder(old, states, now);
  const patch = new Map<string, ServiceEntry>();
  const seen = new Set<string>();
  for (const config of changed) {
    const before = oldServices.get(config.name);
    if (before === undefined || seen.has(config.name)) {
      b.release();
      return undefined;
    }
    seen.add(config.name);
    if (keeps(before, config)) continue;
    b.drop(before);
    patch.set(config.name, b.build(config));
  }
  return { ...b.finish((name) => !patch.has(name) && oldServices.has(name)), patch };
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
 * The destinations a service should have at `now`, from its real servers' states: desiredDests over them
 * (service-policy.ts), built for a list recomputed on every batch of outcomes. A real server keeps the
 * destination it was last given (`ServiceEntry.dests`) and gets it again while its weight is the same, so a
 * recompute allocates only for the real servers whose weight changed, and an unchanged entry is the very
 * object of the previous list (diffDests compares those by identity first). Measured at 100,000 real
 * servers rising at start: the lists recomputed with a fresh object and id string per real server were
 * most of ~9 GB allocated in 45 s and a heap that peaked at 1.2 GB. The objects are shared with the
 * lists the scheduler hands out: nobody mutates them.
 */
export function computeDesired(svc: ServiceEntry, states: StateTable, now: number): ServiceDesired {
  const { config, jobs } = svc;
  const rss = config.realServers;
  if (isIrregular(config)) {
    return desiredDests(config, rss.map((rs, i) => ({
      spec: rs.spec, up: states.up(jobs[i]!.slot), weight: effectiveWeight(states.read(jobs[i]!.slot), rs.spec.weight, config.slowStart, now),
    })));
  }
  let up = 0;
  for (const job of jobs) if (states.up(job.slot)) up++;
  const quorumMet = config.quorum === undefined || up >= config.quorum.minUp;
  const sorryActive = (quorumMet ? up : 0) === 0 && config.sorryServer !== undefined;
  const inhibit = config.onFailure === 'inhibit';
  const dests: DestSpec[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const slot = jobs[i]!.slot;
    const spec = rss[i]!.spec;
    let weight: number;
    if (states.up(slot) && quorumMet) weight = effectiveWeight(states.read(slot), spec.weight, config.slowStart, now);
    else if (inhibit) weight = 0;
    else continue;
    // the last entry given (the configured destination itself where none other is kept)
    const last = svc.dests?.[i] ?? spec;
    if (last.weight === weight) {
      dests.push(last);
      continue;
    }
    // at its configured weight: the config's own object
    const made = weight === spec.weight ? spec : destSpec(spec, weight);
    (svc.dests ??= new Array<DestSpec | undefined>(jobs.length))[i] = made === spec ? undefined : made;
    dests.push(made);
  }
  if (sorryActive) dests.push(config.sorryServer!);
  return { dests, up, quorumMet, sorryActive };
}
