/**
 * The C heap's free pages go back to the kernel when lvsd trims it (src/daemon/heap-trim.ts, the addon's
 * mallocTrim): memory freed between live allocations leaves the RSS, which free() alone never does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadNative, nativeAvailable } from '../../src/net/index.js';
import { startHeapTrim } from '../../src/daemon/heap-trim.js';
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
  const stop = startHeapTrim(log, 20, 30);
  await new Promise((r) => setTimeout(r, 120));
  stop();
  const n = lines.filter((l) => l === 'daemon.heap_trimmed').length;
  assert.ok(n >= 2, `${n} trims in 120 ms`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(lines.filter((l) => l === 'daemon.heap_trimmed').length, n, 'no trim after stop');
});
