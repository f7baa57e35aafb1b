/**
 * The commands lvsd runs on an event (VRRP notify commands, a service's quorum commands): started with
 * nothing of the daemon's own process (cwd `/`, an environment of exactly PATH and the caller's variables,
 * and when lvsd is root and a user is named, that user's uid and gid with no supplementary groups), their
 * output kept up to 4 KiB for the log, killed after 30 s. Never awaited by what triggered them.
 */
import { SAFE_PATH, lookupUser, type Ids } from './users.js';
import { loadSpawn, type SpawnedChild } from './spawn-child.js';

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
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
}

/**
 * Keeps the child's output (up to the limit) and kills it after the deadline; `onClose` gets its exit and
 * output, `onError` a failure after the spawn. `stop()` forgets the deadline (the caller detaches the child).
 */
export function superviseHook(
  child: HookChild,
  onClose: (code: number | null, signal: NodeJS.Signals | null, output: string) => void,
  onError: (e: Error) => void,
): { stop(): void } {
  let output = '';
  const keep = (b: Buffer) => { if (output.length < HOOK_OUTPUT_LIMIT) output += b.toString('utf8').slice(0, HOOK_OUTPUT_LIMIT - output.length); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const killer = setTimeout(() => child.kill('SIGKILL'), HOOK_KILL_AFTER_MS);
  child.on('error', (e) => { clearTimeout(killer); onError(e); });
  child.on('close', (code, signal) => { clearTimeout(killer); onClose(code, signal, output); });
  return { stop: () => clearTimeout(killer) };
}
