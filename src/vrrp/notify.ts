/**
 * Notify commands: what an instance runs when it becomes master, backup or fault, or stops. A command gets
 * the state, the instance name and the priority appended to its argv, and nothing of the daemon's own
 * process: cwd `/`, an environment of exactly PATH and the LVSD_* variables below, and when lvsd runs as
 * root and `notify.user` is set, that user's uid and gid (supplementary groups dropped). It is spawned,
 * never awaited by the protocol; its output (4 KiB at most) is logged when it exits; it is killed after
 * 30 s. A clean stop waits a moment for the ones still running, then leaves them to finish on their own.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { SAFE_PATH, lookupUser, type Ids } from '../users.js';
import type { NotifyKind } from './state-machine.js';

export interface NotifyContext {
  kind: NotifyKind;
  instance: string;
  priority: number;
  /** Run as this user (when lvsd is root); absent: as the daemon. */
  user?: string | undefined;
}

const KILL_AFTER_MS = 30_000;
const OUTPUT_LIMIT = 4096;

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
export async function spawnNotify(argv: readonly string[], ctx: NotifyContext): Promise<ChildProcessByStdio<null, Readable, Readable>> {
  let ids: Ids | undefined;
  if (ctx.user !== undefined && process.getuid?.() === 0) ids = await lookupUser(ctx.user);
  return spawn(argv[0]!, notifyArgs(argv, ctx), {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: '/',
    env: notifyEnv(ctx),
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
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
    let child: ChildProcessByStdio<null, Readable, Readable> | undefined;
    let detached = false;
    let killer: NodeJS.Timeout | undefined;
    let done!: () => void;
    const entry: Running = {
      closed: new Promise<void>((resolve) => (done = resolve)),
      detach: () => {
        // let the thread end without it: it runs on, unwatched
        detached = true;
        clearTimeout(killer);
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
      let output = '';
      const keep = (b: Buffer) => { if (output.length < OUTPUT_LIMIT) output += b.toString('utf8').slice(0, OUTPUT_LIMIT - output.length); };
      c.stdout.on('data', keep);
      c.stderr.on('data', keep);
      killer = setTimeout(() => c.kill('SIGKILL'), KILL_AFTER_MS);
      c.on('error', failed);
      c.on('close', (code) => {
        clearTimeout(killer);
        this.running.delete(entry);
        this.log.info({ ...base, exitCode: code, output });
        done();
      });
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
