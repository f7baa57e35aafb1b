/**
 * The status page's event list: the last transitions (VRRP states, real servers' health, drains, loads
 * and reloads), found by comparing each status snapshot with the one before. Pure.
 *
 * Each event carries the time the snapshot says it happened (the instance's or real server's `since`,
 * the load's `at`), not the time it was noticed. A change that came and went between two snapshots is
 * not seen, except VRRP, whose transition counter shows it ("2 transitions").
 */
import type { LoadOutcome, StatusSnapshot } from '../status.js';
import { loadOutcome } from './view.js';

export type EventLevel = 'ok' | 'warn' | 'bad' | 'info';

export interface PageEvent {
  /** ISO time. */
  at: string;
  kind: 'vrrp' | 'health' | 'drain' | 'load';
  level: EventLevel;
  /** What it concerns: an instance, "service real-server", or the config. */
  subject: string;
  /** What happened, in a few words. */
  text: string;
}

/** More health changes than this in one snapshot are summed up in one event per direction. */
const HEALTH_DETAIL_MAX = 8;

const LOAD_LEVEL: Record<LoadOutcome, EventLevel> = { ok: 'ok', partial: 'warn', refused: 'bad', failed: 'bad' };
const LOAD_TEXT: Record<LoadOutcome, string> = {
  ok: 'applied', partial: 'applied, some IPVS operations retried', refused: 'refused: the previous config stays',
  failed: 'failed: the previous config stays',
};

const VRRP_LEVEL: Record<string, EventLevel> = { master: 'ok', backup: 'warn', fault: 'bad', init: 'info', stopped: 'info' };

/** The events between two snapshots (prev undefined: the first one, whose current states are reported). */
export function diffEvents(prev: StatusSnapshot | undefined, next: StatusSnapshot): PageEvent[] {
  const events: PageEvent[] = [];
  const at = next.generatedAt;

  const load = next.lastLoad;
  if (load && (!prev?.lastLoad || prev.lastLoad.at !== load.at)) {
    const outcome = loadOutcome(load);
    events.push({ at: load.at, kind: 'load', level: LOAD_LEVEL[outcome], subject: 'config', text: `${load.kind} ${LOAD_TEXT[outcome]}` });
  }

  const prevVrrp = new Map((prev?.vrrp ?? []).map((v) => [v.name, v]));
  for (const v of next.vrrp) {
    const p = prevVrrp.get(v.name);
    if (p && p.state === v.state && p.transitions === v.transitions) continue;
    const hops = p ? v.transitions - p.transitions : 0;
    const how = p ? (hops > 1 ? ` (${hops} transitions)` : ` (was ${p.state})`) : '';
    events.push({ at: v.since, kind: 'vrrp', level: VRRP_LEVEL[v.state] ?? 'info', subject: v.name, text: `${v.state}${how}` });
  }

  const prevRs = new Map<string, { health: string; drained: boolean }>();
  for (const s of prev?.services ?? []) {
    for (const r of s.realServers) prevRs.set(`${s.name} ${r.id}`, { health: r.health.state, drained: r.drained });
  }
  const health: PageEvent[] = [];
  for (const s of next.services) {
    for (const r of s.realServers) {
      const subject = `${s.name} ${r.id}`;
      const p = prevRs.get(subject);
      const state = r.health.state;
      // a real server seen for the first time is reported only when it is down
      if (p ? p.health !== state : state === 'down') {
        health.push({
          at: r.health.since ?? at, kind: 'health', level: state === 'up' ? 'ok' : state === 'down' ? 'bad' : 'info',
          subject, text: state,
        });
      }
      if (p && p.drained !== r.drained) {
        events.push({ at, kind: 'drain', level: r.drained ? 'warn' : 'ok', subject, text: r.drained ? 'drained' : 'undrained' });
      }
    }
  }
  if (health.length <= HEALTH_DETAIL_MAX) {
    events.push(...health);
  } else {
    for (const level of ['bad', 'ok', 'info'] as const) {
      const some = health.filter((e) => e.level === level);
      if (some.length === 0) continue;
      events.push({
        at: some[some.length - 1]!.at, kind: 'health', level, subject: `${some.length} real servers`,
        text: `${some[0]!.text} (${some.slice(0, 3).map((e) => e.subject).join(', ')}, ...)`,
      });
    }
  }
  return events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/** The last `max` events, newest first. */
export class EventLog {
  private readonly items: PageEvent[] = [];
  constructor(private readonly max = 50) {}

  add(events: readonly PageEvent[]): void {
    for (const e of events) this.items.unshift(e);
    this.items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    if (this.items.length > this.max) this.items.length = this.max;
  }

  list(): PageEvent[] {
    return [...this.items];
  }
}
