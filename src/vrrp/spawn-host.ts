/**
 * The main thread's side of spawn-relay.ts: runs the VRRP thread's track scripts (the exec checker, as an
 * exec health check), notify commands (hook-command.ts through notify.ts) and Accept_Mode filter writes
 * (nft) and answers over the port.
 * What is run, as whom and how (user, PID namespace, environment, timeout, output) is the same code as
 * when the thread spawned them itself; only the thread that forks changed.
 *
 * The thread ending (stopped, failed, terminated) closes the host: scripts still running are killed (no
 * one waits for their result), notify commands are left to finish, unwatched, as a stopping thread leaves
 * them (notify.ts settle()).
 */
import { errorParts } from '../errors.js';
import type { ProbeResult } from '../health/types.js';
import type { Logger } from '../log.js';
import { setAcceptFilter } from '../net/accept-filter.js';
import { localNotifySpawner, type NotifyHandle } from './notify.js';
import type { SpawnReply, SpawnRequest } from './spawn-relay.js';

const REQUESTS: ReadonlySet<string> = new Set(['spawn-script', 'spawn-notify', 'notify-detach', 'accept-filter']);

export class SpawnHost {
  private readonly scripts = new Map<number, AbortController>();
  private readonly notifies = new Map<number, NotifyHandle>();
  private closed = false;

  constructor(private readonly reply: (m: SpawnReply) => void, private readonly log?: Logger) {}

  /** A message of the thread; true when it was a spawn request (handled). */
  handle(m: { type: string }): boolean {
    if (!REQUESTS.has(m.type)) return false;
    if (this.closed) return true;
    const r = m as SpawnRequest;
    switch (r.type) {
      case 'spawn-script':
        this.script(r.sid, r);
        break;
      case 'spawn-notify':
        this.notify(r.sid, r.argv, r.ctx);
        break;
      case 'notify-detach':
        this.notifies.get(r.sid)?.detach();
        break;
      case 'accept-filter':
        this.acceptFilter(r.sid, r.vips);
        break;
    }
    return true;
  }

  private send(m: SpawnReply): void {
    if (!this.closed) this.reply(m);
  }

  private script(sid: number, r: Extract<SpawnRequest, { type: 'spawn-script' }>): void {
    const abort = new AbortController();
    this.scripts.set(sid, abort);
    const run = async (): Promise<ProbeResult> => (await import('../health/checkers/exec.js')).probeExec(r.check, r.target, abort.signal, r.env);
    run().catch((e: Error): ProbeResult => ({
      // lvsd itself could not run it (the checker would not load): counts neither way (trackers.ts)
      ok: false, latencyMs: 0, reason: `lvsd: ${e.message}`, local: 'LVSD_INTERNAL',
    })).then((result) => {
      this.scripts.delete(sid);
      this.send({ type: 'script-result', sid, result });
    });
  }

  private notify(sid: number, argv: string[], ctx: Extract<SpawnRequest, { type: 'spawn-notify' }>['ctx']): void {
    localNotifySpawner(argv, ctx, {
      onExit: (code, signal, output) => {
        this.notifies.delete(sid);
        this.send({ type: 'notify-exit', sid, code, signal, output });
      },
      onError: (e) => {
        this.notifies.delete(sid);
        this.send({ type: 'notify-error', sid, message: e.message });
      },
    }).then((h) => {
      if (this.closed) return h.detach();
      this.notifies.set(sid, h);
      this.send({ type: 'notify-started', sid, pid: h.pid });
    }, (e: Error) => this.send({ type: 'notify-error', sid, message: e.message }));
  }

  private acceptFilter(sid: number, vips: string[]): void {
    setAcceptFilter(vips, 'nft', this.log).then(() => this.send({ type: 'accept-filter-done', sid }), (e: unknown) =>
      this.send({ type: 'accept-filter-done', sid, error: errorParts(e) }));
  }

  /** The thread is gone: kill its scripts, leave its notify commands to finish on their own. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.scripts.values()) a.abort();
    this.scripts.clear();
    for (const h of this.notifies.values()) h.detach();
    this.notifies.clear();
  }
}
