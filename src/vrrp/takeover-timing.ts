/**
 * Takeover telemetry: the instants of one takeover by Master_Down_Timer (monotonic ms), logged once as
 * `vrrp.takeover_timing` when the first GARP / NA burst is out. docs/vrrp-runner.md "Takeover path" says
 * what each field measures and what it showed.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';

type Mark = 'stepDone' | 'addStart' | 'addAcked' | 'garpSent';

/** Wall-clock ms with sub-ms precision for a monotonic instant (comparable with `ip -ts monitor` stamps). */
const wall = (t: number): number => Math.round((performance.timeOrigin + t) * 1000) / 1000;

export class TakeoverTiming {
  private t: { deadline: number; fired: number; lastAdvert?: number } & Partial<Record<Mark, number>> | undefined;

  constructor(private readonly instance: string, private readonly log: Logger, private readonly now: () => number) {}

  /** Master_Down_Timer fired (armed for `deadline`); `lastAdvert`: when the last advert was accepted. */
  begin(deadline: number, lastAdvert: number | undefined): void {
    this.t = { deadline, fired: this.now(), ...(lastAdvert !== undefined ? { lastAdvert } : {}) };
  }

  /** The timer's step was performed: keep the record only if it made us master. */
  stepped(master: boolean): void {
    if (!this.t) return;
    if (!master) this.t = undefined;
    else this.t.stepDone ??= this.now();
  }

  /** Records an instant of the takeover in progress (none: nothing). */
  mark(what: Mark): void {
    if (this.t) this.t[what] = this.now();
  }

  /** The first GARP / NA burst is out: one line, ms from the last advert heard, then forget it. */
  finish(): void {
    const t = this.t;
    this.t = undefined;
    if (!t) return;
    t.garpSent = this.now();
    const ref = t.lastAdvert ?? t.fired;
    const rel = (x: number | undefined) => (x === undefined ? null : Math.round((x - ref) * 10) / 10);
    this.log.info({
      event: 'vrrp.takeover_timing', instance: this.instance,
      lastAdvertWall: t.lastAdvert !== undefined ? wall(t.lastAdvert) : null,
      deadline: rel(t.deadline), fired: rel(t.fired), stepDone: rel(t.stepDone), addStart: rel(t.addStart),
      addAcked: rel(t.addAcked), garpSent: rel(t.garpSent), addAckedWall: t.addAcked !== undefined ? wall(t.addAcked) : null,
    }, `${this.instance}: takeover timing`);
  }
}
