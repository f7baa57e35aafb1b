/**
 * The runner of one instance's tracked scripts, files and processes: runs scripts (unprivileged, in a PID
 * namespace of their own, as exec health checks: src/health/checkers/exec.ts; in the daemon the main thread
 * starts them for this one, spawn-relay.ts), reads files and scans /proc
 * every interval, and reports each object's effect (track.ts) when it changes. The instance feeds the
 * effects to its state machine. Nothing here throws: a script that cannot start is a failed run, a file
 * that cannot be read holds 0 (keepalived's reading), a scan that fails keeps the last count.
 */
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { TrackFileConfig, TrackProcessConfig, TrackScriptConfig, VrrpInstanceConfig } from '../config/types.js';
// a leaf: the config's normalisation (and the exec checker below) are not among the VRRP thread's start-up modules
import { trackProcessKey } from '../track-key.js';
import type { probeExec } from '../health/checkers/exec.js';
import { timerDelay } from '../timer-delay.js';
import { sharedScan } from './proc-scan.js';
import { spawnRelay } from './spawn-relay.js';
import {
  fileEffect, initialRiseFall, parseTrackFile, processMatches, quorumUp, riseFall, trackKey, upDownEffect,
  type RiseFall, type TrackEffect, type TrackKind,
} from './track.js';

/** What status shows of one tracked object. */
export interface TrackedStatus {
  kind: TrackKind;
  name: string;
  /** Scripts and processes: up or down (after rise/fall, delay); files: whether the file could be read. */
  up: boolean;
  /** Files: the number read; processes: how many match. */
  value?: number;
  weight: number;
  /** The priority delta it applies now, or 'fault'. */
  effect: TrackEffect;
  /** Scripts: the last run's result ("exit 1", "timeout"). */
  detail?: string;
}

export interface TrackChange {
  key: string;
  status: TrackedStatus;
  /** The previous effect (undefined: first observation). */
  before?: TrackEffect;
}

const now = (): number => performance.now();

/** How a script is run (tests inject one). */
export type ScriptRunner = typeof probeExec;

/**
 * In the daemon, the main thread runs the script (spawn-relay.ts: a spawn from this thread blocks it until
 * the child exec'd); without a relay, the exec checker here, loaded when the first script runs (it brings
 * child_process: see users.ts).
 */
const runScriptProbe: ScriptRunner = async (check, target, signal, env) => {
  const relay = spawnRelay();
  if (relay) return relay.runScript(check, target, env);
  return (await import('../health/checkers/exec.js')).probeExec(check, target, signal, env);
};

export class InstanceTrackers {
  private readonly status = new Map<string, TrackedStatus>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly scripts = new Map<string, RiseFall>();
  /** Processes: the count seen and since when (for `delay`). */
  private readonly pending = new Map<string, { up: boolean; since: number }>();

  constructor(
    private readonly cfg: VrrpInstanceConfig,
    private readonly onChange: (c: TrackChange) => void,
    /** States of the previous trackers (a reload keeps what was observed: no script starts up again). */
    previous?: InstanceTrackers,
    private readonly runScript: ScriptRunner = runScriptProbe,
  ) {
    for (const s of cfg.trackScripts) {
      const key = trackKey('script', s.name);
      const before = previous?.scripts.get(key);
      const rf = before ?? initialRiseFall(s.initFail);
      this.scripts.set(key, rf);
      this.set(key, { kind: 'script', name: s.name, up: rf.up, weight: s.weight, effect: upDownEffect(rf.up, s.weight, s.reverse), ...(before ? {} : { detail: 'not run yet' }) }, false);
    }
    for (const f of cfg.trackFiles) {
      const old = previous?.status.get(trackKey('file', f.path));
      const value = old?.value;
      this.set(trackKey('file', f.path), { kind: 'file', name: f.path, up: old?.up ?? true, ...(value !== undefined ? { value } : {}), weight: f.weight, effect: fileEffect(value, f.weight, f.reverse) }, false);
    }
    for (const p of cfg.trackProcesses) {
      const key = trackKey('process', trackProcessKey(p));
      const old = previous?.status.get(key);
      const up = old?.up ?? true; // until the first scan (at start, before the machine runs)
      this.set(key, { kind: 'process', name: trackProcessKey(p), up, ...(old?.value !== undefined ? { value: old.value } : {}), weight: p.weight, effect: upDownEffect(up, p.weight, p.reverse) }, false);
    }
  }

  /** The effects now, by machine key. */
  effects(): Record<string, TrackEffect> {
    return Object.fromEntries([...this.status].map(([k, s]) => [k, s.effect]));
  }

  snapshot(): TrackedStatus[] {
    return [...this.status.values()].map((s) => ({ ...s }));
  }

  /**
   * Reads files and scans processes once, then runs everything on its interval. `report`: whether that
   * first reading is reported as changes: not at start (the machine is created with effects() after it),
   * yes on a reload (the running machine has the previous trackers' effects and must hear what differs).
   */
  async start(report = false): Promise<void> {
    await Promise.all([
      ...this.cfg.trackFiles.map((f) => this.readFile(f, report)),
      this.scanProcesses(report, true),
    ]);
    for (const s of this.cfg.trackScripts) this.loopScript(s);
    for (const f of this.cfg.trackFiles) this.every(1, () => this.readFile(f, true));
    const interval = Math.min(...this.cfg.trackProcesses.map((p) => p.interval));
    if (this.cfg.trackProcesses.length > 0) this.every(interval, () => this.scanProcesses(true, false));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private set(key: string, s: TrackedStatus, report: boolean): void {
    const old = this.status.get(key);
    this.status.set(key, s);
    if (!report) return;
    if (old && old.effect === s.effect && old.up === s.up && old.value === s.value) return;
    this.onChange({ key, status: { ...s }, ...(old ? { before: old.effect } : {}) });
  }

  private after(seconds: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, timerDelay(seconds * 1000));
    this.timers.add(t);
  }

  /** Runs `fn` every `seconds`, the next run timed from the end of the last (no overlap). */
  private every(seconds: number, fn: () => Promise<void>): void {
    this.after(seconds, () => void fn().finally(() => this.every(seconds, fn)));
  }

  private loopScript(s: TrackScriptConfig): void {
    const key = trackKey('script', s.name);
    const run = async (): Promise<void> => {
      const started = now();
      const r = await this.runScript({ command: s.command, shell: false, timeout: s.timeout, user: s.user, dynamicWeight: false, bare: true },
        { address: '', port: 0 }, undefined, { execUser: s.user });
      if (this.stopped) return;
      const before = this.scripts.get(key) ?? initialRiseFall(s.initFail);
      // the director itself could not run it (no descriptors, no processes: local-failure.ts): that says
      // nothing about what the script checks, so it counts neither way (a starved master keeps its priority)
      const rf = r.local !== undefined ? before : riseFall(before, r.ok, s.rise, s.fall);
      this.scripts.set(key, rf);
      const detail = r.local !== undefined ? `${r.reason} (lvsd itself: not counted)` : r.reason;
      this.set(key, { kind: 'script', name: s.name, up: rf.up, weight: s.weight, effect: upDownEffect(rf.up, s.weight, s.reverse), detail }, true);
      // the next run starts `interval` after this one started (or at once when it took longer)
      this.after(Math.max(0, s.interval - (now() - started) / 1000), () => void run());
    };
    void run();
  }

  private async readFile(f: TrackFileConfig, report: boolean): Promise<void> {
    let value: number | undefined;
    let up = true;
    try {
      value = parseTrackFile(await readFile(f.path, 'utf8'));
    } catch {
      up = false;
    }
    if (this.stopped) return;
    this.set(trackKey('file', f.path), {
      kind: 'file', name: f.path, up, ...(value !== undefined ? { value } : {}), weight: f.weight, effect: fileEffect(value, f.weight, f.reverse),
    }, report);
  }

  private async scanProcesses(report: boolean, first: boolean): Promise<void> {
    const list = this.cfg.trackProcesses;
    if (list.length === 0) return;
    let procs;
    try {
      procs = await sharedScan(new Set(list.map((p) => p.name)), now());
    } catch {
      return; // /proc unreadable this time: keep the last counts
    }
    if (this.stopped) return;
    const t = now();
    for (const p of list) this.countProcess(p, procs.filter((x) => processMatches(x, p.name, p.args)).length, t, report, first);
  }

  private countProcess(p: TrackProcessConfig, count: number, t: number, report: boolean, first: boolean): void {
    const key = trackKey('process', trackProcessKey(p));
    const seen = quorumUp(count, p.quorum, p.quorumMax);
    const current = this.status.get(key)!;
    let up = current.up;
    if (first || p.delay <= 0) {
      up = seen;
      this.pending.delete(key);
    } else if (seen !== current.up) {
      // a change counts once it lasted `delay` (a restart or a fork/exec does not bounce the priority)
      const pend = this.pending.get(key);
      if (!pend || pend.up !== seen) this.pending.set(key, { up: seen, since: t });
      else if (t - pend.since >= p.delay * 1000) {
        up = seen;
        this.pending.delete(key);
      }
    } else {
      this.pending.delete(key);
    }
    this.set(key, { kind: 'process', name: trackProcessKey(p), up, value: count, weight: p.weight, effect: upDownEffect(up, p.weight, p.reverse) }, report);
  }
}
