/**
 * The lab's client: runs in the client namespace, talks JSON lines.
 *
 * stdin commands (one per line):
 *   loop <ms>     start a request every <ms> through the VIP, each on a fresh TCP connection
 *   stop          stop the loop
 *   open          open one long-lived connection (HTTP keep-alive) and send a request on it every second
 *   close         close it
 *   burst <n>     <n> requests one after the other, then a summary line
 * stdout events:
 *   { kind: 'short', at, ok, server?, ms, err?, port? }  one per loop request (port: the local port of one that timed out)
 *   { kind: 'long-open', port }                     the long-lived connection is up (its local port)
 *   { kind: 'long', at, ok, server?, ms, err? }      one per request on the long-lived connection
 *   { kind: 'burst', counts: { name: n }, failed }
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

/** One GET on a fresh connection; resolves with the server's name or an error text. */
function get(): Promise<{ ok: boolean; server?: string; ms: number; err?: string; port?: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let localPort: number | undefined;
    let connected = false;
    const req = request({ host: vip, port, path: '/', agent: false, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ ok: res.statusCode === 200, server: body.trim(), ms: performance.now() - t0 }));
      res.on('error', (e) => resolve({ ok: false, ms: performance.now() - t0, err: e.message }));
    });
    req.on('socket', (s) => s.once('connect', () => (connected = true)));
    req.on('timeout', () => {
      localPort = req.socket?.localPort;
      // whether the handshake had completed tells a lost SYN from a server that did not answer
      req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms (${connected ? 'connected' : 'no handshake'})`));
    });
    req.on('error', (e) => resolve({ ok: false, ms: performance.now() - t0, err: (e as NodeJS.ErrnoException).code ?? e.message, ...(localPort ? { port: localPort } : {}) }));
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

/** A keep-alive connection: requests written by hand so a reconnect can never hide a reset. */
class Long {
  private socket: Socket;
  private buf = '';
  private waiting: ((r: { ok: boolean; server?: string; err?: string }) => void) | undefined;
  private timer: NodeJS.Timeout;
  dead: string | undefined;

  constructor() {
    this.socket = connect({ host: vip, port });
    this.socket.setEncoding('utf8');
    this.socket.on('connect', () => emit({ kind: 'long-open', port: this.socket.localPort }));
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
    this.timer = setInterval(() => void this.tick(), 1000);
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
      emit({ kind: 'long', at, ok: false, ms: 0, err: this.dead });
      return;
    }
    const r = await new Promise<{ ok: boolean; server?: string; err?: string }>((resolve) => {
      this.waiting = resolve;
      this.socket.write(`GET /long HTTP/1.1\r\nHost: ${vip}\r\nConnection: keep-alive\r\n\r\n`);
    });
    emit({ kind: 'long', at, ...r, ms: performance.now() - t0 });
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

let long: Long | undefined;

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'loop': startLoop(Number(arg ?? 200)); break;
    case 'stop': clearInterval(loop); loop = undefined; break;
    case 'open': long?.close(); long = new Long(); break;
    case 'close': long?.close(); long = undefined; break;
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
