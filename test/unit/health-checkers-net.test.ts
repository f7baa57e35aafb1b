/**
 * The network checkers against real servers on 127.0.0.1 made by the test: TCP, HTTP, HTTPS (self-signed
 * certificate made with openssl), DNS over UDP and TCP (a tiny responder), and the agent protocol.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AgentCheck, DnsCheck, HttpCheck, TcpCheck } from '../../src/config/types.js';
import { probe } from '../../src/health/index.js';
import { decodeMessage, encodeMessage } from '../../src/health/checkers/dns-codec.js';

const base = { interval: 5, timeout: 2, rise: 1, fall: 1, address: '127.0.0.1', port: 0 };
const target = { address: '127.0.0.1', port: 0 };

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}
function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
/** A port nothing listens on: bind, note, close. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}
/** Waits (up to 5 s, generous for a loaded machine) until `cond` holds; fails the test if it never does. */
async function waitFor(cond: () => boolean, what = 'the probe to close its connection'): Promise<void> {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), `timed out waiting for ${what}`);
}
/** A server that accepts and never says anything; its sockets are tracked so the test can end them. */
async function silentServer(): Promise<{ port: number; sockets: Set<net.Socket>; server: net.Server }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.resume(); // read (and drop) so the client's close is seen
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  return { port: await listen(server), sockets, server };
}

describe('tcp check', () => {
  test('up when the port accepts, down with ECONNREFUSED when nothing listens', async () => {
    const server = net.createServer((s) => s.end());
    const port = await listen(server);
    const up = await probe({ ...base, type: 'tcp', port } satisfies TcpCheck, target);
    assert.equal(up.ok, true);
    assert.ok(up.latencyMs >= 0);
    await close(server);
    const down = await probe({ ...base, type: 'tcp', port: await deadPort() } satisfies TcpCheck, target);
    assert.equal(down.ok, false);
    assert.equal(down.reason, 'connect ECONNREFUSED');
  });

  test('a caller that has already aborted gets an immediate failure, not a connection', async () => {
    let accepted = 0;
    const server = net.createServer((sock) => {
      accepted++;
      sock.end();
    });
    const port = await listen(server);
    const ctl = new AbortController();
    ctl.abort();
    const r = await probe({ ...base, type: 'tcp', port } satisfies TcpCheck, target, ctl.signal);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'aborted');
    await close(server);
    assert.equal(accepted, 0);
  });
});

describe('http check', () => {
  let server: http.Server;
  let port: number;
  const seen: Array<{ method?: string; url?: string; host?: string }> = [];
  const big = 'x'.repeat(200 * 1024) + 'TAIL';
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, host: req.headers.host });
      if (req.url === '/ok') res.end('all systems go\n');
      else if (req.url === '/sick') {
        res.statusCode = 503;
        res.end('no');
      } else if (req.url === '/big') res.end(big);
      else if (req.url === '/huge') {
        res.on('error', () => {});
        res.end(Buffer.alloc(8 * 1024 * 1024, 0x61));
      }
      else if (req.url === '/hang') {
        res.writeHead(200);
        res.write('partial');
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/ok' });
        res.end();
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    port = await listen(server);
  });
  after(async () => {
    server.closeAllConnections();
    await close(server);
  });
  const http0 = (over: Partial<HttpCheck>): HttpCheck => ({
    ...base, type: 'http', port, method: 'GET', path: '/ok', expectStatus: [200], verify: false, ...over,
  });

  test('a 200 is up, a 503 is down with the status as the reason', async () => {
    assert.equal((await probe(http0({}), target)).ok, true);
    const sick = await probe(http0({ path: '/sick' }), target);
    assert.equal(sick.ok, false);
    assert.equal(sick.reason, 'status 503');
  });

  test('expected statuses are honoured (302 accepted when listed, not followed)', async () => {
    assert.equal((await probe(http0({ path: '/redirect' }), target)).ok, false);
    assert.equal((await probe(http0({ path: '/redirect', expectStatus: [200, 302] }), target)).ok, true);
  });

  test('method, path and Host header are sent as configured', async () => {
    seen.length = 0;
    await probe(http0({ method: 'HEAD', path: '/ok?probe=1', host: 'app.example' }), target);
    assert.deepEqual(seen[0], { method: 'HEAD', url: '/ok?probe=1', host: `app.example:${port}` });
  });

  test('the body must match the regular expression', async () => {
    assert.equal((await probe(http0({ expectBody: 'systems\\s+go' }), target)).ok, true);
    const r = await probe(http0({ expectBody: '^healthy$' }), target);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'body mismatch');
  });

  test('the body must have the sha256 digest', async () => {
    const digest = createHash('sha256').update('all systems go\n').digest('hex');
    assert.equal((await probe(http0({ expectDigest: digest }), target)).ok, true);
    const r = await probe(http0({ expectDigest: 'ab'.repeat(32) }), target);
    assert.equal(r.ok, false);
    assert.match(r.reason, /^digest mismatch/);
  });

  test('only the first 64 KiB of a big body is matched, but the digest covers all of it', async () => {
    assert.equal((await probe(http0({ path: '/big', expectBody: 'TAIL' }), target)).ok, false);
    assert.equal((await probe(http0({ path: '/big', expectBody: '^x+$' }), target)).ok, true);
    const digest = createHash('sha256').update(big).digest('hex');
    assert.equal((await probe(http0({ path: '/big', expectDigest: digest }), target)).ok, true);
  });

  test('a body too big to digest (over 4 MiB) fails without reading it all', async () => {
    const r = await probe(http0({ path: '/huge', expectDigest: 'ab'.repeat(32), timeout: 10 }), target);
    assert.deepEqual([r.ok, r.reason], [false, 'body over 4194304 bytes']);
  });

  test('a server that sends headers and then stalls fails with a timeout', async () => {
    const r = await probe(http0({ path: '/hang', expectBody: 'done', timeout: 0.3 }), target);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'timeout after 300ms');
  });

  test('a server that accepts and never answers fails with a timeout, and the socket is closed', async () => {
    const silent = await silentServer();
    try {
      const r = await probe(http0({ port: silent.port, timeout: 0.3 }), target);
      assert.equal(r.reason, 'timeout after 300ms');
      await waitFor(() => silent.sockets.size === 0);
    } finally {
      for (const sock of silent.sockets) sock.destroy();
      await close(silent.server);
    }
  });

  test('connection refused is down', async () => {
    const r = await probe(http0({ port: await deadPort() }), target);
    assert.equal(r.reason, 'connect ECONNREFUSED');
  });
});

describe('https check', () => {
  let dir: string;
  let server: https.Server;
  let port: number;
  let sni: string | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lvsd-health-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rs.example',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    server = https.createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      (req, res) => {
        sni = (req.socket as import('node:tls').TLSSocket).servername || undefined;
        res.statusCode = req.url === '/ok' ? 200 : 500;
        res.end('secure ok');
      },
    );
    port = await listen(server);
  });
  after(async () => {
    server.closeAllConnections();
    await close(server);
    rmSync(dir, { recursive: true, force: true });
  });
  const https0 = (over: Partial<HttpCheck>): HttpCheck => ({
    ...base, type: 'https', port, method: 'GET', path: '/ok', expectStatus: [200], verify: false, ...over,
  });

  test('up over TLS with verification off, and the server name is sent as SNI', async () => {
    const r = await probe(https0({ serverName: 'rs.example', expectBody: 'secure' }), target);
    assert.equal(r.ok, true, r.reason);
    assert.equal(sni, 'rs.example');
  });

  test('down on a bad status over TLS', async () => {
    assert.equal((await probe(https0({ path: '/fail' }), target)).reason, 'status 500');
  });

  test('with verification on, a self-signed certificate is refused', async () => {
    const r = await probe(https0({ verify: true, serverName: 'rs.example' }), target);
    assert.equal(r.ok, false);
    assert.match(r.reason, /^tls /);
  });

  test('plain HTTP against the TLS port is down', async () => {
    const r = await probe({ ...https0({}), type: 'http' }, target);
    assert.equal(r.ok, false);
  });
});

describe('dns check', () => {
  let udp: dgram.Socket;
  let tcp: net.Server;
  let port: number;
  let tcpPort: number;
  /** www.example answers NOERROR; nx.example NXDOMAIN; slow.example never. */
  function answer(query: Buffer): Buffer | undefined {
    const msg = decodeMessage(query);
    const q = msg.questions[0]!;
    if (q.name === 'slow.example') return undefined;
    const rcode = q.name === 'www.example' ? 0 : 3;
    return encodeMessage({
      header: { ...msg.header, response: true, ra: true, rcode, ancount: 0, nscount: 0, arcount: 0 },
      questions: msg.questions,
    });
  }
  before(async () => {
    udp = dgram.createSocket('udp4');
    udp.on('message', (m, rinfo) => {
      const r = answer(m);
      if (r) udp.send(r, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    port = udp.address().port;
    tcp = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', (d: Buffer) => {
        const r = answer(d.subarray(2, 2 + d.readUInt16BE(0)));
        if (!r) return;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        s.end(Buffer.concat([len, r]));
      });
    });
    tcpPort = await listen(tcp);
  });
  after(async () => {
    udp.close();
    await close(tcp);
  });
  const dns0 = (over: Partial<DnsCheck>): DnsCheck => ({
    ...base, type: 'dns', port, query: 'www.example', queryType: 'A', expectRcode: [0], transport: 'udp', ...over,
  });

  test('over UDP: NOERROR is up, NXDOMAIN is down unless expected', async () => {
    assert.equal((await probe(dns0({}), target)).ok, true);
    const nx = await probe(dns0({ query: 'nx.example' }), target);
    assert.equal(nx.ok, false);
    assert.equal(nx.reason, 'rcode NXDOMAIN');
    assert.equal((await probe(dns0({ query: 'nx.example', expectRcode: [0, 3] }), target)).ok, true);
  });

  test('over TCP with the length prefix', async () => {
    assert.equal((await probe(dns0({ transport: 'tcp', port: tcpPort, queryType: 'AAAA' }), target)).ok, true);
    assert.equal((await probe(dns0({ transport: 'tcp', port: tcpPort, query: 'nx.example' }), target)).reason, 'rcode NXDOMAIN');
  });

  test('a server that never answers fails with a timeout (UDP and TCP)', async () => {
    assert.equal((await probe(dns0({ query: 'slow.example', timeout: 0.3 }), target)).reason, 'timeout after 300ms');
    const silent = await silentServer();
    try {
      const r = await probe(dns0({ transport: 'tcp', port: silent.port, timeout: 0.3 }), target);
      assert.equal(r.reason, 'timeout after 300ms');
      await waitFor(() => silent.sockets.size === 0);
    } finally {
      for (const sock of silent.sockets) sock.destroy();
      await close(silent.server);
    }
  });

  test('nothing listening on UDP is down (refused or timeout)', async () => {
    const r = await probe(dns0({ port: await deadPort(), timeout: 0.5 }), target);
    assert.equal(r.ok, false);
    assert.match(r.reason, /ECONNREFUSED|timeout/);
  });
});

describe('agent check', () => {
  let replies: string[];
  let received: string[];
  let server: net.Server;
  let port: number;
  before(async () => {
    replies = [];
    received = [];
    server = net.createServer((s) => {
      s.on('error', () => {});
      s.setEncoding('utf8');
      s.on('data', (d: string) => received.push(d));
      const r = replies.shift() ?? '';
      if (r === 'HANG') return;
      if (r === 'AFTER_SEND') {
        s.once('data', () => s.end('up 42%\n'));
        return;
      }
      s.end(r);
    });
    port = await listen(server);
  });
  after(() => close(server));
  const agent0 = (over: Partial<AgentCheck> = {}): AgentCheck => ({ ...base, type: 'agent', port, ...over });
  const ask = async (reply: string, over: Partial<AgentCheck> = {}) => {
    replies.push(reply);
    return probe(agent0(over), target);
  };

  test('75% is up with that share of the weight', async () => {
    const r = await ask('75%\n');
    assert.equal(r.ok, true);
    assert.equal(r.weightPercent, 75);
    assert.equal(r.output, '75%');
  });

  test('`up 50%` combines a state and a weight; `ready` is up', async () => {
    assert.deepEqual(
      (({ ok, weightPercent }) => ({ ok, weightPercent }))(await ask('up 50%\r\n')),
      { ok: true, weightPercent: 50 },
    );
    assert.equal((await ask('ready\n')).ok, true);
  });

  test('drain is up with drain set; down, fail, stopped and maint are down', async () => {
    const drain = await ask('drain\n');
    assert.equal(drain.ok, true);
    assert.equal(drain.drain, true);
    for (const word of ['down', 'fail', 'stopped']) assert.equal((await ask(`${word}\n`)).ok, false, word);
    const m = await ask('maint\n');
    assert.equal(m.ok, false);
    assert.equal(m.maint, true);
    assert.equal((await ask('down #disk full\n')).reason, 'agent down #disk full');
  });

  test('the configured text is sent first (the agent answers only after reading it)', async () => {
    received.length = 0;
    replies.push('AFTER_SEND');
    const r = await probe(agent0({ send: 'status\n' }), target);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.weightPercent, 42);
    assert.deepEqual(received, ['status\n']);
    replies.push('AFTER_SEND');
    assert.equal((await probe(agent0({ timeout: 0.3 }), target)).reason, 'timeout after 300ms');
  });

  test('a reply without a newline is read when the agent closes; closing silently is down', async () => {
    assert.equal((await ask('60%')).weightPercent, 60);
    const silent = await ask('');
    assert.equal(silent.ok, false);
    assert.equal(silent.reason, 'agent said nothing');
  });

  test('an agent that accepts and never answers times out; a closed port is down', async () => {
    const r = await ask('HANG', { timeout: 0.3 });
    assert.equal(r.reason, 'timeout after 300ms');
    assert.equal((await probe(agent0({ port: await deadPort() }), target)).reason, 'connect ECONNREFUSED');
  });
});

test('none is always up', async () => {
  const r = await probe({ ...base, type: 'none' }, target);
  assert.equal(r.ok, true);
});

describe('IPv6', () => {
  test('tcp, http (bracketed Host header) and dns over UDP work against ::1', async () => {
    let host: string | undefined;
    const web = http.createServer((req, res) => {
      host = req.headers.host;
      res.end('v6');
    });
    await new Promise<void>((r) => web.listen(0, '::1', () => r()));
    const port = (web.address() as net.AddressInfo).port;
    const udp = dgram.createSocket('udp6');
    udp.on('message', (m, rinfo) => {
      const q = decodeMessage(m);
      udp.send(encodeMessage({ header: { ...q.header, response: true, ancount: 0, nscount: 0, arcount: 0 }, questions: q.questions }), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => udp.bind(0, '::1', () => r()));
    try {
      const v6 = { ...base, address: '::1', port };
      assert.equal((await probe({ ...v6, type: 'tcp' }, target)).ok, true);
      const r = await probe({ ...v6, type: 'http', method: 'GET', path: '/', expectStatus: [200], expectBody: 'v6', verify: false }, target);
      assert.equal(r.ok, true, r.reason);
      assert.equal(host, `[::1]:${port}`);
      const d = await probe({ ...v6, port: udp.address().port, type: 'dns', query: 'v6.example', queryType: 'AAAA', expectRcode: [0], transport: 'udp' }, target);
      assert.equal(d.ok, true, d.reason);
    } finally {
      web.closeAllConnections();
      await close(web);
      udp.close();
    }
  });
});
