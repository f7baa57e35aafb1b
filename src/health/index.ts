/**
 * src/health: probes real servers and turns the results into the destinations each service should have.
 * The daemon makes one HealthScheduler, starts it, feeds it reloads with update(), and applies what its
 * 'change' events (or desired()) say.
 */
export { HealthScheduler } from './scheduler.js';
export type {
  ChangeListener, HealthChange, HealthTransition, TcpWatcher, HealthInput, HealthSchedulerOptions, HealthSnapshot, PreparedHealth, ProbeHistogram,
  RealServerStatus, RealServerTransition, ServiceStatus,
} from './scheduler.js';
export { probe, parseAgentReply } from './checkers/index.js';
export { execIsolation, type ExecIsolation } from './checkers/exec.js';
export { LOCAL_ERRNOS, localErrno } from './local-failure.js';
export { desiredDests, diffDests } from './service-policy.js';
export type { DestChange, RealServerView, ServiceDesired, ServicePolicy } from './service-policy.js';
export {
  applyProbe, applyRun, effectiveWeight, initialState, nextRampAt, rampWeight, shareOf, statusOf, targetWeight, SLOW_START_STEPS,
} from './state.js';
export type { HealthStatus, ProbeOutcome, RealServerState, RiseFall, Transition } from './state.js';
export { checkKey, probeOffset, probeTarget, realServerKey } from './check-key.js';
export { Limiter } from './limiter.js';
export { ManualClock } from './clock.js';
export { systemClock } from './types.js';
export type { Clock, ProbeEnv, ProbeResult, ProbeTarget, Prober } from './types.js';
