/**
 * The lab's client: runs in the client namespace, talks JSON lines.
 *
 * stdin commands (one per line):
 *   loop <ms>     start a request every <ms> through the VIP, each on a fresh TCP connection
 *   stop          stop the loop
 *   open          open one long-lived connection (HTTP keep-alive) and send a request on it every second
 *   close         close it
 *   burst <n>     <n> requests one after the other, then a summary line
 *   pool <n> [ms] open <n> more long-lived connections, each with a request every <ms> (default 1000), counted quietly
 *   mark          start counting each pooled connection's longest wait for an answer afresh
 *   pool-report   one line with every pooled connection's figures
 * stdout events:
 *   { kind: 'short', at, ok, server?, ms, connectMs?, err?, port? }  one per loop request (port: the local port of one that timed out)
 *   { kind: 'long-open', port }                     the long-lived connection is up (its local port)
 *   { kind: 'long', at, ok, server?, ms, err? }      one per request on the long-lived connection
 *   { kind: 'burst', counts: { name: n }, failed }
 *   { kind: 'pool', at, conns: [{ id, port, server, servers, ok, failed, dead?, longestWaitMs }] }
 *
 *   node dist/src/lab/client.js VIP [PORT]
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const vip = process.argv[2] ?? '10.80.0.100';
const port = Number(process.argv[3] ?? 80);
const TIMEOUT_MS = 2500;

function emit(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

/**
 * One GET on a fresh connection; resolves with the server's name or an error text, and how long the TCP
 * handshake took (`connectMs`: 1 s or more means the SYN or its answer was lost and sent again).
 */
function get(): Promise<{ ok: boolean; server?: string; ms: number; connectMs?: number; err?: string; port?: number }> {
  const t0 = performance.now();
  let connectMs: number | undefined;
  const c = () => (connectMs === undefined ? {} : { connectMs: Math.round(connectMs) });
  return new Promise((resolve) => {
    let localPort: number | undefined;
    const req = request({ host: vip, port, path: '/', agent: false, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (b: string) => (body += b));
      res.on('end', () => resolve({ ok: res.statusCode === 200, server: body.trim(), ms: performance.now() - t0, ...c() }));
      res.on('error', (e) => resolve({ ok: false, ms: performance.now() - t0, err: e.message, ...c() }));
    });
    req.on('socket', (s) => s.once('connect', () => (connectMs = performance.now() - t0)));
    req.on('timeout', () => {
      localPort = req.socket?.localPort;
      // whether the handshake had completed tells a lost SYN from a server that did not answer
      req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms (${connectMs !== undefined ? 'connected' : 'no handshake'})`));
    });
    req.on('error', (e) => resolve({ ok: false, ms: performance.now() - t0, err: (e as NodeJS.ErrnoException).code ?? e.message, ...c(), ...(localPort ? { port: localPort } : {}) }));
    req.end();
  });
}

let loop: NodeJS.Timeout | undefined;
function startLoop(ms: number): void {
  clearInterval(loop);
  loop = setInterval(() => {
    const at = Date.now();
    void get().then((r) => emit({ kind: 'short', at, ...r }));
  }, ms);
}

type LongResult = { at: number; ok: boolean; server?: string; ms: number; err?: string };

/** A keep-alive connection: requests written by hand so a reconnect can never hide a reset. */
class Long {
  private socket: Socket;
  private buf = '';
  private waiting: ((r: { ok: boolean; server?: string; err?: string }) => void) | undefined;
  private timer: NodeJS.Timeout;
  dead: string | undefined;
  /** kept: a destroyed socket forgets it */
  private localPort: number | undefined;

  constructor(private readonly onResult: (r: LongResult) => void = (r) => emit({ kind: 'long', ...r }), onOpen = (p: number | undefined) => emit({ kind: 'long-open', port: p }), periodMs = 1000) {
    this.socket = connect({ host: vip, port });
    this.socket.setEncoding('utf8');
    this.socket.on('connect', () => {
      this.localPort = this.socket.localPort;
      onOpen(this.localPort);
    });
    this.socket.on('data', (d: string) => {
      this.buf += d;
      this.parse();
    });
    const die = (why: string) => {
      if (this.dead) return;
      this.dead = why;
      this.waiting?.({ ok: false, err: why });
      this.waiting = undefined;
    };
    this.socket.on('error', (e: NodeJS.ErrnoException) => die(e.code ?? e.message));
    this.socket.on('close', () => die('connection closed'));
    this.timer = setInterval(() => void this.tick(), periodMs);
  }

  private parse(): void {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.slice(0, end);
    const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + len) return;
    const body = this.buf.slice(end + 4, end + 4 + len);
    this.buf = this.buf.slice(end + 4 + len);
    const ok = /^HTTP\/1\.1 200/.test(head);
    this.waiting?.({ ok, server: body.trim() });
    this.waiting = undefined;
  }

  private async tick(): Promise<void> {
    if (this.waiting) return; // the previous request is still out
    const at = Date.now();
    const t0 = performance.now();
    if (this.dead) {
      this.onResult({ at, ok: false, ms: 0, err: this.dead });
      return;
    }
    const r = await new Promise<{ ok: boolean; server?: string; err?: string }>((resolve) => {
      this.waiting = resolve;
      this.socket.write(`GET /long HTTP/1.1\r\nHost: ${vip}\r\nConnection: keep-alive\r\n\r\n`);
    });
    this.onResult({ at, ...r, ms: performance.now() - t0 });
  }

  get port(): number | undefined {
    return this.localPort;
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

let long: Long | undefined;

/**
 * The pool: many long-lived connections at once (the ECMP lab spreads them over its directors). Each counts
 * its answers quietly; `pool-report` prints them all in one line. A connection is `dead` once it failed
 * (reset, closed, no answer in TIMEOUT_MS): it is never reopened, so a reset can never hide.
 */
interface Pooled {
  id: number;
  conn: Long;
  server?: string;
  servers: Set<string>;
  ok: number;
  failed: number;
  dead?: string;
  lastOkAt?: number;
  longestWaitMs: number;
}
const pool: Pooled[] = [];
let markAt = Date.now();

function openPooled(id: number, periodMs: number): Pooled {
  const p: Pooled = { id, servers: new Set(), ok: 0, failed: 0, longestWaitMs: 0 } as Pooled;
  p.conn = new Long((r) => {
    const end = r.at + r.ms;
    if (r.ok && r.server) {
      p.server ??= r.server;
      p.servers.add(r.server);
      p.ok++;
      p.longestWaitMs = Math.max(p.longestWaitMs, end - Math.max(p.lastOkAt ?? markAt, markAt));
      p.lastOkAt = end;
    } else {
      p.failed++;
      p.dead ??= r.err ?? 'failed';
    }
  }, () => undefined, periodMs);
  return p;
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'loop': startLoop(Number(arg ?? 200)); break;
    case 'stop': clearInterval(loop); loop = undefined; break;
    case 'open': long?.close(); long = new Long(); break;
    case 'close': long?.close(); long = undefined; break;
    case 'pool': {
      const n = Number(arg ?? 30);
      const periodMs = Number(line.trim().split(/\s+/)[2] ?? 1000);
      for (let i = 0; i < n; i++) pool.push(openPooled(pool.length + 1, periodMs));
      break;
    }
    case 'mark':
      markAt = Date.now();
      for (const p of pool) p.longestWaitMs = 0;
      break;
    case 'pool-report':
      emit({
        kind: 'pool', at: Date.now(), conns: pool.map((p) => ({
          id: p.id, port: p.conn.port, server: p.server, servers: [...p.servers], ok: p.ok, failed: p.failed,
          ...(p.dead ? { dead: p.dead } : {}),
          // a connection waiting now counts its current wait too
          longestWaitMs: Math.round(Math.max(p.longestWaitMs, p.dead ? 0 : Date.now() - Math.max(p.lastOkAt ?? markAt, markAt))),
        })),
      });
      break;
    case 'burst': {
      const n = Number(arg ?? 12);
      void (async () => {
        const counts: Record<string, number> = {};
        let failed = 0;
        for (let i = 0; i < n; i++) {
          const r = await get();
          if (r.ok && r.server) counts[r.server] = (counts[r.server] ?? 0) + 1;
          else failed++;
        }
        emit({ kind: 'burst', counts, failed });
      })();
      break;
    }
    default: emit({ kind: 'error', err: `unknown command ${line}` });
  }
});
rl.on('close', () => process.exit(0));
emit({ kind: 'ready' });
