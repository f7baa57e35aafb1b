/**
 * The event loop delay histograms of reloads and full passes (src/loop-delay.ts) are reused, not made per
 * use, and each use sees only its own delays: `config.reloaded`'s and `daemon.reconcile`'s loopDelayMaxMs
 * say how long that reload or pass held the loop, not an earlier one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopHistogramsMade, watchingLoop } from '../../src/loop-delay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* holds the event loop */ }
};

test('a histogram given back is reused, cleared: the next use does not see the delay of the one before', async () => {
  const first = await watchingLoop(async (loop) => {
    await sleep(20);
    busy(150);
    await sleep(40);
    return loop.max / 1e6;
  });
  assert.ok(first >= 100, `the first use saw the loop held (${first} ms)`);
  const made = loopHistogramsMade();
  const second = await watchingLoop(async (loop) => {
    await sleep(60);
    return loop.max / 1e6;
  });
  assert.equal(loopHistogramsMade(), made, 'the same histogram, not a new one');
  assert.ok(second < 100, `the second use saw only its own delays (${second} ms)`);
});

test('uses that overlap each hold a histogram of their own', async () => {
  const seen = await Promise.all([
    watchingLoop(async (a) => {
      await sleep(20);
      busy(150);
      await sleep(40);
      return a;
    }),
    watchingLoop(async (b) => {
      await sleep(10);
      return b;
    }),
  ]);
  assert.notEqual(seen[0], seen[1]);
});
