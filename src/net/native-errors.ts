/**
 * The addon's errors in words: errno names, why a socket operation failed, and LvsdError
 * LVSD_NATIVE_UNAVAILABLE, for the modules of src/net that call the addon (index.ts does not export it).
 */
import { getSystemErrorName } from 'node:util';
import { LvsdError } from '../errors.js';

export interface NativeErrno extends Error {
  errno?: number;
  syscall?: string;
  /** The socket stopped reading (it cannot be polled again). */
  stopped?: boolean;
}

export function errnoName(e: NativeErrno): string | undefined {
  if (typeof e.errno !== 'number') return undefined;
  try {
    return getSystemErrorName(-e.errno);
  } catch {
    return undefined;
  }
}

/** Why a socket operation failed, in words an operator acts on. */
export function reason(e: NativeErrno, ifname: string): string {
  const name = errnoName(e);
  const tail = name ? ` (${name}, errno ${e.errno}, ${e.syscall ?? 'syscall'})` : '';
  switch (name) {
    case 'ENODEV':
    case 'ENXIO':
      return `no such interface ${JSON.stringify(ifname)}${tail}`;
    case 'EPERM':
    case 'EACCES':
      return `not permitted: raw sockets need root or CAP_NET_RAW${tail}`;
    case 'EPROTONOSUPPORT':
    case 'EAFNOSUPPORT':
      return `the kernel does not support this socket type${tail}`;
    default:
      return `${e.message}${name ? ` (${name})` : ''}`;
  }
}


/** Turn an addon error into LvsdError LVSD_NATIVE_UNAVAILABLE (TypeErrors from bad arguments pass through). */
export function toLvsdError(e: unknown, what: string, ifname: string): unknown {
  if (e instanceof LvsdError || !(e instanceof Error) || typeof (e as NativeErrno).errno !== 'number') return e;
  const ne = e as NativeErrno;
  return new LvsdError('LVSD_NATIVE_UNAVAILABLE', `${what} on ${ifname}: ${reason(ne, ifname)}`, {
    details: { interface: ifname, errno: ne.errno, code: errnoName(ne), syscall: ne.syscall },
    cause: e,
  });
}

export function errnoText(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
