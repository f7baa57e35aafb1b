/**
 * ICMP / ICMPv6 echo probes through the addon (native/src/icmp_socket.c): one socket per family for every
 * probe, opened on first use, read on the event loop. The addon only moves messages; here each probe gets a
 * sequence number and a payload carrying this prober's random token and the probe's 32-bit counter, and a
 * reply counts only when it is an echo reply from the probed address with that token and counter (a ping
 * socket rewrites the id, and a raw socket sees every reply the host gets). Deadlines are timers here.
 *
 * `echo()` resolves `{ errno, latencyMs }` and never rejects: errno 0 when the reply came, ETIMEDOUT when
 * the deadline passed first, -1 when aborted, else why the request could not go out (the socket could not
 * be opened: EACCES/EPERM without ping_group_range or CAP_NET_RAW, EMFILE ...; the send failed:
 * ENETUNREACH, EHOSTUNREACH, ENOBUFS ...). `stage` says which ('socket', 'send' or 'recv').
 */
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { nodeCrypto } from '../builtins.js';
import { timerDelay } from '../timer-delay.js';
import { addressToBytes, familyOf } from './address.js';
import { loadNative } from './native.js';

export interface EchoOutcome {
  /** 0: a reply; ETIMEDOUT: none before the deadline; -1: aborted; else the errno of `stage` */
  errno: number;
  latencyMs: number;
  stage?: 'socket' | 'send' | 'recv';
}

interface IcmpBinding {
  icmpOpen(family: 4 | 6, callback: (items: Array<Buffer | (Error & { errno?: number; stopped?: boolean })>) => void): object;
  icmpSend(handle: object, destination: Buffer, message: Buffer): number;
  icmpClose(handle: object): void;
  icmpRef(handle: object, ref: boolean): void;
}

const ETIMEDOUT = constants.errno.ETIMEDOUT;
const TOKEN_BYTES = 8;
const PAYLOAD_BYTES = 16; // token, counter, 4 bytes of zero

/** The internet checksum (RFC 1071) of `b`. */
export function internetChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2 === 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An echo request: type 8 (ICMP) or 128 (ICMPv6), the id and sequence, the token and counter as payload. */
export function buildEchoRequest(family: 4 | 6, id: number, counter: number, token: Uint8Array): Buffer {
  const m = Buffer.alloc(8 + PAYLOAD_BYTES);
  m[0] = family === 4 ? 8 : 128;
  m.writeUInt16BE(id & 0xffff, 4);
  m.writeUInt16BE(counter & 0xffff, 6);
  m.set(token, 8);
  m.writeUInt32BE(counter >>> 0, 8 + TOKEN_BYTES);
  // ICMPv6's checksum covers a pseudo-header the kernel knows: it fills it in (ping and raw sockets alike)
  if (family === 4) m.writeUInt16BE(internetChecksum(m), 2);
  return m;
}

/** The probe counter an echo reply answers, if it is one of ours (type, token, sequence consistent). */
export function echoReplyCounter(family: 4 | 6, message: Uint8Array, token: Uint8Array): number | undefined {
  if (message.length < 8 + PAYLOAD_BYTES || message[0] !== (family === 4 ? 0 : 129) || message[1] !== 0) return undefined;
  for (let i = 0; i < TOKEN_BYTES; i++) if (message[8 + i] !== token[i]) return undefined;
  const view = Buffer.from(message.buffer, message.byteOffset, message.length);
  const counter = view.readUInt32BE(8 + TOKEN_BYTES);
  return view.readUInt16BE(6) === (counter & 0xffff) ? counter : undefined;
}

interface Pending {
  family: 4 | 6;
  address: Buffer;
  started: number;
  timer: NodeJS.Timeout;
  finish(o: EchoOutcome): void;
}

interface Sock {
  handle: object;
}

export class IcmpProber {
  private readonly native: IcmpBinding;
  private readonly token = nodeCrypto().randomBytes(TOKEN_BYTES);
  private readonly id = nodeCrypto().randomBytes(2).readUInt16BE(0);
  private counter = nodeCrypto().randomBytes(4).readUInt32BE(0);
  private readonly pending = new Map<number, Pending>();
  private readonly socks: { 4?: Sock; 6?: Sock } = {};
  /** probes waiting for a reply, per family: the socket keeps the loop alive while its count is above 0 */
  private readonly waiting = { 4: 0, 6: 0 };

  constructor() {
    this.native = loadNative() as unknown as IcmpBinding;
  }

  get underWay(): number {
    return this.pending.size;
  }

  /** One echo to `address`, answered within `timeoutMs` or not. Never rejects. */
  echo(address: string, timeoutMs: number, signal?: AbortSignal): Promise<EchoOutcome> {
    const started = performance.now();
    if (signal?.aborted) return Promise.resolve({ errno: -1, latencyMs: 0 });
    const family = familyOf(address) === 'ipv6' ? 6 : 4;
    let dst: Buffer;
    try {
      dst = addressToBytes(address);
    } catch {
      return Promise.resolve({ errno: constants.errno.EINVAL, latencyMs: 0, stage: 'send' });
    }
    const sock = this.socket(family);
    if (typeof sock === 'number') return Promise.resolve({ errno: sock, latencyMs: performance.now() - started, stage: 'socket' });
    const counter = (this.counter = (this.counter + 1) >>> 0);
    const rc = this.native.icmpSend(sock.handle, dst, buildEchoRequest(family, this.id, counter, this.token));
    if (rc < 0) return Promise.resolve({ errno: -rc, latencyMs: performance.now() - started, stage: 'send' });
    return new Promise<EchoOutcome>((resolve) => {
      const onAbort = () => p.finish({ errno: -1, latencyMs: performance.now() - started });
      const p: Pending = {
        family,
        address: dst,
        started,
        timer: setTimeout(() => p.finish({ errno: ETIMEDOUT, latencyMs: performance.now() - started }), timerDelay(Math.max(1, timeoutMs))),
        finish: (o) => {
          if (this.pending.get(counter) !== p) return;
          this.pending.delete(counter);
          clearTimeout(p.timer);
          signal?.removeEventListener('abort', onAbort);
          if (--this.waiting[family] === 0) this.ref(family, false);
          resolve(o);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(counter, p);
      if (this.waiting[family]++ === 0) this.ref(family, true);
    });
  }

  /** Closes the sockets; probes under way resolve as aborted. */
  close(): void {
    for (const p of [...this.pending.values()]) p.finish({ errno: -1, latencyMs: performance.now() - p.started });
    for (const f of [4, 6] as const) this.drop(f);
  }

  /** The family's socket, opened now if needed, or the errno it could not be opened with. */
  private socket(family: 4 | 6): Sock | number {
    const have = this.socks[family];
    if (have) return have;
    try {
      const s: Sock = { handle: undefined as unknown as object };
      s.handle = this.native.icmpOpen(family, (items) => this.onItems(family, s, items));
      this.socks[family] = s;
      return s;
    } catch (e) {
      const errno = (e as { errno?: unknown }).errno;
      return typeof errno === 'number' ? errno : constants.errno.EINVAL;
    }
  }

  private drop(family: 4 | 6): void {
    const s = this.socks[family];
    if (!s) return;
    delete this.socks[family];
    this.native.icmpClose(s.handle);
  }

  /** Keep the loop alive only while probes wait for replies. */
  private ref(family: 4 | 6, on: boolean): void {
    const s = this.socks[family];
    if (s) this.native.icmpRef(s.handle, on);
  }

  private onItems(family: 4 | 6, sock: Sock, items: Array<Buffer | (Error & { errno?: number; stopped?: boolean })>): void {
    const alen = family === 4 ? 4 : 16;
    for (const item of items) {
      if (!Buffer.isBuffer(item)) {
        if (!item.stopped) continue; // a transient read error: the probes wait for their replies or deadlines
        // the socket no longer reads: its probes fail now, the next probe opens another socket
        if (this.socks[family] === sock) this.drop(family);
        for (const p of [...this.pending.values()]) {
          if (p.family === family) p.finish({ errno: item.errno ?? constants.errno.EIO, latencyMs: performance.now() - p.started, stage: 'recv' });
        }
        continue;
      }
      const counter = echoReplyCounter(family, item.subarray(alen), this.token);
      if (counter === undefined) continue;
      const p = this.pending.get(counter);
      if (!p || !item.subarray(0, alen).equals(p.address)) continue;
      p.finish({ errno: 0, latencyMs: performance.now() - p.started });
    }
  }
}

let shared: IcmpProber | null | undefined;

/** The process's ICMP prober, made on first use; undefined when the addon is not built. */
export function sharedIcmpProber(): IcmpProber | undefined {
  if (shared === undefined) {
    try {
      shared = new IcmpProber();
    } catch {
      shared = null;
    }
  }
  return shared ?? undefined;
}
