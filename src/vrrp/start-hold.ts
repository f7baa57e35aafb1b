/**
 * What an instance hears between open() and its machine's start: the adverts are held (at most MAX_HELD)
 * and fed once it runs, and the start counts from when an adopted socket began to listen if nothing was
 * lost meanwhile (early-listen.ts), so a director restarted by exec waits one Master_Down_Interval from
 * its exec, not from when its table was ready.
 */
import type { Logger } from '../log.js';
import type { VrrpPacketInfo } from '../net/index.js';

/** At most this many adverts are held between open() and the machine's start; more, and the timer runs from the start. */
export const MAX_HELD = 4096;

export interface HeldAdvert {
  payload: Buffer;
  info: VrrpPacketInfo;
  at: number;
}

export class StartHold {
  private held: HeldAdvert[] = [];
  /** More arrived before the start than held keeps: the socket's listening time does not count. */
  private lost = false;
  /** Since when the socket adopted at open() listens (the runner's clock); undefined for a socket opened here. */
  listenSince: number | undefined;

  hold(payload: Buffer, info: VrrpPacketInfo, at: number): void {
    if (this.held.length >= MAX_HELD) this.lost = true;
    else this.held.push({ payload, info, at });
  }

  /** Hands over what was held, and holds nothing from now on. */
  take(): HeldAdvert[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  /**
   * When the machine's start counts from: `now`, or when the adopted socket began to listen if every advert
   * since has been heard (`drops`: what the kernel dropped on the socket, -1 unknown; the caller drained it
   * into hold() just before). An address owner (priority 255) starts as master at once: now.
   */
  startTime(now: number, drops: number, instance: string, priority: number, log: Logger): number {
    const since = this.listenSince;
    if (since === undefined || priority === 255) return now;
    const heard = drops === 0 && !this.lost;
    log.info({ event: 'vrrp.early_socket', instance, listenedMs: Math.round(now - since), heard: this.held.length, complete: heard },
      heard
        ? `${instance}: listening since ${Math.round(now - since)} ms (socket opened at exec, ${this.held.length} packets heard meanwhile): Master_Down runs from then`
        : `${instance}: the socket opened at exec lost packets while nothing read it (${drops < 0 ? 'count unknown' : `${drops} dropped`}): Master_Down runs from now`);
    return heard ? Math.min(since, now) : now;
  }
}
