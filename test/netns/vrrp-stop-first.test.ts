/**
 * A clean stop hands over first: on SIGTERM a master sends priority 0 and releases its VIPs before the rest
 * of the daemon stops, and without waiting for its main thread. The VRRP worker thread hears the signal
 * itself (the addon's signalWatch, src/vrrp/worker.ts); the main thread's stop then finds the instances
 * stopped. Injected with a real hold of the master's main thread (vrrp-busy-daemon.ts: SIGUSR2 spins
 * 3 s), as a reconcile, a reload or a burst of health results would hold it; SIGTERM arrives mid-hold.
 * Before: the stop ran on the main thread, so the VIP went and the backup heard priority 0 only after the
 * hold ended (seen: SIGTERM -> VIP release up to 164 ms with a main thread busy 150 ms of every 200).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { startPair } from './fixtures/vrrp-pair.js';
import { sleep } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();
const HOLD_MS = 3000;

test('SIGTERM to a master whose main thread is held: priority 0 and the VIP released during the hold, then a clean exit', { skip }, async (t) => {
  const p = await startPair({ vrid: 77, interval: '1s', run: [{ busy: { busyMs: 0, periodMs: 0, holdMs: HOLD_MS } }, {}] });
  t.after(() => p.vlab.cleanup());
  const l1 = p.l1!;
  const vip = p.vips[0]!;
  const listener = await p.vlab.listen(p.d2);
  const mine = p.vlab.watchAddresses(p.d1);
  const theirs = p.vlab.watchAddresses(p.d2);
  await Promise.all([mine.ready(), theirs.ready()]);
  const since = Date.now();
  l1.signal('SIGUSR2');
  const start = await l1.waitFor((m) => m.event === 'hold.start', 10_000, since, 'hold.start');
  await sleep(200); // well inside the hold
  const t0 = Date.now();
  l1.signal('SIGTERM');
  const gone = await mine.waitFor((e) => !e.added && e.address === vip, 10_000, 0, `${vip} deleted on d1`);
  const p0 = await listener.waitFor((m) => m.event === 'advert' && m.priority === 0 && m.vrid === 77, 10_000, t0 - 5, 'priority 0 at d2');
  const taken = await theirs.waitFor((e) => e.added && e.address === vip, 10_000, 0, `${vip} added on d2`);
  const end = await l1.waitFor((m) => m.event === 'hold.end', 10_000, since, 'hold.end');
  const endWall = end.wall as number;
  t.diagnostic(`held ${endWall - (start.wall as number)} ms; after SIGTERM: priority 0 at d2 ${(p0.at - t0).toFixed(1)} ms, VIP gone ${(gone.at - t0).toFixed(1)} ms, ` +
    `on d2 ${(taken.at - t0).toFixed(1)} ms; hold ended ${endWall - t0} ms`);
  assert.ok(p0.at < endWall, 'priority 0 went out while the main thread was held');
  assert.ok(gone.at < endWall, 'the VIP was released while the main thread was held');
  assert.ok(taken.at < endWall, 'the backup took over while the old master\'s main thread was held');
  assert.ok(l1.events('vrrp.stop_on_signal').length === 1, 'the VRRP thread said it stopped on the signal');
  assert.equal(await l1.exit, 0, 'then the daemon stopped cleanly');
  assert.equal(p.l2.vrrp('VI_1').state, 'master');
  await p.l2.stop();
});
