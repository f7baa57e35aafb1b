/**
 * The drift timer is a chain: the next drift pass comes `driftInterval` after the last one ended, so a pass
 * slower than the interval (a very large table on a slow or loaded host: passes of 54-431 s at 100,000 real
 * servers in the test VM, with a 60 s interval) is followed by an interval of quiet, not by the next pass at
 * once, and health changes get the main thread between passes. Over the in-memory IPVS model, its reads made
 * slower than the interval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WEB, daemonLab, until } from './daemon-lab.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a drift pass slower than the interval is followed by an interval of quiet, not by the next pass at once', async (t) => {
  const lab = daemonLab(t);
  lab.write({ ipvs: { driftInterval: '1s' }, services: [WEB] });
  await lab.start();
  const dump = lab.kernel.dump.bind(lab.kernel);
  lab.kernel.dump = async (...args: Parameters<typeof dump>) => {
    await sleep(1500); // every read now takes longer than the interval
    return dump(...args);
  };
  const drifts = () => lab.logs.filter((l) => l.event === 'daemon.reconcile' && l.reason === 'drift')
    .map((l) => ({ end: l.time as number, start: (l.time as number) - (l.ms as number), ms: l.ms as number }));
  await until('three drift passes', 20_000, () => drifts().filter((p) => p.ms >= 1400).length >= 3);
  const slow = drifts().filter((p) => p.ms >= 1400);
  const gaps = slow.slice(1).map((p, i) => p.start - slow[i]!.end);
  for (const gap of gaps) assert.ok(gap >= 900, `a full interval of quiet between two slow passes (gaps ${gaps.join(', ')} ms)`);
});
