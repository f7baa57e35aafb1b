/**
 * VRRP on the daemon's main thread (LVSD_VRRP_THREAD=main, src/vrrp/inline.ts): the thread also probes,
 * reconciles and serves status, and a drift pass or a large reload can hold it longer than
 * Master_Down_Interval. node runs the expired Master_Down timer before it reads the socket again, so a
 * backup would take over from a live master whose adverts sat in its socket (two masters). The instance
 * reads the socket first, each advert dated by the kernel's receive time (machine-timers.ts masterDownStands).
 *
 * Injected with a real busy loop on the backup's main thread (vrrp-busy-daemon.ts: SIGUSR2 spins 1.5 s)
 * at 100 ms adverts (Master_Down_Interval 361 ms at priority 100): held 4x the interval while the master
 * advertises, it stays backup; held while the master is killed, it takes over once the hold ends, within
 * the interval plus the hold.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { startPair } from './fixtures/vrrp-pair.js';
import { sleep, type Lvsd } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();
// every lvsd of this file runs VRRP on its main thread (the spawned daemons inherit the environment)
process.env.LVSD_VRRP_THREAD = 'main';

const HOLD_MS = 1500;
/** Master_Down_Interval of the backup (priority 100, 100 ms adverts, RFC 5798 6.1). */
const MDI_MS = 3 * 100 + ((256 - 100) * 100) / 256;
/** What comes on top of a takeover's bound on a loaded 2-core host (vrrp-failover.test.ts's margin). */
const MARGIN_MS = 120;
const held = { busy: { busyMs: 0, periodMs: 0, holdMs: HOLD_MS } };

/** Holds `l`'s main thread HOLD_MS; resolves with when the hold began and ended (the daemon's wall clock). */
async function hold(l: Lvsd): Promise<{ start: number; end: number }> {
  const since = Date.now();
  l.signal('SIGUSR2');
  const start = await l.waitFor((m) => m.event === 'hold.start', 10_000, since, 'hold.start');
  const end = await l.waitFor((m) => m.event === 'hold.end', 10_000, since, 'hold.end');
  return { start: start.wall as number, end: end.wall as number };
}

describe('VRRP on a held main thread', { skip }, () => {
  test('a backup whose main thread is held 4x Master_Down_Interval while the master advertises stays backup', async (t) => {
    const p = await startPair({ vrid: 73, run: [{}, held] });
    t.after(() => p.vlab.cleanup());
    const l1 = p.l1!;
    const l2 = p.l2;
    assert.equal(l2.events('vrrp.thread').at(-1)?.mode, 'main', 'the backup runs VRRP on its main thread');
    for (let i = 0; i < 3; i++) {
      const since = Date.now();
      const h = await hold(l2);
      assert.ok(h.end - h.start >= HOLD_MS - 5, `hold ${i + 1} lasted ${h.end - h.start} ms`);
      await sleep(800);
      const took = l2.events('vrrp.transition').filter((e) => e.at >= since && e.to === 'master');
      assert.equal(took.length, 0, `hold ${i + 1}: the backup took over from a live master: ${JSON.stringify(took)}`);
    }
    assert.equal(l1.events('vrrp.transition').filter((e) => e.from === 'master').length, 0, 'the master never gave way');
    assert.equal(l2.vrrp('VI_1').state, 'backup');
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a backup held while its master dies takes over when the hold ends, within the interval plus the hold', async (t) => {
    const p = await startPair({ vrid: 74, run: [{}, held] });
    t.after(() => p.vlab.cleanup());
    const l1 = p.l1!;
    const l2 = p.l2;
    const vip = p.vips[0]!;
    const addrs = p.vlab.watchAddresses(p.d2);
    await addrs.ready();
    const since = Date.now();
    l2.signal('SIGUSR2');
    const start = await l2.waitFor((m) => m.event === 'hold.start', 10_000, since, 'hold.start');
    await sleep(300);
    const killed = Date.now();
    l1.signal('SIGKILL'); // no priority 0: the backup must notice the silence
    const added = await addrs.waitFor((e) => e.added && e.address === vip, 10_000, 0, `${vip} added on d2`);
    const end = await l2.waitFor((m) => m.event === 'hold.end', 10_000, since, 'hold.end');
    const took = added.at - killed;
    t.diagnostic(`VIP on d2 ${took.toFixed(0)} ms after the kill, ${(added.at - (end.wall as number)).toFixed(0)} ms after the hold ended (held ${(end.wall as number) - (start.wall as number)} ms)`);
    // the master went silent during the hold: the backup acts as soon as its thread runs again, not one
    // further Master_Down_Interval later
    assert.ok(added.at >= (end.wall as number) - 20, 'the VIP came after the hold ended');
    assert.ok(took <= MDI_MS + HOLD_MS + MARGIN_MS, `takeover ${took.toFixed(0)} ms after the kill > ${MDI_MS.toFixed(0)} + ${HOLD_MS} + ${MARGIN_MS}`);
    assert.ok(added.at - (end.wall as number) <= MARGIN_MS, `takeover ${(added.at - (end.wall as number)).toFixed(0)} ms after the hold ended`);
    await l2.stop();
  });
});
