/**
 * Every error lvsd raises on purpose carries a stable `code`, so the CLI maps it to an exit status
 * and a sentence, and tests assert on codes rather than message text.
 */
export type LvsdErrorCode =
  | 'LVSD_CONFIG_INVALID'      // schema or semantic validation failed (details lists every problem)
  | 'LVSD_CONFIG_UNREADABLE'   // file missing, unreadable, not JSON
  | 'LVSD_IPVS_UNAVAILABLE'    // the kernel has no IPVS (module not loaded, no generic netlink family)
  | 'LVSD_IPVS_KERNEL'         // the kernel refused an IPVS operation (errno carried)
  | 'LVSD_IPVS_PROTOCOL'       // a netlink reply we could not make sense of
  | 'LVSD_IPVS_ENCODE'         // a value does not fit its netlink attribute (not an integer, negative, too large)
  | 'LVSD_NETLINK_OVERRUN'     // the socket buffer overflowed (ENOBUFS); state must be re-read
  | 'LVSD_NATIVE_UNAVAILABLE'  // the native addon is not built or cannot open a socket
  | 'LVSD_CONTROL'             // control socket errors (daemon not running, refused)
  | 'LVSD_STATE'               // a file lvsd keeps (drains) cannot be read back or written
  | 'LVSD_ALREADY_RUNNING'     // another lvsd runs in this network namespace
  | 'LVSD_FIREWALL'            // nftables rules lvsd needs (VRRP Accept_Mode off) cannot be installed or removed
  | 'LVSD_USAGE'               // bad command-line flags
  | 'LVSD_BGP'                 // the BGP daemon lvsd runs for ecmp (BIRD) is missing, refused a config or does not answer
  | 'LVSD_INTERNAL';           // a bug: lvsd failed where it should not

/** Every code once (the compiler checks the list is complete), to recognise one that crossed a socket. */
const CODES: Record<LvsdErrorCode, true> = {
  LVSD_CONFIG_INVALID: true, LVSD_CONFIG_UNREADABLE: true, LVSD_IPVS_UNAVAILABLE: true, LVSD_IPVS_KERNEL: true,
  LVSD_IPVS_PROTOCOL: true, LVSD_IPVS_ENCODE: true, LVSD_NETLINK_OVERRUN: true, LVSD_NATIVE_UNAVAILABLE: true,
  LVSD_CONTROL: true, LVSD_STATE: true, LVSD_ALREADY_RUNNING: true, LVSD_FIREWALL: true, LVSD_USAGE: true, LVSD_BGP: true,
  LVSD_INTERNAL: true,
};

/** Whether a string (a code that crossed a socket, say) is one of ours. */
export function isErrorCode(code: unknown): code is LvsdErrorCode {
  return typeof code === 'string' && Object.hasOwn(CODES, code);
}

export class LvsdError extends Error {
  readonly code: LvsdErrorCode;
  /** Machine-readable detail, e.g. a list of config problems or the errno of a kernel refusal. */
  readonly details?: unknown;

  constructor(code: LvsdErrorCode, message: string, options?: { details?: unknown; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'LvsdError';
    this.code = code;
    if (options?.details !== undefined) this.details = options.details;
  }
}

export function isLvsdError(e: unknown, code?: LvsdErrorCode): e is LvsdError {
  return e instanceof LvsdError && (code === undefined || e.code === code);
}

/** An error as it crosses a thread's port: its words, its code and details as they were, its stack. */
export interface ErrorParts {
  message: string;
  code?: string | undefined;
  details?: unknown;
  stack?: string | undefined;
}

/** What a port carries of an error (asLvsdError rebuilds it on the other side). */
export function errorParts(e: unknown): ErrorParts {
  const err = e as { message?: unknown; code?: unknown; details?: unknown; stack?: unknown } | null | undefined;
  return {
    message: typeof err?.message === 'string' ? err.message : String(e),
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
    ...(err?.details !== undefined ? { details: err.details } : {}),
    ...(typeof err?.stack === 'string' ? { stack: err.stack } : {}),
  };
}

/**
 * An error as lvsd reports it, `prefix` before its words: an LvsdError keeps its code; an error (or the
 * ErrorParts of one that crossed a thread's port) whose code is one of lvsd's (CODES, the one list) gets
 * it back; anything else, whatever its code says (`LVSD_` and all: a code lvsd does not define is not
 * lvsd's), is a failure lvsd did not expect, reported as LVSD_INTERNAL with its stack (details.stack, and
 * describeError prints it), never dressed as one of ours.
 */
export function asLvsdError(e: unknown, prefix = ''): LvsdError {
  if (e instanceof LvsdError) return prefix === '' ? e : new LvsdError(e.code, `${prefix}${e.message}`, { cause: e, details: e.details });
  const parts = errorParts(e);
  if (isErrorCode(parts.code)) return new LvsdError(parts.code, `${prefix}${parts.message}`, { cause: e, details: parts.details });
  return new LvsdError('LVSD_INTERNAL', `${prefix}internal error: ${parts.message}`, {
    cause: e,
    details: { ...(parts.code !== undefined ? { code: parts.code } : {}), ...(parts.stack !== undefined ? { stack: parts.stack } : {}) },
  });
}
