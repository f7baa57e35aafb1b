/**
 * The pure part of the ECMP lab: reading the router's route changes (`ip -ts -o monitor route`) and the
 * client's reports, and summing a disruption (a director's crash, its return, its drain) up into the
 * figures the lab prints and its --json line. No I/O here.
 */
import type { ClientEvent } from './running-lab.js';

/** One pooled long-lived connection, as the client reports it (src/lab/client.ts, `pool-report`). */
export interface PooledConn {
  id: number;
  port?: number;
  server?: string;
  servers: string[];
  ok: number;
  failed: number;
  dead?: string;
  longestWaitMs: number;
}

export interface EstablishedFigures {
  /** pooled connections alive and answering before the disruption */
  total: number;
  /** of those: still alive after it, answered since, always by the same web server */
  survived: number;
  /** the longest any of them waited for an answer across the disruption (a request a second: 1 s is none), ms */
  longestWaitMs: number;
  /** what happened to those that did not survive (error text, or "moved to rsN") */
  lost: string[];
}

export interface NewConnFigures {
  /** fresh connections started in the window / failed (an error, or no answer in the client's 2.5 s) */
  total: number;
  failed: number;
  /** answered, but their handshake took 1 s or more: the SYN (or its answer) was lost and sent again */
  retried: number;
  /** longest time between two answers, ms */
  longestGapMs: number;
  /** from the disruption to the start of the first fresh connection after which none failed nor had its SYN
   * sent again, ms (0: none was hurt) */
  resumedMs: number;
}

export interface PhaseSummary {
  established: { total: number; survived: number };
  newConnections: { total: number; failed: number; longestGapMs: number };
}

/**
 * One line of `ip -ts -o monitor route` for `prefix`: when, and the next hops the route now has ([] when it
 * was deleted). E.g. `[2026-12-04T20:20:11.272433] 10.90.100.100 proto bird metric 32 \	nexthop via
 * 10.90.0.3 dev eth1 weight 1 \	nexthop via 10.90.0.4 dev eth1 weight 1` or
 * `[...] Deleted 10.90.100.100 via 10.90.0.3 dev eth1 proto bird metric 32`. `at` is wall-clock ms (`ip`
 * stamps local time, which Date reads as local too). undefined for any other line.
 */
export function routeEvent(line: string, prefix: string): { at: number; nexthops: string[] } | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{1,6})\]\s*(Deleted\s+)?(\S+)\s(.*)$/.exec(line.trim());
  if (!m) return undefined;
  const dst = m[4]!;
  if (dst !== prefix && dst !== `${prefix}/32`) return undefined;
  const at = new Date(m[1]!).getTime() + Number(m[2]!.padEnd(6, '0')) / 1000;
  if (m[3]) return { at, nexthops: [] };
  const hops = [...m[5]!.matchAll(/\bvia\s+(?:inet\s+)?([0-9a-f.:]+)/g)].map((x) => x[1]!);
  return { at, nexthops: [...new Set(hops)].sort() };
}

/** The first time after `since` the route's next hops stopped (want false) or started (want true) including `hop`. */
export function hopChangeAt(events: ReadonlyArray<{ at: number; nexthops: string[] }>, hop: string, want: boolean, since: number): number | undefined {
  return events.find((e) => e.at >= since && e.nexthops.includes(hop) === want)?.at;
}

/**
 * Route changes in a window that are not the disruption's own: the route should only ever go from `before`
 * to `before` without `hop` (drop) or with it (add). Any other next-hop set means a session flapped (BFD on
 * a starved VM, typically): the window's timing figures then measure the flap as much as the disruption.
 */
export function unexpectedRoutes(events: ReadonlyArray<{ at: number; nexthops: string[] }>, from: number, to: number, before: readonly string[], hop: string, kind: 'drop' | 'add'): number {
  const key = (xs: readonly string[]) => [...new Set(xs)].sort().join(',');
  const a = key(before);
  const b = key(kind === 'drop' ? before.filter((h) => h !== hop) : [...before, hop]);
  return events.filter((e) => e.at >= from && e.at <= to && key(e.nexthops) !== a && key(e.nexthops) !== b).length;
}

/**
 * Established connections across a disruption: `before` and `after` are the client's pool reports taken
 * before it and once everything settled. A connection counts when it was alive and had answered before;
 * it survived when it is still alive, answered at least `minAnswers` more times, and only ever from the
 * server it started with (a connection moved to another web server is broken, whatever the client saw).
 */
export function establishedFigures(before: readonly PooledConn[], after: readonly PooledConn[], minAnswers = 2): EstablishedFigures {
  const now = new Map(after.map((c) => [c.id, c]));
  const counted = before.filter((c) => !c.dead && c.ok > 0);
  const lost: string[] = [];
  let survived = 0;
  let longestWaitMs = 0;
  for (const b of counted) {
    const a = now.get(b.id);
    if (a) longestWaitMs = Math.max(longestWaitMs, a.longestWaitMs);
    if (!a) lost.push(`#${b.id}: not reported`);
    else if (a.dead) lost.push(`#${b.id} (port ${a.port ?? '?'}): ${a.dead}`);
    else if (a.servers.length > 1) lost.push(`#${b.id} (port ${a.port ?? '?'}): answered by ${a.servers.join(' then ')}`);
    else if (a.ok - b.ok < minAnswers) lost.push(`#${b.id} (port ${a.port ?? '?'}): only ${a.ok - b.ok} answer(s) since`);
    else survived++;
  }
  return { total: counted.length, survived, longestWaitMs: Math.round(longestWaitMs), lost };
}

/** Fresh connections started in [from, to], the disruption at t0. */
export function newConnFigures(events: readonly ClientEvent[], from: number, to: number, t0: number, retryMs = 1000): NewConnFigures {
  const shorts = events.filter((e) => e.kind === 'short' && e.at >= from && e.at <= to).sort((a, b) => a.at - b.at);
  const okEnds = shorts.filter((e) => e.ok).map((e) => e.at + e.ms).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < okEnds.length; i++) gap = Math.max(gap, okEnds[i]! - okEnds[i - 1]!);
  const retried = (e: ClientEvent) => e.ok && (e.connectMs ?? 0) >= retryMs;
  const hurt = shorts.filter((e) => !e.ok || retried(e));
  const lastHurt = hurt.filter((e) => e.at >= t0).at(-1);
  const next = lastHurt ? shorts.find((e) => e.at > lastHurt.at) : undefined;
  return {
    total: shorts.length,
    failed: shorts.filter((e) => !e.ok).length,
    retried: shorts.filter(retried).length,
    longestGapMs: Math.round(gap),
    resumedMs: lastHurt ? Math.round((next?.at ?? lastHurt.at) - t0) : 0,
  };
}

export function phaseSummary(e: EstablishedFigures, n: NewConnFigures): PhaseSummary {
  return {
    established: { total: e.total, survived: e.survived },
    newConnections: { total: n.total, failed: n.failed, longestGapMs: n.longestGapMs },
  };
}

/** The goals, checked: the lines that say which are met. */
export interface Goals {
  crashSurvivedRatio: number;
  resumeWithinMs: number;
}

export const GOALS: Goals = { crashSurvivedRatio: 0.99, resumeWithinMs: 1000 };

export function goalLines(crash?: { est: EstablishedFigures; fresh: NewConnFigures }, back?: { est: EstablishedFigures }, drain?: { fresh: NewConnFigures; est: EstablishedFigures }): string[] {
  const out: string[] = [];
  const mark = (ok: boolean) => (ok ? 'met    ' : 'NOT met');
  if (crash) {
    const ratio = crash.est.total ? crash.est.survived / crash.est.total : NaN;
    out.push(`  ${mark(ratio >= GOALS.crashSurvivedRatio)} crash: >= 99% of established connections survive (${crash.est.survived}/${crash.est.total})`);
    out.push(`  ${mark(crash.fresh.resumedMs <= GOALS.resumeWithinMs)} crash: new connections resume within 1 s (${(crash.fresh.resumedMs / 1000).toFixed(2)} s)`);
  }
  if (back) out.push(`  ${mark(back.est.survived === back.est.total)} return: no established connection lost (${back.est.total - back.est.survived} lost)`);
  if (drain) out.push(`  ${mark(drain.fresh.failed === 0 && drain.est.survived === drain.est.total)} drain: no failed request (${drain.fresh.failed} new, ${drain.est.total - drain.est.survived} established)`);
  return out;
}
