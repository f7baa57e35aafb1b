/**
 * UDP check (keepalived's UDP_CHECK): send `payload` on a connected UDP socket and wait. An ICMP error (port
 * or host unreachable: ECONNREFUSED, EHOSTUNREACH ...) is down. A reply is judged when one is required
 * (`requireReply`, or `expectReply`): its length within [minReplyLength, maxReplyLength] and its first bytes
 * matching `expectReply`. No reply within the timeout is up, as keepalived has it, unless a reply is
 * required: a UDP service gives no other sign of life, and a silent drop cannot be told from a slow server.
 *
 * Through the addon when it is built (native/src/udp_probe.c): its socket has IP_RECVERR, so a router's
 * net or host unreachable and the director's own failed ARP/ND reach the check as errors. A Node dgram
 * socket (the fallback) only hears port unreachable: the others look like silence there, which is up.
 */
import type dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { nodeDgram } from '../../builtins.js';
import type { UdpCheck } from '../../config/types.js';
import { addressToBytes, loadNative } from '../../net/index.js';
import { localErrno } from '../local-failure.js';
import type { ProbeResult } from '../types.js';
import { closeQuietly, deadline, errorReason, localExtra, settleOnce, type Deadline } from './deadline.js';

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

interface UdpBinding {
  udpProbeOpen(destination: Buffer, port: number, payload: Buffer, callback: (item: Buffer | (Error & { errno?: number })) => void): object;
  udpProbeClose(handle: object): void;
}

let useNative = process.env.LVSD_UDP_PROBE !== 'socket';

/** Tests: force the dgram path (false) or the addon path (true, when built). */
export function setNativeUdpProbe(on: boolean): void {
  useNative = on;
}

function binding(): UdpBinding | undefined {
  if (!useNative) return undefined;
  try {
    const b = loadNative() as unknown as Partial<UdpBinding>;
    return typeof b.udpProbeOpen === 'function' ? (b as UdpBinding) : undefined;
  } catch {
    return undefined;
  }
}

function errnoName(errno: number | undefined): string {
  if (typeof errno !== 'number') return 'EIO';
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

export function probeUdp(check: UdpProbeOptions, signal?: AbortSignal): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  const payload = Buffer.from(check.payload.replace(/\s+/g, ''), 'hex');
  const native = binding();
  return native ? probeUdpNative(native, check, d, payload) : probeUdpSocket(check, d, payload);
}

/** The silence verdict when the deadline fires (up unless a reply is required), or 'aborted'. */
function onDeadline(check: UdpProbeOptions, d: Deadline): ProbeResult {
  const why = d.reason();
  if (why.startsWith('timeout') && !check.requireReply) return d.result(true, `no reply, no ICMP error in ${why.slice(14)}`);
  return d.result(false, check.requireReply && why.startsWith('timeout') ? `no reply: ${why}` : why);
}

function probeUdpNative(native: UdpBinding, check: UdpProbeOptions, d: Deadline, payload: Buffer): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let handle: object | undefined;
    const { finish, watch } = settleOnce(d, resolve, () => {
      if (handle) native.udpProbeClose(handle);
    }, () => onDeadline(check, d));
    if (d.signal.aborted) return void watch();
    try {
      handle = native.udpProbeOpen(addressToBytes(check.address), check.port, payload, (item) => {
        if (Buffer.isBuffer(item)) {
          const v = judgeReply(check, item);
          return finish(d.result(v.ok, v.reason));
        }
        const name = errnoName(item.errno);
        const local = localErrno(name);
        finish(d.result(false, `udp ${name}`, local ? { local } : undefined));
      });
    } catch (err) {
      const e = err as { errno?: number; syscall?: string; message?: string };
      if (typeof e.errno !== 'number') return finish(d.result(false, `udp ${e.message ?? String(err)}`));
      const name = errnoName(e.errno);
      const local = localErrno(name);
      return finish(d.result(false, `${e.syscall === 'send' ? 'send' : 'udp'} ${name}`, local ? { local } : undefined));
    }
    watch();
  });
}

function probeUdpSocket(check: UdpProbeOptions, d: Deadline, payload: Buffer): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let sock: dgram.Socket | undefined;
    // silence is up unless a reply is required: only an ICMP error says the port is closed
    const { finish, settled, watch } = settleOnce(d, resolve, () => closeQuietly(sock), () => onDeadline(check, d));
    try {
      sock = nodeDgram().createSocket(isIPv6(check.address) ? 'udp6' : 'udp4');
    } catch (err) {
      return finish(d.result(false, errorReason('udp', err), localExtra(err)));
    }
    if (!watch()) return;
    const open = sock;
    open.on('error', (err) => finish(d.result(false, errorReason('udp', err), localExtra(err))));
    open.on('message', (msg) => {
      const v = judgeReply(check, msg);
      finish(d.result(v.ok, v.reason));
    });
    open.connect(check.port, check.address, () => {
      if (!settled()) open.send(payload, (err) => err && finish(d.result(false, errorReason('send', err), localExtra(err))));
    });
  });
}
