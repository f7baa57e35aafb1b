/**
 * `lvsd run` bounds the old generation's growth between collections (daemon/heap-growth.ts): the flag is
 * set unless node was given one. What it does to the peak is measured, not asserted here (V8's own factor
 * depends on how fast the machine runs): docs/benchmarks.md.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../../src/daemon/heap-growth.js';

test('the heap growth flag is set, unless node was given one on its command line or in NODE_OPTIONS', () => {
  const set: string[] = [];
  assert.equal(limitHeapGrowth([], (f) => set.push(f)), true);
  assert.deepEqual(set, [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  assert.equal(limitHeapGrowth(['--max-semi-space-size=1', '--heap-growing-percent=20'], (f) => set.push(f)), false);
  assert.equal(limitHeapGrowth(['--heap_growing_percent=20'], (f) => set.push(f)), false);
  assert.equal(set.length, 1);
});
