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
