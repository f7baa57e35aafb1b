/**
 * The status page at 1,000 services: the history's memory is bounded (one Float32Array ring per
 * service), and what one update costs the daemon (events diff, history, projection, JSON, gzip) and the
 * wire, printed as `# ...` lines (docs/status.md quotes them). The heap is measured after a full collection
 * (v8's gc is exposed for the test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { diffEvents, pageState, RateHistory } from '../../src/daemon/web/index.js';
import { rateSamples } from '../../src/daemon/web/view.js';
import { bigSnapshot } from '../browser/big-snapshot.js';

// a real collection before each heap reading, whether or not node runs with --expose-gc
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('the 15-minute history of 1,000 services stays under 1.25 MiB however long the daemon runs', () => {
  const samples = rateSamples(bigSnapshot({ services: 1000, realServers: 1 }));
  const t0 = Date.parse('2026-12-04T00:00:00Z');
  gc();
  const before = process.memoryUsage();
  const h = new RateHistory();
  // 2 hours of samples every 2 s: the ring wraps eight times
  for (let t = 0; t < 2 * 3600_000; t += 2000) h.record(t0 + t, samples);
  gc();
  const after = process.memoryUsage();
  const heap = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  const arrays = 1000 * 2 * h.size * 4;
  assert.ok(arrays <= 720 * 1024);
  console.log(`# history: 1,000 services x ${h.size} buckets: ${(arrays / 1024).toFixed(0)} KiB of rings; measured growth ${(heap / 1024).toFixed(0)} KiB`);
  assert.equal(h.count, 1000);
  assert.ok(heap < 1.25 * 1024 * 1024, `history took ${heap} bytes`);
  const full = h.since(0)!;
  assert.equal(full.to - full.from + 1, h.size - 1, 'the whole window, less the bucket being filled');
});

for (const realServers of [4, 10]) {
  test(`one update at 1,000 services x ${realServers} real servers: bytes on the wire, and the CPU it takes`, () => {
    const h = new RateHistory();
    const t0 = Date.parse('2026-12-04T00:00:00Z');
    let prev = bigSnapshot({ services: 1000, realServers, nowMs: t0 });
    for (let t = 0; t < 15 * 60_000; t += 2000) h.record(t0 + t, rateSamples(prev));
    const runs = 20;
    let cpu = 0;
    let raw = 0;
    let gz = 0;
    let first = 0;
    let firstGz = 0;
    for (let i = 0; i < runs; i++) {
      const now = t0 + 15 * 60_000 + i * 2000;
      const next = bigSnapshot({ services: 1000, realServers, nowMs: now, tick: i, down: new Set([`${i}/0`]) });
      const c0 = performance.now();
      const events = diffEvents(prev, next);
      h.record(now, rateSamples(next));
      const text = JSON.stringify(pageState(next, { events, history: h.since(h.lastComplete - 1), sampleMs: 2000 }));
      const packed = gzipSync(text, { level: 6 });
      cpu += performance.now() - c0;
      raw += text.length;
      gz += packed.length;
      prev = next;
      if (i === 0) {
        const whole = JSON.stringify(pageState(next, { events, history: h.since(0), sampleMs: 2000 }));
        first = whole.length;
        firstGz = gzipSync(whole).length;
      }
    }
    console.log(`# update at 1,000 x ${realServers}: ${(cpu / runs).toFixed(1)} ms CPU (diff + history + JSON + gzip), ` +
      `${(raw / runs / 1024).toFixed(0)} KiB JSON, ${(gz / runs / 1024).toFixed(0)} KiB gzipped; ` +
      `first load with the 15-minute history ${(first / 1024).toFixed(0)} KiB, ${(firstGz / 1024).toFixed(0)} KiB gzipped`);
    // what a browser downloads every 2 s: bounded, whatever the history holds
    assert.ok(gz / runs < 40 * 1024 * (realServers / 4), `an update is ${gz / runs} bytes gzipped`);
  });
}
