/**
 * PING check (keepalived's PING_CHECK): one ICMP or ICMPv6 echo request to the check's address through the
 * addon (src/net/icmp-probe.ts; no `ping` process); up when the matching echo reply arrives within the
 * timeout. Reasons: 'echo reply', 'timeout after 1000ms', 'send ENETUNREACH', 'icmp socket EPERM', 'aborted'.
 * A socket this host cannot open (out of descriptors; no ping_group_range and no CAP_NET_RAW) or a send it
 * cannot make for want of buffers is the director's failure, not the server's: `local` is set.
 */
import { getSystemErrorName } from 'node:util';
import type { PingCheck } from '../../config/types.js';
import { localErrno } from '../local-failure.js';
import type { ProbeResult } from '../types.js';
import { ETIMEDOUT, sharedIcmpProber, type EchoOutcome } from '../../net/index.js';

/** Opening an ICMP socket fails with these when this host lacks the right to: the director's own failure. */
const NOT_ALLOWED = new Set(['EACCES', 'EPERM', 'EPROTONOSUPPORT', 'EAFNOSUPPORT']);

export function probePing(check: Pick<PingCheck, 'address' | 'timeout'>, signal?: AbortSignal): Promise<ProbeResult> {
  const prober = sharedIcmpProber();
  const ms = Math.max(1, Math.round(check.timeout * 1000));
  if (!prober) return Promise.resolve({ ok: false, latencyMs: 0, reason: 'icmp socket: the native addon is not built', local: 'ENOSYS' });
  return prober.echo(check.address, ms, signal).then((o) => echoResult(o, ms));
}

/** An echo outcome as a probe result. */
export function echoResult(o: EchoOutcome, timeoutMs: number): ProbeResult {
  const latencyMs = Math.round(o.latencyMs * 1000) / 1000;
  if (o.errno === 0) return { ok: true, latencyMs, reason: 'echo reply' };
  if (o.errno === -1) return { ok: false, latencyMs, reason: 'aborted' };
  if (o.errno === ETIMEDOUT && o.stage === undefined) return { ok: false, latencyMs, reason: `timeout after ${timeoutMs}ms` };
  let name: string;
  try {
    name = getSystemErrorName(-o.errno);
  } catch {
    name = `errno ${o.errno}`;
  }
  const stage = o.stage === 'socket' ? 'icmp socket' : o.stage ?? 'send';
  const local = localErrno(name) ?? (o.stage === 'socket' && NOT_ALLOWED.has(name) ? name : undefined);
  return local ? { ok: false, latencyMs, reason: `${stage} ${name}`, local } : { ok: false, latencyMs, reason: `${stage} ${name}` };
}
