/**
 * VRRP sockets (raw IP protocol 112, read on the event loop, through the addon) and the advert clock, the
 * addon's thread that sends a master's steady adverts (native/src/vrrp_clock.c).
 */
import { EventEmitter } from 'node:events';
import { LvsdError } from '../errors.js';
import { addressToBytes, bytesToAddress, familyOf, type Family } from './address.js';
import { loadNative, type NativeBinding } from './native.js';
import { errnoName, errnoText, toLvsdError, type NativeErrno } from './native-errors.js';

/** The VRRP multicast groups (RFC 5798 5.1.1.2 / 5.1.2.2). */
export const VRRP_GROUP_IPV4 = '224.0.0.18';
export const VRRP_GROUP_IPV6 = 'ff02::12';
export const VRRP_PROTOCOL = 112;

export interface VrrpPacketInfo {
  /** The sender's address (IPv6: its link-local for multicast adverts). */
  source: string;
  /** The packet's destination: the group, or our address for unicast. */
  destination: string;
  /** IPv4 TTL or IPv6 hop limit as received; RFC 5798 says drop unless 255. -1 when not reported. */
  ttl: number;
  /** Index of the interface it arrived on. */
  ifindex: number;
  /**
   * When the kernel received it (SO_TIMESTAMPNS), on this thread's performance.now() clock: a thread that
   * read it late still knows when it came. Absent when the kernel gave no timestamp.
   */
  receivedAt?: number;
}

export interface VrrpSocketOptions {
  family: Family;
  interface: string;
  /** Join the VRRP group (224.0.0.18 / ff02::12) on the interface; false for unicast peers only. */
  multicast: boolean;
  /**
   * Source address of what we send (IPv4: the interface's primary address; IPv6: its link-local, see
   * primaryAddress()). Put in an IP_PKTINFO / IPV6_PKTINFO control message per send; the socket is not
   * bound, so it still receives packets to the group. Without it the kernel picks the source (for the
   * multicast group that is the primary / link-local address too), but a VRRPv3 checksum needs the
   * source, so pass it.
   */
  source?: string;
  /**
   * A socket listenVrrp opened earlier with the same family, interface and multicast: it is read from now
   * on, with what the kernel queued on it meanwhile (drain() reads that at once). Checked to be a raw VRRP
   * socket on the interface; when it is not, the open throws and the descriptor is left alone.
   */
  adoptFd?: number;
}

interface VrrpSocketEvents {
  packet: [payload: Buffer, info: VrrpPacketInfo];
  error: [error: LvsdError];
  /** The socket cannot read again (its poll could not be restarted): the owner must open a new one. */
  broken: [error: LvsdError];
  close: [];
}

/**
 * A raw VRRP socket on one interface. 'packet' gives the VRRP message (IP header stripped) with the
 * addresses and TTL; 'error' reports receive and send failures (e.g. ENETDOWN while the link is down, a
 * socket error the kernel queued); the socket stays open and reading after an error. 'broken' says it
 * stopped reading for good (never seen in practice; the owner replaces it). Keeps the process alive while open unless unref()'d.
 */
export class VrrpSocket extends EventEmitter<VrrpSocketEvents> {
  readonly family: Family;
  readonly interface: string;
  readonly ifindex: number;
  readonly multicast: boolean;
  readonly source: string | undefined;
  private handle: object | undefined;
  private readonly native: NativeBinding;
  private readonly sourceBytes: Buffer | null;

  constructor(options: VrrpSocketOptions) {
    super();
    const native = loadNative();
    const { family, multicast } = options;
    if (family !== 'ipv4' && family !== 'ipv6') throw new TypeError(`family must be ipv4 or ipv6, got ${String(family)}`);
    if (options.source !== undefined && familyOf(options.source) !== family) {
      throw new TypeError(`source ${JSON.stringify(options.source)} is not an ${family} address`);
    }
    this.native = native;
    this.family = family;
    this.interface = options.interface;
    this.multicast = multicast;
    this.source = options.source;
    this.sourceBytes = options.source !== undefined ? addressToBytes(options.source) : null;
    try {
      this.ifindex = native.ifIndex(options.interface);
      this.handle = native.vrrpOpen(family === 'ipv4' ? 4 : 6, options.interface, multicast, (err, payload, src, dst, ttl, ifindex, received) =>
        this.onNative(err, payload, src, dst, ttl, ifindex, received), options.adoptFd);
    } catch (e) {
      throw toLvsdError(e, `cannot open ${family} VRRP socket`, options.interface);
    }
  }

  private onNative(err: NativeErrno | null, payload?: Buffer, src?: Buffer, dst?: Buffer, ttl?: number, ifindex?: number, received?: number): void {
    if (!this.handle) return;
    if (err) {
      const error = toLvsdError(err, 'VRRP receive failed', this.interface) as LvsdError;
      if (err.stopped) this.emit('broken', error);
      else this.emit('error', error);
      return;
    }
    this.emit('packet', payload!, {
      source: bytesToAddress(this.family, src!),
      destination: bytesToAddress(this.family, dst!),
      ttl: ttl!,
      ifindex: ifindex!,
      ...(received !== undefined && received >= 0 ? { receivedAt: received - monotonicOffset() } : {}),
    });
  }

  /**
   * Send a VRRP message (no IP header) to `destination`: the group (VRRP_GROUP_IPV4 / VRRP_GROUP_IPV6) or
   * a unicast peer. Failures are emitted as 'error' on the next tick; a bad destination throws TypeError.
   */
  /** The last destination's wire bytes: an instance sends to the same one or few every interval. */
  private destination: { text: string; bytes: Buffer } | undefined;

  send(payload: Buffer, destination: string): void {
    if (this.destination?.text !== destination) {
      if (familyOf(destination) !== this.family) {
        throw new TypeError(`destination ${JSON.stringify(destination)} is not an ${this.family} address`);
      }
      this.destination = { text: destination, bytes: addressToBytes(destination) };
    }
    if (!this.handle) {
      const error = new LvsdError('LVSD_NATIVE_UNAVAILABLE', `VRRP socket on ${this.interface} is closed`);
      process.nextTick(() => this.emit('error', error));
      return;
    }
    try {
      this.native.vrrpSend(this.handle, payload, this.destination.bytes, this.sourceBytes);
    } catch (e) {
      const error = toLvsdError(e, `VRRP send to ${destination} failed`, this.interface);
      if (!(error instanceof LvsdError)) throw error;
      process.nextTick(() => this.emit('error', error));
    }
  }

  /**
   * Reads what is queued on the socket now, emitting a 'packet' for each before it returns, and returns
   * how many datagrams the kernel dropped on it since it was opened (its receive queue was full), or -1
   * when that is unknown (or more was queued than one drain reads): the caller cannot know it heard
   * everything then.
   */
  drain(): number {
    if (!this.handle) return -1;
    try {
      return this.native.vrrpDrain(this.handle);
    } catch {
      return -1;
    }
  }

  /**
   * Hands `adverts` to the advert clock (startAdvertClock first): sent every `intervalMs` from `firstAt`
   * (performance.now() ms of this thread; undefined: keep the next due time of what is scheduled) until
   * stopAdverts() or close(); replaces what was scheduled. `onReport` hears late adverts (> lateMs) and send
   * failures. Throws LVSD_NATIVE_UNAVAILABLE when there is no clock, or the errno (EBADF once closed).
   */
  scheduleAdverts(
    adverts: ReadonlyArray<{ payload: Buffer; destination: string }>, firstAt: number | undefined, intervalMs: number, lateMs: number,
    onReport: (r: AdvertClockReport) => void,
  ): void {
    const native = this.native;
    if (typeof native.vrrpAdvertSchedule !== 'function') throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'the native addon predates the advert clock: run npm ci');
    if (!this.handle) throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `VRRP socket on ${this.interface} is closed`);
    const destinations = adverts.map((a) => {
      if (familyOf(a.destination) !== this.family) throw new TypeError(`destination ${JSON.stringify(a.destination)} is not an ${this.family} address`);
      return addressToBytes(a.destination);
    });
    const due = firstAt === undefined ? NaN : firstAt + monotonicOffset();
    try {
      native.vrrpAdvertSchedule(this.handle, adverts.map((a) => a.payload), destinations, this.sourceBytes, intervalMs, due, lateMs,
        (kind, errno, late, wait, cpu, window, count, faults) => {
          if (kind === 0) {
            onReport({ kind: 'late', lateMs: late, ...(wait >= 0 ? { waitMs: wait, cpuMs: cpu, windowMs: window } : {}),
              ...(faults !== undefined && faults >= 0 ? { faults } : {}), lateBefore: count });
          } else if (kind === 1) onReport({ kind: 'send_failed', error: errnoText(errno) });
          else onReport({ kind: 'send_recovered', error: errnoText(errno), rounds: count });
        });
    } catch (e) {
      throw toLvsdError(e, 'cannot schedule adverts', this.interface);
    }
  }

  /** Takes the socket's adverts off the clock: what it counted since the last read (undefined: none scheduled). */
  stopAdverts(): AdvertClockStats | undefined {
    if (!this.handle || typeof this.native.vrrpAdvertStop !== 'function') return undefined;
    return clockStats(this.native.vrrpAdvertStop(this.handle));
  }

  /**
   * What the clock counted for this socket since the last read (undefined: none scheduled). holdMsForTests:
   * the addon spends that long making the value after it let go of the clock's lock (a test's stand-in for
   * a V8 collection there).
   */
  readAdverts(holdMsForTests?: number): AdvertClockStats | undefined {
    if (!this.handle || typeof this.native.vrrpAdvertRead !== 'function') return undefined;
    return clockStats(holdMsForTests === undefined ? this.native.vrrpAdvertRead(this.handle) : this.native.vrrpAdvertRead(this.handle, holdMsForTests));
  }

  /** Stop receiving and release the socket; idempotent. Emits 'close'. */
  close(): void {
    if (!this.handle) return;
    const handle = this.handle;
    this.handle = undefined;
    this.native.vrrpClose(handle);
    process.nextTick(() => this.emit('close'));
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Let the process exit while this socket is open. */
  unref(): this {
    if (this.handle) this.native.vrrpRef(this.handle, false);
    return this;
  }

  ref(): this {
    if (this.handle) this.native.vrrpRef(this.handle, true);
    return this;
  }
}

/** What the advert clock counted for one socket since the last read. */
export interface AdvertClockStats {
  /** adverts handed to the socket (each datagram once, failed or not) */
  sent: number;
  /** of those, sends that failed */
  failed: number;
  /** the last failure's errno name, when there was one */
  lastError?: string;
  /** send-time lateness (ms) of the last (up to 256) rounds, oldest first */
  lateness: number[];
}

/** What the advert clock tells the owner of an entry (at most one late report a second, failures once a run). */
export type AdvertClockReport =
  | { kind: 'late'; lateMs: number; waitMs?: number; cpuMs?: number; windowMs?: number; faults?: number; lateBefore: number }
  | { kind: 'send_failed'; error: string }
  | { kind: 'send_recovered'; error: string; rounds: number };

function clockStats(a: Float64Array | null | undefined): AdvertClockStats | undefined {
  if (!a) return undefined;
  const errno = a[2]!;
  return { sent: a[0]!, failed: a[1]!, ...(a[1]! > 0 && errno > 0 ? { lastError: errnoText(errno) } : {}), lateness: Array.from(a.subarray(3)) };
}

/**
 * Starts the process's advert clock thread (once; later calls say how it runs): SCHED_RR `priority`
 * (0: ordinary scheduling); with `lock` (the default) the thread first locks in memory what it runs on, so it
 * never waits for a page fault (lockedKiB; lockError when some of it could not be locked: the clock runs
 * anyway). Throws LVSD_NATIVE_UNAVAILABLE when the addon has none or no thread starts.
 */
export function startAdvertClock(priority: number, lock = true): { tid: number; realtime: boolean; schedError?: string; lockedKiB: number; lockError?: string } {
  const native = loadNative();
  if (typeof native.vrrpAdvertClock !== 'function') throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'the native addon predates the advert clock: run npm ci');
  let r: [number, number, number?, number?];
  try {
    r = native.vrrpAdvertClock(priority, lock);
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `the advert clock thread cannot start: ${errnoName(e as NativeErrno) ?? (e as Error).message}`, { cause: e });
  }
  const [tid, sched, locked = 0, lockErrno = 0] = r;
  return {
    tid, realtime: sched === 0, ...(sched > 0 ? { schedError: `${errnoText(sched)}${errnoText(sched) === 'EPERM' ? ' (needs CAP_SYS_NICE)' : ''}` } : {}),
    lockedKiB: Math.round(locked / 1024),
    ...(lockErrno > 0 ? { lockError: `${errnoText(lockErrno)}${['EPERM', 'ENOMEM', 'EAGAIN'].includes(errnoText(lockErrno)) ? ' (needs CAP_IPC_LOCK or a higher RLIMIT_MEMLOCK)' : ''}` } : {}),
  };
}

/**
 * CLOCK_MONOTONIC ms minus performance.now() in this thread (node counts performance.now() on the monotonic
 * clock from the thread's own origin): the addon gives receive times on CLOCK_MONOTONIC. Read once per
 * thread, as the closest of five back-to-back pairs.
 */
let monoOffset: number | undefined;
function monotonicOffset(): number {
  if (monoOffset !== undefined) return monoOffset;
  let gap = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const a = performance.now();
    const mono = Number(process.hrtime.bigint()) / 1e6;
    const b = performance.now();
    if (b - a < gap) {
      gap = b - a;
      offset = mono - (a + b) / 2;
    }
  }
  return (monoOffset = offset);
}

export function openVrrpSocket(options: VrrpSocketOptions): VrrpSocket {
  return new VrrpSocket(options);
}

/**
 * Opens a VRRP socket that nothing reads yet (the kernel queues what arrives) and returns its descriptor,
 * for a VrrpSocket to adopt (`adoptFd`), in this thread or another. Throws LVSD_NATIVE_UNAVAILABLE as
 * VrrpSocket does. The caller closes the descriptor if nothing adopts it.
 */
export function listenVrrp(options: Omit<VrrpSocketOptions, 'source' | 'adoptFd'>): number {
  const native = loadNative();
  try {
    return native.vrrpListen(options.family === 'ipv4' ? 4 : 6, options.interface, options.multicast);
  } catch (e) {
    throw toLvsdError(e, `cannot open ${options.family} VRRP socket`, options.interface);
  }
}

/**
 * Puts the calling thread (the VRRP worker's) in SCHED_RR at `priority` (1..99) with SCHED_RESET_ON_FORK:
 * one system call, no process started. Returns the thread's kernel id; throws an Error naming the errno
 * (EPERM: no CAP_SYS_NICE) or LVSD_NATIVE_UNAVAILABLE.
 */
export function setThreadRealtime(priority: number): number {
  const native = loadNative();
  if (typeof native.vrrpRealtime !== 'function') throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'the native addon predates vrrpRealtime: run npm ci');
  try {
    return native.vrrpRealtime(priority);
  } catch (e) {
    const ne = e as NativeErrno;
    const name = errnoName(ne);
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `sched_setscheduler(SCHED_RR ${priority}) failed: ${name ?? (e as Error).message}${name === 'EPERM' ? ' (needs CAP_SYS_NICE)' : ''}`, { cause: e });
  }
}
