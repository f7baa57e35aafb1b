/**
 * BIRD as a child lvsd supervises (docs/ecmp.md): lvsd writes its whole config, starts it in the
 * foreground with its own control socket, reconfigures it on a change (the socket's `configure`, SIGHUP
 * when the socket does not answer), and restarts it when it exits, backing off 1 s -> 30 s. BIRD is
 * started through `setpriv --pdeathsig KILL`, so it dies with lvsd: a director whose lvsd died stops
 * announcing. Nothing here throws into lvsd because BIRD failed: failures are logged, counted and shown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeFileAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import { timerDelay } from '../timer-delay.js';
import { birdCommand, type BirdReply } from './bird-control.js';

export interface SupervisorOptions {
  /** The BIRD binary. */
  path: string;
  runDir: string;
  log: Logger;
  /** BIRD started (or restarted: `restart` true). */
  onStart?(pid: number, restart: boolean): void;
  /** BIRD exited while lvsd wanted it running. */
  onExit?(code: number | null, signal: string | null): void;
  backoff?: { initialMs: number; maxMs: number; stableMs: number };
  /** setpriv, to tie BIRD's life to lvsd's; absent or missing: BIRD is started directly. */
  setpriv?: string;
}

export interface DaemonStatus {
  running: boolean;
  pid: number | null;
  /** Restarts after an unexpected exit since lvsd started. */
  restarts: number;
  startedAt: string | null;
  /** The last exit, the last start failure, or a control socket failure; null when none since the last start. */
  lastError: string | null;
  /** When lvsd next starts BIRD again (backing off), else null. */
  nextStartAt: string | null;
}

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000, stableMs: 30_000 };

export class BirdSupervisor {
  readonly configFile: string;
  readonly socketPath: string;
  private child: ChildProcess | undefined;
  private config = '';
  private stopping = false;
  private restarts = 0;
  private delayMs: number;
  private startedAtMs = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private nextStartAtMs = 0;
  private lastError: string | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly backoff: { initialMs: number; maxMs: number; stableMs: number };
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SupervisorOptions) {
    this.configFile = join(opts.runDir, 'bird.conf');
    this.socketPath = join(opts.runDir, 'bird.ctl');
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.delayMs = this.backoff.initialMs;
  }

  /** Writes the config and starts BIRD. Never rejects because BIRD could not start: that is retried. */
  async start(config: string): Promise<void> {
    this.config = config;
    await mkdir(this.opts.runDir, { recursive: true, mode: 0o750 });
    await this.write();
    this.spawnNow(false);
  }

  private async write(): Promise<void> {
    await writeFileAtomic(this.configFile, this.config, { mode: 0o640 });
  }

  private spawnNow(restart: boolean): void {
    if (this.stopping) return;
    this.nextStartAtMs = 0;
    try {
      accessSync(this.opts.path, constants.X_OK);
    } catch (e) {
      this.failedStart(`cannot run ${this.opts.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (is bird2 installed?)`);
      return;
    }
    const birdArgs = [this.opts.path, '-f', '-c', this.configFile, '-s', this.socketPath];
    const setpriv = this.opts.setpriv ?? '/usr/bin/setpriv';
    const argv = existsSync(setpriv) ? [setpriv, '--pdeathsig', 'KILL', '--', ...birdArgs] : birdArgs;
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.failedStart(`cannot start ${this.opts.path}: ${(e as Error).message}`);
      return;
    }
    this.child = child;
    this.startedAtMs = Date.now();
    let lastLine = '';
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        lastLine = line;
        this.opts.log.info({ event: 'bgp.daemon_log', line: line.slice(0, 500) }, `bird: ${line.slice(0, 200)}`);
      });
    }
    let resolveExit!: () => void;
    this.exited = new Promise<void>((r) => { resolveExit = r; });
    child.on('error', (e) => {
      // spawn failed (ENOENT, EACCES): 'exit' may not follow
      if (this.child === child) this.child = undefined;
      resolveExit();
      this.failedStart(`cannot start ${this.opts.path}: ${e.message}`);
    });
    child.on('spawn', () => {
      this.lastError = null;
      this.opts.log.info({ event: 'bgp.daemon_start', pid: child.pid, restart, config: this.configFile, socket: this.socketPath },
        `BIRD started (pid ${child.pid})`);
      this.opts.onStart?.(child.pid!, restart);
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      resolveExit();
      if (this.stopping) return;
      const ranMs = Date.now() - this.startedAtMs;
      if (ranMs >= this.backoff.stableMs) this.delayMs = this.backoff.initialMs;
      const why = signal ? `killed by ${signal}` : `exit status ${code}`;
      this.lastError = `BIRD ${why}${lastLine ? `: ${lastLine.slice(0, 200)}` : ''}`;
      this.opts.log.error({ event: 'bgp.daemon_exit', pid: child.pid, code, signal, ranMs, restartInMs: this.delayMs, lastLine: lastLine.slice(0, 500) },
        `BIRD ${why}; restarting in ${this.delayMs} ms`);
      this.opts.onExit?.(code, signal);
      this.scheduleRestart();
    });
  }

  private failedStart(message: string): void {
    this.lastError = message;
    this.opts.log.error({ event: 'bgp.daemon_start_failed', err: message, retryInMs: this.delayMs }, `${message}; retrying in ${this.delayMs} ms`);
    this.opts.onExit?.(null, null);
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    if (this.stopping || this.restartTimer) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.nextStartAtMs = Date.now() + delay;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restarts++;
      // the latest config, which may have changed while BIRD was down
      void this.write().then(() => this.spawnNow(true), (e: Error) => this.failedStart(`cannot write ${this.configFile}: ${e.message}`));
    }, timerDelay(delay));
    this.restartTimer.unref();
  }

  /** One control command at a time (configure and the status poll never interleave). */
  command(cmd: string, timeoutMs?: number): Promise<BirdReply> {
    const run = this.chain.then(() => birdCommand(this.socketPath, cmd, timeoutMs));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes `config` and has BIRD read it: `configure` on the socket; when the socket fails, SIGHUP (BIRD
   * reconfigures on it too, without telling how it went). Resolves how it was applied: 'socket', 'signal',
   * or 'later' (BIRD not running: the next start reads the file). Rejects (LVSD_BGP) only when BIRD read
   * the file and refused it.
   */
  async reconfigure(config: string): Promise<'socket' | 'signal' | 'later'> {
    this.config = config;
    await this.write();
    const child = this.child;
    if (!child || child.pid === undefined) return 'later';
    try {
      await this.command('configure');
      return 'socket';
    } catch (e) {
      if ((e as { details?: { code?: number } }).details?.code !== undefined) throw e; // BIRD answered: refused
      this.lastError = (e as Error).message;
      this.opts.log.warn({ event: 'bgp.socket_failed', socket: this.socketPath, err: (e as Error).message },
        `cannot reach BIRD's control socket (${(e as Error).message}); reconfiguring it by SIGHUP`);
      child.kill('SIGHUP');
      return 'signal';
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Records a control socket failure seen by the poll (shown in status until BIRD answers again). */
  socketFailed(message: string | null): void {
    if (message === null) {
      if (this.lastError?.startsWith('BIRD control socket')) this.lastError = null;
    } else {
      this.lastError = message;
    }
  }

  status(): DaemonStatus {
    return {
      running: this.child?.pid !== undefined && this.child.exitCode === null,
      pid: this.child?.pid ?? null,
      restarts: this.restarts,
      startedAt: this.child ? new Date(this.startedAtMs).toISOString() : null,
      lastError: this.lastError,
      nextStartAt: this.nextStartAtMs > 0 ? new Date(this.nextStartAtMs).toISOString() : null,
    };
  }

  /** Stops BIRD (SIGTERM: it closes its sessions with a Cease), SIGKILL after `graceMs`; no restart. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(killer);
  }
}
