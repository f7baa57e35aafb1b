/**
 * The TypeScript face of the lvsd_native addon (native/): VRRP sockets (raw IP protocol 112, read on the
 * event loop) and the one-shot announcements of an address takeover (gratuitous ARP, unsolicited NA).
 *
 * The addon is loaded lazily from <package root>/native/build/Release/lvsd_native.node; when it is not
 * built every entry point throws LvsdError LVSD_NATIVE_UNAVAILABLE. Opening a socket on a missing
 * interface, or without CAP_NET_RAW, throws the same code with the reason and errno in the message.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { LvsdError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { addressToBytes, bytesToAddress, familyOf, type Family } from './address.js';
import { primaryAddress } from './addresses.js';
import { ALL_NODES, buildGratuitousArp, buildUnsolicitedNa } from './garp.js';
import { getLink } from './links.js';

/** The VRRP multicast groups (RFC 5798 5.1.1.2 / 5.1.2.2). */
export const VRRP_GROUP_IPV4 = '224.0.0.18';
export const VRRP_GROUP_IPV6 = 'ff02::12';
export const VRRP_PROTOCOL = 112;

export interface NativeBinding {
  vrrpOpen(
    family: 4 | 6,
    ifname: string,
    multicast: boolean,
    callback: (err: NativeErrno | null, payload?: Buffer, src?: Buffer, dst?: Buffer, ttl?: number, ifindex?: number, received?: number) => void,
    fd?: number,
  ): object;
  /** A VRRP socket configured as vrrpOpen's, not polled: its descriptor, for vrrpOpen to adopt later. */
  vrrpListen(family: 4 | 6, ifname: string, multicast: boolean): number;
  /** Delivers every queued datagram to the callback now; the kernel's drop count since the socket opened, -1 unknown. */
  vrrpDrain(handle: object): number;
  /** SCHED_RR at `priority` with reset-on-fork for the calling thread; its kernel thread id. Throws the errno. */
  vrrpRealtime(priority: number): number;
  /** The calling thread to SCHED_RR 1 (reset on fork) or back to SCHED_OTHER; false when it cannot be set. */
  threadForkPriority?(raise: boolean): boolean;
  vrrpSend(handle: object, payload: Buffer, destination: Buffer, source: Buffer | null): number;
  /**
   * The advert clock (native/src/vrrp_clock.c): starts the process's clock thread once, SCHED_RR `priority`
   * (0: ordinary); [its tid, 0 real-time | -1 not asked | the errno that refused it]. Throws when no thread starts.
   */
  vrrpAdvertClock?(priority: number): [tid: number, sched: number];
  /** payloads[i] to destinations[i] every intervalMs from dueMs (CLOCK_MONOTONIC; NaN: keep the phase) until stopped. */
  vrrpAdvertSchedule?(
    handle: object, payloads: Buffer[], destinations: Buffer[], source: Buffer | null, intervalMs: number, dueMs: number, lateMs: number,
    callback: (kind: number, errno: number, lateMs: number, waitMs: number, cpuMs: number, windowMs: number, count: number) => void,
  ): void;
  /** Removes the socket's entry: [sent, errors, last errno, ...lateness ms] since the last read, null without one. */
  vrrpAdvertStop?(handle: object): Float64Array | null;
  vrrpAdvertRead?(handle: object): Float64Array | null;
  vrrpClose(handle: object): void;
  vrrpRef(handle: object, ref: boolean): void;
  ifIndex(ifname: string): number;
  sendFrame(ifname: string, frame: Buffer): void;
  sendIcmp6(ifname: string, message: Buffer, destination: Buffer, source: Buffer | null, hopLimit: number): void;
  /**
   * TCP connect probes (native/src/tcp_probe.c): outcomes arrive as [id, errno, latency us, watch, run] records.
   * engine: 0 its own thread (default), 1 the Node loop, 2 as if no thread could be created (tests: the fallback).
   */
  tcpProberOpen(callback: (outcomes: Float64Array) => void, engine?: 0 | 1 | 2): object;
  tcpWatch(
    handle: object, id: number, address: Buffer, port: number, intervalMs: number, timeoutMs: number, firstInMs: number,
    rise: number, fall: number, reset: boolean, runOk: number, run: number,
  ): void;
  tcpUnwatch(handle: object, id: number): void;
  tcpWatchNext(handle: object, id: number, inMs: number): void;
  /** per watch id: [lastOk (-1 none), errno, run, latency us, ms since] */
  tcpWatchState(handle: object): Float64Array;
  /** [id, connected, failed] per watch with outcomes since the last call, then the histogram: per bound, beyond, sum us, count */
  tcpWatchCounts(handle: object): Float64Array;
  tcpProberConfigure(handle: object, localErrnos: number[], boundsUs: number[]): void;
  tcpProberLimit(handle: object, max: number): void;
  tcpProberStats(handle: object): [watches: number, watchedUnderWay: number, oneOffUnderWay: number, skipped: number, threaded: number];
  tcpProbe(handle: object, address: Buffer, port: number, timeoutMs: number, reset?: boolean): number;
  tcpProbeCancel(handle: object, id: number): void;
  tcpProberClose(handle: object): void;
  tcpProberRef(handle: object, ref: boolean): void;
  /**
   * Starts `path` (no PATH search) in a clone that shares the daemon's memory until its execve (nothing is
   * copied: native/src/spawn.c); stdin /dev/null (with stdinPipe: a pipe whose write end is `stdin`, else
   * -1), stdout and stderr the returned pipes' read ends. uid/gid -1: the daemon's. Throws the errno of a
   * failed start. `handle` is kept until onExit, or the child is never reaped.
   */
  spawnChild?(
    path: string, argv: string[], envp: string[], cwd: string | null, newSession: boolean, uid: number, gid: number,
    onExit: (code: number | null, signal: number | null) => void, stdinPipe?: boolean,
  ): { pid: number; stdout: number; stderr: number; stdin?: number; handle: object };
  /** Whether a started child (its handle) keeps the event loop alive until it exits. */
  childRef?(handle: object, ref: boolean): void;
  /** glibc's malloc_trim(0): free pages inside the heap back to the kernel; the microseconds it took. */
  mallocTrim(): number;
}

interface NativeErrno extends Error {
  errno?: number;
  syscall?: string;
  /** The socket stopped reading (it cannot be polled again). */
  stopped?: boolean;
}

const ADDON_RELATIVE = join('native', 'build', 'Release', 'lvsd_native.node');

let binding: NativeBinding | undefined;

/** Load the addon (once). Throws LVSD_NATIVE_UNAVAILABLE when it is not built or cannot be loaded. */
export function loadNative(): NativeBinding {
  if (binding) return binding;
  const path = join(packageRoot(), ADDON_RELATIVE);
  if (!existsSync(path)) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'native addon not built: run npm ci (needs python3, make, g++)', {
      details: { path },
    });
  }
  try {
    binding = createRequire(import.meta.url)(path) as NativeBinding;
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `native addon ${path} cannot be loaded: ${(e as Error).message}`, {
      details: { path },
      cause: e,
    });
  }
  return binding;
}

/** Whether the addon is built and loads (for tests and `lvsd check`). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

function errnoName(e: NativeErrno): string | undefined {
  if (typeof e.errno !== 'number') return undefined;
  try {
    return getSystemErrorName(-e.errno);
  } catch {
    return undefined;
  }
}

/** Why a socket operation failed, in words an operator acts on. */
function reason(e: NativeErrno, ifname: string): string {
  const name = errnoName(e);
  const tail = name ? ` (${name}, errno ${e.errno}, ${e.syscall ?? 'syscall'})` : '';
  switch (name) {
    case 'ENODEV':
    case 'ENXIO':
      return `no such interface ${JSON.stringify(ifname)}${tail}`;
    case 'EPERM':
    case 'EACCES':
      return `not permitted: raw sockets need root or CAP_NET_RAW${tail}`;
    case 'EPROTONOSUPPORT':
    case 'EAFNOSUPPORT':
      return `the kernel does not support this socket type${tail}`;
    default:
      return `${e.message}${name ? ` (${name})` : ''}`;
  }
}

/** Turn an addon error into LvsdError LVSD_NATIVE_UNAVAILABLE (TypeErrors from bad arguments pass through). */
function toLvsdError(e: unknown, what: string, ifname: string): unknown {
  if (e instanceof LvsdError || !(e instanceof Error) || typeof (e as NativeErrno).errno !== 'number') return e;
  const ne = e as NativeErrno;
  return new LvsdError('LVSD_NATIVE_UNAVAILABLE', `${what} on ${ifname}: ${reason(ne, ifname)}`, {
    details: { interface: ifname, errno: ne.errno, code: errnoName(ne), syscall: ne.syscall },
    cause: e,
  });
}

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
        (kind, errno, late, wait, cpu, window, count) => {
          if (kind === 0) {
            onReport({ kind: 'late', lateMs: late, ...(wait >= 0 ? { waitMs: wait, cpuMs: cpu, windowMs: window } : {}), lateBefore: count });
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

  /** What the clock counted for this socket since the last read (undefined: none scheduled). */
  readAdverts(): AdvertClockStats | undefined {
    if (!this.handle || typeof this.native.vrrpAdvertRead !== 'function') return undefined;
    return clockStats(this.native.vrrpAdvertRead(this.handle));
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
  | { kind: 'late'; lateMs: number; waitMs?: number; cpuMs?: number; windowMs?: number; lateBefore: number }
  | { kind: 'send_failed'; error: string }
  | { kind: 'send_recovered'; error: string; rounds: number };

function clockStats(a: Float64Array | null | undefined): AdvertClockStats | undefined {
  if (!a) return undefined;
  const errno = a[2]!;
  return { sent: a[0]!, failed: a[1]!, ...(a[1]! > 0 && errno > 0 ? { lastError: errnoText(errno) } : {}), lateness: Array.from(a.subarray(3)) };
}

function errnoText(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/**
 * Starts the process's advert clock thread (once; later calls say how it runs): SCHED_RR `priority`
 * (0: ordinary scheduling). Throws LVSD_NATIVE_UNAVAILABLE when the addon has none or no thread starts.
 */
export function startAdvertClock(priority: number): { tid: number; realtime: boolean; schedError?: string } {
  const native = loadNative();
  if (typeof native.vrrpAdvertClock !== 'function') throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'the native addon predates the advert clock: run npm ci');
  let r: [number, number];
  try {
    r = native.vrrpAdvertClock(priority);
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `the advert clock thread cannot start: ${errnoName(e as NativeErrno) ?? (e as Error).message}`, { cause: e });
  }
  const [tid, sched] = r;
  return { tid, realtime: sched === 0, ...(sched > 0 ? { schedError: `${errnoText(sched)}${errnoText(sched) === 'EPERM' ? ' (needs CAP_SYS_NICE)' : ''}` } : {}) };
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

/**
 * Broadcast a gratuitous ARP for the IPv4 `address` out of `ifname`, announcing `mac` (default: the
 * interface's own MAC) as its owner. A request by default (see garp.ts); `op: 'reply'` for the other form.
 */
export async function sendGratuitousArp(ifname: string, address: string, mac?: string, op: 'request' | 'reply' = 'request'): Promise<void> {
  const native = loadNative();
  const hw = mac ?? (await getLink(ifname)).mac;
  const frame = buildGratuitousArp(hw, address, op);
  try {
    native.sendFrame(ifname, frame);
  } catch (e) {
    throw toLvsdError(e, `cannot send gratuitous ARP for ${address}`, ifname);
  }
}

export interface UnsolicitedNaOptions {
  /** Default: the interface's MAC. */
  mac?: string;
  /** Default: the interface's link-local address. */
  source?: string;
  /** Set the Router flag (the address is a gateway this node forwards for). Default false. */
  router?: boolean;
}

/**
 * Send an unsolicited neighbour advertisement for the IPv6 `address` to all nodes (ff02::1) with hop
 * limit 255, Override set, from the interface's link-local address; the kernel fills the checksum.
 */
export async function sendUnsolicitedNa(ifname: string, address: string, options: UnsolicitedNaOptions = {}): Promise<void> {
  const native = loadNative();
  const mac = options.mac ?? (await getLink(ifname)).mac;
  const source = options.source ?? (await primaryAddress(ifname, 'ipv6'));
  const message = buildUnsolicitedNa(mac, address, options.router ? { router: true } : {});
  try {
    native.sendIcmp6(ifname, message, addressToBytes(ALL_NODES), source ? addressToBytes(source) : null, 255);
  } catch (e) {
    throw toLvsdError(e, `cannot send neighbour advertisement for ${address}`, ifname);
  }
}

/**
 * Announce that this node now owns `address` on `ifname`: gratuitous ARP (IPv4) or unsolicited NA (IPv6).
 * `options.mac`: the interface's MAC when the caller knows it (no link lookup per announcement).
 */
export async function announceAddress(ifname: string, address: string, options: { mac?: string } = {}): Promise<void> {
  const family = familyOf(address);
  if (family === 'ipv4') return sendGratuitousArp(ifname, address, options.mac);
  if (family === 'ipv6') return sendUnsolicitedNa(ifname, address, options.mac !== undefined ? { mac: options.mac } : {});
  throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
}
