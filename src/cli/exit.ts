/**
 * How the CLI turns an error into an exit status and a sentence. Scripts rely on these numbers.
 */
import { escapeControl } from '../escape.js';
import { isLvsdError, type LvsdErrorCode } from '../errors.js';

export const EXIT = {
  ok: 0,
  /** the config is invalid, or some operations failed (the rest was applied) */
  failed: 1,
  /** bad command-line usage */
  usage: 2,
  /** the kernel has no IPVS, or the native addon / privileges are missing */
  unavailable: 3,
  /** the daemon is not running or refused the request */
  daemon: 4,
  /** anything unexpected (a bug: please report it) */
  internal: 70,
} as const;

const byCode: Record<LvsdErrorCode, number> = {
  LVSD_CONFIG_INVALID: EXIT.failed,
  LVSD_CONFIG_UNREADABLE: EXIT.failed,
  LVSD_IPVS_UNAVAILABLE: EXIT.unavailable,
  LVSD_IPVS_KERNEL: EXIT.failed,
  LVSD_IPVS_PROTOCOL: EXIT.internal,
  LVSD_IPVS_ENCODE: EXIT.failed,
  LVSD_NETLINK_OVERRUN: EXIT.failed,
  LVSD_NATIVE_UNAVAILABLE: EXIT.unavailable,
  LVSD_CONTROL: EXIT.daemon,
  LVSD_STATE: EXIT.failed,
  LVSD_BGP: EXIT.failed,
  LVSD_ALREADY_RUNNING: EXIT.daemon,
  LVSD_FIREWALL: EXIT.failed,
  LVSD_USAGE: EXIT.usage,
  LVSD_INTERNAL: EXIT.internal,
};

export function exitStatusOf(error: unknown): number {
  return isLvsdError(error) ? byCode[error.code] : EXIT.internal;
}

/** The text an operator reads: the message, and for config errors every problem on its own line (control characters escaped). */
export function describeError(error: unknown): string {
  if (isLvsdError(error)) {
    const problems = Array.isArray(error.details) ? (error.details as unknown[]) : [];
    const lines = problems
      .map((p) => (p && typeof p === 'object' && 'file' in p && 'pointer' in p && 'message' in p
        ? `  ${escapeControl(`${String((p as { file: unknown }).file)}: ${String((p as { pointer: unknown }).pointer)}: ${String((p as { message: unknown }).message)}`)}`
        : undefined))
      .filter((l): l is string => l !== undefined);
    // config errors carry their problems in the message too: print the headline once, then each problem
    // control characters from the input are escaped, so nothing in a name or a value can forge a line
    const headline = escapeControl(lines.length > 0 ? error.message.split('\n')[0]! : error.message);
    // a failure lvsd did not expect (asLvsdError): where it came from, for the bug report
    const stack = error.code === 'LVSD_INTERNAL' ? (error.details as { stack?: unknown } | undefined)?.stack : undefined;
    const trace = typeof stack === 'string' ? stack.split('\n').map((l) => `  ${escapeControl(l)}`) : [];
    return [`lvsd: ${headline}`, ...lines, ...trace].join('\n');
  }
  const e = error as Error;
  return `lvsd: internal error: ${e?.stack ?? String(error)}`;
}
