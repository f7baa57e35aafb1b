/**
 * One instance's advert socket and its lifetime: errors counted and logged, and a socket that stops
 * reading replaced at once, then every second until a new one opens (a backup that hears no advert makes
 * itself master: two masters).
 */
import type { Logger } from '../log.js';
import type { VrrpPacketInfo, VrrpSocketOptions } from '../net/index.js';
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

  close(): void {
    this.closed = true;
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
    this.socket?.close();
    this.socket = undefined;
    this.ctx.counters.socketReopens++;
    const attempt = (): void => {
      this.reopenTimer = undefined;
      if (this.closed || !this.options) return;
      try {
        this.socket = this.openSocket(this.options);
        log.error({ event: 'vrrp.socket_reopened', instance, err: why }, `${instance}: the VRRP socket stopped reading (${why}); a new one is open`);
      } catch (e) {
        log.error({ event: 'vrrp.socket_reopen_failed', instance, err: (e as Error).message },
          `${instance}: the VRRP socket stopped reading (${why}) and cannot be opened again: ${(e as Error).message}; retrying in 1 s`);
        this.reopenTimer = clock.setTimeout(attempt, 1000);
      }
    };
    attempt();
  }
}
