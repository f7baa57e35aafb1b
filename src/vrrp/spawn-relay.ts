/**
 * Track scripts and notify commands of the VRRP thread are started by the main thread. A process started
 * from this thread forks the whole daemon, and node's spawn blocks the calling thread until the child has
 * exec'd: the child runs ordinary scheduling (reset-on-fork), so under load the SCHED_RR thread waited for
 * an ordinary one (measured: adverts 31-89 ms late at load ~8, with /bin/true as a track script every
 * 200 ms). The worker sends a request over its port instead (worker.ts); the main thread runs it with the
 * same code as before (spawn-host.ts: the exec checker, hook-command.ts) and sends back the result, or for
 * a notify command its pid, then its exit. The thread keeps the logic and the log lines (trackers.ts,
 * notify.ts). The Accept_Mode filter's nft goes the same way (the manager's writes, at start and on a
 * reload that changes the VIPs). Without a relay (unit tests, a runner on the main thread) all spawn where
 * they run.
 *
 * A busy main thread delays a script's result (the next run waits for it), never an advert.
 */
import { LvsdError, asLvsdError, type ErrorParts } from '../errors.js';
import type { ProbeEnv, ProbeResult, ProbeTarget } from '../health/types.js';
import type { ExecProbeOptions } from '../health/checkers/exec.js';
import type { NotifyContext, NotifyHandle, NotifySpawner, NotifyWatch } from './notify.js';

/** The thread's requests to the main thread (`sid`: the relay's own numbering). */
export type SpawnRequest =
  | { type: 'spawn-script'; sid: number; check: ExecProbeOptions; target: ProbeTarget; env: ProbeEnv }
  | { type: 'spawn-notify'; sid: number; argv: string[]; ctx: NotifyContext }
  /** Stop watching a notify command (its deadline): the thread is stopping and leaves it to finish. */
  | { type: 'notify-detach'; sid: number }
  /** The Accept_Mode filter (an nft process: src/net/accept-filter.ts) to set to these VIPs. */
  | { type: 'accept-filter'; sid: number; vips: string[] };

/** The main thread's answers. */
export type SpawnReply =
  | { type: 'script-result'; sid: number; result: ProbeResult }
  | { type: 'notify-started'; sid: number; pid: number | undefined }
  | { type: 'notify-exit'; sid: number; code: number | null; signal: NodeJS.Signals | null; output: string }
  | { type: 'notify-error'; sid: number; message: string }
  | { type: 'accept-filter-done'; sid: number; error?: ErrorParts };

export const SPAWN_REPLIES: ReadonlySet<string> = new Set(['script-result', 'notify-started', 'notify-exit', 'notify-error', 'accept-filter-done']);

interface PendingNotify {
  watch: NotifyWatch;
  started(h: NotifyHandle): void;
  failed(e: Error): void;
  handle?: NotifyHandle;
}

export class SpawnRelay {
  private nextSid = 1;
  private readonly scripts = new Map<number, (r: ProbeResult) => void>();
  private readonly notifies = new Map<number, PendingNotify>();
  private readonly filters = new Map<number, { resolve(): void; reject(e: Error): void }>();

  constructor(private readonly post: (m: SpawnRequest) => void) {}

  /** A track script run by the main thread (the exec checker's result, as probeExec gives it). */
  runScript(check: ExecProbeOptions, target: ProbeTarget, env: ProbeEnv = {}): Promise<ProbeResult> {
    const sid = this.nextSid++;
    return new Promise((resolve) => {
      this.scripts.set(sid, resolve);
      this.post({ type: 'spawn-script', sid, check, target, env });
    });
  }

  /** A notify command started by the main thread: resolves with its pid once started. */
  readonly spawnNotify: NotifySpawner = (argv, ctx, watch) => {
    const sid = this.nextSid++;
    return new Promise<NotifyHandle>((resolve, reject) => {
      const p: PendingNotify = {
        watch,
        started: (h) => { p.handle = h; resolve(h); },
        failed: reject,
      };
      this.notifies.set(sid, p);
      this.post({ type: 'spawn-notify', sid, argv: [...argv], ctx: { ...ctx } });
    });
  };

  /** The Accept_Mode filter set by the main thread (setAcceptFilter's LvsdError when it cannot be). */
  acceptFilter(vips: readonly string[]): Promise<void> {
    const sid = this.nextSid++;
    return new Promise((resolve, reject) => {
      this.filters.set(sid, { resolve, reject });
      this.post({ type: 'accept-filter', sid, vips: [...vips] });
    });
  }

  /** An answer of the main thread; true when it was one. */
  receive(m: { type: string }): boolean {
    if (!SPAWN_REPLIES.has(m.type)) return false;
    const r = m as SpawnReply;
    switch (r.type) {
      case 'script-result': {
        const done = this.scripts.get(r.sid);
        this.scripts.delete(r.sid);
        done?.(r.result);
        break;
      }
      case 'notify-started': {
        const p = this.notifies.get(r.sid);
        p?.started({ pid: r.pid, detach: () => this.post({ type: 'notify-detach', sid: r.sid }) });
        break;
      }
      case 'notify-exit': {
        const p = this.notifies.get(r.sid);
        this.notifies.delete(r.sid);
        p?.watch.onExit(r.code, r.signal, r.output);
        break;
      }
      case 'accept-filter-done': {
        const p = this.filters.get(r.sid);
        this.filters.delete(r.sid);
        if (!r.error) p?.resolve();
        else p?.reject(asLvsdError(r.error));
        break;
      }
      case 'notify-error': {
        const p = this.notifies.get(r.sid);
        this.notifies.delete(r.sid);
        if (!p) break;
        // before it started: the spawn failed; after: the child's own error
        if (p.handle) p.watch.onError(new Error(r.message));
        else p.failed(new Error(r.message));
        break;
      }
    }
    return true;
  }
}

let relay: SpawnRelay | undefined;

/** The worker installs its relay at load; unset, scripts and notify commands spawn where they run. */
export function useSpawnRelay(r: SpawnRelay | undefined): void {
  relay = r;
}

export function spawnRelay(): SpawnRelay | undefined {
  return relay;
}
