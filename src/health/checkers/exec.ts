/**
 * Exec check: run a program with the real server's address and port appended to its argv, never through a
 * shell unless asked. When lvsd runs as root the program runs as an unprivileged user. It gets its own process
 * group, so the timeout kills it and everything it started; whatever of the group is left when it exits is
 * killed too. Exit 0 is up, anything else down; with dynamicWeight exit 2..255 is up with weight code - 2.
 */
import { execFile, spawn } from 'node:child_process';
import type { ExecCheck } from '../../config/types.js';
import type { ProbeEnv, ProbeResult, ProbeTarget } from '../types.js';
import { deadline, errorReason } from './deadline.js';

export const DEFAULT_OUTPUT_LIMIT = 4096;
const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export type ExecProbeOptions = Pick<ExecCheck, 'timeout' | 'command' | 'shell' | 'user' | 'dynamicWeight'>;

interface Ids {
  uid: number;
  gid: number;
}
const idCache = new Map<string, Promise<Ids>>();

function idOf(flag: '-u' | '-g', user: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('id', [flag, '--', user], { timeout: 5000 }, (err, stdout) => {
      const n = Number(String(stdout).trim());
      if (err || !Number.isInteger(n)) reject(new Error(`unknown user ${user}`));
      else resolve(n);
    });
  });
}

/** uid and gid of a user name (as `id -u`/`id -g` say), cached; a failed look-up is retried next time. */
export function lookupUser(user: string): Promise<Ids> {
  let p = idCache.get(user);
  if (!p) {
    p = Promise.all([idOf('-u', user), idOf('-g', user)]).then(([uid, gid]) => ({ uid, gid }));
    idCache.set(user, p);
    p.catch(() => idCache.delete(user));
  }
  return p;
}

/** The program and arguments to spawn: argv + address + port, or `/bin/sh -c '<command> "$@"' lvsd-check address port`. */
export function execArgv(check: Pick<ExecCheck, 'command' | 'shell'>, target: ProbeTarget): string[] {
  const tail = [target.address, String(target.port)];
  if (check.shell) return ['/bin/sh', '-c', `${check.command.join(' ')} "$@"`, 'lvsd-check', ...tail];
  return [...check.command, ...tail];
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* the group is gone already */
  }
}

export async function probeExec(
  check: ExecProbeOptions,
  target: ProbeTarget,
  signal?: AbortSignal,
  env: ProbeEnv = {},
): Promise<ProbeResult> {
  const d = deadline(check.timeout, signal);
  const limit = env.execOutputLimit ?? DEFAULT_OUTPUT_LIMIT;
  let ids: Ids | undefined;
  if (process.getuid?.() === 0) {
    const user = check.user ?? env.execUser ?? 'nobody';
    try {
      ids = await lookupUser(user);
    } catch (err) {
      d.done();
      return d.result(false, (err as Error).message);
    }
  }
  if (d.signal.aborted) {
    d.done();
    return d.result(false, d.reason());
  }
  const [file, ...args] = execArgv(check, target);
  return new Promise((resolve) => {
    const child = spawn(file!, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: '/',
      env: {
        PATH: SAFE_PATH,
        LANG: process.env.LANG ?? 'C',
        LVSD_REAL_SERVER_ADDRESS: target.address,
        LVSD_REAL_SERVER_PORT: String(target.port),
      },
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (chunk: Buffer) => {
      if (kept >= limit) return;
      const part = chunk.subarray(0, limit - kept);
      chunks.push(part);
      kept += part.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let settled = false;
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    const finish = (ok: boolean, reason: string, extra: Partial<ProbeResult> = {}) => {
      if (settled) return;
      settled = true;
      d.done();
      d.signal.removeEventListener('abort', onAbort);
      killGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
      const output = Buffer.concat(chunks).toString('utf8').trimEnd();
      resolve(d.result(ok, reason, { ...extra, output }));
    };
    const onAbort = () => finish(false, d.reason());
    d.signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => finish(false, errorReason('spawn', err)));
    child.once('exit', (code, sig) => {
      exit = { code, sig };
      killGroup(child.pid); // whatever it left behind holds the pipes open; it goes too
    });
    child.once('close', () => {
      if (!exit) return finish(false, 'exited');
      const { code, sig } = exit;
      if (code === null) return finish(false, `signal ${sig}`);
      if (code === 0) return finish(true, 'exit 0');
      if (check.dynamicWeight && code >= 2) return finish(true, `exit ${code}`, { weight: code - 2 });
      finish(false, `exit ${code}`);
    });
  });
}
