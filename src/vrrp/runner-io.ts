/**
 * What a VRRP instance's runner (instance.ts) needs from the world, behind one interface: the advert
 * socket, VIPs over rtnetlink, gratuitous ARP / unsolicited NA, link facts, and a clock. `netIo` and
 * `systemClock` are the real ones; the runner's unit tests (test/unit/vrrp-runner.test.ts) pass a fake link
 * and a virtual clock, so the runner's behaviour is tested like the state machine's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { LvsdError } from '../errors.js';
import {
  addAddress, announceAddress, getLink, openVrrpSocket, primaryAddress, removeAddress, startAdvertClock,
  type AdvertClockReport, type AdvertClockStats, type Family, type VrrpPacketInfo, type VrrpSocketOptions,
} from '../net/index.js';
import { clockLockFromEnv, realtimePriorityFromEnv } from './realtime.js';
import { timerDelay } from '../timer-delay.js';
import type { NotifyContext } from './notify.js';
import type { LateAdverts } from './late-advert.js';

/** An open advert socket on one interface. */
export interface AdvertSocket {
  /** The interface's index (0 or absent when unknown): address changes go by it, no link lookup first. */
  readonly ifindex?: number;
  /** Sends a VRRP message (no IP header); failures come back through `onError`. */
  send(payload: Buffer, destination: string): void;
  close(): void;
  /**
   * Delivers every datagram queued now through `onPacket` before it returns; the kernel's drop count since
   * the socket opened, -1 when unknown. Absent: unknown.
   */
  drain?(): number;
  /**
   * The advert clock (native/src/vrrp_clock.c; the unit tests' fake has its own): `adverts` sent every
   * `intervalMs` from `firstAt` (the runner's clock; undefined: keep the next due time of what is
   * scheduled) until stopAdverts() or close(), replacing what was scheduled; late ones (> lateMs) and
   * send failures are reported. Throws when it cannot. Absent: no clock, the runner's timers send.
   */
  scheduleAdverts?(
    adverts: ReadonlyArray<{ payload: Buffer; destination: string }>, firstAt: number | undefined, intervalMs: number, lateMs: number,
    onReport: (r: AdvertClockReport) => void,
  ): void;
  /** Takes the adverts off the clock; what it counted since the last read (undefined: nothing scheduled). */
  stopAdverts?(): AdvertClockStats | undefined;
  /** What the clock counted since the last read (undefined: nothing scheduled). */
  readAdverts?(): AdvertClockStats | undefined;
}

/** How the process's advert clock runs (RunnerIo.startAdvertClock). */
export interface AdvertClockStart {
  tid: number;
  realtime: boolean;
  priority: number;
  schedError?: string;
  /** what the clock thread locked in memory (its stack's top, the addon, libc's code), KiB */
  lockedKiB?: number;
  /** why some of it could not be locked (the clock runs anyway) */
  lockError?: string;
}

export interface AdvertSocketHandlers {
  onPacket(payload: Buffer, info: VrrpPacketInfo): void;
  /** A receive or send failure; the socket keeps reading. */
  onError(error: LvsdError): void;
  /** The socket stopped reading for good: the runner opens another. */
  onBroken(error: LvsdError): void;
}

export interface RunnerIo {
  /** The address adverts are sent from (IPv4 primary, IPv6 link-local), if the interface has one. */
  primaryAddress(ifname: string, family: Family): Promise<string | undefined>;
  /** Throws when it cannot be opened. */
  openSocket(options: VrrpSocketOptions, handlers: AdvertSocketHandlers): AdvertSocket;
  addAddress(ifname: string, address: string, prefixLength: number, options: { ifindex?: number }): Promise<boolean>;
  /** Resolves false when the address was not there. */
  removeAddress(ifname: string, address: string, prefixLength: number, options: { ifindex?: number }): Promise<boolean>;
  /** One gratuitous ARP (IPv4) or unsolicited NA (IPv6) for `address`. */
  announce(ifname: string, address: string, options: { mac?: string }): Promise<void>;
  /** The interface's MAC, undefined when it cannot be read. */
  linkMac(ifname: string): Promise<string | undefined>;
  /** net.ipv4.conf.IF.promote_secondaries = 1; throws when it cannot be set. */
  promoteSecondaries(ifname: string): void;
  /**
   * Starts the process's advert clock (once; later calls say how it runs). Throws the reason when there is
   * none (no addon, LVSD_VRRP_ADVERT_CLOCK=0, no thread). Absent: the runner's timers send every advert.
   */
  startAdvertClock?(): AdvertClockStart;
}

export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout;

export interface RunnerClock {
  /** Monotonic milliseconds (the state machine's time). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (status, log stamps). */
  wall(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

export const systemClock: RunnerClock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, timerDelay(ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, timerDelay(ms)),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
};

export const netIo: RunnerIo = {
  primaryAddress,
  openSocket(options, handlers) {
    const socket = openVrrpSocket(options);
    socket.on('packet', (payload, info) => handlers.onPacket(payload, info));
    socket.on('error', (e) => handlers.onError(e));
    socket.on('broken', (e) => handlers.onBroken(e));
    return socket;
  },
  addAddress,
  removeAddress,
  announce: announceAddress,
  async linkMac(ifname) {
    try {
      return (await getLink(ifname)).mac;
    } catch {
      return undefined;
    }
  },
  promoteSecondaries(ifname) {
    const file = `/proc/sys/net/ipv4/conf/${ifname}/promote_secondaries`;
    if (readFileSync(file, 'utf8').trim() !== '1') writeFileSync(file, '1\n');
  },
  startAdvertClock() {
    if (process.env.LVSD_VRRP_ADVERT_CLOCK === '0') throw new Error('turned off (LVSD_VRRP_ADVERT_CLOCK=0)');
    const priority = realtimePriorityFromEnv();
    return { ...startAdvertClock(priority, clockLockFromEnv()), priority };
  },
};

/** What notify commands are run by (notify.ts's NotifyRunner; tests record them). */
export interface Notifier {
  run(argv: readonly string[] | undefined, ctx: NotifyContext): void;
  /** Waits up to `graceMs` for the commands still running. */
  settle(graceMs: number): Promise<void>;
}

/** The world an instance acts on; each part defaults to the real one. */
export interface InstanceDeps {
  io?: RunnerIo;
  clock?: RunnerClock;
  notifier?: Notifier;
  /** Where late adverts are explained (default: the thread's, reading its schedstat). */
  lateAdverts?: LateAdverts;
}
