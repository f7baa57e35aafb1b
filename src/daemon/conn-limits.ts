/**
 * Bounds on what clients of the control socket and the metrics listener can hold: connections at once and
 * how long one may sit idle. Every connection costs the daemon a descriptor, and the daemon needs its
 * descriptors for health probes: idle clients must never starve the probes (nor `lvsd status`).
 *
 * - A connection is idle from when it opens, and again from when its last response was sent, until its
 *   next request arrives (bytes trickling in do not count: a request that takes longer than `idleMs` to
 *   arrive is dropped too). An idle connection is closed after `idleMs`. A request being served is never
 *   cut short by this.
 * - When a new connection would pass `maxConnections`, the connection idle the longest is closed to make
 *   room; if every one is busy, the new one is closed at once. A flood of idle connections therefore churns
 *   through at most `maxConnections` descriptors, and a real request still gets in.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  maxConnections: number;
  idleMs: number;
}

/** The control socket: the CLI opens one connection per command. */
export const CONTROL_LIMITS: ConnectionLimits = { maxConnections: 32, idleMs: 10_000 };
/** The metrics listener: a few scrapers, each keeping a connection alive between scrapes. */
export const METRICS_LIMITS: ConnectionLimits = { maxConnections: 16, idleMs: 30_000 };

interface Tracked {
  socket: Socket;
  busy: number;
  idleSince: number;
  timer: NodeJS.Timeout | undefined;
}

/** Applies the limits to an HTTP server (before it listens). Returns how many were closed, for tests. */
export function limitConnections(server: Server, limits: ConnectionLimits): { closedIdle(): number; refused(): number } {
  const open = new Map<Socket, Tracked>();
  let closedIdle = 0;
  let refused = 0;
  const idle = (t: Tracked) => {
    t.idleSince = Date.now();
    clearTimeout(t.timer);
    t.timer = setTimeout(() => {
      // A loop held longer than idleMs (a large config being loaded) fires this timer before it reads the
      // request that may be waiting on the socket: look again after that read (setImmediate runs after
      // the poll phase), and close only a connection that is still idle then.
      setImmediate(() => {
        if (t.busy > 0 || t.socket.destroyed || Date.now() - t.idleSince < limits.idleMs) return;
        closedIdle++;
        t.socket.destroy();
      });
    }, limits.idleMs);
    t.timer.unref();
  };
  // http's own timers, in step: headers and whole request within the idle time, keep-alive as long
  // Node's own header and request deadlines are off: its checker counts from the connection and runs on a
  // timer, so after the loop was held longer than the deadline (a 110,000-object config being loaded) it
  // closed requests that were waiting, complete, on the socket. The idle timer above bounds the headers
  // the same way, looking again after the socket is read; a body is bounded by its reader (control-server).
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.keepAliveTimeout = limits.idleMs;
  server.on('connection', (socket: Socket) => {
    if (open.size >= limits.maxConnections) {
      let oldest: Tracked | undefined;
      for (const t of open.values()) if (t.busy === 0 && (!oldest || t.idleSince < oldest.idleSince)) oldest = t;
      if (!oldest) {
        refused++;
        socket.destroy();
        return;
      }
      closedIdle++;
      open.delete(oldest.socket);
      clearTimeout(oldest.timer);
      oldest.socket.destroy();
    }
    const t: Tracked = { socket, busy: 0, idleSince: 0, timer: undefined };
    open.set(socket, t);
    idle(t);
    socket.once('close', () => {
      clearTimeout(t.timer);
      open.delete(socket);
    });
  });
  server.on('request', (req, res) => {
    const t = open.get(req.socket);
    if (!t) return;
    t.busy++;
    clearTimeout(t.timer);
    res.once('close', () => {
      if (--t.busy === 0 && !t.socket.destroyed) idle(t);
    });
  });
  return { closedIdle: () => closedIdle, refused: () => refused };
}
