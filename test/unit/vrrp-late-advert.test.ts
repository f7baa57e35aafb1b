/**
 * The late-advert line (src/vrrp/late-advert.ts): a master's advert timer that fired late is explained by
 * the thread's schedstat between a baseline and the late fire: run-queue wait (another task had the CPU),
 * CPU (the thread's own work), or neither (blocked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LateAdverts, lateCause, parseSchedstat, type SchedTimes } from '../../src/vrrp/late-advert.js';
import { captureLog } from './log-capture.js';

const flush = () => new Promise((r) => setImmediate(r));

test('parseSchedstat reads cpu and wait ns; anything else is undefined', () => {
  assert.deepEqual(parseSchedstat('123456 7890 12\n'), { cpu: 123456, wait: 7890 });
  assert.equal(parseSchedstat(''), undefined);
  assert.equal(parseSchedstat('garbage'), undefined);
});

test('lateCause: the part that explains at least half the lateness', () => {
  assert.equal(lateCause(80, 78, 1), 'cpu_contention');
  assert.equal(lateCause(80, 2, 60), 'own_work');
  assert.equal(lateCause(80, 2, 3), 'blocked');
  assert.equal(lateCause(80, undefined, 3), 'unknown');
});

test('a late advert is logged once per 10 s per instance with the run-queue wait since the baseline; on-time adverts are not', async () => {
  let now = 0;
  let times: SchedTimes = { cpu: 0, wait: 0 };
  const watch = new LateAdverts(() => now, () => times);
  const { log, lines } = captureLog();
  watch.fired('VI', 1, 100, log); // on time: baseline
  now = 100;
  times = { cpu: 0.4e6, wait: 88e6 }; // 88 ms runnable, not running
  watch.fired('VI', 88, 100, log);
  now = 300;
  times = { cpu: 0.8e6, wait: 120e6 };
  watch.fired('VI', 30, 100, log); // late again within 10 s: counted, not logged
  now = 10_400;
  times = { cpu: 50e6, wait: 121e6 };
  watch.fired('VI', 45, 100, log); // 49 ms on the CPU since the last read: its own work
  watch.fired('VI', 5, 100, log);
  await flush();
  const late = lines.filter((l) => l.event === 'vrrp.advert_late');
  assert.deepEqual(late.map((l) => [l.lateMs, l.cause, l.waitMs, l.cpuMs, l.lateBefore]), [[88, 'cpu_contention', 88, 0.4, 0], [45, 'own_work', 1, 49.2, 1]]);
});

test('a 1 s interval tolerates 250 ms before an advert counts as late', async () => {
  const watch = new LateAdverts(() => 0, () => ({ cpu: 0, wait: 0 }));
  const { log, lines } = captureLog();
  watch.fired('VI', 240, 1000, log);
  watch.fired('VI', 260, 1000, log);
  await flush();
  assert.deepEqual(lines.map((l) => l.lateMs), [260]);
});

test('a late advert of the advert clock carries the clock thread\'s page faults in the window', async () => {
  const watch = new LateAdverts(() => 0, () => undefined);
  const { log, lines } = captureLog();
  watch.clockLate('VI', { lateMs: 135, waitMs: 8, cpuMs: 19, windowMs: 1234, faults: 3, lateBefore: 0 }, 100, log);
  watch.clockLate('VJ', { lateMs: 60, waitMs: 1, cpuMs: 2, windowMs: 500, lateBefore: 0 }, 100, log);
  await flush();
  assert.deepEqual(lines.map((l) => [l.instance, l.cause, l.faults, l.sender]), [['VI', 'blocked', 3, 'advert_clock'], ['VJ', 'blocked', undefined, 'advert_clock']]);
});
