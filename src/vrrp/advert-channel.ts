/**
 * One instance's advert socket and its lifetime: errors counted and logged, and a socket that stops
 * reading replaced at once, then every second until a new one opens (a backup that hears no advert makes
 * itself master: two masters). Adverts handed to the advert clock (schedule) are handed again to a socket
 * that replaces a broken one (from an interval after it opened), and what the clock counted on the old
 * socket is read before it closes.
 */
import type { Logger } from '../log.js';
import type { AdvertClockReport, AdvertClockStats, VrrpPacketInfo, VrrpSocketOptions } from '../net/index.js';
import type { InstanceCounters } from './instance-types.js';
import type { AdvertSocket, RunnerClock, RunnerIo, TimerHandle } from './runner-io.js';

export interface ChannelContext {
  instance: string;
  io: RunnerIo;
  clock: RunnerClock;
  log: Logger;
  counters: InstanceCounters;
  onPacket(payload: Buffer, info: VrrpPacketInfo): void;
}

export class AdvertChannel {
  private socket: AdvertSocket | undefined;
  private options: VrrpSocketOptions | undefined;
  private reopenTimer: TimerHandle | undefined;
  private closed = false;
  /** What the advert clock sends on the socket, and its owner's word when it cannot be handed to a new socket. */
  private scheduled: { adverts: ReadonlyArray<{ payload: Buffer; destination: string }>; intervalMs: number; lateMs: number;
    onReport: (r: AdvertClockReport) => void; onLost: () => void; } | undefined;
  /** What the clock counted on sockets closed since the last read. */
  private carried: AdvertClockStats | undefined;

  constructor(private readonly ctx: ChannelContext) {}

  /**
   * Opens the socket; throws when it cannot be. With `adoptFd` (a socket opened at exec, early-listen.ts)
   * that socket is read from now on; one that cannot be adopted is left alone and a new one opened, as
   * without it. Returns whether it was adopted.
   */
  open(options: VrrpSocketOptions): boolean {
    const { adoptFd, ...fresh } = options;
    this.options = fresh; // a socket opened again (replace) is a new one
    if (adoptFd !== undefined) {
      try {
        this.socket = this.openSocket(options);
        return true;
      } catch (e) {
        this.ctx.log.warn({ event: 'vrrp.early_socket_refused', instance: this.ctx.instance, err: (e as Error).message },
          `${this.ctx.instance}: the socket opened at exec cannot be taken (${(e as Error).message}): opening a new one`);
      }
    }
    this.socket = this.openSocket(fresh);
    return false;
  }

  /**
   * Delivers what the socket holds now (onPacket, before it returns) and returns how many datagrams the
   * kernel dropped on it since it was opened: -1 when unknown (no socket, or a socket that cannot say).
   */
  drain(): number {
    return this.socket?.drain?.() ?? -1;
  }

  get ifindex(): number | undefined {
    return this.socket?.ifindex;
  }

  /** Sends on the open socket (none while it is being replaced: that advert is lost, as on a dead link). */
  send(payload: Buffer, destination: string): void {
    this.socket?.send(payload, destination);
  }

  /**
   * Hands periodic adverts to the socket's advert clock (see AdvertSocket.scheduleAdverts): 'ok', or
   * 'no_clock' (no socket now, or one without a clock) or 'refused' (logged): the caller sends them itself.
   * `onLost`: they could not be handed to a socket that replaced this one (the caller sends them from then on).
   */
  schedule(adverts: ReadonlyArray<{ payload: Buffer; destination: string }>, firstAt: number | undefined, intervalMs: number, lateMs: number,
    onReport: (r: AdvertClockReport) => void, onLost: () => void): 'ok' | 'no_clock' | 'refused' {
    const socket = this.socket;
    if (!socket?.scheduleAdverts) {
      // the caller sends them itself from now on: what the clock held before must not go to a socket that
      // opens later (a replaced socket's reopen hands `scheduled` over), or it would send stale adverts
      // alongside, and on after the instance left master
      this.scheduled = undefined;
      return 'no_clock';
    }
    try {
      socket.scheduleAdverts(adverts, firstAt, intervalMs, lateMs, onReport);
    } catch (e) {
      this.scheduled = undefined;
      this.ctx.log.warn({ event: 'vrrp.advert_clock_refused', instance: this.ctx.instance, err: (e as Error).message },
        `${this.ctx.instance}: the advert clock refused the adverts (${(e as Error).message}): this thread sends them`);
      return 'refused';
    }
    this.scheduled = { adverts, intervalMs, lateMs, onReport, onLost };
    return 'ok';
  }

  /** Takes the adverts off the clock; what it counted since the last read. */
  unschedule(): AdvertClockStats | undefined {
    this.scheduled = undefined;
    return this.takeCarried(this.socket?.stopAdverts?.());
  }

  /** What the clock counted since the last read. */
  readSchedule(): AdvertClockStats | undefined {
    return this.takeCarried(this.socket?.readAdverts?.());
  }

  private takeCarried(s: AdvertClockStats | undefined): AdvertClockStats | undefined {
    const c = this.carried;
    this.carried = undefined;
    if (!c) return s;
    if (!s) return c;
    return { sent: c.sent + s.sent, failed: c.failed + s.failed, ...(s.lastError ?? c.lastError ? { lastError: s.lastError ?? c.lastError } : {}),
      lateness: [...c.lateness, ...s.lateness].slice(-256) };
  }

  /** Keeps what the clock counted on the socket about to close. */
  private carry(): void {
    const s = this.socket?.stopAdverts?.();
    if (s) this.carried = this.takeCarried(s);
  }

  close(): void {
    this.closed = true;
    this.scheduled = undefined;
    this.ctx.clock.clearTimeout(this.reopenTimer);
    this.socket?.close();
    this.socket = undefined;
  }

  private openSocket(options: VrrpSocketOptions): AdvertSocket {
    const { io, log, counters, instance } = this.ctx;
    const socket: AdvertSocket = io.openSocket(options, {
      onPacket: (payload, info) => {
        if (this.socket === socket) this.ctx.onPacket(payload, info);
      },
      onError: (e) => {
        counters.socketErrors++;
        log.warn({ event: 'vrrp.socket_error', instance, err: e.message, code: (e.details as { code?: string } | undefined)?.code }, e.message);
      },
      onBroken: (e) => {
        if (this.socket === socket) this.replace(e.message);
      },
    });
    return socket;
  }

  private replace(why: string): void {
    const { log, instance, clock } = this.ctx;
    this.carry();
    this.socket?.close();
    this.socket = undefined;
    this.ctx.counters.socketReopens++;
    const attempt = (): void => {
      this.reopenTimer = undefined;
      if (this.closed || !this.options) return;
      try {
        this.socket = this.openSocket(this.options);
        log.error({ event: 'vrrp.socket_reopened', instance, err: why }, `${instance}: the VRRP socket stopped reading (${why}); a new one is open`);
        const s = this.scheduled;
        if (s && this.schedule(s.adverts, undefined, s.intervalMs, s.lateMs, s.onReport, s.onLost) !== 'ok') {
          this.scheduled = undefined;
          s.onLost();
        }
      } catch (e) {
        log.error({ event: 'vrrp.socket_reopen_failed', instance, err: (e as Error).message },
          `${instance}: the VRRP socket stopped reading (${why}) and cannot be opened again: ${(e as Error).message}; retrying in 1 s`);
        this.reopenTimer = clock.setTimeout(attempt, 1000);
      }
    };
    attempt();
  }
}
