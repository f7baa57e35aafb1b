/**
 * The health bench's window split by lvsd's drift passes (bench/health.ts, LVSD_BENCH_HEALTH_DRIFT): does
 * the one periodic full read of the IPVS table delay what a user notices? Pure: the daemon's log lines, the
 * sink's probe records, the adverts' arrivals and the canary's verdicts in; figures during a pass and
 * outside one out.
 *
 * A pass is the daemon's own `daemon.reconcile` line with reason `drift`, logged at its end: it began `ms`
 * before (its read, outside the reconciler's queue, the first `readMs`; then the plan and the sends, in
 * the queue, where a health change waits for it). What falls in [start, end] is "during".
 */
import { stats, type Stats } from './_health-measure.js';

/** One drift pass, wall-clock ms. */
export interface DriftPass {
  start: number;
  /** the read ended, with its rounds read again (outside the queue until then) */
  readEnd: number;
  end: number;
  /** the event loop's worst / p99 delay the daemon measured for the pass (ms) */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  /** operations the pass sent, and services other passes touched during its read, read again in the queue */
  ops: number;
  readAgain: number;
  /** of those, read again outside the queue after the read (in rounds), and how long that took (ms; since 2026-12-06) */
  againOutside: number;
  againMs: number;
}

/** Where a moment falls: outside every pass, in a pass's read, or in its planning and sending (the queue). */
export type Phase = 'outside' | 'read' | 'queue';

/** The drift passes in the daemon's log text (pino JSON lines), in time order. */
export function driftPasses(logText: string): DriftPass[] {
  const out: DriftPass[] = [];
  for (const line of logText.split('\n')) {
    if (!line.includes('"daemon.reconcile"') || !line.includes('"drift"')) continue;
    let j: { event?: string; reason?: string; time?: string | number; ms?: number; readMs?: number; loopDelayMaxMs?: number; loopDelayP99Ms?: number; ops?: number; readAgain?: number; againOutside?: number; againMs?: number };
    try {
      j = JSON.parse(line) as typeof j;
    } catch {
      continue;
    }
    if (j.event !== 'daemon.reconcile' || j.reason !== 'drift') continue;
    const end = typeof j.time === 'number' ? j.time : Date.parse(String(j.time));
    const ms = Number(j.ms);
    if (!Number.isFinite(end) || !Number.isFinite(ms)) continue;
    const start = end - ms;
    out.push({ start, readEnd: start + Math.min(ms, Number(j.readMs ?? 0) + Number(j.againMs ?? 0)), end, loopDelayMaxMs: Number(j.loopDelayMaxMs ?? NaN), loopDelayP99Ms: Number(j.loopDelayP99Ms ?? NaN),
      ops: Number(j.ops ?? NaN), readAgain: Number(j.readAgain ?? NaN), againOutside: Number(j.againOutside ?? 0), againMs: Number(j.againMs ?? 0) });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Where `t` (ms) falls among `passes` (sorted by start). */
export function phaseAt(passes: readonly DriftPass[], t: number): Phase {
  for (const p of passes) {
    if (t < p.start) break;
    if (t <= p.end) return t < p.readEnd ? 'read' : 'queue';
  }
  return 'outside';
}

const during = (ph: Phase) => ph !== 'outside';

/** The probes the sink saw in [fromUs, toUs), split: starts per 10 ms bin, interval deviation, late intervals. */
export function splitProbes(recs: ReadonlyArray<{ us: number; key: number }>, fromUs: number, toUs: number, intervalS: number, passes: readonly DriftPass[]) {
  const nBins = Math.ceil((toUs - fromUs) / 10_000);
  const bins = new Array<number>(nBins).fill(0);
  for (const r of recs) if (r.us >= fromUs && r.us < toUs) bins[Math.floor((r.us - fromUs) / 10_000)]!++;
  const binsIn: number[] = [], binsOut: number[] = [];
  for (let i = 0; i < nBins; i++) (during(phaseAt(passes, (fromUs + i * 10_000 + 5_000) / 1000)) ? binsIn : binsOut).push(bins[i]!);
  const byServer = new Map<number, number[]>();
  for (const r of recs) {
    let l = byServer.get(r.key);
    if (!l) byServer.set(r.key, (l = []));
    l.push(r.us);
  }
  // an interval is counted where its later probe began (a late start is late where it happened)
  const devIn: number[] = [], devOut: number[] = [];
  let lateIn = 0, lateOut = 0;
  for (const times of byServer.values()) {
    times.sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) {
      if (times[i]! < fromUs || times[i]! >= toUs) continue;
      const d = (times[i]! - times[i - 1]!) / 1000 - intervalS * 1000;
      const inPass = during(phaseAt(passes, times[i]! / 1000));
      (inPass ? devIn : devOut).push(Math.abs(d));
      if (d > intervalS * 500) inPass ? lateIn++ : lateOut++;
    }
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const side = (b: number[], dev: number[], late: number) => ({
    seconds: b.length / 100, probes: sum(b), rate: b.length ? sum(b) / (b.length / 100) : NaN,
    bins10ms: { ideal: b.length ? sum(b) / b.length : NaN, ...stats(b) }, intervalDeviationMs: stats(dev), late,
  });
  return { during: side(binsIn, devIn, lateIn), outside: side(binsOut, devOut, lateOut) };
}

/** |inter-arrival - advertMs| of the adverts in [from, to] (ms), split by where the later one arrived. */
export function splitAdverts(arrivals: readonly number[], from: number, to: number, advertMs: number, passes: readonly DriftPass[]): { during: Stats; outside: Stats } {
  const a = arrivals.filter((t) => t >= from && t <= to);
  const jIn: number[] = [], jOut: number[] = [];
  for (let i = 1; i < a.length; i++) (during(phaseAt(passes, a[i]!)) ? jIn : jOut).push(Math.abs(a[i]! - a[i - 1]! - advertMs));
  return { during: stats(jIn), outside: stats(jOut) };
}

/**
 * One of the canary's up flips (ms): the listener turned on, its first accepted probe, the daemon's verdict
 * (`health.change` to up), the daemon's health pass that sent the weight (`ipvs.apply`), the weight seen by
 * ipvsadm polling the kernel.
 */
export interface CanaryFlip {
  onAt: number;
  acceptAt: number;
  verdictAt?: number;
  appliedAt?: number;
  weightAt?: number;
}

export interface VerdictFigures {
  /** the accepted probe to the verdict line (the outcome crossing to the main thread and read there) */
  verdictMs: Stats;
  /** the verdict line to the health pass's ipvs.apply line (the weight sent: the reconciler's queue) */
  applyMs: Stats;
  /** the accepted probe to the weight seen in the kernel (ipvsadm polled) */
  weightMs: Stats;
  /** flips whose weight was not seen in the kernel within the bench's wait */
  missed: number;
}

/** The canary's flips split by where its probe was accepted. */
export function splitVerdicts(flips: readonly CanaryFlip[], passes: readonly DriftPass[]): Record<Phase, VerdictFigures> {
  const acc: Record<Phase, { v: number[]; a: number[]; w: number[]; missed: number }> = {
    outside: { v: [], a: [], w: [], missed: 0 }, read: { v: [], a: [], w: [], missed: 0 }, queue: { v: [], a: [], w: [], missed: 0 },
  };
  for (const f of flips) {
    const a = acc[phaseAt(passes, f.acceptAt)];
    if (f.verdictAt !== undefined) a.v.push(f.verdictAt - f.acceptAt);
    if (f.verdictAt !== undefined && f.appliedAt !== undefined) a.a.push(f.appliedAt - f.verdictAt);
    if (f.weightAt !== undefined) a.w.push(f.weightAt - f.acceptAt);
    else a.missed++;
  }
  const out = {} as Record<Phase, VerdictFigures>;
  for (const ph of ['outside', 'read', 'queue'] as const) out[ph] = { verdictMs: stats(acc[ph].v), applyMs: stats(acc[ph].a), weightMs: stats(acc[ph].w), missed: acc[ph].missed };
  return out;
}

/**
 * The service's up verdicts in the daemon's log (ms, sorted): its `health.change` lines to up, and the
 * `ipvs.apply` lines of the health passes that sent them (reason `health: ... -> up ...`).
 */
export function canaryUps(logText: string, service: string): { verdicts: number[]; applied: number[] } {
  const verdicts: number[] = [], applied: number[] = [];
  for (const line of logText.split('\n')) {
    if (!line.includes(`"${service}"`) || !(line.includes('"health.change"') || line.includes('"ipvs.apply"'))) continue;
    try {
      const j = JSON.parse(line) as { event?: string; service?: string; to?: string; reason?: string; time?: string | number };
      if (j.service !== service) continue;
      const t = typeof j.time === 'number' ? j.time : Date.parse(String(j.time));
      if (j.event === 'health.change' && j.to === 'up') verdicts.push(t);
      if (j.event === 'ipvs.apply' && /^health: .* -> up\b/.test(String(j.reason))) applied.push(t);
    } catch {
      /* not a line of ours */
    }
  }
  return { verdicts: verdicts.sort((a, b) => a - b), applied: applied.sort((a, b) => a - b) };
}

/**
 * Each flip with its verdict and its weight sent: the first of each from the flip's `on` (before its probe
 * was accepted: the listener's clock reads its accept when it wakes, after the prober saw the connect) to
 * the next flip's `on`.
 */
export function withVerdicts(flips: readonly CanaryFlip[], ups: { verdicts: readonly number[]; applied: readonly number[] }): CanaryFlip[] {
  return flips.map((f, i) => {
    const next = flips[i + 1]?.onAt ?? Infinity;
    const v = ups.verdicts.find((u) => u >= f.onAt && u < next);
    const a = v !== undefined ? ups.applied.find((u) => u >= v && u < next) : undefined;
    return { ...f, ...(v !== undefined && { verdictAt: v }), ...(a !== undefined && { appliedAt: a }) };
  });
}
