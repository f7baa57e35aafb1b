/**
 * The health bench's split by drift pass (bench/_drift-split.ts): the passes come from the daemon's own
 * lines (a pass is logged at its end, `ms` after it began, its read the first `readMs`), and a probe, an
 * advert or a canary's verdict counts as "during" when it fell inside one, outside otherwise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canaryUps, driftPasses, phaseAt, splitAdverts, splitProbes, splitVerdicts, withVerdicts } from '../../bench/_drift-split.js';

const at = (ms: number) => new Date(ms).toISOString();
const T = Date.parse('2026-12-06T12:00:00.000Z');
const line = (o: object) => JSON.stringify({ level: 'info', ...o });

test('drift passes from the daemon\'s log: start = time - ms, the read its first readMs plus againMs (read again outside the queue); other reconciles and broken lines ignored', () => {
  const log = [
    line({ time: at(T + 40_000), event: 'daemon.reconcile', reason: 'drift', ms: 10_000, readMs: 8000, loopDelayMaxMs: 120, loopDelayP99Ms: 40, ops: 3, readAgain: 7, againOutside: 40, againMs: 500 }),
    line({ time: at(T + 5000), event: 'daemon.reconcile', reason: 'start', ms: 3000 }),
    line({ time: at(T + 20_000), event: 'daemon.reconcile', reason: 'drift', ms: 2000, readMs: 1500, loopDelayMaxMs: 9, loopDelayP99Ms: 5, ops: 0, readAgain: 0 }),
    '{"event":"daemon.reconcile","reason":"drift", broken',
    line({ time: at(T + 21_000), event: 'health.change', reason: 'drift' }),
  ].join('\n');
  assert.deepEqual(driftPasses(log), [
    { start: T + 18_000, readEnd: T + 19_500, end: T + 20_000, loopDelayMaxMs: 9, loopDelayP99Ms: 5, ops: 0, readAgain: 0, againOutside: 0, againMs: 0 },
    { start: T + 30_000, readEnd: T + 38_500, end: T + 40_000, loopDelayMaxMs: 120, loopDelayP99Ms: 40, ops: 3, readAgain: 7, againOutside: 40, againMs: 500 },
  ]);
});

test('phaseAt: outside, in the read, in the plan and sends (the queue); the pass\'s ends count as inside', () => {
  const passes = driftPasses(line({ time: at(T + 10_000), event: 'daemon.reconcile', reason: 'drift', ms: 10_000, readMs: 6000 }));
  assert.equal(phaseAt(passes, T - 1), 'outside');
  assert.equal(phaseAt(passes, T), 'read');
  assert.equal(phaseAt(passes, T + 5999), 'read');
  assert.equal(phaseAt(passes, T + 6000), 'queue');
  assert.equal(phaseAt(passes, T + 10_000), 'queue');
  assert.equal(phaseAt(passes, T + 10_001), 'outside');
  assert.equal(phaseAt([], T), 'outside');
});

test('probes: an interval counts where its later probe began, starts per 10 ms bin by where the bin falls; adverts by the later arrival', () => {
  // a pass over the window's second second; two servers every 1 s (interval 1), one of them 300 ms late inside the pass
  const passes = driftPasses(line({ time: at(T + 2000), event: 'daemon.reconcile', reason: 'drift', ms: 1000, readMs: 1000 }));
  const us = (ms: number) => ms * 1000;
  const recs = [
    { us: us(T + 100), key: 1 }, { us: us(T + 1400), key: 1 }, { us: us(T + 2400), key: 1 },
    { us: us(T + 500), key: 2 }, { us: us(T + 1500), key: 2 }, { us: us(T + 2500), key: 2 },
  ];
  const s = splitProbes(recs, us(T), us(T + 3000), 1, passes);
  assert.equal(s.during.seconds, 1);
  assert.equal(s.outside.seconds, 2);
  assert.equal(s.during.probes, 2);
  assert.equal(s.outside.probes, 4);
  assert.deepEqual([s.during.intervalDeviationMs.n, s.during.intervalDeviationMs.max], [2, 300]);
  assert.deepEqual([s.outside.intervalDeviationMs.n, s.outside.intervalDeviationMs.max], [2, 0]);
  // adverts every 100 ms, one 50 ms late inside the pass
  const arrivals = [T + 900, T + 1000, T + 1150, T + 1250, T + 2500, T + 2600];
  const a = splitAdverts(arrivals, T, T + 3000, 100, passes);
  assert.deepEqual([a.during.n, a.during.max], [3, 50]);
  assert.deepEqual([a.outside.n, a.outside.max], [2, 1150]);
});

test('the canary: each flip takes the first verdict and the first weight sent from its `on` to the next flip\'s, and is split by where its probe was accepted', () => {
  const log = [
    line({ time: at(T + 1010), event: 'health.change', service: 'canary', to: 'up' }),
    line({ time: at(T + 1020), event: 'ipvs.apply', service: 'canary', reason: 'health: 10.91.1.250:7999 down -> up (connected)' }),
    line({ time: at(T + 3000), event: 'health.change', service: 'canary', to: 'down' }),
    line({ time: at(T + 3010), event: 'ipvs.apply', service: 'canary', reason: 'health: 10.91.1.250:7999 up -> down (connect ECONNREFUSED)' }),
    line({ time: at(T + 5005), event: 'health.change', service: 'canary', to: 'up' }),
    line({ time: at(T + 9000), event: 'ipvs.apply', service: 'canary', reason: 'health: 10.91.1.250:7999 down -> up (connected)' }),
    line({ time: at(T + 5005), event: 'health.change', service: 's1', to: 'up' }),
  ].join('\n');
  const ups = canaryUps(log, 'canary');
  assert.deepEqual(ups, { verdicts: [T + 1010, T + 5005], applied: [T + 1020, T + 9000] });
  // the second flip's accept is read after its verdict (the listener woke late): still its verdict
  const flips = withVerdicts([
    { onAt: T + 500, acceptAt: T + 1008, weightAt: T + 1100 },
    { onAt: T + 4500, acceptAt: T + 5010, weightAt: T + 9100 },
    { onAt: T + 12_000, acceptAt: T + 12_500 },
  ], ups);
  assert.deepEqual(flips.map((f) => [f.verdictAt, f.appliedAt]), [[T + 1010, T + 1020], [T + 5005, T + 9000], [undefined, undefined]]);
  const passes = driftPasses(line({ time: at(T + 10_000), event: 'daemon.reconcile', reason: 'drift', ms: 6000, readMs: 1000 }));
  const v = splitVerdicts(flips, passes);
  assert.deepEqual([v.outside.verdictMs.n, v.outside.applyMs.max, v.outside.weightMs.max, v.outside.missed], [1, 10, 92, 1]);
  assert.deepEqual([v.queue.verdictMs.max, v.queue.applyMs.max, v.queue.weightMs.max], [-5, 3995, 4090]);
  assert.equal(v.read.weightMs.n, 0);
});
