/**
 * The time limit every probe runs under: one AbortSignal that fires on the check's timeout or on the
 * caller's signal, whichever comes first, and a result builder that measures latency.
 */
import { createConnection, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { localErrno } from '../local-failure.js';
import type { ProbeResult } from '../types.js';
import { timerDelay } from '../../timer-delay.js';

export interface Deadline {
  /** Aborted when the timeout passes or the caller aborts. */
  signal: AbortSignal;
  /** The reason to report when `signal` fired: 'timeout after 2000ms' or 'aborted'. */
  reason(): string;
  /** A result stamped with the time since the deadline was made. */
  result(ok: boolean, reason: string, extra?: Partial<ProbeResult>): ProbeResult;
  /** Clears the timer; call when the probe is over. */
  done(): void;
}

export function deadline(timeoutSeconds: number, outer?: AbortSignal): Deadline {
  const started = performance.now();
  const ms = Math.max(1, timerDelay(Math.round(timeoutSeconds * 1000)));
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort(new Error(`timeout after ${ms}ms`));
  }, ms);
  const onOuter = () => ctl.abort(new Error('aborted'));
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: ctl.signal,
    reason: () => (timedOut ? `timeout after ${ms}ms` : 'aborted'),
    result: (ok, reason, extra) => ({
      ok,
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      reason,
      ...extra,
    }),
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

/** How a probe settles: exactly once, whatever ends it first (its own outcome, an error, the deadline). */
export interface Settlement {
  /** Settles with `r` the first time: clears the deadline, runs the cleanup, resolves. Later calls do nothing. */
  finish(r: ProbeResult): void;
  /** Whether the probe has settled. */
  settled(): boolean;
  /** Settles with the deadline's result when it fires; at once (returning false) when it already has. */
  watch(): boolean;
}

/**
 * The settle-once discipline every checker follows. `cleanup` releases what the probe holds (socket, child,
 * request); `onDeadline` builds the result when the deadline fires (default: failed, with the deadline's reason).
 */
export function settleOnce(
  d: Deadline,
  resolve: (r: ProbeResult) => void,
  cleanup: () => void,
  onDeadline: () => ProbeResult = () => d.result(false, d.reason()),
): Settlement {
  let settled = false;
  const onAbort = () => finish(onDeadline());
  function finish(r: ProbeResult): void {
    if (settled) return;
    settled = true;
    d.done();
    d.signal.removeEventListener('abort', onAbort);
    cleanup();
    resolve(r);
  }
  return {
    finish,
    settled: () => settled,
    watch: () => {
      if (d.signal.aborted) {
        onAbort();
        return false;
      }
      d.signal.addEventListener('abort', onAbort, { once: true });
      return true;
    },
  };
}

/** Closes a datagram socket that may already be closed. */
export function closeQuietly(sock: { close(): unknown } | undefined): void {
  try {
    sock?.close();
  } catch {
    /* already closed */
  }
}

/** `{ local: 'EMFILE' }` when the error is the director's own (local-failure.ts), else nothing. */
export function localExtra(err: unknown): Partial<ProbeResult> {
  const local = localErrno((err as { code?: string } | undefined)?.code);
  return local ? { local } : {};
}

/** 'connect ECONNREFUSED' from a socket error; the code when there is one, else the message. */
export function errorReason(prefix: string, err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `${prefix} ${e?.code ?? e?.message ?? String(err)}`;
}

/** What a TCP-based checker gets to drive its exchange: the socket, and `finish` to settle the probe once. */
export interface ProbeConnection {
  sock: Socket;
  finish(result: ProbeResult): void;
}

/**
 * Connects to `address:port` under the deadline and settles exactly once: by `finish`, a socket error
 * ('connect X' before the connection, 'read X' after), the timeout or the caller's abort. The socket is
 * always destroyed and the deadline cleared. `exchange` wires the checker's own events (connect, data, end).
 */
export function probeOverTcp(
  target: { address: string; port: number },
  d: Deadline,
  exchange: (conn: ProbeConnection) => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: target.address, port: target.port });
    let connected = false;
    const { finish, watch } = settleOnce(d, resolve, () => sock.destroy());
    if (!watch()) return;
    sock.on('error', (err) => finish(d.result(false, errorReason(connected ? 'read' : 'connect', err), localExtra(err))));
    sock.once('connect', () => { connected = true; });
    exchange({ sock, finish });
  });
}
