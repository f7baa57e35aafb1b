/**
 * A master's steady adverts, sent by the advert clock (native/src/vrrp_clock.c: one thread per process)
 * rather than by a JavaScript timer. On Adver_Timer expiry a master only sends an advert and re-arms the
 * timer (RFC 5798 6.4.3; state-machine.ts onTimer): nothing the machine decides, so the timer's whole work
 * can be handed over. The runner (instance.ts) hands it the advert timer when the machine arms it, with
 * the bytes the sender would send (AdvertSender.encode); it takes it back before anything else the machine
 * does with adverts (a send on another event, a re-arm, a cancel): the wire sees the adverts it saw with
 * the JavaScript timer, the same bytes at the same times (the clock keeps the phase: no drift). A change of
 * the bytes alone (priority from a tracked script, a reload's new interval) replaces them, keeping the phase.
 *
 * The thread's loop is woken only for what needs it: a send failure (once a failing run), a late advert.
 * The counters (advertsSent, socketErrors, the snapshot's lateness, the metrics' sent adverts) are read
 * from the clock when a snapshot asks, and when the adverts are taken back.
 *
 * Without the clock (no addon, LVSD_VRRP_ADVERT_CLOCK=0, no thread could start: logged once per thread) the
 * runner's own timer sends, as before.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { AdvertClockReport, AdvertClockStats } from '../net/index.js';
import type { AdvertChannel } from './advert-channel.js';
import type { AdvertSender } from './advert-sender.js';
import type { InstanceCounters, InstanceHooks } from './instance-types.js';
import { lateThresholdMs, type LateAdverts } from './late-advert.js';
import { advertIntervalOf } from './machine-config.js';
import type { RunnerIo } from './runner-io.js';

/** Whether each RunnerIo's clock started (the real one is one per thread: its line is logged once per thread). */
const started = new WeakMap<RunnerIo, boolean>();

/** Starts `io`'s advert clock the first time it is asked; whether there is one. */
export function advertClockReady(io: RunnerIo, log: Logger): boolean {
  const known = started.get(io);
  if (known !== undefined) return known;
  if (!io.startAdvertClock) {
    started.set(io, false);
    return false;
  }
  try {
    const c = io.startAdvertClock();
    log.info({
      event: 'vrrp.advert_clock', tid: c.tid, realtime: c.realtime, priority: c.realtime ? c.priority : 0, ...(c.schedError ? { schedError: c.schedError } : {}),
      ...(c.lockedKiB !== undefined ? { lockedKiB: c.lockedKiB } : {}), ...(c.lockError ? { lockError: c.lockError } : {}),
    }, `a master's periodic adverts are sent by the advert clock thread ${c.tid} (${c.realtime ? `SCHED_RR ${c.priority}` : `ordinary scheduling${c.schedError ? `: SCHED_RR refused, ${c.schedError}` : ''}`}` +
      `${c.lockedKiB ? `; ${c.lockedKiB} KiB it runs on locked in memory` : ''}${c.lockError ? `; not all of what it runs on could be locked (${c.lockError}): it may wait for page faults` : ''})`);
    started.set(io, true);
  } catch (e) {
    log.warn({ event: 'vrrp.advert_clock_unavailable', reason: (e as Error).message },
      `no advert clock (${(e as Error).message}): a master's periodic adverts are sent by the VRRP thread's timers`);
    started.set(io, false);
  }
  return started.get(io)!;
}

export interface ClockedContext {
  /** the instance's name (it never changes in place) */
  name: string;
  io: RunnerIo;
  channel: AdvertChannel;
  sender: AdvertSender;
  log: Logger;
  counters: InstanceCounters;
  hooks: InstanceHooks;
  late: LateAdverts;
  /** The clock lost the adverts (a replaced socket refused them): the runner sends them from now on. */
  onLost(): void;
}

export class ClockedAdverts {
  /** What the clock holds (undefined: nothing, the runner's timer is in charge). */
  private held: { cfg: VrrpInstanceConfig; source: string; priority: number } | undefined;
  /** the send-failure line is logged once a failing run */
  private failing = false;
  /** the config whose adverts the clock refused (logged once): not offered again until a reload */
  private refused: VrrpInstanceConfig | undefined;

  constructor(private readonly ctx: ClockedContext) {}

  /** Starts the process's advert clock (once) before any takeover needs it. */
  prepare(): void {
    advertClockReady(this.ctx.io, this.ctx.log);
  }

  get armed(): boolean {
    return this.held !== undefined;
  }

  /**
   * The machine armed its advert timer for `at` (a master): the clock sends the adverts of `priority` then
   * and every interval after. false: there is no clock, the caller arms its own timer.
   */
  arm(cfg: VrrpInstanceConfig, source: string, priority: number, at: number): boolean {
    this.disarm();
    if (this.refused === cfg || !advertClockReady(this.ctx.io, this.ctx.log)) return false;
    if (!this.hand(cfg, source, priority, at)) return false;
    this.held = { cfg, source, priority };
    return true;
  }

  /** After a step or a reload: the bytes or interval changed (priority, config), the phase stays. */
  refresh(cfg: VrrpInstanceConfig, source: string, priority: number): void {
    const h = this.held;
    if (!h || (h.cfg === cfg && h.source === source && h.priority === priority)) return;
    this.held = { cfg, source, priority };
    if (!this.hand(cfg, source, priority, undefined)) this.lost();
  }

  /** Takes the adverts back from the clock (the runner does what comes next itself). */
  disarm(): void {
    if (!this.held) return;
    this.held = undefined;
    this.account(this.ctx.channel.unschedule());
  }

  /** Adds what the clock counted since the last read to the counters (before a snapshot). */
  collect(): void {
    if (this.held) this.account(this.ctx.channel.readSchedule());
  }

  private hand(cfg: VrrpInstanceConfig, source: string, priority: number, at: number | undefined): boolean {
    const adverts = this.ctx.sender.encode(cfg, source, priority);
    const name = cfg.name;
    const intervalMs = advertIntervalOf(cfg);
    const r = this.ctx.channel.schedule(adverts, at, intervalMs, lateThresholdMs(intervalMs), (x) => this.report(name, x), () => this.lost());
    if (r === 'refused') this.refused = cfg;
    return r === 'ok';
  }

  private lost(): void {
    if (!this.held) return;
    this.held = undefined;
    this.ctx.onLost();
  }

  private report(name: string, r: AdvertClockReport): void {
    const { log } = this.ctx;
    if (r.kind === 'late') {
      if (this.held) this.ctx.late.clockLate(name, r, advertIntervalOf(this.held.cfg), log);
    } else if (r.kind === 'send_failed') {
      if (this.failing) return;
      this.failing = true;
      log.warn({ event: 'vrrp.socket_error', instance: name, err: `VRRP send failed: ${r.error}`, code: r.error, sender: 'advert_clock' },
        `${name}: adverts cannot be sent (${r.error}): counted in the socket errors, logged again once they go out`);
    } else {
      this.failing = false;
      log.info({ event: 'vrrp.send_recovered', instance: name, err: r.error, rounds: r.rounds },
        `${name}: adverts go out again after ${r.rounds} that could not be sent (${r.error})`);
    }
  }

  private account(s: AdvertClockStats | undefined): void {
    if (!s) return;
    const { counters, hooks, sender } = this.ctx;
    counters.advertsSent += s.sent;
    counters.socketErrors += s.failed;
    if (s.sent > 0) hooks.onAdvertSent?.(this.ctx.name, s.sent);
    sender.noteLateness(s.lateness);
  }
}
