/**
 * A hostile backend cannot freeze the event loop through an HTTP check's body pattern (issue #10 item 9).
 * Before, `expectBody: "^(a+)+$"` against a body of 28 `a`s and a newline ran V8's backtracking engine for
 * seconds on the main thread (7.9 s measured), far past the probe's 1 s timeout. Now the pattern runs on
 * lvsd's linear-time matcher, in slices that let the event loop run, and ends with the probe's deadline.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import type { HttpCheck } from '../../src/config/types.js';
import { probe } from '../../src/health/index.js';

async function serve(body: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const check = (port: number, expectBody: string, timeout: number): HttpCheck => ({
  type: 'http', interval: 5, timeout, rise: 1, fall: 1, address: '127.0.0.1', port,
  method: 'GET', path: '/', expectStatus: [200], expectBody, verify: false,
});

/** Runs `body` while a 10 ms ticker notes the longest gap between its ticks (how long the loop was held). */
async function loopHeld<T>(body: () => Promise<T>): Promise<{ value: T; maxGapMs: number; ms: number }> {
  let last = performance.now();
  let maxGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 10);
  const t0 = performance.now();
  try {
    const value = await body();
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    return { value, maxGapMs, ms: now - t0 };
  } finally {
    clearInterval(ticker);
  }
}

test('the hostile pattern ^(a+)+$ against 28 a\'s and a newline is a prompt mismatch; the event loop stays free', async (t) => {
  const backend = await serve(`${'a'.repeat(28)}\n`);
  t.after(() => backend.close());
  const { value: r, maxGapMs, ms } = await loopHeld(() => probe(check(backend.port, '^(a+)+$', 1), { address: '127.0.0.1', port: backend.port }));
  assert.equal(r.ok, false);
  assert.equal(r.reason, 'body mismatch');
  // generous bounds for a loaded machine, far under the 7.9 s the backtracking engine held the loop
  assert.ok(ms < 2000, `the probe took ${ms.toFixed(0)} ms with a 1 s timeout`);
  assert.ok(maxGapMs < 1000, `the event loop was held for ${maxGapMs.toFixed(0)} ms`);
});

test('the same pattern against 64 KiB of a\'s matches, and a mismatching 64 KiB body is quick too', async (t) => {
  const up = await serve('a'.repeat(64 * 1024));
  const down = await serve(`${'a'.repeat(64 * 1024 - 1)}\n`);
  t.after(() => Promise.all([up.close(), down.close()]));
  const { value, maxGapMs } = await loopHeld(() => Promise.all([
    probe(check(up.port, '^(a+)+$', 2), { address: '127.0.0.1', port: up.port }),
    probe(check(down.port, '^(a+)+$', 2), { address: '127.0.0.1', port: down.port }),
  ]));
  assert.deepEqual(value.map((r) => [r.ok, r.reason]), [[true, 'status 200'], [false, 'body mismatch']]);
  assert.ok(maxGapMs < 1000, `the event loop was held for ${maxGapMs.toFixed(0)} ms`);
});

test('matches that cannot finish within the probe timeout end with their probes, and the loop keeps running', async (t) => {
  // [ab]*a[ab]{600}c makes the automaton's states explode on a random a/b body, the slowest case there is;
  // six probes at once make sure the work outlasts the 1 s timeout even on a fast machine
  let seed = 11;
  const body = Array.from({ length: 64 * 1024 }, () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16 & 1 ? 'a' : 'b')).join('');
  const backend = await serve(body);
  t.after(() => backend.close());
  const one = () => probe(check(backend.port, '[ab]*a[ab]{600}c', 1), { address: '127.0.0.1', port: backend.port });
  const { value, maxGapMs, ms } = await loopHeld(() => Promise.all([one(), one(), one(), one(), one(), one()]));
  for (const r of value) {
    assert.equal(r.ok, false);
    assert.match(r.reason, /^(body match: )?timeout after 1000ms$/);
  }
  assert.ok(value.some((r) => r.reason.startsWith('body match:')), 'the matching, not the transfer, ran into the deadline');
  assert.ok(ms < 3000, `the probes took ${ms.toFixed(0)} ms with a 1 s timeout`);
  assert.ok(maxGapMs < 1000, `the event loop was held for ${maxGapMs.toFixed(0)} ms`);
});
