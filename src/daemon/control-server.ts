/**
 * The control socket: HTTP with JSON bodies over a Unix socket (default /run/lvsd/lvsd.sock), what the
 * `lvsd` CLI talks to. Routes (docs/status.md):
 *   GET  /v1/status   -> the StatusSnapshot
 *   POST /v1/reload   -> ReloadResult (200 whether or not the new config was accepted; `ok` says which)
 *   POST /v1/drain    {service, realServer} -> {ok: true, changed} or 404
 *   POST /v1/undrain  {service, realServer} -> {ok: true, changed} or 404
 *   POST /v1/ping     -> {ok: true}: changes nothing (the daemon sends itself one at start: pingControl)
 * Errors are JSON {error: {code, message}} with a 4xx/5xx status.
 *
 * Who may connect: Node cannot read a peer's credentials (no SO_PEERCRED), so access rests on the kernel's
 * permission check at connect(2), which needs write permission on the socket file and search permission
 * on its directory. The socket is created with mode 0600 (root only), or 0660 owned by root:<group> when a
 * group is configured; a directory created here gets 0700, or 0750 root:<group>.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LvsdError, isLvsdError } from '../errors.js';
import type { Logger } from '../log.js';
import { TurnBudget } from '../turn-budget.js';
import { CONTROL_LIMITS, limitConnections, type ConnectionLimits } from './conn-limits.js';
import type { ConfigProblem, StatusSnapshot } from './status.js';

export interface ReloadResult {
  /** The new config is in force and the kernel took all of it. */
  ok: boolean;
  /** The new config is in force (true also when `ok` is false because IPVS did not take all of it). */
  applied?: boolean;
  /** The stable code (LVSD_...) of what went wrong; the CLI maps it to an exit status. */
  code?: string;
  error?: string;
  problems?: ConfigProblem[];
}

export interface DrainRequest {
  /** The service's name or key (serviceId). */
  service: string;
  /** The real server's destId ("10.0.1.11:8080", "[2001:db8::11]:80"). */
  realServer: string;
}

/** `changed` false when the real server was already (un)drained. Not found -> 404 with `message`. */
export type DrainResult =
  /** `kernel`: present when the change is recorded but IPVS refused it (the daemon's repair retries it). */
  | { ok: true; changed: boolean; kernel?: { applied: false; error: string } }
  | { ok: false; notFound: 'service' | 'realServer'; message: string };

/** GET /v1/status?service=NAME&fresh=1: one service only (its counters read alone); the table read afresh. */
export interface StatusQuery {
  service?: string;
  fresh?: boolean;
}

export interface ControlHandlers {
  status(query?: StatusQuery): StatusSnapshot | Promise<StatusSnapshot>;
  reload(): ReloadResult | Promise<ReloadResult>;
  drain(req: DrainRequest): DrainResult | Promise<DrainResult>;
  undrain(req: DrainRequest): DrainResult | Promise<DrainResult>;
  /** `lvsd drain --director` (on) / `lvsd undrain --director`: ECMP withdraws every address (docs/ecmp.md). */
  drainDirector?(on: boolean): Promise<{ ok: true; changed: boolean }>;
}

export interface ControlServerOptions {
  path: string;
  /** Group (name or numeric id) whose members may use the socket besides root. */
  group?: string;
  handlers: ControlHandlers;
  log: Logger;
  /** Connections at once and idle time (conn-limits.ts); default CONTROL_LIMITS. */
  limits?: ConnectionLimits;
}

export interface ControlServer {
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** A group's numeric id from its name (via /etc/group) or a numeric string. */
export function resolveGroupId(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (e) {
    throw new LvsdError('LVSD_CONTROL', `cannot read ${groupFile} to find group ${group}`, { cause: e });
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new LvsdError('LVSD_CONTROL', `control socket group ${JSON.stringify(group)} does not exist`);
}

/** Runs a filesystem step, turning its failure (EPERM when not root) into an LvsdError. */
function guard(what: string, step: () => void): void {
  try {
    step();
  } catch (e) {
    throw new LvsdError('LVSD_CONTROL', `cannot ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/** Resolves true when something accepts a connection on the socket path. */
function someoneListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock: Socket = createConnection({ path });
    const done = (v: boolean) => { sock.destroy(); resolve(v); };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(true)); // a listener too busy to accept is still a listener
  });
}

async function prepareSocketPath(path: string, gid: number | undefined): Promise<void> {
  const dir = dirname(path);
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true, mode: gid === undefined ? 0o700 : 0o750 });
  } catch (e) {
    throw new LvsdError('LVSD_CONTROL', `cannot create the control socket directory ${dir}: ${(e as Error).message}`, { cause: e });
  }
  if (created !== undefined && gid !== undefined) {
    guard(`give ${dir} to group ${gid}`, () => { chownSync(dir, 0, gid); chmodSync(dir, 0o750); });
  }
  let isSocket: boolean | undefined;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) {
    throw new LvsdError('LVSD_CONTROL', `${path} exists and is not a socket; refusing to replace it`);
  }
  if (await someoneListening(path)) {
    throw new LvsdError('LVSD_CONTROL', `another lvsd is already listening on ${path}`);
  }
  unlinkSync(path); // stale: left by a daemon that did not exit cleanly
}

function send(res: ServerResponse, status: number, body: unknown, text = JSON.stringify(body) + '\n'): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * JSON.stringify's text of a body, its `services` array (a status snapshot: tens of MB at 100,000 real
 * servers) written a slice of services per turn of the event loop: the same text, without holding the
 * daemon for the whole of it.
 */
export async function jsonInTurns(body: unknown, budget = new TurnBudget()): Promise<string> {
  const services = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as { services?: unknown }).services : undefined;
  if (!Array.isArray(services)) return JSON.stringify(body);
  const parts: string[] = [];
  for (const [key, value] of Object.entries(body as object)) {
    if (value === services) {
      const items: string[] = [];
      for (const item of services) {
        items.push(JSON.stringify(item) ?? 'null');
        await budget.check();
      }
      parts.push(`${JSON.stringify(key)}:[${items.join(',')}]`);
    } else {
      const text = JSON.stringify(value);
      if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
    }
  }
  return `{${parts.join(',')}}`;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // a body trickled in slowly must not hold a connection (and a descriptor) for ever
  const deadline = setTimeout(() => req.destroy(), CONTROL_LIMITS.idleMs);
  deadline.unref();
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw new HttpError(413, 'BODY_TOO_LARGE', `request body over ${MAX_BODY} bytes`);
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(deadline);
  }
  return parseJsonBody(chunks);
}

function parseJsonBody(chunks: Buffer[]): unknown {
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'request body is not JSON');
  }
}

function drainRequest(body: unknown): DrainRequest {
  const b = body as Partial<Record<keyof DrainRequest, unknown>> | undefined;
  if (!b || typeof b !== 'object' || typeof b.service !== 'string' || typeof b.realServer !== 'string') {
    throw new HttpError(400, 'BAD_REQUEST', 'expected a JSON body {"service": "<name or key>", "realServer": "<address:port>"}');
  }
  return { service: b.service, realServer: b.realServer };
}

const ROUTES: Record<string, string> = {
  '/v1/status': 'GET', '/v1/reload': 'POST', '/v1/drain': 'POST', '/v1/undrain': 'POST',
  '/v1/drain-director': 'POST', '/v1/undrain-director': 'POST', '/v1/ping': 'POST',
};

async function route(req: IncomingMessage, handlers: ControlHandlers): Promise<[number, unknown]> {
  const url = new URL(req.url ?? '/', 'http://lvsd');
  const path = url.pathname;
  const method = ROUTES[path];
  if (method === undefined) throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${path}`);
  if (req.method !== method) {
    throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${path} takes ${method}, not ${req.method ?? '?'}`);
  }
  const body = method === 'POST' ? await readJson(req) : undefined;
  switch (path) {
    case '/v1/status': {
      const service = url.searchParams.get('service');
      const fresh = url.searchParams.get('fresh');
      return [200, await handlers.status({ ...(service !== null ? { service } : {}), ...(fresh === '1' || fresh === 'true' ? { fresh: true } : {}) })];
    }
    case '/v1/reload':
      return [200, await handlers.reload()];
    case '/v1/ping':
      return [200, { ok: true }];
    case '/v1/drain-director':
    case '/v1/undrain-director':
      if (!handlers.drainDirector) throw new HttpError(404, 'NOT_FOUND', 'this daemon cannot drain the director');
      return [200, await handlers.drainDirector(path === '/v1/drain-director')];
    default: {
      const dr = drainRequest(body);
      const result = path === '/v1/drain' ? await handlers.drain(dr) : await handlers.undrain(dr);
      if (!result.ok) throw new HttpError(404, 'NOT_FOUND', result.message);
      return [200, result];
    }
  }
}

/**
 * One POST /v1/ping over the control socket at `path`, as `lvsd reload` sends its request (native/front):
 * the daemon sends it to itself once it has started, so node's HTTP server, the route and the answer have
 * run (and are compiled) before the first request of an operator (reload-warm.ts). Resolves with the HTTP
 * status line's code; rejects on a connection error or after `timeoutMs`.
 */
export function pingControl(path: string, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path });
    const chunks: Buffer[] = [];
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('error', reject);
    sock.once('connect', () => sock.write('POST /v1/ping HTTP/1.1\r\nhost: lvsd\r\naccept: application/json\r\nconnection: close\r\n\r\n'));
    sock.once('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(Buffer.concat(chunks).toString('latin1'));
      if (m) resolve(Number(m[1]));
      else reject(new Error('the answer is not HTTP'));
    });
  });
}

/** Listens on the control socket. Rejects with LvsdError LVSD_CONTROL when it cannot (or another daemon is there). */
export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const log = opts.log.child({ component: 'control' });
  const gid = opts.group === undefined ? undefined : resolveGroupId(opts.group);
  await prepareSocketPath(opts.path, gid);

  // when each connection was accepted: control.request says how long its request's head took to come (the
  // client's send and the daemon's turn to read it), beside the time from the head to the answer
  const accepted = new WeakMap<object, number>();
  const server = createServer((req, res) => {
    const arrived = performance.now();
    const since = accepted.get(req.socket);
    route(req, opts.handlers).then(async ([status, body]) => ({ status, body, text: (await jsonInTurns(body)) + '\n' })).then(
      ({ status, body, text }) => {
        // ms: from the request's head to the answer (a reload's wait for the one running included)
        // an operator's action (POST: reload, drain, ...) at info, with how long it took in the daemon; status reads at debug
        log[req.method === 'POST' ? 'info' : 'debug']({
          event: 'control.request', method: req.method, url: req.url, status, ms: Math.round(performance.now() - arrived),
          ...(since !== undefined && { headMs: Math.round((arrived - since) * 10) / 10 }),
        }, 'control request');
        send(res, status, body, text);
      },
      (e: unknown) => {
        const err = e instanceof HttpError ? e
          : new HttpError(500, isLvsdError(e) ? e.code : 'INTERNAL', (e as Error)?.message ?? String(e));
        const level = err.status >= 500 ? 'error' : 'info';
        log[level]({ event: 'control.error', method: req.method, url: req.url, status: err.status, code: err.code, err: err.message },
          'control request failed');
        send(res, err.status, { error: { code: err.code, message: err.message } });
      },
    );
  });

  server.on('connection', (socket: object) => accepted.set(socket, performance.now()));
  limitConnections(server, opts.limits ?? CONTROL_LIMITS);

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) =>
      reject(new LvsdError('LVSD_CONTROL', `cannot listen on ${opts.path}: ${e.message}`, { cause: e }));
    server.once('error', onError);
    // bind(2) creates the file with the process umask: make it private from the first instant
    const umask = process.umask(0o177);
    try {
      server.listen(opts.path, () => {
        server.off('error', onError);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  try {
    guard(`set the owner and mode of ${opts.path}`, () => {
      if (gid !== undefined) {
        chownSync(opts.path, 0, gid);
        chmodSync(opts.path, 0o660);
      } else {
        chmodSync(opts.path, 0o600);
      }
    });
  } catch (e) {
    await new Promise((resolve) => server.close(resolve));
    throw e;
  }
  log.info({ event: 'control.listening', path: opts.path, group: opts.group ?? null }, 'control socket listening');

  return {
    close: () => new Promise<void>((resolve) => {
      server.close(() => { // libuv removes the socket file on close
        log.info({ event: 'control.closed', path: opts.path }, 'control socket closed');
        resolve();
      });
      server.closeAllConnections();
    }),
  };
}
