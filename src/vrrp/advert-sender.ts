/**
 * One instance's outgoing adverts: the encoded bytes kept per (config, source, priority), sent on the
 * channel with each failure logged, and the send-time lateness of adverts the advert timer sent (the last
 * 256 for the snapshot, each one told to the thread's late-advert watch). A master's steady adverts are
 * sent by the advert clock instead where it runs (advert-clock.ts): it is handed the same bytes, and its
 * lateness samples land here too.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { AdvertChannel } from './advert-channel.js';
import type { InstanceCounters, InstanceHooks } from './instance-types.js';
import type { LateAdverts } from './late-advert.js';
import type { RunnerClock } from './runner-io.js';
import { advertIntervalOf } from './machine-config.js';
import { outgoingAdverts } from './wire.js';

const LATENESS_KEPT = 256;

export interface SenderContext {
  channel: AdvertChannel;
  clock: RunnerClock;
  log: Logger;
  counters: InstanceCounters;
  hooks: InstanceHooks;
  late: LateAdverts;
}

export class AdvertSender {
  /** Send-time lateness (ms) of the last adverts the timer sent, oldest first. */
  readonly lateness: number[] = [];
  /**
   * The encoded adverts of the last (config, source, priority): a master sends the same bytes every interval,
   * and encoding them (addresses parsed, checksum) was a quarter of the thread's CPU per advert.
   */
  private encoded: { cfg: VrrpInstanceConfig; source: string; priority: number; out: ReturnType<typeof outgoingAdverts> } | undefined;

  constructor(private readonly ctx: SenderContext) {}

  /** The datagrams of one advert of `priority` (cached: what the advert clock is handed too). */
  encode(cfg: VrrpInstanceConfig, source: string, priority: number): ReturnType<typeof outgoingAdverts> {
    let a = this.encoded;
    if (a?.cfg !== cfg || a.source !== source || a.priority !== priority) {
      a = this.encoded = { cfg, source, priority, out: outgoingAdverts(cfg, source, priority) };
    }
    return a.out;
  }

  /** Lateness of adverts the advert clock sent (oldest first), kept with the timer's. */
  noteLateness(samples: readonly number[]): void {
    if (samples.length === 0) return;
    this.lateness.push(...samples.slice(-LATENESS_KEPT));
    if (this.lateness.length > LATENESS_KEPT) this.lateness.splice(0, this.lateness.length - LATENESS_KEPT);
  }

  /** Sends the adverts of `priority`; `scheduled`: when the advert timer that sends them was due (none for other events). */
  send(cfg: VrrpInstanceConfig, source: string, priority: number, scheduled: number | undefined): void {
    const { channel, counters, hooks, log } = this.ctx;
    for (const { destination, payload } of this.encode(cfg, source, priority)) {
      try {
        channel.send(payload, destination);
        counters.advertsSent++;
        hooks.onAdvertSent?.(cfg.name);
      } catch (e) {
        log.warn({ event: 'vrrp.send_failed', instance: cfg.name, destination, err: (e as Error).message }, (e as Error).message);
      }
    }
    if (scheduled !== undefined) {
      const late = Math.max(0, this.ctx.clock.now() - scheduled);
      this.lateness.push(late);
      if (this.lateness.length > LATENESS_KEPT) this.lateness.shift();
      this.ctx.late.fired(cfg.name, late, advertIntervalOf(cfg), log); // ms (cfg's is in seconds)
    }
  }
}
