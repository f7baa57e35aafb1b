/**
 * The C heap's free pages go back to the kernel when lvsd trims it (src/daemon/heap-trim.ts, the addon's
 * mallocTrim): memory freed between live allocations leaves the RSS, which free() alone never does. And
 * V8's heap is collected once it holds far more than after the last collection and has stopped growing
 * (HeapSettle): the garbage a start or a reload leaves goes, where V8 alone kept it for minutes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadNative, nativeAvailable } from '../../src/net/index.js';
import { HeapSettle, startHeapTrim } from '../../src/daemon/heap-trim.js';
import type { Logger } from '../../src/log.js';

const MiB = 1 << 20;

test('freed memory between live allocations leaves the RSS once the heap is trimmed, not before', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // 64 KiB buffers come from malloc (below its mmap threshold); every other one is dropped, so the free
  // ones sit between live ones and free() cannot give them back
  let held: Array<Buffer | undefined> = Array.from({ length: 1024 }, () => Buffer.allocUnsafeSlow(64 << 10).fill(1));
  for (let i = 0; i < held.length; i += 2) held[i] = undefined;
  gc();
  gc();
  await new Promise((r) => setTimeout(r, 50));
  const freed = process.memoryUsage().rss;
  await new Promise((r) => setTimeout(r, 200));
  const stillFreed = process.memoryUsage().rss;
  assert.ok(freed - stillFreed < 8 * MiB, `the RSS fell by ${((freed - stillFreed) / MiB).toFixed(1)} MiB without a trim`);
  const us = loadNative().mallocTrim();
  const trimmed = process.memoryUsage().rss;
  assert.ok(stillFreed - trimmed > 24 * MiB, `a trim gave back ${((stillFreed - trimmed) / MiB).toFixed(1)} MiB of 32 freed`);
  assert.ok(us >= 0);
  held = [];
});

test('lvsd run trims a little after its start and then periodically, and stops when asked', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  const lines: string[] = [];
  const log = { debug: (o: { event: string }) => { lines.push(o.event); } } as unknown as Logger;
  const stop = startHeapTrim(log, { firstMs: 20, everyMs: 30, collect: undefined, memoryModeMs: 1e6, memoryMode: () => undefined });
  await new Promise((r) => setTimeout(r, 120));
  stop();
  const n = lines.filter((l) => l === 'daemon.heap_trimmed').length;
  assert.ok(n >= 2, `${n} trims in 120 ms`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(lines.filter((l) => l === 'daemon.heap_trimmed').length, n, 'no trim after stop');
});

test('HeapSettle: collects once the heap has grown well past its floor and stopped growing, not while it grows', () => {
  const settle = new HeapSettle(8 * MiB, 1 * MiB);
  const said = (mib: number[]) => mib.map((m) => settle.sample(m * MiB));
  // the readings begin while the start grows the heap from 10 to 60 MiB, then it holds (the floor is not
  // known yet: the first quiet reading over 8 MiB collects)
  assert.deepEqual(said([10, 20, 40, 60]), [false, false, false, false], 'growing: left to V8');
  assert.deepEqual(said([60.5]), [true], 'grown 50 MiB over its floor and quiet: collect');
  // the collection left 20 MiB: the new floor; small drifts do not collect again
  assert.deepEqual(said([20, 20.2, 21, 24, 26]), [false, false, false, false, false]);
  // 8 MiB is not enough at a 20 MiB floor: half the floor (10 MiB) is
  assert.deepEqual(said([29, 29.5]), [false, false]);
  assert.deepEqual(said([30.5, 30.6]), [false, true]);
});

test('HeapSettle: a heap that grows steadily is never collected by it; one that is all live raises the floor', () => {
  const settle = new HeapSettle(8 * MiB, 1 * MiB);
  for (let m = 10; m < 200; m += 2) assert.equal(settle.sample(m * MiB), false, `growing at ${m} MiB`);
  assert.equal(settle.sample(200 * MiB), false, 'still grown 2 MiB since the last reading');
  assert.equal(settle.sample(200 * MiB), true, 'quiet');
  // the collection found it all live (200 MiB stays): no second collection at the same size
  for (let i = 0; i < 20; i++) assert.equal(settle.sample(200 * MiB), false);
});

test('HeapSettle: garbage left under half the floor goes once the heap has been quiet for a while, not before; an all-live heap is not collected again', () => {
  const settle = new HeapSettle(8 * MiB, 1 * MiB, 6, 2 * MiB);
  const said = (mib: number[]) => mib.map((m) => settle.sample(m * MiB));
  // the start: grown, quiet, collected (the floor was unknown)
  assert.deepEqual(said([10, 40, 40.2]), [false, false, true]);
  // it left 17 MiB; the checks still rising allocate 7 MiB more (under half the floor), then the daemon idles
  assert.deepEqual(said([17, 19, 21, 24]), [false, false, false, false]);
  assert.deepEqual(said([24.01, 24.02, 24.03, 24.04, 24.05]), [false, false, false, false, false], 'quiet, but not long enough');
  assert.deepEqual(said([24.06]), [true], 'the sixth quiet reading in a row: 7 MiB over the floor goes');
  // all live after it: the heap stays quiet at its new floor, nothing more to take
  assert.deepEqual(said(Array.from({ length: 30 }, (_, i) => 17 + i * 0.01)), Array.from({ length: 30 }, () => false));
});

test('HeapSettle: under the idle excess, or growing in between, the idle collection waits', () => {
  const settle = new HeapSettle(8 * MiB, 1 * MiB, 6, 2 * MiB);
  const said = (mib: number[]) => mib.map((m) => settle.sample(m * MiB));
  assert.deepEqual(said([10, 40, 40.2]), [false, false, true]);
  // 1.5 MiB over a 17 MiB floor: less than the idle excess, however long it is quiet
  assert.deepEqual(said([17, ...Array.from({ length: 20 }, () => 18.5)]), Array.from({ length: 21 }, () => false));
  // a heap that grows a step every few readings never has six quiet ones in a row
  const steps = [20, 20.1, 20.2, 20.3, 20.4, 21.5, 21.6, 21.7, 21.8, 21.9, 23, 23.1, 23.2, 23.3, 23.4, 24.5];
  assert.deepEqual(said(steps), steps.map(() => false));
  // at a large floor the idle excess is a sixteenth of it: 4 MiB at 100 MiB is not enough, 7 is
  const big = new HeapSettle(8 * MiB, 1 * MiB, 6, 2 * MiB);
  const bigSaid = (mib: number[]) => mib.map((m) => big.sample(m * MiB));
  assert.deepEqual(bigSaid([100, 300, 300.1]), [false, false, true]);
  assert.deepEqual(bigSaid([100, 104, 104, 104, 104, 104, 104, 104]), Array.from({ length: 8 }, () => false));
  assert.deepEqual(bigSaid([107, 107, 107, 107, 107, 107, 107]), [false, false, false, false, false, false, true]);
});

test('lvsd run asks V8 for a collection when the heap settles, once, and not after stop', async () => {
  const lines: string[] = [];
  const log = { debug: (o: { event: string }) => { lines.push(o.event); } } as unknown as Logger;
  const readings = [10, 30, 50, 50, 50, 50, 50].map((m) => m * MiB);
  let i = 0;
  let collected = 0;
  const stop = startHeapTrim(log, {
    firstMs: 1e6, memoryModeMs: 1e6, memoryMode: () => undefined, settleEveryMs: 10, collect: () => { collected++; readings.fill(15 * MiB, i); }, usedBytes: () => readings[Math.min(i++, readings.length - 1)]!,
  });
  await new Promise((r) => setTimeout(r, 150));
  stop();
  assert.equal(collected, 1);
  assert.deepEqual(lines.filter((l) => l === 'daemon.heap_collected'), ['daemon.heap_collected']);
  const at = i;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(i, at, 'no reading after stop');
});

test('the garbage a start leaves in V8\'s old generation leaves the heap once it settles, not before', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (o?: object) => void;
  const v8 = await import('node:v8');
  const used = () => v8.getHeapStatistics().used_heap_size;
  gc();
  const floor = used();
  // ~40 MiB of objects that live long enough to be promoted to the old generation, then dropped
  let held: unknown[] | undefined = [];
  for (let i = 0; i < 400_000; i++) held.push({ a: i, b: [i, i + 1], c: `s${i}` });
  for (let k = 0; k < 8; k++) new Array(100_000).fill(k);
  held = undefined;
  const grown = used();
  assert.ok(grown - floor > 30 * MiB, `the heap grew by ${((grown - floor) / MiB).toFixed(1)} MiB`);
  const log = { debug: () => undefined } as unknown as Logger;
  const stop = startHeapTrim(log, { firstMs: 1e6, memoryModeMs: 1e6, memoryMode: () => undefined, settleEveryMs: 20, collect: () => gc({ type: 'major', execution: 'async' }) });
  try {
    for (let t = 0; t < 100 && used() - floor > 10 * MiB; t++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    stop();
  }
  assert.ok(used() - floor < 10 * MiB, `${((used() - floor) / MiB).toFixed(1)} MiB over the floor after the settle`);
});

test('lvsd run turns V8\'s memory mode on at the first collection it asks for, or at a time at the latest; once; not after stop', async () => {
  const events: string[] = [];
  const log = { debug: (o: { event: string; why?: string }) => { events.push(o.why ? `${o.event} ${o.why}` : o.event); } } as unknown as Logger;
  // the heap settles: the mode goes on just before the collection
  const order: string[] = [];
  const readings = [10, 30, 50, 50, 50, 50].map((m) => m * MiB);
  let i = 0;
  const stop = startHeapTrim(log, {
    firstMs: 1e6, memoryModeMs: 1e6, settleEveryMs: 10, usedBytes: () => readings[Math.min(i++, readings.length - 1)]!,
    memoryMode: () => order.push('mode'), collect: () => { order.push('collect'); readings.fill(15 * MiB, i); },
    pageOut: false, // its own lines (test/unit/page-out.test.ts)
  });
  await new Promise((r) => setTimeout(r, 120));
  stop();
  assert.deepEqual(order, ['mode', 'collect']);
  assert.deepEqual(events, ['daemon.heap_memory_mode settled', 'daemon.heap_collected']);
  // a heap that never settles: the mode goes on at the time
  let on = 0;
  const stop2 = startHeapTrim(log, { firstMs: 1e6, memoryModeMs: 30, collect: undefined, memoryMode: () => { on++; } });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(on, 0, 'not during the start');
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(on, 1);
  assert.ok(events.includes('daemon.heap_memory_mode time'));
  stop2();
  let early = 0;
  startHeapTrim(log, { firstMs: 1e6, memoryModeMs: 30, collect: undefined, memoryMode: () => { early++; } })();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(early, 0, 'stopped before it was due');
});
