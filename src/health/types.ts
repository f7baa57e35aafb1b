/**
 * What a health probe reports, and the small seams (prober, clock) that keep the pure parts of src/health
 * free of I/O and real time.
 */
import type { HealthCheckConfig, HealthGlobalConfig } from '../config/types.js';
import { timerDelay } from '../timer-delay.js';

/** The outcome of one probe. A probe never throws: every failure is `ok: false` with a reason. */
export interface ProbeResult {
  ok: boolean;
  /** Wall time the probe took, milliseconds. */
  latencyMs: number;
  /** Short human text: 'connect ECONNREFUSED', 'status 503', 'body mismatch', 'timeout after 1000ms', 'exit 1'. */
  reason: string;
  /** Agent: the share of the configured weight the server asks for (75 for `75%`). */
  weightPercent?: number;
  /** Exec with dynamicWeight: an absolute weight (exit code - 2). */
  weight?: number;
  /** Agent said `drain`: stay up with weight 0. */
  drain?: boolean;
  /** Agent said `maint`: down for maintenance. */
  maint?: boolean;
  /** Exec: captured stdout+stderr, bounded; agent: the line read. */
  output?: string;
  /**
   * Set (to the errno name: 'EMFILE', 'EADDRNOTAVAIL' ...) when the probe failed because of the director
   * itself, not the real server (local-failure.ts): the result does not count for or against the server.
   */
  local?: string;
}

/** The real server a probe is about (exec appends these; the check's own address/port is what is probed). */
export interface ProbeTarget {
  address: string;
  port: number;
}

/** Settings from HealthGlobalConfig a probe may need. */
export type ProbeEnv = Partial<Pick<HealthGlobalConfig, 'execUser' | 'execOutputLimit'>>;

export type Prober = (
  check: HealthCheckConfig,
  target: ProbeTarget,
  signal: AbortSignal,
  env?: ProbeEnv,
) => Promise<ProbeResult>;

export type TimerHandle = unknown;

/** Time as the scheduler sees it: milliseconds since the epoch, and timers. Injected so tests use virtual time. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, timerDelay(ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
