/**
 * UDP check (keepalived's UDP_CHECK): send `payload` on a connected UDP socket and wait. An ICMP error (port
 * or host unreachable: ECONNREFUSED, EHOSTUNREACH ...) is down. A reply is judged when one is required
 * (`requireReply`, or `expectReply`): its length within [minReplyLength, maxReplyLength] and its first bytes
 * matching `expectReply`. No reply within the timeout is up, as keepalived has it, unless a reply is
 * required: a UDP service gives no other sign of life, and a silent drop cannot be told from a slow server.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { UdpCheck } from '../../config/types.js';
import type { ProbeResult } from '../types.js';
import { deadline, errorReason, localExtra } from './deadline.js';

export type UdpProbeOptions = Pick<UdpCheck,
  'address' | 'port' | 'timeout' | 'payload' | 'requireReply' | 'expectReply' | 'minReplyLength' | 'maxReplyLength'>;

/**
 * Whether `reply` matches `pattern` (hex pairs, `x` for a nibble that may be anything) over the shorter of
 * the two, as keepalived compares: a length is checked separately (minReplyLength).
 */
export function replyMatches(reply: Uint8Array, pattern: string): boolean {
  const n = Math.min(reply.length, pattern.length >> 1);
  for (let i = 0; i < n; i++) {
    const byte = reply[i]!;
    const hi = pattern[2 * i]!;
    const lo = pattern[2 * i + 1]!;
    if (hi !== 'x' && hi !== 'X' && parseInt(hi, 16) !== byte >> 4) return false;
    if (lo !== 'x' && lo !== 'X' && parseInt(lo, 16) !== (byte & 15)) return false;
  }
  return true;
}

/** The verdict on one reply datagram. */
export function judgeReply(check: UdpProbeOptions, reply: Uint8Array): { ok: boolean; reason: string } {
  if (!check.requireReply && check.expectReply === undefined) return { ok: true, reason: `reply ${reply.length} bytes` };
  if (reply.length < check.minReplyLength || reply.length > check.maxReplyLength) {
    return { ok: false, reason: `reply ${reply.length} bytes, outside ${check.minReplyLength}-${check.maxReplyLength}` };
  }
  if (check.expectReply !== undefined && !replyMatches(reply, check.expectReply)) return { ok: false, reason: 'reply mismatch' };
  return { ok: true, reason: `reply ${reply.length} bytes` };
}

export function probeUdp(check: UdpProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  const payload = Buffer.from(check.payload.replace(/\s+/g, ''), 'hex');
  return new Promise((resolve) => {
    let sock: dgram.Socket;
    let settled = false;
    const finish = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      d.done();
      d.signal.removeEventListener('abort', onAbort);
      try {
        sock?.close();
      } catch {
        /* already closed */
      }
      resolve(r);
    };
    const onAbort = () => {
      const why = d.reason();
      // silence is up unless a reply is required: only an ICMP error says the port is closed
      if (why.startsWith('timeout') && !check.requireReply) return finish(d.result(true, `no reply, no ICMP error in ${why.slice(14)}`));
      finish(d.result(false, check.requireReply && why.startsWith('timeout') ? `no reply: ${why}` : why));
    };
    try {
      sock = dgram.createSocket(isIPv6(check.address) ? 'udp6' : 'udp4');
    } catch (err) {
      return finish(d.result(false, errorReason('udp', err), localExtra(err)));
    }
    if (d.signal.aborted) return onAbort();
    d.signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (err) => finish(d.result(false, errorReason('udp', err), localExtra(err))));
    sock.on('message', (msg) => {
      const v = judgeReply(check, msg);
      finish(d.result(v.ok, v.reason));
    });
    sock.connect(check.port, check.address, () => {
      if (!settled) sock.send(payload, (err) => err && finish(d.result(false, errorReason('send', err), localExtra(err))));
    });
  });
}
