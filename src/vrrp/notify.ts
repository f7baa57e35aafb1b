/**
 * Notify commands: what an instance runs when it becomes master, backup or fault, or stops. A command gets
 * the state, the instance name and the priority appended to its argv, and nothing of the daemon's own
 * process: cwd `/`, an environment of exactly PATH and the LVSD_* variables below, and when lvsd runs as
 * root and `notify.user` is set, that user's uid and gid (supplementary groups dropped). It is spawned,
 * never awaited by the protocol; its output (4 KiB at most) is logged when it exits; it is killed after
 * 30 s. A clean stop waits a moment for the ones still running, then leaves them to finish on their own.
 */
import type { Logger } from '../log.js';
import { SAFE_PATH } from '../users.js';
import { spawnHook, superviseHook, type HookChild } from '../hook-command.js';
import type { NotifyKind } from './machine-types.js';

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

interface Running {
  closed: Promise<void>;
  detach(): void;
}

/** The notify commands of one instance: runs them, logs them, and lets a clean stop wait a moment for them. */
export class NotifyRunner {
  private readonly running = new Set<Running>();

  constructor(private readonly log: Logger) {}

  run(argv: readonly string[] | undefined, ctx: NotifyContext): void {
    if (!argv || argv.length === 0) return;
    const base = { event: 'vrrp.notify', instance: ctx.instance, kind: ctx.kind, command: argv[0] };
    let child: HookChild | undefined;
    let detached = false;
    let supervision: { stop(): void } | undefined;
    let done!: () => void;
    const entry: Running = {
      closed: new Promise<void>((resolve) => (done = resolve)),
      detach: () => {
        // let the thread end without it: it runs on, unwatched
        detached = true;
        supervision?.stop();
        if (!child) return;
        child.stdout.destroy();
        child.stderr.destroy();
        child.unref();
        this.log.warn({ ...base, event: 'vrrp.notify_detached', pid: child.pid },
          `${ctx.instance}: notify ${ctx.kind} still running at stop; left to finish on its own`);
      },
    };
    this.running.add(entry);
    const failed = (e: Error) => {
      this.log.warn({ ...base, event: 'vrrp.notify_failed', err: e.message }, e.message);
      this.running.delete(entry);
      done();
    };
    spawnNotify(argv, ctx).then((c) => {
      child = c;
      if (detached) {
        c.unref();
        return;
      }
      supervision = superviseHook(c, (code, _signal, output) => {
        this.running.delete(entry);
        this.log.info({ ...base, exitCode: code, output });
        done();
      }, failed);
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
