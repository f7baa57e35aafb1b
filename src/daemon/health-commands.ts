/**
 * The commands a health event runs, the way VRRP notify commands run (src/hook-command.ts): spawned, never
 * awaited by the daemon, cwd `/`, an environment of exactly PATH and the event's variables, as the named
 * user when lvsd is root, output (4 KiB at most) logged at exit, killed after 30 s. The argv runs as written:
 * nothing is appended (keepalived appends nothing either).
 * - a service's quorum commands (config `quorum.up` / `quorum.down`, keepalived's quorum_up / quorum_down),
 *   when it gains or loses its quorum: LVSD_SERVICE, LVSD_QUORUM (`up` or `down`), LVSD_UP (real servers up);
 * - a real server's notify commands (config `notify.up` / `notify.down` on the real server, keepalived's
 *   notify_up / notify_down), when its check takes it up or down: LVSD_SERVICE (the group's name in a
 *   group), LVSD_REAL_SERVER (ADDRESS:PORT), LVSD_STATE (`up`, `down`, or the agent's `drain` / `maint`),
 *   LVSD_REASON (the probe's result).
 */
import type { Logger } from '../log.js';
import { SAFE_PATH } from '../users.js';
import { spawnHook, superviseHook } from '../hook-command.js';
import type { RealServerTransition } from '../health/index.js';

export interface QuorumEvent {
  service: string;
  met: boolean;
  up: number;
}

/** The whole environment of a quorum command. Pure. */
export function quorumEnv(e: QuorumEvent): Record<string, string> {
  return { PATH: SAFE_PATH, LVSD_SERVICE: e.service, LVSD_QUORUM: e.met ? 'up' : 'down', LVSD_UP: String(e.up) };
}

/** The whole environment of a real server's notify command. Pure. */
export function realServerEnv(t: RealServerTransition): Record<string, string> {
  return { PATH: SAFE_PATH, LVSD_SERVICE: t.service, LVSD_REAL_SERVER: t.id, LVSD_STATE: t.to, LVSD_REASON: t.reason.slice(0, 200) };
}

/** Runs `argv` for the event; logs `health.quorum_command` (exit code, output) or `health.quorum_command_failed`. Never throws. */
export function runQuorumCommand(argv: readonly string[] | undefined, e: QuorumEvent, user: string | undefined, log: Logger): void {
  const quorum = e.met ? 'up' : 'down';
  run(argv, quorumEnv(e), user, log, { event: 'health.quorum_command', service: e.service, quorum }, `${e.service}: quorum ${quorum} command`);
}

/**
 * The real server's notify command for the transition, if it has one: `up` when it came up, `down` when it
 * left up (down, or drain/maint from an agent). Logs `health.notify_command` / `health.notify_command_failed`.
 */
export function runRealServerCommand(t: RealServerTransition, log: Logger): void {
  const n = t.realServer.notify;
  if (!n) return;
  const argv = t.to === 'up' ? n.up : t.from === 'up' ? n.down : undefined;
  run(argv, realServerEnv(t), n.user, log, { event: 'health.notify_command', service: t.service, realServer: t.id, state: t.to },
    `${t.service} ${t.id}: ${t.to} command`);
}

function run(argv: readonly string[] | undefined, env: Record<string, string>, user: string | undefined, log: Logger,
  fields: Record<string, unknown> & { event: string }, what: string): void {
  if (!argv || argv.length === 0) return;
  const base = { ...fields, command: argv[0] };
  const failed = (err: Error) => log.warn({ ...base, event: `${fields.event}_failed`, err: err.message }, `${what}: ${err.message}`);
  spawnHook(argv, [], env, user).then((child) => {
    superviseHook(child, (code, signal, output) => log.info({ ...base, exitCode: code, ...(signal ? { signal } : {}), output }), failed);
  }, (err: unknown) => failed(err as Error));
}
