/**
 * The health of one probed real server, as pure data and pure functions of (state, probe result, now):
 * rise/fall counting, transitions with reasons, the agent's and exec's weight, and the slow-start ramp.
 * No I/O and no clock of its own; the scheduler feeds it results and the time.
 */
import type { ProbeResult } from './types.js';

/** What a real server is, for logs and status: down/maint take it out, drain keeps it in with weight 0. */
export type HealthStatus = 'up' | 'down' | 'drain' | 'maint';

export interface RealServerState {
  up: boolean;
  /** Consecutive successful probes (reset by a failure). */
  successes: number;
  /** Consecutive failed probes (reset by a success). */
  failures: number;
  /** When the status last changed (or the state was made), ms. */
  since: number;
  /** Why the status last changed ('initial' at first). */
  reason: string;
  /** When it last went from down to up; the slow-start ramp runs from here. Absent when it started up. */
  upSince?: number;
  lastResult?: ProbeResult;
  lastProbeAt?: number;
  /** The agent's last `N%`; sticky until the agent says another. */
  weightPercent?: number;
  /** The exec check's dynamic weight from the latest success; absent = the configured weight. */
  dynamicWeight?: number;
  drain: boolean;
  maint: boolean;
}

export interface RiseFall {
  rise: number;
  fall: number;
}

export interface Transition {
  from: HealthStatus;
  to: HealthStatus;
  reason: string;
}

export interface ProbeOutcome {
  state: RealServerState;
  /** Set when the status changed. */
  transition?: Transition;
  /** The weight inputs (agent share, dynamic weight, drain) changed, whatever the status did. */
  weightChanged: boolean;
}

/** At most this many weight steps in a slow-start ramp, so the kernel is not hammered. */
export const SLOW_START_STEPS = 10;

/**
 * A state with every field present, in one order (optional ones undefined): every real server's state then
 * shares one hidden class in V8. A spread copy with a field added (`{ ...s, lastProbeAt }`) gave each of
 * them a class of its own: ~0.7 MiB of classes and 0.4 MiB of property arrays per 10,000 real servers.
 */
function makeState(
  s: Omit<RealServerState, 'lastResult' | 'lastProbeAt'>, lastResult: ProbeResult | undefined, lastProbeAt: number | undefined,
): RealServerState {
  return {
    up: s.up, successes: s.successes, failures: s.failures, since: s.since, reason: s.reason, upSince: s.upSince,
    lastResult, lastProbeAt, weightPercent: s.weightPercent, dynamicWeight: s.dynamicWeight, drain: s.drain, maint: s.maint,
  };
}

export function initialState(initial: 'up' | 'down', now: number): RealServerState {
  return makeState({ up: initial === 'up', successes: 0, failures: 0, since: now, reason: 'initial', drain: false, maint: false }, undefined, undefined);
}

export function statusOf(s: RealServerState): HealthStatus {
  if (!s.up) return s.maint ? 'maint' : 'down';
  return s.drain ? 'drain' : 'up';
}

/**
 * Folds one probe result into the state. Going up takes `rise` consecutive successes; going down takes `fall`
 * consecutive failures, except `maint` from an agent, which takes effect at once. Drain and weights from a
 * successful probe apply at once.
 */
export function applyProbe(s: RealServerState, result: ProbeResult, rf: RiseFall, now: number): ProbeOutcome {
  const before = statusOf(s);
  const next = makeState(s, result, now);
  if (result.ok) {
    next.successes = s.successes + 1;
    next.failures = 0;
    next.maint = false;
    next.drain = result.drain === true;
    if (result.weightPercent !== undefined) next.weightPercent = result.weightPercent;
    if (result.weight !== undefined) next.dynamicWeight = result.weight;
    else next.dynamicWeight = undefined;
    if (!s.up && next.successes >= Math.max(1, rf.rise)) {
      next.up = true;
      next.upSince = now;
    }
  } else {
    next.failures = s.failures + 1;
    next.successes = 0;
    if (result.maint) next.maint = true;
    if (s.up && (next.failures >= Math.max(1, rf.fall) || result.maint)) next.up = false;
  }
  const after = statusOf(next);
  const weightChanged =
    next.weightPercent !== s.weightPercent || next.dynamicWeight !== s.dynamicWeight || next.drain !== s.drain;
  if (after === before) return { state: next, weightChanged };
  next.since = now;
  next.reason = result.reason;
  return { state: next, transition: { from: before, to: after, reason: result.reason }, weightChanged };
}

/**
 * Folds a result that is the `run`-th in a row with its verdict, the ones before it in the run not seen
 * one by one (the addon's TCP watches tell only the outcomes that can change something: native/src/tcp_watch.c).
 * The same as applying the whole run with applyProbe: the counts come from `run`, not from the state.
 * The state keeps no last result or probe time: the addon keeps the last outcome of its watch, and status
 * reads it there (native-watch.ts overlayWatch); kept here too they were ~80 bytes per real server (the
 * result, its latency and the time as boxed numbers).
 */
export function applyRun(s: RealServerState, result: ProbeResult, run: number, rf: RiseFall, now: number): ProbeOutcome {
  const before = Math.max(0, run - 1);
  const prior = makeState(s, undefined, undefined);
  prior.successes = result.ok ? before : 0;
  prior.failures = result.ok ? 0 : before;
  const out = applyProbe(prior, result, rf, now);
  out.state.lastResult = undefined;
  out.state.lastProbeAt = undefined;
  return out;
}

/** `percent` of `configured`, rounded; a non-zero share of a non-zero weight is at least 1. */
export function shareOf(configured: number, percent: number): number {
  if (configured <= 0 || percent <= 0) return 0;
  return Math.max(1, Math.round((configured * percent) / 100));
}

/** The weight the server should have once fully up: configured, or the agent's share, or exec's; 0 if draining. */
export function targetWeight(s: RealServerState, configured: number): number {
  if (s.drain) return 0;
  if (s.dynamicWeight !== undefined) return s.dynamicWeight;
  if (s.weightPercent !== undefined) return shareOf(configured, s.weightPercent);
  return configured;
}

function rampStep(target: number, elapsedMs: number, totalMs: number): { steps: number; k: number } {
  const steps = Math.min(SLOW_START_STEPS, target);
  const k = Math.min(steps, Math.floor((Math.max(0, elapsedMs) * steps) / totalMs));
  return { steps, k };
}

/**
 * The slow-start weight `elapsedMs` after recovery: steps of target/steps (at most SLOW_START_STEPS steps)
 * spaced slowStart/steps apart, starting at 1 (not 0, which would quiesce the server) and reaching the target
 * exactly slowStart seconds after recovery.
 */
export function rampWeight(target: number, elapsedMs: number, slowStartSeconds: number): number {
  const totalMs = slowStartSeconds * 1000;
  if (target <= 0) return 0;
  if (totalMs <= 0 || elapsedMs >= totalMs) return target;
  const { steps, k } = rampStep(target, elapsedMs, totalMs);
  return Math.max(1, Math.ceil((target * k) / steps));
}

/** The weight the kernel should have for this server now: 0 when down, else the target, ramped if recovering. */
export function effectiveWeight(s: RealServerState, configured: number, slowStartSeconds: number, now: number): number {
  if (!s.up) return 0;
  const target = targetWeight(s, configured);
  if (s.upSince === undefined || slowStartSeconds <= 0) return target;
  return rampWeight(target, now - s.upSince, slowStartSeconds);
}

/** When the slow-start weight will next change (ms, always > now), or undefined when it will not. */
export function nextRampAt(s: RealServerState, configured: number, slowStartSeconds: number, now: number): number | undefined {
  if (!s.up || s.upSince === undefined || slowStartSeconds <= 0) return undefined;
  const target = targetWeight(s, configured);
  const totalMs = slowStartSeconds * 1000;
  const elapsed = now - s.upSince;
  if (target <= 0 || elapsed >= totalMs) return undefined;
  const { steps, k } = rampStep(target, elapsed, totalMs);
  const at = s.upSince + Math.ceil(((k + 1) * totalMs) / steps);
  return Math.max(at, now + 1);
}
