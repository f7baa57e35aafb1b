/**
 * Tracked objects beyond interfaces (scripts, files, processes), pure: what each observation means for the
 * instance. An object's effect is a priority delta or 'fault'; the state machine adds the deltas to the
 * configured priority (state-machine.ts effectivePriority) and goes to Fault while any effect is 'fault'.
 * The weights follow keepalived's track_script / track_file / track_process (docs/vrrp.md "Tracking").
 */

export type TrackEffect = number | 'fault';
export type TrackKind = 'script' | 'file' | 'process';

/** The machine's key of a tracked object: kind and name, e.g. "script:chk_nginx". */
export const trackKey = (kind: TrackKind, name: string): string => `${kind}:${name}`;

/**
 * Effect of an up/down object (script, process) with keepalived's weights: weight > 0 adds it while up,
 * weight < 0 adds it while down, 0 is fault while down; `reverse` counts up as down (and the weight negated).
 */
export function upDownEffect(up: boolean, weight: number, reverse: boolean): TrackEffect {
  if (weight === 0) return (reverse ? up : !up) ? 'fault' : 0;
  const w = reverse ? -weight : weight;
  if (weight > 0) return up ? w : 0;
  return up ? 0 : w;
}

/**
 * Effect of a tracked file holding `value` (undefined: missing or not a number, read as 0, keepalived's
 * reading): weight 0 makes any non-zero value a fault; otherwise value * weight (negated by reverse) is
 * added, and a result below -253 is a fault (keepalived's rule: no priority could survive it).
 */
export function fileEffect(value: number | undefined, weight: number, reverse: boolean): TrackEffect {
  const v = value ?? 0;
  if (weight === 0) return v !== 0 ? 'fault' : 0;
  const delta = v * weight * (reverse ? -1 : 1) || 0; // never -0
  if (delta < -253) return 'fault';
  return Math.min(253, delta);
}

/** The number at the start of a tracked file's text (an integer, optional sign, whitespace around), or undefined. */
export function parseTrackFile(text: string): number | undefined {
  const m = /^\s*([+-]?\d+)/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Rise/fall counting of a script: `count` runs in a row agreeing with `ok` so far. */
export interface RiseFall {
  up: boolean;
  /** Consecutive results that disagree with `up` (successes while down, failures while up). */
  streak: number;
}

export function initialRiseFall(initFail: boolean): RiseFall {
  return { up: !initFail, streak: 0 };
}

/** One more result: `rise` successes in a row make a down script up, `fall` failures in a row an up one down. */
export function riseFall(s: RiseFall, ok: boolean, rise: number, fall: number): RiseFall {
  if (ok === s.up) return { up: s.up, streak: 0 };
  const streak = s.streak + 1;
  if (streak >= (s.up ? fall : rise)) return { up: ok, streak: 0 };
  return { up: s.up, streak };
}

/** A process as the scan sees it: comm (/proc/PID/comm) and argv (/proc/PID/cmdline split at NULs). */
export interface ProcessInfo {
  comm: string;
  argv: readonly string[];
}

const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

/**
 * Does a process match: its comm (15 characters at most, as the kernel keeps it) or argv[0] (whole or its
 * base name) is `name`; with `args`, argv[1..] is exactly `args`. Kernel threads (no argv) match by comm only.
 */
export function processMatches(p: ProcessInfo, name: string, args?: readonly string[]): boolean {
  const arg0 = p.argv[0];
  const named = p.comm === name || (arg0 !== undefined && (arg0 === name || baseName(arg0) === name)) ||
    (name.length > 15 && p.comm === name.slice(0, 15) && arg0 === undefined);
  if (!named) return false;
  if (args === undefined) return true;
  if (p.argv.length - 1 !== args.length) return false;
  return args.every((a, i) => p.argv[i + 1] === a);
}

/** Up when quorum <= count <= quorumMax. */
export function quorumUp(count: number, quorum: number, quorumMax?: number): boolean {
  return count >= quorum && (quorumMax === undefined || count <= quorumMax);
}
