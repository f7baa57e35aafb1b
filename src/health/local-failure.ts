/**
 * Probe failures that are the director's own: it ran out of descriptors, memory, buffers or local ports,
 * or could not start a process. They say nothing about the real server, so they never count against it:
 * the scheduler keeps the server's state, logs and counts the event, and probes again soon. Pure.
 */

/** errno names that mean "this host could not even try". */
export const LOCAL_ERRNOS: ReadonlySet<string> = new Set([
  'EMFILE', // this process is out of descriptors
  'ENFILE', // the system is out of descriptors
  'ENOBUFS', // no socket buffer space
  'ENOMEM', // no memory (socket, fork)
  'EADDRNOTAVAIL', // no free local port (port exhaustion)
  'EAGAIN', // connect: no free local port; fork: process limit
  'ENOSPC', // epoll watch limit; PID namespace limit
]);

/** The errno name when a failure is the director's own, else undefined. */
export function localErrno(code: string | undefined): string | undefined {
  return code !== undefined && LOCAL_ERRNOS.has(code) ? code : undefined;
}
