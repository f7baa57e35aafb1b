/**
 * One disruption of the ECMP lab under load (a crash, a return, a drain): the pool's figures before and
 * after, the fresh connections around it, the router's reaction time, what else the route did meanwhile.
 */
import { establishedFigures, newConnFigures, unexpectedRoutes, type EstablishedFigures, type NewConnFigures } from './ecmp-figures.js';
import { TIMEOUT_SLACK_MS, sleep, type EcmpLab } from './ecmp-lab.js';
import { DIRECTORS, director, type DirectorIndex } from './ecmp-topology.js';

export interface EcmpPhase {
  established: EstablishedFigures;
  newConnections: NewConnFigures;
  /** crash/drain: from the kill (the drain command) to the router's route without the director, ms */
  routerDropMs?: number;
  /** return: from the director announcing again (its lvsd log) to the router's route with it, ms */
  routerAddMs?: number;
  /** return: from lvsd's start to the router's route with the director, ms */
  startToRouteMs?: number;
  /** pooled connections the router had sent through the director before (its IPVS connection table) */
  viaDirector?: number;
  /** and after (a returning director: those the router moved back to it, mid-stream) */
  viaDirectorAfter?: number;
  /** route changes in the window other than this disruption's own (sessions flapping): timing figures then
   * measure the flap too */
  otherRouteChanges: number;
  /** the client sent under 80% of the fresh connections it was asked to (a starved VM): timings then
   * measure the starvation too */
  starved: boolean;
}

export interface Disruption {
  which: DirectorIndex;
  /** the client's period for fresh connections, ms */
  loopMs: number;
  settleMs: number;
  say: (l: string) => void;
  /** what disrupts; returns a note, and when it took effect if that is known better than "just before the call" */
  act: () => Promise<string | { note: string; at?: number }>;
  waitRouter: (t0: number) => Promise<number>;
  kind: 'drop' | 'add';
  /** the director's announcement the router acted on: its last `ecmp.announce` before `routerAt` */
  announcedAt?: (routerAt: number) => number | undefined;
  startedAt?: () => number;
}

/** One disruption under load: the pool's figures before and after, the fresh connections around it. */
export async function disrupt(lab: EcmpLab, d: Disruption): Promise<EcmpPhase> {
  const before = await lab.poolReport();
  const hopsBefore = lab.nexthops();
  const via = lab.conns(d.which);
  const viaDirector = before.filter((c) => c.port !== undefined && via.has(c.port)).length;
  lab.client!.send('mark');
  await sleep(1000);
  const from = Date.now() - 2000;
  const called = Date.now();
  const acted = await d.act();
  const note = typeof acted === 'string' ? acted : acted.note;
  const t0 = typeof acted === 'string' ? called : acted.at ?? called;
  d.say(`      ${note} (${viaDirector} of the ${before.length} pooled connections went through d${d.which})`);
  const routerAt = await d.waitRouter(t0);
  const routerMs = routerAt - t0;
  d.say(`      the router ${d.kind === 'drop' ? 'dropped' : 'added'} d${d.which} ${(routerMs / 1000).toFixed(2)} s after that; now through ${lab.nexthops().map((h) => `d${DIRECTORS.find((x) => director(x).address === h) ?? '?'}`).join(', ')}`);
  await sleep(d.settleMs + TIMEOUT_SLACK_MS);
  const after = await lab.poolReport();
  const viaAfter = lab.conns(d.which);
  const viaDirectorAfter = after.filter((c) => c.port !== undefined && viaAfter.has(c.port)).length;
  const est = establishedFigures(before, after);
  const to = Date.now() - TIMEOUT_SLACK_MS;
  const fresh = newConnFigures(lab.events, from, to, t0);
  const starved = fresh.total < 0.8 * ((to - from) / d.loopMs);
  const otherRouteChanges = unexpectedRoutes(lab.routes, from, Date.now(), hopsBefore, director(d.which).address, d.kind);
  const phase: EcmpPhase = { established: est, newConnections: fresh, viaDirector, viaDirectorAfter, otherRouteChanges, starved };
  if (starved) d.say(`      note: the client sent ${fresh.total} fresh connections where it was asked for ${Math.round((to - from) / d.loopMs)} (a starved VM); the timings include that`);
  if (otherRouteChanges > 0) d.say(`      note: the route also changed ${otherRouteChanges} other time(s) in this window (sessions flapping: a starved VM?); the timings include that`);
  if (d.kind === 'drop') phase.routerDropMs = Math.round(routerMs);
  else {
    const announced = d.announcedAt?.(routerAt);
    phase.routerAddMs = announced === undefined ? undefined : Math.round(routerAt - announced);
    phase.startToRouteMs = Math.round(routerAt - (d.startedAt?.() ?? t0));
  }
  if (d.kind === 'add') d.say(`      the router moved ${viaDirectorAfter} of the pooled connections to d${d.which}, mid-stream (its IPVS connection table)`);
  d.say(`      established: ${est.survived} of ${est.total} survived (the longest wait for an answer on one: ${(est.longestWaitMs / 1000).toFixed(2)} s)`);
  for (const l of est.lost.slice(0, 5)) d.say(`        lost ${l}`);
  d.say(`      new connections: ${fresh.failed} of ${fresh.total} failed, ${fresh.retried} answered after their SYN was sent again; longest gap between answers ` +
    `${(fresh.longestGapMs / 1000).toFixed(2)} s; ${fresh.resumedMs === 0 ? 'none was hurt' : `all fine again ${(fresh.resumedMs / 1000).toFixed(2)} s after`}`);
  return phase;
}
