/**
 * TCP check: up when a connection is accepted within the timeout. Through the addon's prober when it is
 * built (no net.Socket per probe: src/net/tcp-probe.ts), else with a plain socket. Both give the same
 * reasons: 'connected', 'connect ECONNREFUSED', 'timeout after 1000ms', 'aborted'. `close: 'reset'` ends the
 * connection with RST instead of FIN (SO_LINGER 0), so no probe leaves a TIME_WAIT socket on the director.
 */
import { getSystemErrorName } from 'node:util';
import type { TcpCheck } from '../../config/types.js';
import { ETIMEDOUT, sharedTcpProber, type TcpConnectOutcome, type TcpProber } from '../../net/index.js';
import { localErrno } from '../local-failure.js';
import type { ProbeResult } from '../types.js';
import { deadline, probeOverTcp } from './deadline.js';

type Target = Pick<TcpCheck, 'address' | 'port' | 'timeout' | 'close'>;

export function probeTcp(check: Target, signal?: AbortSignal): Promise<ProbeResult> {
  const prober = useNative ? sharedTcpProber() : undefined;
  if (!prober) return probeTcpSocket(check, signal);
  const ms = Math.max(1, Math.round(check.timeout * 1000));
  return prober.connect(check.address, check.port, ms, signal, check.close === 'reset').then((o) => tcpOutcomeResult(o.errno, o.latencyMs, ms));
}

/** The addon's prober for periodic TCP checks (the scheduler's watches), or undefined: not built, or turned off. */
export function nativeTcpWatcher(): TcpProber | undefined {
  return useNative ? sharedTcpProber() : undefined;
}

/** The same check over a net.Socket (no addon). */
export function probeTcpSocket(check: Target, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  return probeOverTcp(check, d, ({ sock, finish }) => {
    sock.once('connect', () => {
      if (check.close === 'reset') sock.resetAndDestroy(); // RST: no TIME_WAIT left here
      finish(d.result(true, 'connected'));
    });
  });
}

let useNative = process.env.LVSD_TCP_PROBE !== 'socket';

/** Tests: force the socket path (false) or the addon path (true, when built). */
export function setNativeTcpProbe(on: boolean): void {
  useNative = on;
}

/** An addon outcome (errno 0 connected, -1 aborted, ETIMEDOUT past the deadline) as a probe result. */
export function tcpOutcomeResult(errno: TcpConnectOutcome['errno'], latency: number, timeoutMs: number): ProbeResult {
  const latencyMs = Math.round(latency * 1000) / 1000;
  if (errno === 0) return { ok: true, latencyMs, reason: 'connected' };
  if (errno === -1) return { ok: false, latencyMs, reason: 'aborted' };
  if (errno === ETIMEDOUT) return { ok: false, latencyMs, reason: `timeout after ${timeoutMs}ms` };
  let name: string;
  try {
    name = getSystemErrorName(-errno);
  } catch {
    name = `errno ${errno}`;
  }
  const local = localErrno(name);
  return local ? { ok: false, latencyMs, reason: `connect ${name}`, local } : { ok: false, latencyMs, reason: `connect ${name}` };
}
