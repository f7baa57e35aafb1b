/**
 * The SMTP and UDP checkers against real servers on loopback made by the test: an SMTP server speaking the
 * greeting / HELO / QUIT dialogue (and broken ones: a 554 greeting, a HELO refusal, a silent server, a server
 * that hangs up, one that speaks HTTP), a UDP echo server, a UDP server that answers something else, a
 * silent UDP server, and a UDP port with nothing listening (the kernel's ICMP port unreachable).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { SmtpCheck, UdpCheck } from '../../src/config/types.js';
import { probe } from '../../src/health/index.js';
import { readReplies } from '../../src/health/checkers/smtp.js';
import { judgeReply, replyMatches } from '../../src/health/checkers/udp.js';

const base = { interval: 5, timeout: 2, rise: 1, fall: 1, address: '127.0.0.1', port: 0 };
const target = { address: '127.0.0.1', port: 0 };

function listen(server: net.Server, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port)));
}
function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An SMTP server: `greet` is sent on connect, `onHelo` answers a HELO line; records what clients sent. */
function smtpServer(greet: string | undefined, onHelo: (line: string) => string | undefined) {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.setEncoding('latin1');
    if (greet !== undefined) s.write(greet);
    let buf = '';
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        lines.push(line);
        if (/^HELO /i.test(line)) {
          const r = onHelo(line);
          if (r !== undefined) s.write(r);
        } else if (/^QUIT$/i.test(line)) s.end('221 2.0.0 Bye\r\n');
      }
    });
  });
  return { server, lines, sockets };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

describe('smtp check', () => {
  const check = (port: number, extra: Partial<SmtpCheck> = {}): SmtpCheck => ({ ...base, type: 'smtp', port, ...extra });

  test('a server that greets 220 (multi-line) and answers HELO 250 is up; the HELO names heloName; QUIT follows', async () => {
    const s = smtpServer('220-mail.example.com ESMTP\r\n220 ready\r\n', () => '250 mail.example.com\r\n');
    const port = await listen(s.server);
    const r = await probe(check(port, { heloName: 'director1.example.net' }), target);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.reason, 'HELO 250');
    await until(() => s.lines.includes('QUIT'), 'the QUIT');
    assert.deepEqual(s.lines, ['HELO director1.example.net', 'QUIT']);
    await until(() => s.sockets.size === 0, 'the probe to close its connection');
    await close(s.server);
  });

  test('a 554 greeting is down with the code; a HELO refused with 501 is down', async () => {
    const refuse = smtpServer('554 5.3.2 no service here\r\n', () => '250 ok\r\n');
    const p1 = await listen(refuse.server);
    const r1 = await probe(check(p1), target);
    assert.equal(r1.ok, false);
    assert.equal(r1.reason, 'greeting 554');
    assert.match(r1.output ?? '', /no service here/);
    assert.deepEqual(refuse.lines.filter((l) => l.startsWith('HELO')), [], 'no HELO after a refusing greeting');
    await close(refuse.server);

    const badHelo = smtpServer('220 ready\r\n', () => '501 5.5.4 bad HELO\r\n');
    const p2 = await listen(badHelo.server);
    const r2 = await probe(check(p2), target);
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'HELO 501');
    await close(badHelo.server);
  });

  test('a server that never greets times out; one that hangs up is down; one speaking HTTP is down; nothing listening is refused', async () => {
    const silent = smtpServer(undefined, () => undefined);
    const p1 = await listen(silent.server);
    const r1 = await probe(check(p1, { timeout: 0.3 }), target);
    assert.equal(r1.ok, false);
    assert.match(r1.reason, /^timeout after 300ms$/);
    await until(() => silent.sockets.size === 0, 'the probe to close its connection');
    await close(silent.server);

    const hangup = net.createServer((s) => s.end());
    const p2 = await listen(hangup);
    const r2 = await probe(check(p2), target);
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'closed before the greeting');
    await close(hangup);

    const httpish = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const p3 = await listen(httpish);
    const r3 = await probe(check(p3), target);
    assert.equal(r3.ok, false);
    assert.equal(r3.reason, 'not an SMTP reply');
    await close(httpish);

    const r4 = await probe(check(p3), target);
    assert.equal(r4.ok, false);
    assert.equal(r4.reason, 'connect ECONNREFUSED');
  });

  test('a greeting that never ends (no newline, over 4 KiB) fails without waiting for the timeout', async () => {
    const flood = net.createServer((s) => { s.on('error', () => {}); s.write('220' + 'x'.repeat(10_000)); });
    const port = await listen(flood);
    const r = await probe(check(port, { timeout: 2 }), target);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'greeting reply over 4096 bytes');
    assert.ok(r.latencyMs < 1900, `took ${r.latencyMs}ms`);
    await close(flood);
  });

  test('readReplies: continuation lines, bare codes, LF endings, a partial line kept', () => {
    assert.deepEqual(readReplies('220-a\r\n220-b\r\n220 c\r\n250'), { replies: [{ code: 220, text: 'c' }], rest: '250' });
    assert.deepEqual(readReplies('250\n'), { replies: [{ code: 250, text: '' }], rest: '' });
    assert.equal(readReplies('hello\r\n').bad, 'hello');
  });
});

describe('udp check', () => {
  const check = (port: number, extra: Partial<UdpCheck> = {}): UdpCheck => ({
    ...base, type: 'udp', port, payload: '', requireReply: false, minReplyLength: 0, maxReplyLength: 65535, ...extra,
  });
  let echo: dgram.Socket;
  let echoPort: number;
  let other: dgram.Socket;
  let otherPort: number;
  let silent: dgram.Socket;
  let silentPort: number;
  const heard: Buffer[] = [];
  const bind = (s: dgram.Socket) => new Promise<number>((resolve) => s.bind(0, '127.0.0.1', () => resolve(s.address().port)));

  before(async () => {
    echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => { heard.push(m); echo.send(m, r.port, r.address); });
    echoPort = await bind(echo);
    other = dgram.createSocket('udp4');
    other.on('message', (_m, r) => other.send(Buffer.from('ERR!'), r.port, r.address));
    otherPort = await bind(other);
    silent = dgram.createSocket('udp4');
    silent.on('message', () => {});
    silentPort = await bind(silent);
  });
  after(() => { echo.close(); other.close(); silent.close(); });

  test('the payload is sent; an echo matching expectReply (with x nibbles) is up', async () => {
    const r = await probe(check(echoPort, { payload: '4c56534401ff', requireReply: true, expectReply: '4c5653xx01' }), target);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.reason, 'reply 6 bytes');
    assert.deepEqual(heard.at(-1), Buffer.from('LVSD\x01\xff', 'latin1'));
  });

  test('a reply that does not match is down; a reply outside the length limits is down', async () => {
    const r1 = await probe(check(otherPort, { payload: '01', requireReply: true, expectReply: '4f4b' }), target);
    assert.equal(r1.ok, false);
    assert.equal(r1.reason, 'reply mismatch');
    const r2 = await probe(check(echoPort, { payload: '0102', requireReply: true, minReplyLength: 3, maxReplyLength: 10 }), target);
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'reply 2 bytes, outside 3-10');
  });

  test('nothing listening: the ICMP port unreachable makes it down at once (ECONNREFUSED), reply required or not', async () => {
    const closed = dgram.createSocket('udp4');
    const port = await bind(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    for (const requireReply of [false, true]) {
      const r = await probe(check(port, { payload: '00', requireReply, timeout: 2 }), target);
      assert.equal(r.ok, false);
      assert.equal(r.reason, 'udp ECONNREFUSED');
      assert.equal(r.local, undefined);
      assert.ok(r.latencyMs < 1900, `took ${r.latencyMs}ms: the ICMP error, not the timeout, decided`);
    }
  });

  test('a silent server: up without requireReply (no ICMP error), down with it', async () => {
    const r1 = await probe(check(silentPort, { payload: '00', timeout: 0.3 }), target);
    assert.equal(r1.ok, true, r1.reason);
    assert.equal(r1.reason, 'no reply, no ICMP error in 300ms');
    const r2 = await probe(check(silentPort, { payload: '00', requireReply: true, timeout: 0.3 }), target);
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'no reply: timeout after 300ms');
  });

  test('an aborted probe is down (aborted), not up', async () => {
    const ctl = new AbortController();
    const p = probe(check(silentPort, { timeout: 2 }), target, ctl.signal);
    setTimeout(() => ctl.abort(), 50);
    const r = await p;
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'aborted');
  });

  test('IPv6: an echo on ::1 is up, a closed port is down', async () => {
    const e6 = dgram.createSocket('udp6');
    e6.on('message', (m, r) => e6.send(m, r.port, r.address));
    const port = await new Promise<number>((resolve) => e6.bind(0, '::1', () => resolve(e6.address().port)));
    const t6 = { address: '::1', port };
    const r = await probe(check(port, { address: '::1', payload: 'abcd', requireReply: true, expectReply: 'abcd' }), t6);
    assert.equal(r.ok, true, r.reason);
    await new Promise<void>((res) => e6.close(() => res()));
    const r2 = await probe(check(port, { address: '::1', payload: 'abcd' }), t6);
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'udp ECONNREFUSED');
  });

  test('replyMatches compares the shorter of reply and pattern, nibble by nibble', () => {
    assert.equal(replyMatches(Buffer.from([0xab, 0xcd]), 'abcd'), true);
    assert.equal(replyMatches(Buffer.from([0xab, 0xcd]), 'aXcx'), true);
    assert.equal(replyMatches(Buffer.from([0xab, 0xcd]), 'abce'), false);
    assert.equal(replyMatches(Buffer.from([0xab]), 'abff'), true);
    const opts = { requireReply: true, minReplyLength: 0, maxReplyLength: 255 } as const;
    assert.deepEqual(judgeReply({ ...check(1), ...opts }, Buffer.alloc(256)), { ok: false, reason: 'reply 256 bytes, outside 0-255' });
  });
});
