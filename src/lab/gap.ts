/**
 * The pure part of the failover-gap bench (bench/failover-gap.ts) and of the lab's failover tests:
 * reading `ipvsadm -Ln` and `ip -ts monitor address` lines, a director's state from its log line, and
 * summing trials up into the table the bench prints. No I/O here.
 */

export type Tool = 'lvsd' | 'keepalived';

/**
 * A director's state from one line of its output: lvsd's `vrrp.transition` log event, or keepalived's
 * "(NAME) Entering MASTER STATE" line (BACKUP, FAULT likewise). undefined when the line says neither.
 */
export function stateFromLine(tool: Tool, instance: string, line: string, json?: Record<string, unknown>): string | undefined {
  if (tool === 'lvsd') return json?.event === 'vrrp.transition' && json.instance === instance ? String(json.to) : undefined;
  const m = /\((\S+)\) Entering (MASTER|BACKUP|FAULT) STATE/.exec(line);
  return m && m[1] === instance ? m[2]!.toLowerCase() : undefined;
}

/**
 * The real servers of one virtual service in `ipvsadm -Ln` output, with their weights:
 * "TCP  10.80.0.100:80 rr" then "  -> 10.80.0.11:80   Route   1   0   0" lines until the next service.
 */
export function ipvsadmWeights(output: string, service: string): Map<string, number> {
  const weights = new Map<string, number>();
  let inside = false;
  for (const line of output.split('\n')) {
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)/.exec(line);
    if (svc) {
      inside = svc[2] === service;
      continue;
    }
    const rs = /^\s+->\s+(\d[\d.:[\]a-f]*)\s+\S+\s+(\d+)\s/.exec(line);
    if (inside && rs) weights.set(rs[1]!, Number(rs[2]));
  }
  return weights;
}

/**
 * One line of `ip -ts monitor address`: "[2026-11-25T10:50:00.123456] 3: eth0    inet 10.80.0.100/24 ..."
 * or "[...] Deleted 3: eth0 ...". `at` is wall-clock ms: `ip` stamps local time, which Date reads as local too.
 */
export function addressEvent(line: string): { at: number; added: boolean; address: string; dev: string } | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{1,6})\]\s*(Deleted\s+)?\d+:\s+(\S+)\s+inet6?\s+([0-9a-f.:]+)\//.exec(line);
  if (!m) return undefined;
  const at = new Date(m[1]!).getTime() + Number(m[2]!.padEnd(6, '0')) / 1000;
  return { at, added: m[3] === undefined, address: m[5]!, dev: m[4]! };
}

/**
 * When `ip -ts monitor link` saw `dev` go administratively down: "[ts] 12: eth0@if102: <BROADCAST,MULTICAST> ...
 * state DOWN" (its flags without UP). Wall-clock ms, or undefined for any other line.
 */
export function linkDownAt(line: string, dev: string): number | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{1,6})\]\s*\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>/.exec(line);
  if (!m || m[3] !== dev || m[4]!.split(',').includes('UP')) return undefined;
  return new Date(m[1]!).getTime() + Number(m[2]!.padEnd(6, '0')) / 1000;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One failover of one tool, as the bench measured it. */
export interface GapTrial {
  tool: Tool;
  intervalMs: number;
  /** client request period, ms (the same for both tools at one interval) */
  loopMs: number;
  /** longest time between two successful answers around the kill, ms */
  longestGapMs: number;
  /** from the master's link going down (ip monitor link) to the VIP's address add on the backup (ip monitor address), ms */
  takeoverMs: number;
  /** from issuing `ip link set eth0 down` to the link being down, ms (the exec's cost under TCG) */
  linkDownMs: number;
  requests: number;
  failed: number;
  /** the backup became master (or the master left master) before the kill: a false takeover */
  flaps: number;
  /** requests that failed before the kill (should be 0) */
  failedBefore: number;
  /** trial took, ms (start to teardown) */
  ms: number;
  /** where the trial's time went, for the log */
  phases?: string;
  error?: string;
}

export interface GapRow {
  tool: Tool;
  intervalMs: number;
  trials: number;
  errors: number;
  medianGapMs: number;
  maxGapMs: number;
  medianTakeoverMs: number;
  /** the gap beyond the takeover (the GARP, the next request, its round trip): free of the cut's advert phase */
  medianAfterTakeoverMs: number;
  failed: number;
  requests: number;
  flaps: number;
  failedBefore: number;
}

export function summarise(trials: readonly GapTrial[], tool: Tool, intervalMs: number): GapRow {
  const all = trials.filter((t) => t.tool === tool && t.intervalMs === intervalMs);
  const ok = all.filter((t) => t.error === undefined);
  const sum = (f: (t: GapTrial) => number) => ok.reduce((a, t) => a + f(t), 0);
  return {
    tool, intervalMs, trials: all.length, errors: all.length - ok.length,
    medianGapMs: median(ok.map((t) => t.longestGapMs)),
    maxGapMs: ok.length ? Math.max(...ok.map((t) => t.longestGapMs)) : NaN,
    medianTakeoverMs: median(ok.map((t) => t.takeoverMs)),
    medianAfterTakeoverMs: median(ok.map((t) => t.longestGapMs - t.takeoverMs)),
    failed: sum((t) => t.failed), requests: sum((t) => t.requests),
    flaps: sum((t) => t.flaps), failedBefore: sum((t) => t.failedBefore),
  };
}

/** Master_Down_Interval of a VRRP v3 backup, ms. */
export function mdiMs(intervalMs: number, backupPriority: number): number {
  return 3 * intervalMs + ((256 - backupPriority) * intervalMs) / 256;
}

const s = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : '-').padStart(6);

/** The bench's table: a row per tool per interval, then the lvsd / keepalived ratio of median gaps. */
export function renderTable(trials: readonly GapTrial[], intervals: readonly number[], backupPriority: number): string[] {
  const out = [
    'interval  MDI    tool        runs  gap median  gap max  takeover median  gap-takeover median  failed/requests  false takeovers',
  ];
  for (const iv of intervals) {
    const rows = (['lvsd', 'keepalived'] as const).map((tool) => summarise(trials, tool, iv));
    for (const r of rows) {
      out.push(`${`${iv} ms`.padEnd(9)} ${s(mdiMs(iv, backupPriority))} ${r.tool.padEnd(11)} ${String(r.trials - r.errors).padStart(4)}` +
        `${r.errors ? ` (+${r.errors} failed)` : ''}  ${s(r.medianGapMs)} s    ${s(r.maxGapMs)} s  ${s(r.medianTakeoverMs)} s         ` +
        `${s(r.medianAfterTakeoverMs)} s   ` +
        `${`${r.failed}/${r.requests}`.padStart(15)}  ${String(r.flaps).padStart(15)}${r.failedBefore ? ` (${r.failedBefore} requests failed before the kill)` : ''}`);
    }
    const ratio = rows[0]!.medianGapMs / rows[1]!.medianGapMs;
    out.push(`${`${iv} ms`.padEnd(9)} ratio of median gaps lvsd / keepalived: ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'}` +
      `${Number.isFinite(ratio) ? (ratio <= 1 ? ' (target <= 1: met)' : ' (target <= 1: NOT met)') : ''}`);
  }
  return out;
}
