/**
 * The PING check's pieces that need no namespace: the echo request and reply matching (pure), how an
 * outcome becomes a probe result (the director's own failures marked local), and real echoes to loopback
 * (127.0.0.1, ::1) through the addon. Unreachable and silent servers: test/netns/health-ping.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constants } from 'node:os';
import { probe } from '../../src/health/index.js';
import { echoResult } from '../../src/health/checkers/ping.js';
import { buildEchoRequest, echoReplyCounter, internetChecksum, nativeAvailable } from '../../src/net/index.js';

const token = Buffer.from('0123456789abcdef', 'hex');

test('an echo request carries type, sequence, token and counter, with a valid IPv4 checksum', () => {
  const m = buildEchoRequest(4, 0x1234, 0x00010002, token);
  assert.equal(m[0], 8);
  assert.equal(m.readUInt16BE(4), 0x1234);
  assert.equal(m.readUInt16BE(6), 0x0002);
  assert.equal(internetChecksum(m), 0, 'a message with its checksum sums to 0');
  assert.equal(buildEchoRequest(6, 1, 7, token)[0], 128);
});

test('a reply is ours only with the echo-reply type, our token and a sequence matching the counter', () => {
  const reply = (family: 4 | 6, counter: number) => {
    const m = buildEchoRequest(family, 99, counter, token);
    m[0] = family === 4 ? 0 : 129;
    return m;
  };
  assert.equal(echoReplyCounter(4, reply(4, 77), token), 77);
  assert.equal(echoReplyCounter(6, reply(6, 0xfffffffe), token), 0xfffffffe);
  assert.equal(echoReplyCounter(4, buildEchoRequest(4, 99, 77, token), token), undefined, 'a request is not a reply');
  assert.equal(echoReplyCounter(6, reply(4, 77), token), undefined, 'an ICMP reply on the ICMPv6 socket');
  assert.equal(echoReplyCounter(4, reply(4, 77), Buffer.alloc(8)), undefined, "another prober's token");
  const wrongSeq = reply(4, 77);
  wrongSeq.writeUInt16BE(78, 6);
  assert.equal(echoReplyCounter(4, wrongSeq, token), undefined);
  assert.equal(echoReplyCounter(4, reply(4, 77).subarray(0, 12), token), undefined, 'truncated');
});

test("outcomes as results: a socket the director cannot open or a send without buffers is local; unreachable is the server's", () => {
  const e = constants.errno;
  assert.deepEqual(echoResult({ errno: 0, latencyMs: 1.23456 }, 1000), { ok: true, latencyMs: 1.235, reason: 'echo reply' });
  assert.deepEqual(echoResult({ errno: e.ETIMEDOUT, latencyMs: 1000 }, 1000), { ok: false, latencyMs: 1000, reason: 'timeout after 1000ms' });
  assert.deepEqual(echoResult({ errno: -1, latencyMs: 3 }, 1000), { ok: false, latencyMs: 3, reason: 'aborted' });
  assert.deepEqual(echoResult({ errno: e.EPERM, latencyMs: 0, stage: 'socket' }, 1000), { ok: false, latencyMs: 0, reason: 'icmp socket EPERM', local: 'EPERM' });
  assert.deepEqual(echoResult({ errno: e.EMFILE, latencyMs: 0, stage: 'socket' }, 1000), { ok: false, latencyMs: 0, reason: 'icmp socket EMFILE', local: 'EMFILE' });
  assert.deepEqual(echoResult({ errno: e.ENOBUFS, latencyMs: 0, stage: 'send' }, 1000), { ok: false, latencyMs: 0, reason: 'send ENOBUFS', local: 'ENOBUFS' });
  assert.deepEqual(echoResult({ errno: e.ENETUNREACH, latencyMs: 0, stage: 'send' }, 1000), { ok: false, latencyMs: 0, reason: 'send ENETUNREACH' });
  assert.deepEqual(echoResult({ errno: e.EPERM, latencyMs: 0, stage: 'send' }, 1000), { ok: false, latencyMs: 0, reason: 'send EPERM' }, 'a firewall refusing the send: the server is unreachable');
});

test('loopback answers: 127.0.0.1 and ::1 are up; a burst of 2000 probes at once each gets its own reply (the receive buffer holds them)', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  const check = (address: string) => ({ type: 'ping' as const, interval: 5, timeout: 5, rise: 1, fall: 1, address, port: 0 });
  for (const a of ['127.0.0.1', '::1']) {
    const r = await probe(check(a), { address: a, port: 0 });
    assert.equal(r.ok, true, `${a}: ${r.reason}`);
  }
  // all 2000 requests go out in one tick, before the loop reads a reply: with the default 208 KiB receive
  // buffer only 512 replies fitted and the rest timed out
  const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => probe(check(i % 2 ? '127.0.0.1' : '::1'), { address: '127.0.0.1', port: 0 })));
  assert.deepEqual(many.filter((r) => !r.ok).map((r) => r.reason).slice(0, 3), []);
  const ctl = new AbortController();
  const pending = probe(check('127.0.0.1'), { address: '127.0.0.1', port: 0 }, ctl.signal);
  ctl.abort();
  const aborted = await pending;
  assert.ok(aborted.reason === 'aborted' || aborted.ok, aborted.reason);
});
