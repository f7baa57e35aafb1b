/**
 * A virtual clock and a fake link for the VRRP runner (src/vrrp/instance.ts): instances on one FakeLan
 * hear each other's adverts; every advert, address change and GARP / NA is recorded with its virtual time.
 */
import { decodeAdvert, encodeAdvert, type Advert } from '../../src/vrrp/packet.js';
import type { AdvertSocket, AdvertSocketHandlers, Notifier, RunnerClock, RunnerIo } from '../../src/vrrp/instance.js';
import type { AdvertClockReport, AdvertClockStats, VrrpSocketOptions } from '../../src/net/index.js';
import type { NotifyContext } from '../../src/vrrp/notify.js';

interface Timer { at: number; seq: number; fn: () => void; every?: number }

/** Drains microtasks and promise chains (the runner's queues) before the next timer. */
export const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

export class VirtualClock implements RunnerClock {
  t = 10_000;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  now(): number { return this.t; }
  wall(): number { return 1_700_000_000_000 + this.t; }
  setTimeout(fn: () => void, ms: number): never {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), seq: id, fn });
    return id as never;
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  setInterval(fn: () => void, ms: number): never {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, seq: id, fn, every: ms });
    return id as never;
  }
  clearInterval(h: unknown): void { this.timers.delete(h as number); }

  /** Runs every timer due within `ms`, in time order, settling promises between them; `stop`: return early once it holds. */
  async advance(ms: number, stop?: () => boolean): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next: [number, Timer] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq))) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = timer.at;
      if (timer.every !== undefined) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
      if (stop?.()) {
        await flush();
        return;
      }
    }
    this.t = end;
    await flush();
  }

  /** Advances until `cond` holds (checked after every timer), at most `ms`; returns the virtual time it first held. */
  async until(cond: () => boolean, ms: number): Promise<number> {
    if (!cond()) await this.advance(ms, cond);
    if (!cond()) throw new Error(`condition not met within ${ms} ms of virtual time`);
    return this.t;
  }
}

export type LinkEvent =
  | { t: number; node: string; kind: 'advert'; advert: Advert }
  | { t: number; node: string; kind: 'add' | 'remove' | 'announce'; address: string };

interface FakeSocket {
  node: string;
  source: string;
  /** undefined: a socket opened at exec that nothing reads yet (early-listen.ts): what arrives is queued */
  handlers: AdvertSocketHandlers | undefined;
  open: boolean;
  /** what arrived and was not read yet, with when it arrived (drain() reports it, as the addon does) */
  queue: Array<{ payload: Buffer; info: { source: string; destination: string; ttl: number; ifindex: number }; t: number }>;
  /** what drain() reports as dropped by the kernel */
  drops: number;
}

/**
 * One broadcast domain: adverts from one socket reach every other open socket on it, at once (a socket
 * nobody reads yet queues them, as the kernel does, until it is adopted and drained).
 */
export class FakeLan {
  readonly events: LinkEvent[] = [];
  private readonly sockets = new Set<FakeSocket>();
  private readonly early = new Map<number, FakeSocket>();
  /** nodes whose event loop stands still: their sockets queue what arrives, their timers still fire */
  private readonly stalled = new Set<string>();
  private nextFd = 100;

  /** A socket opened for `node` before its runner exists (vrrpListen): its fake descriptor. */
  listenEarly(node: string, source: string, drops = 0): number {
    const fd = this.nextFd++;
    const entry: FakeSocket = { node, source, handlers: undefined, open: true, queue: [], drops };
    this.sockets.add(entry);
    this.early.set(fd, entry);
    return fd;
  }

  /** How many packets wait on `node`'s sockets that nothing reads. */
  queued(node: string): number {
    return [...this.sockets].filter((s) => s.node === node && !s.handlers).reduce((n, s) => n + s.queue.length, 0);
  }

  private deliver(to: FakeSocket, payload: Buffer, info: FakeSocket['queue'][number]['info']): void {
    if (to.handlers && !this.stalled.has(to.node)) to.handlers.onPacket(payload, info);
    else to.queue.push({ payload, info, t: this.clock.now() });
  }

  /**
   * `node`'s thread stands still from now (on: true) or runs again (false). While it stands, what reaches
   * its sockets queues in them, and the runner's timers still fire when due, before it polls again: what
   * the event loop does when it runs again after a thread was held past a deadline (timers first). Running
   * again delivers the queue, as the next poll would, each packet with its receive time.
   */
  stall(node: string, on: boolean): void {
    if (on) {
      this.stalled.add(node);
      return;
    }
    this.stalled.delete(node);
    for (const s of this.sockets) if (s.node === node && s.handlers) this.take(s, s.handlers);
  }

  private take(entry: FakeSocket, handlers: AdvertSocketHandlers): void {
    for (const p of entry.queue.splice(0)) handlers.onPacket(p.payload, { ...p.info, receivedAt: p.t });
  }

  constructor(readonly clock: VirtualClock) {}

  /**
   * The RunnerIo of a node whose interface has `source` as its primary address. Its sockets have a fake
   * advert clock (the native one's contract on the virtual clock) unless `advertClock` is false;
   * `io.clock` tells what it holds and injects send failures.
   */
  io(node: string, source: string, vips = new Set<string>(), opts: { advertClock?: boolean } = {}): RunnerIo & {
    vips: Set<string>; openFails: number; sockets: number; adopted: number; clock: FakeAdvertClock;
  } {
    const lan = this;
    const record = (e: Record<string, unknown>) => lan.events.push({ t: lan.clock.now(), node, ...e } as LinkEvent);
    const clock = new FakeAdvertClock(lan.clock);
    const io = {
      vips, openFails: 0, sockets: 0, clock,
      ...(opts.advertClock === false ? {} : { startAdvertClock: () => { clock.starts++; return { tid: 4242, realtime: true, priority: 10 }; } }),
      primaryAddress: async () => source,
      adopted: 0,
      openSocket(options: VrrpSocketOptions, handlers: AdvertSocketHandlers): AdvertSocket & { handlers: AdvertSocketHandlers } {
        if (io.openFails > 0) {
          io.openFails--;
          throw new Error('ENOBUFS (fake)');
        }
        io.sockets++;
        let entry: FakeSocket;
        const early = options.adoptFd !== undefined ? lan.early.get(options.adoptFd) : undefined;
        if (options.adoptFd !== undefined && !early) throw new Error(`EBADF (fake): ${options.adoptFd} is no VRRP socket`);
        if (early) {
          lan.early.delete(options.adoptFd!);
          early.handlers = handlers;
          entry = early;
          io.adopted++;
        } else {
          entry = { node, source, handlers, open: true, queue: [], drops: 0 };
          lan.sockets.add(entry);
        }
        const send = (payload: Buffer, destination: string) => {
          const decoded = decodeAdvert(payload, { family: 'ipv4', source, destination, ttl: 255 });
          if (decoded.ok) record({ kind: 'advert', advert: decoded.advert });
          for (const s of lan.sockets) if (s !== entry && s.open) lan.deliver(s, payload, { source, destination, ttl: 255, ifindex: 2 });
        };
        const key = {};
        return {
          ifindex: 2,
          handlers,
          send,
          close() { clock.stop(key); entry.open = false; lan.sockets.delete(entry); },
          ...(opts.advertClock === false ? {} : {
            scheduleAdverts(adverts: ReadonlyArray<{ payload: Buffer; destination: string }>, firstAt: number | undefined, intervalMs: number, lateMs: number, onReport: (r: AdvertClockReport) => void) {
              if (!entry.open) throw new Error('EBADF (fake): socket is closed');
              if (clock.refuse) throw new TypeError('payloads and destinations must be arrays of the same length, 1..64 (fake)');
              clock.schedule(key, send, adverts, firstAt, intervalMs, lateMs, onReport);
            },
            stopAdverts: () => clock.stop(key),
            readAdverts: () => clock.read(key),
          }),
          drain() {
            lan.take(entry, handlers);
            return entry.drops;
          },
        };
      },
      async addAddress(_if: string, address: string) { record({ kind: 'add', address }); vips.add(address); return true; },
      async removeAddress(_if: string, address: string) { record({ kind: 'remove', address }); return vips.delete(address); },
      async announce(_if: string, address: string) { record({ kind: 'announce', address }); },
      async linkMac() { return '02:00:00:00:00:01'; },
      promoteSecondaries() {},
    };
    return io;
  }

  /** An advert from a peer that is not a runner (a scripted master). */
  inject(advert: Record<string, unknown>): void {
    const full = { destination: '224.0.0.18', ...advert } as unknown as Advert;
    for (const s of this.sockets) if (s.open) this.deliver(s, encodeAdvert(full), { source: full.source, destination: full.destination, ttl: 255, ifindex: 2 });
  }

  /** What `node` did, kinds filtered, times relative to `from`. */
  of(node: string, kinds: LinkEvent['kind'][], from = 0): LinkEvent[] {
    return this.events.filter((e) => e.node === node && kinds.includes(e.kind) && e.t >= from);
  }
}

interface ClockEntry {
  send: (payload: Buffer, destination: string) => void;
  adverts: ReadonlyArray<{ payload: Buffer; destination: string }>;
  intervalMs: number;
  next: number;
  handle: unknown;
  onReport: (r: AdvertClockReport) => void;
  stats: AdvertClockStats;
  failing: boolean;
  failedRounds: number;
}

/**
 * The advert clock of one fake node (native/src/vrrp_clock.c's contract on the virtual clock): per socket,
 * the datagrams sent through the socket's send every interval from the due time, fixed phase; a replace
 * without a due time keeps the next one; counts since the last read; a failure reported once a failing run.
 */
export class FakeAdvertClock {
  starts = 0;
  /** set: every send fails with this errno name until cleared */
  sendError: string | undefined;
  /** every schedule throws (as the addon's does for more than 64 datagrams) */
  refuse = false;
  /** how many times adverts were scheduled (added or replaced) and stopped */
  schedules = 0;
  stops = 0;
  private readonly entries = new Map<object, ClockEntry>();

  constructor(private readonly clock: VirtualClock) {}

  /** How many sockets have adverts on the clock. */
  get held(): number {
    return this.entries.size;
  }

  schedule(key: object, send: ClockEntry['send'], adverts: ClockEntry['adverts'], firstAt: number | undefined, intervalMs: number, _lateMs: number,
    onReport: ClockEntry['onReport']): void {
    this.schedules++;
    const old = this.entries.get(key);
    if (old) this.clock.clearTimeout(old.handle);
    const e: ClockEntry = old ?? { send, adverts, intervalMs, next: 0, handle: undefined, onReport, stats: { sent: 0, failed: 0, lateness: [] }, failing: false, failedRounds: 0 };
    e.adverts = adverts;
    e.intervalMs = intervalMs;
    e.next = firstAt ?? (old ? old.next : this.clock.now() + intervalMs);
    this.entries.set(key, e);
    this.arm(key, e);
  }

  private arm(key: object, e: ClockEntry): void {
    e.handle = this.clock.setTimeout(() => {
      if (this.entries.get(key) !== e) return;
      const now = this.clock.now();
      let err: string | undefined;
      for (const a of e.adverts) {
        e.stats.sent++;
        if (this.sendError) {
          err = this.sendError;
          e.stats.failed++;
          e.stats.lastError = err;
        } else e.send(a.payload, a.destination);
      }
      e.stats.lateness.push(now - e.next);
      if (err && !e.failing) {
        e.failing = true;
        e.failedRounds = 0;
        e.onReport({ kind: 'send_failed', error: err });
      }
      if (err) e.failedRounds++;
      else if (e.failing) {
        e.failing = false;
        e.onReport({ kind: 'send_recovered', error: e.stats.lastError ?? '', rounds: e.failedRounds });
      }
      e.next += e.intervalMs;
      if (e.next <= now) e.next = now + e.intervalMs;
      this.arm(key, e);
    }, e.next - this.clock.now());
  }

  stop(key: object): AdvertClockStats | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.stops++;
    this.clock.clearTimeout(e.handle);
    this.entries.delete(key);
    return this.take(e);
  }

  read(key: object): AdvertClockStats | undefined {
    const e = this.entries.get(key);
    return e ? this.take(e) : undefined;
  }

  private take(e: ClockEntry): AdvertClockStats {
    const s = e.stats;
    e.stats = { sent: 0, failed: 0, lateness: [] };
    return s;
  }
}

/** A notifier that records what would be run. */
export function recordingNotifier(): Notifier & { runs: NotifyContext[] } {
  const runs: NotifyContext[] = [];
  return { runs, run: (argv, ctx) => { if (argv?.length) runs.push(ctx); }, settle: async () => {} };
}

/** Tells every open socket of `node` that it stopped reading (the addon's 'broken'). */
export function breakSockets(lan: FakeLan, node: string, error: Error): void {
  for (const s of [...(lan as unknown as { sockets: Set<FakeSocket> }).sockets]) { // a copy: a socket opened in its place is not broken too
    if (s.node === node && s.open) s.handlers?.onBroken(error as never);
  }
}
