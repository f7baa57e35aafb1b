/**
 * The clamp where timers are armed (issue #10 item 3): a delay beyond 2^31-1 ms, derived or slipped past
 * validation, waits the longest Node allows instead of firing after 1 ms again and again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, timerDelay } from '../../src/timer-delay.js';
import { systemClock } from '../../src/health/types.js';
import { deadline } from '../../src/health/checkers/deadline.js';

test('timerDelay clamps to [0, 2^31-1] and turns NaN and Infinity into the maximum', () => {
  assert.equal(MAX_TIMER_MS, 2147483647);
  assert.deepEqual([1e300, Infinity, NaN, 2 ** 31, -5, 0, 1500].map(timerDelay), [MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, 0, 0, 1500]);
});

test('an over-long delay on the health clock or a probe deadline neither fires early nor warns', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  let fired = 0;
  const h = systemClock.setTimeout(() => fired++, 1e300);
  const d = deadline(1e300);
  await new Promise((r) => setTimeout(r, 100));
  systemClock.clearTimeout(h);
  const aborted = d.signal.aborted;
  d.done();
  process.off('warning', onWarning);
  assert.equal(fired, 0, 'the timer did not fire');
  assert.equal(aborted, false, 'the probe deadline did not expire');
  assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
});
