/**
 * The CLI's side of the control socket: one HTTP/1.1 request with a JSON body over the Unix socket, one JSON
 * answer. Every failure is an LvsdError with code LVSD_CONTROL and a sentence an operator can act on.
 *
 * Written over node:net rather than node:http: loading http's client (agent, parser, incoming and outgoing
 * messages) on top of net cost every `lvsd reload`, `status`, `drain` 3-10 ms natively and about ten
 * times that under the test VM's emulation, for one request to our own daemon, whose answers always carry
 * a content-length (control-server.ts). The request says `connection: close`, so the answer ends where
 * the daemon closes the connection; a chunked answer is decoded as well.
 */
import { createConnection } from 'node:net';
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

/** An HTTP/1.1 answer: status and body, or a sentence saying why it cannot be read. Pure. */
export function parseAnswer(raw: Buffer): { status: number; body: Buffer } | string {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return raw.length === 0 ? 'the connection closed without an answer' : 'the answer was cut short';
  const lines = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (!status) return 'the answer is not HTTP';
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(headEnd + 4);
  if (/\bchunked\b/i.test(headers.get('transfer-encoding') ?? '')) {
    const chunks: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', pos);
      if (lineEnd < 0) return 'the answer was cut short';
      const size = Number.parseInt(body.subarray(pos, lineEnd).toString('latin1'), 16);
      if (!Number.isInteger(size) || size < 0) return 'the answer is not HTTP';
      if (size === 0) break;
      if (lineEnd + 2 + size + 2 > body.length) return 'the answer was cut short';
      chunks.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      pos = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(chunks);
  } else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (!Number.isInteger(length) || length < 0) return 'the answer is not HTTP';
    if (body.length < length) return 'the answer was cut short';
    body = body.subarray(0, length);
  }
  return { status: Number(status[1]), body };
}

/**
 * Sends `method path` with an optional JSON body and resolves with the parsed JSON answer (2xx). An error
 * answer ({error: {code, message}}) rejects with LvsdError LVSD_CONTROL carrying the daemon's message.
 */
export function requestDaemon<T = unknown>(
  socketPath: string, method: 'GET' | 'POST', path: string, body?: unknown, opts: RequestOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const head = [
    `${method} ${path} HTTP/1.1`, 'host: lvsd', 'accept: application/json', 'connection: close',
    ...(payload !== undefined ? ['content-type: application/json', `content-length: ${payload.length}`] : method === 'POST' ? ['content-length: 0'] : []),
  ].join('\r\n');
  return new Promise<T>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      f();
    };
    const socket = createConnection({ path: socketPath });
    const timer = setTimeout(() => settle(() => reject(new LvsdError('LVSD_CONTROL',
      `lvsd did not answer ${method} ${path} on ${socketPath} within ${timeoutMs / 1000}s`,
      { details: { socket: socketPath } satisfies ControlErrorDetails }))), timerDelay(timeoutMs));
    socket.on('error', (e: NodeJS.ErrnoException) => settle(() => reject(connectError(socketPath, e))));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => settle(() => {
      const answer = parseAnswer(Buffer.concat(chunks));
      if (typeof answer === 'string') {
        reject(new LvsdError('LVSD_CONTROL', `lvsd's answer to ${method} ${path} on ${socketPath} cannot be read: ${answer}`,
          { details: { socket: socketPath } satisfies ControlErrorDetails }));
        return;
      }
      const { status } = answer;
      const text = answer.body.toString('utf8');
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
    }));
    socket.write(`${head}\r\n\r\n`);
    if (payload !== undefined) socket.write(payload);
  });
}
