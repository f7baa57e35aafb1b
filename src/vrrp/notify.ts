/**
 * Notify commands: what an instance runs when it becomes master, backup or fault, or stops. A command gets
 * the state, the instance name and the priority appended to its argv, and nothing of the daemon's own
 * process: cwd `/`, an environment of exactly PATH and the LVSD_* variables below, and when lvsd runs as
 * root and `notify.user` is set, that user's uid and gid (supplementary groups dropped). It is spawned,
 * never awaited by the protocol; its output (4 KiB at most) is logged when it exits; it is killed after
 * 30 s. A clean stop waits a moment for the ones still running, then leaves them to finish on their own.
 * In the daemon the VRRP thread asks the main thread to start them (spawn-relay.ts): a spawn there would
 * block the thread until the child exec'd.
 */
import type { Logger } from '../log.js';
import { SAFE_PATH } from '../users.js';
import { spawnHook, superviseHook, type HookChild } from '../hook-command.js';
import type { NotifyKind } from './machine-types.js';
import { spawnRelay } from './spawn-relay.js';

export interface NotifyContext {
  kind: NotifyKind;
  instance: string;
  priority: number;
  /** Run as this user (when lvsd is root); absent: as the daemon. */
  user?: string | undefined;
}

/** The whole environment of a notify command. Pure. */
export function notifyEnv(ctx: NotifyContext): Record<string, string> {
  return {
    PATH: SAFE_PATH,
    LVSD_STATE: ctx.kind,
    LVSD_INSTANCE: ctx.instance,
    LVSD_PRIORITY: String(ctx.priority),
  };
}

/** argv[0] with argv[1..] then (state, instance, priority). Pure. */
export function notifyArgs(argv: readonly string[], ctx: NotifyContext): string[] {
  return [...argv.slice(1), ctx.kind, ctx.instance, String(ctx.priority)];
}

/** Starts one notify command; rejects when the user is unknown or the spawn fails at once. */
export function spawnNotify(argv: readonly string[], ctx: NotifyContext): Promise<HookChild> {
  return spawnHook(argv.slice(0, 1), notifyArgs(argv, ctx), notifyEnv(ctx), ctx.user);
}

/** A notify command started: its pid, and how to stop watching it (its output, its deadline). */
export interface NotifyHandle {
  readonly pid: number | undefined;
  detach(): void;
}

/** What the starter reports of a command once started: its exit and output, or a failure after the spawn. */
export interface NotifyWatch {
  onExit(code: number | null, signal: NodeJS.Signals | null, output: string): void;
  onError(e: Error): void;
}

/** Starts a notify command; rejects when the user is unknown or the spawn fails at once. */
export type NotifySpawner = (argv: readonly string[], ctx: NotifyContext, watch: NotifyWatch) => Promise<NotifyHandle>;

/** Started here, in this thread (hook-command.ts): the main thread's part of the relay, unit tests. */
export const localNotifySpawner: NotifySpawner = async (argv, ctx, watch) => {
  const child = await spawnNotify(argv, ctx);
  const supervision = superviseHook(child, (code, signal, output) => watch.onExit(code, signal, output), (e) => watch.onError(e));
  return {
    pid: child.pid,
    detach: () => {
      // let the thread end without it: it runs on, unwatched
      supervision.stop();
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
    },
  };
};

interface Running {
  closed: Promise<void>;
  detach(): void;
}

/** The notify commands of one instance: runs them, logs them, and lets a clean stop wait a moment for them. */
export class NotifyRunner {
  private readonly running = new Set<Running>();

  /** `spawn`: by default through the thread's relay when there is one (spawn-relay.ts), else here. */
  constructor(private readonly log: Logger, private readonly spawn: NotifySpawner = spawnRelay()?.spawnNotify ?? localNotifySpawner) {}

  run(argv: readonly string[] | undefined, ctx: NotifyContext): void {
    if (!argv || argv.length === 0) return;
    const base = { event: 'vrrp.notify', instance: ctx.instance, kind: ctx.kind, command: argv[0] };
    let handle: NotifyHandle | undefined;
    let detached = false;
    let done!: () => void;
    const entry: Running = {
      closed: new Promise<void>((resolve) => (done = resolve)),
      detach: () => {
        detached = true;
        if (!handle) return;
        handle.detach();
        this.log.warn({ ...base, event: 'vrrp.notify_detached', pid: handle.pid },
          `${ctx.instance}: notify ${ctx.kind} still running at stop; left to finish on its own`);
      },
    };
    this.running.add(entry);
    const failed = (e: Error) => {
      this.log.warn({ ...base, event: 'vrrp.notify_failed', err: e.message }, e.message);
      this.running.delete(entry);
      done();
    };
    this.spawn(argv, ctx, {
      onExit: (code, _signal, output) => {
        this.running.delete(entry);
        this.log.info({ ...base, exitCode: code, output });
        done();
      },
      onError: failed,
    }).then((h) => {
      handle = h;
      if (detached) h.detach();
    }, failed);
  }
  /** Waits up to `graceMs` for the commands still running, then detaches the rest. */
  async settle(graceMs: number): Promise<void> {
    if (this.running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.running].map((n) => n.closed)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    for (const n of this.running) n.detach();
    this.running.clear();
  }
}
