/**
 * A service's quorum commands (config `quorum.up` / `quorum.down`, keepalived's quorum_up / quorum_down): run
 * when the service gains or loses its quorum of real servers, the way VRRP notify commands run: spawned, never
 * awaited by the daemon, cwd `/`, an environment of exactly PATH and LVSD_SERVICE, LVSD_QUORUM (`up` or
 * `down`), LVSD_UP (real servers up), as `quorum.user` when lvsd is root, output (4 KiB at most) logged at
 * exit, killed after 30 s. The argv runs as written: nothing is appended (keepalived appends nothing either).
 */
import type { Logger } from '../log.js';
import { SAFE_PATH } from '../users.js';
import { spawnHook, superviseHook } from '../hook-command.js';

export interface QuorumEvent {
  service: string;
  met: boolean;
  up: number;
}

/** The whole environment of a quorum command. Pure. */
export function quorumEnv(e: QuorumEvent): Record<string, string> {
  return { PATH: SAFE_PATH, LVSD_SERVICE: e.service, LVSD_QUORUM: e.met ? 'up' : 'down', LVSD_UP: String(e.up) };
}

/** Runs `argv` for the event; logs `health.quorum_command` (exit code, output) or `health.quorum_command_failed`. Never throws. */
export function runQuorumCommand(argv: readonly string[] | undefined, e: QuorumEvent, user: string | undefined, log: Logger): void {
  if (!argv || argv.length === 0) return;
  const base = { event: 'health.quorum_command', service: e.service, quorum: e.met ? 'up' : 'down', command: argv[0] };
  const failed = (err: Error) => log.warn({ ...base, event: 'health.quorum_command_failed', err: err.message }, `${e.service}: quorum ${base.quorum} command: ${err.message}`);
  spawnHook(argv, [], quorumEnv(e), user).then((child) => {
    superviseHook(child, (code, signal, output) => log.info({ ...base, exitCode: code, ...(signal ? { signal } : {}), output }), failed);
  }, (err: unknown) => failed(err as Error));
}
