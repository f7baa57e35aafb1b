/**
 * The commands lvsd runs on an event (VRRP notify commands, a service's quorum commands): started with
 * nothing of the daemon's own process (cwd `/`, an environment of exactly PATH and the caller's variables,
 * and when lvsd is root and a user is named, that user's uid and gid with no supplementary groups), their
 * output kept up to 4 KiB for the log. Each runs in a session (and process group) of its own: after 30 s the
 * group gets SIGTERM, and SIGKILL `KILL_GRACE_MS` later if anything of it still holds its output, so a
 * command that traps SIGTERM or left a child behind is gone too. Never awaited by what triggered them.
 */
import { SAFE_PATH, lookupUser, type Ids } from './users.js';
import { KILL_GRACE_MS, loadSpawn, signalGroup, type SpawnedChild } from './spawn-child.js';

export const HOOK_KILL_AFTER_MS = 30_000;
export const HOOK_OUTPUT_LIMIT = 4096;

export type HookChild = SpawnedChild;

/** Starts `argv` with `extraArgs` appended; rejects when the user is unknown or the spawn fails at once. */
export async function spawnHook(argv: readonly string[], extraArgs: readonly string[], env: Record<string, string>, user: string | undefined): Promise<HookChild> {
  let ids: Ids | undefined;
  if (user !== undefined && process.getuid?.() === 0) ids = await lookupUser(user);
  // (what starts it is imported when first used: the VRRP thread loads this module at start, and net or
  // child_process bring streams, which cost seconds to compile under the test VM's emulation)
  const spawn = await loadSpawn();
  // a clone sharing the daemon's memory until its execve, nothing copied (spawn-child.ts)
  return spawn(argv[0]!, [...argv.slice(1), ...extraArgs], {
    cwd: '/',
    env: { PATH: SAFE_PATH, ...env },
    detached: true, // its own process group: the deadline's signals reach what it started

    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
}

/** When a hook is signalled (tests shorten them). */
export interface HookDeadline {
  /** SIGTERM to its group after this long (HOOK_KILL_AFTER_MS). */
  termAfterMs: number;
  /** SIGKILL to its group this long after the SIGTERM when its output is still held (KILL_GRACE_MS). */
  graceMs: number;
}

/**
 * Keeps the child's output (up to the limit) and ends it after the deadline: SIGTERM to its process group,
 * SIGKILL after the grace if it (or anything it started) still holds its output; `onClose` gets its exit and
 * output, `onError` a failure after the spawn. `stop()` forgets the deadline (the caller detaches the child).
 */
export function superviseHook(
  child: HookChild,
  onClose: (code: number | null, signal: NodeJS.Signals | null, output: string) => void,
  onError: (e: Error) => void,
  deadline: HookDeadline = { termAfterMs: HOOK_KILL_AFTER_MS, graceMs: KILL_GRACE_MS },
): { stop(): void } {
  let output = '';
  const keep = (b: Buffer) => { if (output.length < HOOK_OUTPUT_LIMIT) output += b.toString('utf8').slice(0, HOOK_OUTPUT_LIMIT - output.length); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let grace: NodeJS.Timeout | undefined;
  const killer = setTimeout(() => {
    signalGroup(child, 'SIGTERM');
    grace = setTimeout(() => signalGroup(child, 'SIGKILL'), deadline.graceMs);
  }, deadline.termAfterMs);
  const stop = () => { clearTimeout(killer); clearTimeout(grace); };
  child.on('error', (e) => { stop(); onError(e); });
  child.on('close', (code, signal) => { stop(); onClose(code, signal, output); });
  return { stop };
}
