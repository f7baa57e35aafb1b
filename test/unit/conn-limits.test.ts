/**
 * The connection bounds of the control socket and metrics listener (src/daemon/conn-limits.ts) on a real
 * HTTP server: idle clients never hold more than maxConnections descriptors, a real request still gets
 * in, a request being served is not cut, and idle connections are closed after idleMs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { limitConnections } from '../../src/daemon/conn-limits.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function get(port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

const open = (server: ReturnType<typeof createServer>) => new Promise<number>((r) => server.getConnections((_e, n) => r(n)));

test('20 idle clients against a limit of 4: at most 4 held, a request still answered, a slow answer not cut, idle ones closed after idleMs', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 800); // longer than idleMs: never cut
    else res.end('ok');
  });
  limitConnections(server, { maxConnections: 4, idleMs: 500 });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const port = (server.address() as AddressInfo).port;
  const clients: Socket[] = [];
  t.after(() => { for (const c of clients) c.destroy(); });
  for (let i = 0; i < 20; i++) {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => undefined);
    clients.push(c);
    await new Promise((r) => c.once('connect', r));
  }
  await sleep(50);
  assert.ok(await open(server) <= 4, `held ${await open(server)}`);
  const slow = get(port, '/slow');
  await sleep(20);
  for (let i = 0; i < 10; i++) {
    const c = connect({ host: '127.0.0.1', port });
    c.on('error', () => undefined);
    clients.push(c);
  }
  assert.equal(await get(port), 'ok');
  assert.equal(await slow, 'slow', 'the request in flight was not evicted nor timed out');
  await sleep(700);
  assert.equal(await open(server), 0, 'idle connections closed after idleMs');
});

test('a request waiting on the socket while the event loop is held longer than idleMs is answered, not closed as idle', async (t) => {
  const { spawn } = await import('node:child_process');
  const { existsSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-connlimits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const IDLE_MS = 300;
  const server = createServer((_req, res) => res.end('answered'));
  limitConnections(server, { maxConnections: 4, idleMs: IDLE_MS });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const sent = join(dir, 'sent');
  // the client is another process: it connects, writes its request, then says so in a file
  const client = spawn(process.execPath, ['-e', `
    const s = require('node:net').connect(${port}, '127.0.0.1', () => {
      s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n', () => require('node:fs').writeFileSync(${JSON.stringify(sent)}, ''));
    });
    let out = ''; s.on('data', (d) => (out += d)); s.on('close', () => { process.stdout.write(out.includes('answered') ? 'answered' : 'closed'); });
    s.on('error', () => process.stdout.write('closed'));
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let result = '';
  client.stdout.on('data', (d: Buffer) => (result += d.toString()));
  // hold the loop (a large config being loaded) from the connection until the request is in the socket
  // and idleMs has passed: the idle timer is due before the request is read
  await new Promise<void>((resolve) => server.once('connection', () => {
    const start = Date.now();
    while (!existsSync(sent) || Date.now() - start < IDLE_MS * 2) { /* busy */ }
    resolve();
  }));
  await new Promise((r) => client.once('exit', r));
  assert.equal(result, 'answered');
});
