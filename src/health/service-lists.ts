/**
 * The services the health checker knows and the destination list each should have: recomputed when its
 * real servers' states change (a probe's new state is told to them and logged per real server; recomputed
 * once per batch of outcomes the addon delivers: `fold`), on a slow-start step (one timer per service), and
 * told as 'change' (and 'quorum') events. Internal to src/health.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { destId, type DestSpec } from '../table/index.js';
import { computeDesired } from './build.js';
import type { Job, ServiceEntry } from './job.js';
import { FirstUpLog } from './first-up-log.js';
import { membersOf } from './members.js';
import type { HealthChange, HealthTransition, RealServerTransition } from './scheduler-types.js';
import { diffDests } from './service-policy.js';
import { effectiveWeight, nextRampAt, statusOf, type RealServerState, type Transition } from './state.js';
import type { StateTable } from './state-table.js';
import type { Clock, ProbeResult } from './types.js';

/** Where the lists' news goes (the scheduler's events). */
export interface ListEvents {
  /** `dests` is the list itself, not a copy: its objects are shared with the next recompute, never mutated. */
  change(service: string, dests: DestSpec[], change: HealthChange): void;
  quorum(service: string, met: boolean, up: number): void;
}

export class ServiceLists {
  /** The services by name, in the config's order; a commit replaces the map whole, or some entries in place (`install`). */
  entries = new Map<string, ServiceEntry>();
  running = false;
  /**
   * Services with transitions from the addon's current batch of outcomes, recomputed once each when the
   * batch has been read (a microtask: it runs after the addon's callback returns), or, while outcomes
   * told wait to be read in later turns (`hold`), once they all have been (or `hold.ms` after the first).
   */
  private readonly folded = new Map<ServiceEntry, HealthTransition[]>();
  private foldScheduled = false;
  /** When the first transition of those folded was (performance.now()). */
  private foldedSince = 0;
  /** Real servers up at their first check: one health.first_up line a second for them all. */
  private readonly firstUps: FirstUpLog;

  /**
   * `hold`: `waiting()` says outcomes told wait to be read in later turns (sliced-reader.ts); folded
   * transitions are then held until they have been read, `ms` at most. A batch of thousands (every real
   * server's first verdict at start) read a slice per turn otherwise recomputed each service, and the
   * daemon planned and sent it, once per slice: in the TCG VM a 100-server service's list per outcome or
   * two, and health passes of 1-10 operations each, ~100 weights a second while keepalived set ~500.
   */
  constructor(
    private readonly clock: Clock, private readonly log: Logger, private readonly states: StateTable, private readonly events: ListEvents,
    private readonly hold: { waiting: () => boolean; ms: number } = { waiting: () => false, ms: 0 },
  ) {
    this.firstUps = new FirstUpLog(clock, log);
  }

  /**
   * A probe's new state (`transition` when its status changed) told to the services using it: one
   * health.change line per real server it probes (a group's members share the probe: one line for the
   * group, not one per member), their lists recomputed (`fold`: once after the batch being read). Returns
   * the real servers' transitions, for the scheduler's 'transition' events. `first`: the probe had no
   * verdict before (never up or seen failing since it was made): up now, its real servers are counted in
   * the next health.first_up line (first-up-log.ts: one a second at most) instead of a health.change line each.
   */
  tell(job: Job, state: RealServerState, transition: Transition | undefined, result: ProbeResult, now: number, fold: boolean, first = false): RealServerTransition[] {
    const status = statusOf(state);
    const firstUp = first && transition?.to === 'up';
    let loggedGroups: Set<string> | undefined; // made only for a group's members (a Set per outcome was garbage)
    const transitions: RealServerTransition[] = [];
    for (const name of job.services) {
      const svc = this.entries.get(name);
      if (!svc) continue;
      const group = svc.config.group;
      const logIt = group === undefined || !loggedGroups?.has(group.name);
      if (group) (loggedGroups ??= new Set()).add(group.name);
      for (const i of logIt ? membersOf(svc, job) : []) {
        const rs = svc.config.realServers[i]!;
        const realServer = rs.shared?.id ?? destId(rs.spec);
        const weight = effectiveWeight(state, rs.spec.weight, svc.config.slowStart, now);
        if (firstUp) this.firstUps.record(group?.name ?? name, realServer, weight);
        else this.log.info({
          event: 'health.change', service: group?.name ?? name, ...(group && { members: group.size }), realServer,
          from: transition?.from ?? status, to: transition?.to ?? status,
          reason: result.reason, latencyMs: result.latencyMs, weight,
        });
        if (transition) transitions.push({ service: group?.name ?? name, realServer: rs, id: realServer, from: transition.from, to: transition.to, reason: result.reason });
      }
      const t: HealthTransition = {
        realServer: destId(job.target), from: transition?.from ?? status, to: transition?.to ?? status,
        reason: result.reason, latencyMs: result.latencyMs,
      };
      if (fold) this.fold(svc, t);
      else this.recompute(svc, { ...t, transitions: [t], changes: [] });
    }
    return transitions;
  }

  /** A transition of the batch being read: its service is recomputed once, after the batch. */
  fold(svc: ServiceEntry, t: HealthTransition): void {
    if (this.folded.size === 0) this.foldedSince = performance.now();
    const list = this.folded.get(svc);
    if (list) list.push(t);
    else this.folded.set(svc, [t]);
    if (this.foldScheduled) return;
    this.foldScheduled = true;
    queueMicrotask(() => this.settleFolded());
  }

  /**
   * After a batch (or a slice of one) was read: the services with transitions are recomputed, unless more
   * of the batch waits to be read and the first of them was folded less than `hold.ms` ago.
   */
  settleFolded(): void {
    this.foldScheduled = false;
    if (this.folded.size === 0) return;
    if (this.hold.waiting() && performance.now() - this.foldedSince < this.hold.ms) return;
    this.flushFolded();
  }

  /** Recomputes each service with transitions folded, once, now (a commit calls it first). */
  flushFolded(): void {
    this.foldScheduled = false;
    if (this.folded.size === 0) return;
    const batch = [...this.folded];
    this.folded.clear();
    for (const [svc, transitions] of batch) {
      // a reload (commit) replaced the service since: it recomputed every list from the probes' states
      if (!this.running || this.entries.get(svc.config.name) !== svc) continue;
      this.recompute(svc, { ...transitions[0]!, transitions, changes: [] });
    }
  }

  /** Drops the transitions not yet recomputed (stop); the real servers found up meanwhile are still logged. */
  dropFolded(): void {
    this.firstUps.flush();
    this.folded.clear();
  }

  recompute(svc: ServiceEntry, change: HealthChange): void {
    const now = this.clock.now();
    const before = svc.desired;
    const next = computeDesired(svc, this.states, now);
    svc.desired = next;
    const changes = diffDests(before.dests, next.dests);
    if (before.quorumMet !== next.quorumMet) {
      this.log.warn({ event: 'health.quorum', service: svc.config.name, met: next.quorumMet, up: next.up, minUp: svc.config.quorum?.minUp });
      this.events.quorum(svc.config.name, next.quorumMet, next.up);
    }
    if (before.sorryActive !== next.sorryActive) {
      this.log.warn({ event: 'health.sorry', service: svc.config.name, active: next.sorryActive, up: next.up });
    }
    this.armRamp(svc);
    if (changes.length === 0) return;
    this.events.change(svc.config.name, next.dests, { ...change, changes });
  }

  clearRamp(svc: ServiceEntry): void {
    if (svc.rampTimer !== undefined) this.clock.clearTimeout(svc.rampTimer);
    svc.rampTimer = undefined;
  }

  /** Sets one timer for the service's next slow-start step, if any real server is ramping. */
  armRamp(svc: ServiceEntry): void {
    this.clearRamp(svc);
    if (!this.running) return;
    const now = this.clock.now();
    let at: number | undefined;
    let who = -1;
    const rss = svc.config.realServers;
    for (let i = 0; i < rss.length; i++) {
      const t = nextRampAt(this.states.read(svc.jobs[i]!.slot), rss[i]!.spec.weight, svc.config.slowStart, now);
      if (t !== undefined && (at === undefined || t < at)) {
        at = t;
        who = i;
      }
    }
    if (at === undefined || who < 0) return;
    const m = { rs: rss[who]!, job: svc.jobs[who]! };
    svc.rampTimer = this.clock.setTimeout(() => {
      svc.rampTimer = undefined;
      if (!this.running || this.entries.get(svc.config.name) !== svc) return;
      const t = this.clock.now();
      const weight = effectiveWeight(this.states.read(m.job.slot), m.rs.spec.weight, svc.config.slowStart, t);
      this.log.debug({ event: 'health.slowstart', service: svc.config.name, realServer: destId(m.rs.spec), weight });
      const status = statusOf(this.states.read(m.job.slot));
      const tr: HealthTransition = { realServer: destId(m.rs.spec), from: status, to: status, reason: `slow start weight ${weight}`, latencyMs: 0 };
      this.recompute(svc, { ...tr, transitions: [tr], changes: [] });
    }, at - now);
  }
}
