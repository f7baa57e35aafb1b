/**
 * Exec check: run a program with the real server's address and port appended to its argv, never through a
 * shell unless asked. When lvsd runs as root the program runs as an unprivileged user, in a PID namespace of
 * its own: `unshare --pid --fork --kill-child -- unshare --fork -S uid -G gid -- program ...`. The inner
 * unshare is the namespace's init and stays root (so nothing the check runs can signal it, and the kernel's
 * parent-death signal stays armed); when it dies, the kernel kills everything in the namespace, whatever
 * sessions or process groups the check made (setsid, double forks). The timeout kills the process group,
 * which holds both unshares: nothing the check started survives it. Without root, or where unshare cannot
 * make a PID namespace (a container without CAP_SYS_ADMIN), the check runs in its own process group only,
 * which a child that calls setsid escapes. Exit 0 is up, anything else down; with dynamicWeight exit
 * 2..255 is up with weight code - 2.
 */
import type { ExecCheck } from '../../config/types.js';
import type { Logger } from '../../log.js';
import { SAFE_PATH, lookupUser, type Ids } from '../../users.js';
import { loadSpawn, runProgram, type SpawnedChild } from '../../spawn-child.js';
import { localErrno } from '../local-failure.js';
import type { ProbeEnv, ProbeResult, ProbeTarget } from '../types.js';
import { deadline, errorReason, localExtra, settleOnce } from './deadline.js';

export const DEFAULT_OUTPUT_LIMIT = 4096;

export { lookupUser };

/** `bare`: the command runs as written, without the real server's address and port (VRRP track scripts). */
export type ExecProbeOptions = Pick<ExecCheck, 'timeout' | 'command' | 'shell' | 'user' | 'dynamicWeight'> & { bare?: boolean };

/** The program and arguments to spawn: argv + address + port, or `/bin/sh -c '<command> "$@"' lvsd-check address port`. */
export function execArgv(check: Pick<ExecCheck, 'command' | 'shell'> & { bare?: boolean }, target: ProbeTarget): string[] {
  if (check.bare) return check.shell ? ['/bin/sh', '-c', check.command.join(' ')] : [...check.command];
  const tail = [target.address, String(target.port)];
  if (check.shell) return ['/bin/sh', '-c', `${check.command.join(' ')} "$@"`, 'lvsd-check', ...tail];
  return [...check.command, ...tail];
}

/** How exec checks are contained: a PID namespace each, or a process group only. */
export type ExecIsolation = 'pidns' | 'pgroup';

let isolation: Promise<ExecIsolation> | undefined;

/** Decided once: 'pidns' when lvsd is root and unshare makes a PID namespace here, else 'pgroup'. */
export function execIsolation(log?: Logger): Promise<ExecIsolation> {
  // started as the checks are (src/spawn-child.ts: the clone that copies nothing of the daemon)
  isolation ??= process.getuid?.() !== 0 ? Promise.resolve('pgroup') : runProgram('unshare', [...wrapper({ uid: 65534, gid: 65534 }), 'true'], {
    env: { PATH: SAFE_PATH }, timeoutMs: 10_000, ...(log ? { log } : {}),
  }).then((r) => {
    // unshare could not even be started (out of descriptors, processes): decide again next time
    if (r.error && typeof r.error.code === 'string' && localErrno(r.error.code)) isolation = undefined;
    return r.error || r.code !== 0 ? 'pgroup' : 'pidns';
  });
  return isolation;
}

/** Tests: force one way (undefined: decide again). */
export function setExecIsolation(mode: ExecIsolation | undefined): void {
  isolation = mode === undefined ? undefined : Promise.resolve(mode);
}

/** unshare's arguments before the program: a PID namespace whose init (the inner unshare) stays root. */
function wrapper(ids: Ids): string[] {
  return ['--pid', '--fork', '--kill-child', '--', 'unshare', '--fork', '-S', String(ids.uid), '-G', String(ids.gid), '--'];
}

/** The wrapper's own failure for want of a local resource (fork EAGAIN, no memory, too many namespaces). */
const WRAPPER_LOCAL = /^unshare: .*(Resource temporarily unavailable|Cannot allocate memory|Too many open files|No space left on device)/m;

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
  const spawn = await loadSpawn(); // before the deadline: the first import is not the check's time
  const d = deadline(check.timeout, signal);
  const limit = env.execOutputLimit ?? DEFAULT_OUTPUT_LIMIT;
  let ids: Ids | undefined;
  if (process.getuid?.() === 0) {
    const user = check.user ?? env.execUser ?? 'nobody';
    try {
      ids = await lookupUser(user);
    } catch (err) {
      d.done();
      return d.result(false, (err as Error).message, localExtra(err));
    }
  }
  if (d.signal.aborted) {
    d.done();
    return d.result(false, d.reason());
  }
  const mode = ids ? await execIsolation() : 'pgroup';
  const argv = execArgv(check, target);
  const [file, ...args] = ids && mode === 'pidns' ? ['unshare', ...wrapper(ids), ...argv] : argv;
  return new Promise((resolve) => {
    let child: SpawnedChild;
    try {
      // a clone sharing the daemon's memory until its execve, nothing copied (spawn-child.ts)
      child = spawn(file!, args, {
        detached: true,
        cwd: '/',
        env: {
          PATH: SAFE_PATH,
          LANG: process.env.LANG ?? 'C',
          ...(check.bare ? {} : { LVSD_REAL_SERVER_ADDRESS: target.address, LVSD_REAL_SERVER_PORT: String(target.port) }),
        },
        // in a PID namespace the inner unshare drops to the user; else the program starts as the user
        ...(ids && mode === 'pgroup' ? { uid: ids.uid, gid: ids.gid } : {}),
      });
    } catch (err) {
      d.done();
      const local = localErrno((err as NodeJS.ErrnoException).code);
      resolve(d.result(false, errorReason('spawn', err), local ? { local } : {}));
      return;
    }
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
    let exit: { code: number | null; sig: NodeJS.Signals | null } | undefined;
    const output = () => Buffer.concat(chunks).toString('utf8').trimEnd();
    const settlement = settleOnce(d, resolve, () => {
      killGroup(child.pid);
      child.stdout.destroy();
      child.stderr.destroy();
    }, () => d.result(false, d.reason(), { output: output() }));
    const finish = (ok: boolean, reason: string, extra: Partial<ProbeResult> = {}) => {
      if (!settlement.settled()) settlement.finish(d.result(ok, reason, { ...extra, output: output() }));
    };
    settlement.watch();
    child.once('error', (err) => {
      const local = localErrno((err as NodeJS.ErrnoException).code);
      finish(false, errorReason('spawn', err), local ? { local } : {});
    });
    child.once('exit', (code, sig) => {
      exit = { code, sig };
      killGroup(child.pid); // whatever it left behind holds the pipes open; it goes too
    });
    child.once('close', () => {
      if (!exit) return finish(false, 'exited');
      const { code, sig } = exit;
      if (code === null) return finish(false, `signal ${sig}`);
      if (code === 0) return finish(true, 'exit 0');
      if (mode === 'pidns' && code >= 1 && code <= 127) {
        // the wrapper's own complaints read as Node's spawn errors would
        const text = Buffer.concat(chunks).toString('utf8');
        const m = code === 1 ? WRAPPER_LOCAL.exec(text) : undefined;
        if (m) return finish(false, `spawn ${wrapperErrno(m[1]!)}`, { local: wrapperErrno(m[1]!) });
        if (code >= 126 && /^unshare: failed to execute /m.test(text)) {
          return finish(false, /No such file or directory/.test(text) ? 'spawn ENOENT' : 'spawn EACCES');
        }
      }
      if (check.dynamicWeight && code >= 2) return finish(true, `exit ${code}`, { weight: code - 2 });
      finish(false, `exit ${code}`);
    });
  });
}

function wrapperErrno(text: string): string {
  if (text.startsWith('Resource')) return 'EAGAIN';
  if (text.startsWith('Cannot')) return 'ENOMEM';
  if (text.startsWith('Too many')) return 'EMFILE';
  return 'ENOSPC';
}
