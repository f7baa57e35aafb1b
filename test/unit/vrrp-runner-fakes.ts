/**
 * A virtual clock and a fake link for the VRRP runner (src/vrrp/instance.ts): instances on one FakeLan
 * hear each other's adverts; every advert, address change and GARP / NA is recorded with its virtual time.
 */
import { decodeAdvert, encodeAdvert, type Advert } from '../../src/vrrp/packet.js';
import type { AdvertSocket, AdvertSocketHandlers, Notifier, RunnerClock, RunnerIo } from '../../src/vrrp/instance.js';
import type { VrrpSocketOptions } from '../../src/net/index.js';
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

  /** The RunnerIo of a node whose interface has `source` as its primary address. */
  io(node: string, source: string, vips = new Set<string>()): RunnerIo & { vips: Set<string>; openFails: number; sockets: number; adopted: number } {
    const lan = this;
    const record = (e: Record<string, unknown>) => lan.events.push({ t: lan.clock.now(), node, ...e } as LinkEvent);
    const io = {
      vips, openFails: 0, sockets: 0,
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
        return {
          ifindex: 2,
          handlers,
          send(payload: Buffer, destination: string) {
            const decoded = decodeAdvert(payload, { family: 'ipv4', source, destination, ttl: 255 });
            if (decoded.ok) record({ kind: 'advert', advert: decoded.advert });
            for (const s of lan.sockets) if (s !== entry && s.open) lan.deliver(s, payload, { source, destination, ttl: 255, ifindex: 2 });
          },
          close() { entry.open = false; lan.sockets.delete(entry); },
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

/** A notifier that records what would be run. */
export function recordingNotifier(): Notifier & { runs: NotifyContext[] } {
  const runs: NotifyContext[] = [];
  return { runs, run: (argv, ctx) => { if (argv?.length) runs.push(ctx); }, settle: async () => {} };
}

/** Tells every open socket of `node` that it stopped reading (the addon's 'broken'). */
export function breakSockets(lan: FakeLan, node: string, error: Error): void {
  for (const s of (lan as unknown as { sockets: Set<FakeSocket> }).sockets) {
    if (s.node === node && s.open) s.handlers?.onBroken(error as never);
  }
}
