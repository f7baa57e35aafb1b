/**
 * Connection synchronisation: the kernel's IPVS sync daemon, driven by one VRRP instance's state.
 *
 * The director that holds the VIPs (VRRP master) runs the *master* sync daemon, which multicasts its
 * connection table on `connectionSync.interface`; the other (backup, fault, starting) runs the *backup*
 * sync daemon, which fills its own table from those messages. When the backup takes over, the
 * connections it learnt keep going to the same real servers instead of being reset.
 *
 * The decision is pure (`wantedDaemons`, `planSync`); `ConnSync` performs it: at start it reads what
 * the kernel runs (`getDaemons`) and converges, then again on every transition of the instance and on
 * reload. A command the kernel refuses (or a read that fails) is logged, reported (`onFailed`, for metrics),
 * kept for status (`problem()`) and retried, backing off from `retryMs` to 60 s, until it converges.
 */
import type { ConnectionSyncConfig } from '../config/types.js';
import type { IpvsClient, IpvsCommand, SyncDaemon, SyncState } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import { timerDelay } from '../timer-delay.js';

/** The VRRP states as the daemon's transition listener names them. */
export type InstanceState = 'initialize' | 'init' | 'backup' | 'master' | 'fault' | 'stopped' | string;

/**
 * The sync daemons this director should run: the master one while the instance is master, the backup
 * one in every other state (a starting, backup or faulty director may be the next master, so it keeps
 * learning). No config: none.
 */
export function wantedDaemons(config: ConnectionSyncConfig | undefined, state: InstanceState | undefined): SyncDaemon[] {
  if (!config) return [];
  const role: SyncState = state === 'master' ? 'master' : 'backup';
  return [daemonFor(config, role)];
}

export function daemonFor(config: ConnectionSyncConfig, state: SyncState): SyncDaemon {
  return {
    state,
    interface: config.interface,
    syncId: config.syncId,
    ...(config.maxLength !== undefined ? { maxLength: config.maxLength } : {}),
    ...(config.group !== undefined ? { group: config.group } : {}),
    ...(config.port !== undefined ? { port: config.port } : {}),
    ...(config.ttl !== undefined ? { ttl: config.ttl } : {}),
  };
}

/**
 * Whether the running daemon is the wanted one. The kernel reports every setting, defaults included
 * (port 8848, group 224.0.0.81, ttl 1, a maxLength from the MTU); a setting the config leaves out
 * matches whatever the kernel chose.
 */
export function sameDaemon(wanted: SyncDaemon, running: SyncDaemon): boolean {
  if (wanted.state !== running.state || wanted.interface !== running.interface || wanted.syncId !== running.syncId) return false;
  for (const k of ['maxLength', 'group', 'port', 'ttl'] as const) {
    if (wanted[k] !== undefined && wanted[k] !== running[k]) return false;
  }
  return true;
}

/**
 * The commands that turn `running` into `wanted`: first the wanted daemons that are missing (a running
 * one of the same state with other settings is stopped just before), then the unwanted ones are
 * stopped. Starting before stopping means a director changing role is never without a sync daemon.
 */
export function planSync(wanted: readonly SyncDaemon[], running: readonly SyncDaemon[]): IpvsCommand[] {
  const commands: IpvsCommand[] = [];
  for (const w of wanted) {
    const same = running.find((r) => r.state === w.state);
    if (same && sameDaemon(w, same)) continue;
    if (same) commands.push({ cmd: 'del-daemon', state: same.state });
    commands.push({ cmd: 'new-daemon', daemon: w });
  }
  for (const r of running) {
    if (!wanted.some((w) => w.state === r.state)) commands.push({ cmd: 'del-daemon', state: r.state });
  }
  return commands;
}

export interface ConnSyncOptions {
  client: IpvsClient;
  config: ConnectionSyncConfig | undefined;
  /** The instance's state now (undefined: not known yet, treated as not master). */
  state: InstanceState | undefined;
  log: Logger;
  /** First retry after a refused command or a failed read, ms (doubling up to 60 s). Default 1000. */
  retryMs?: number;
  /** Each failed command ('new-daemon', 'del-daemon') or pass that failed as a whole ('sync-daemons'), with the error's code. */
  onFailed?(op: string, code: string | undefined): void;
}

/** What has not converged yet, for status. */
export interface SyncProblem {
  op: string;
  message: string;
  since: number;
  attempts: number;
}

const MAX_RETRY_MS = 60_000;

export class ConnSync {
  private config: ConnectionSyncConfig | undefined;
  private state: InstanceState | undefined;
  private chain: Promise<void> = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly retryMs: number;
  private failing: SyncProblem | undefined;

  private constructor(private readonly opts: ConnSyncOptions) {
    this.config = opts.config;
    this.state = opts.state;
    this.retryMs = opts.retryMs ?? 1000;
  }

  /** The last failure, until a converge succeeds; undefined when converged. */
  problem(): SyncProblem | undefined {
    return this.failing && { ...this.failing };
  }

  /** Reads the kernel's daemons and converges once before resolving (a failure is logged, then retried). */
  static async start(opts: ConnSyncOptions): Promise<ConnSync> {
    const s = new ConnSync(opts);
    await s.converge('start');
    return s;
  }

  /**
   * Same, without waiting: the caller can subscribe to transitions in the same tick it read the state,
   * so none falls between (the converge reads the state when it runs).
   */
  static create(opts: ConnSyncOptions): ConnSync {
    const s = new ConnSync(opts);
    void s.converge('start');
    return s;
  }

  /** The VRRP listener: (instance, from, to). Other instances are ignored. */
  transition(instance: string, _from: string, to: string): void {
    if (!this.config || instance !== this.config.instance || this.stopped) return;
    this.state = to;
    void this.converge(`vrrp ${to}`);
  }

  /** A reloaded config (connectionSync changed, added or removed). */
  update(config: ConnectionSyncConfig | undefined, state?: InstanceState): Promise<void> {
    this.config = config;
    if (state !== undefined) this.state = state;
    return this.converge('reload');
  }

  /**
   * The daemon stops: this director no longer leads, so the master sync daemon goes; the backup one is
   * left (like the IPVS table) so a restart or the other director's messages find it ready.
   */
  async stop(): Promise<void> {
    this.state = 'stopped';
    await this.converge('stop');
    this.stopped = true;
    clearTimeout(this.retry);
  }

  /** Serialised, and each run reads the latest state: quick successive transitions end in the last one. */
  converge(reason: string): Promise<void> {
    const run = this.chain.then(() => this.convergeNow(reason));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async convergeNow(reason: string): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.retry);
    const log = this.opts.log;
    let failed: { op: string; message: string } | undefined;
    try {
      const running = await this.opts.client.getDaemons();
      const wanted = wantedDaemons(this.config, this.state);
      const commands = planSync(wanted, running);
      const results = commands.length > 0 ? await this.opts.client.execute(commands) : [];
      results.forEach((r, i) => {
        const c = commands[i]!;
        const what = c.cmd === 'new-daemon' ? `start ${c.daemon.state}` : c.cmd === 'del-daemon' ? `stop ${c.state}` : c.cmd;
        if (r.ok) {
          log.info({ event: 'connsync.change', reason, change: what, ...(c.cmd === 'new-daemon' ? { daemon: c.daemon } : {}) },
            `connection sync: ${what} sync daemon (${reason})`);
        } else {
          failed ??= { op: c.cmd, message: r.error.message };
          this.opts.onFailed?.(c.cmd, (r.error as { code?: string }).code);
          log.error({ event: 'connsync.refused', reason, change: what, err: r.error.message }, `connection sync: ${r.error.message}`);
        }
      });
    } catch (e) {
      failed = { op: 'sync-daemons', message: (e as Error).message };
      this.opts.onFailed?.('sync-daemons', (e as { code?: string }).code);
      log.error({ event: 'connsync.failed', reason, err: (e as Error).message }, `connection sync: ${(e as Error).message}`);
    }
    if (!failed) {
      if (this.failing) log.info({ event: 'connsync.repaired', attempts: this.failing.attempts }, 'connection sync converged');
      this.failing = undefined;
      return;
    }
    const attempts = (this.failing?.attempts ?? 0) + 1;
    this.failing = { ...failed, since: this.failing?.since ?? Date.now(), attempts };
    if (!this.stopped && this.state !== 'stopped') {
      const delay = timerDelay(Math.min(MAX_RETRY_MS, this.retryMs * 2 ** Math.min(attempts - 1, 20)));
      this.retry = setTimeout(() => void this.converge('retry'), delay);
      this.retry.unref();
    }
  }
}
