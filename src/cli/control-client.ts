/**
 * The CLI's side of the control socket: one HTTP request with a JSON body over the Unix socket, one JSON
 * answer. Every failure is an LvsdError with code LVSD_CONTROL and a sentence an operator can act on.
 */
import { request } from 'node:http';
import { LvsdError } from '../errors.js';
import { timerDelay } from '../timer-delay.js';

export const DEFAULT_CONTROL_SOCKET = '/run/lvsd/lvsd.sock';

export interface RequestOptions {
  /** Milliseconds to wait for the whole answer. Default 10 000 (a reload may need more). */
  timeoutMs?: number;
}

/** details of an LvsdError the daemon answered with: HTTP status and the daemon's error code. */
export interface ControlErrorDetails {
  socket: string;
  status?: number;
  code?: string;
  errno?: string;
}

function connectError(socketPath: string, e: NodeJS.ErrnoException): LvsdError {
  const details: ControlErrorDetails = { socket: socketPath, ...(e.code ? { errno: e.code } : {}) };
  switch (e.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new LvsdError('LVSD_CONTROL', `lvsd is not running (no daemon listening on ${socketPath})`, { details, cause: e });
    case 'EACCES':
    case 'EPERM':
      return new LvsdError('LVSD_CONTROL',
        `permission denied on ${socketPath}: run as root or as a member of the control socket's group`, { details, cause: e });
    default:
      return new LvsdError('LVSD_CONTROL', `cannot talk to lvsd on ${socketPath}: ${e.message}`, { details, cause: e });
  }
}

/**
 * Sends `method path` with an optional JSON body and resolves with the parsed JSON answer (2xx). An error
 * answer ({error: {code, message}}) rejects with LvsdError LVSD_CONTROL carrying the daemon's message.
 */
export function requestDaemon<T = unknown>(
  socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown, opts: RequestOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request({
      socketPath, method, path,
      headers: {
        accept: 'application/json',
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(connectError(socketPath, e)));
      res.on('end', () => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          reject(new LvsdError('LVSD_CONTROL', `lvsd answered ${method} ${path} with something that is not JSON (HTTP ${status})`,
            { details: { socket: socketPath, status } satisfies ControlErrorDetails }));
          return;
        }
        if (status >= 200 && status < 300) {
          resolve(json as T);
          return;
        }
        const err = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
        const message = typeof err?.message === 'string' ? err.message : `lvsd refused ${method} ${path} (HTTP ${status})`;
        const details: ControlErrorDetails = { socket: socketPath, status, ...(typeof err?.code === 'string' ? { code: err.code } : {}) };
        reject(new LvsdError('LVSD_CONTROL', message, { details }));
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new LvsdError('LVSD_CONTROL', `lvsd did not answer ${method} ${path} on ${socketPath} within ${timeoutMs / 1000}s`,
        { details: { socket: socketPath } satisfies ControlErrorDetails }));
    }, timerDelay(timeoutMs));
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(connectError(socketPath, e));
    });
    req.end(payload);
  });
}
