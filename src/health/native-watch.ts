/**
 * The scheduler's side of TCP checks the addon runs by itself (src/net/tcp-probe.ts watches): what a watch
 * is asked to do, what its told outcomes mean, what status shows of it and what metrics count of it.
 *
 * The addon folds outcomes in C (native/src/tcp_watch.c) and tells only those that can change something:
 * a run's first (the verdict flipped), the one reaching rise or fall, a new errno, and this host's own
 * failures (local-failure.ts). So a thousand healthy servers a second cost JavaScript nothing; status reads
 * the addon's last outcome per watch, and the metrics' counts and latency histogram are pulled at scrape.
 */
import type { TcpWatchOptions, TcpWatchState } from '../net/index.js';
import type { TcpWatcher } from './scheduler-types.js';
import { tcpOutcomeResult } from './checkers/tcp.js';
import type { Job } from './job.js';
import type { RealServerStatus } from './scheduler-types.js';
import type { RealServerState } from './state.js';

export function timeoutMsOf(job: Job): number {
  return Math.max(1, Math.round(job.check.timeout * 1000));
}

/** The watch for a job's first turn `firstInMs` from now, carrying on the run its state has counted. */
export function watchOptions(job: Job, state: RealServerState, firstInMs: number): TcpWatchOptions {
  const { check } = job;
  const o: TcpWatchOptions = {
    address: check.address, port: check.port, intervalMs: job.intervalMs, timeoutMs: timeoutMsOf(job),
    firstInMs, rise: check.rise, fall: check.fall, reset: check.type === 'tcp' && check.close === 'reset',
  };
  const run = runOf(state);
  if (run) o.run = run;
  return o;
}

function runOf(s: RealServerState): { ok: boolean; n: number } | undefined {
  if (s.successes > 0) return { ok: true, n: s.successes };
  if (s.failures > 0) return { ok: false, n: s.failures };
  return undefined;
}

/** A status row with what the addon last saw of the job's watch (its runs and last outcome live there). */
export function overlayWatch(row: RealServerStatus, job: Job, seen: TcpWatchState | undefined, now: number): void {
  if (!seen) return;
  row.successes = seen.ok ? seen.run : 0;
  row.failures = seen.ok ? 0 : seen.run;
  row.lastProbeAt = Math.round(now - seen.agoMs);
  const result = tcpOutcomeResult(seen.errno, seen.latencyMs, timeoutMsOf(job));
  row.lastResult = result;
  row.latencyMs = result.latencyMs;
}

/** Per job's watch, the outcomes the addon counted since the last call: (job, connected, failed). */
export function takeWatchCounts(watcher: TcpWatcher, jobs: Iterable<Job>, each: (job: Job, ok: number, failed: number) => void): void {
  watcher.pullCounts();
  for (const job of jobs) {
    if (job.watchId === undefined) continue;
    const [ok, failed] = watcher.takeCounts(job.watchId);
    if (ok > 0 || failed > 0) each(job, ok, failed);
  }
}
