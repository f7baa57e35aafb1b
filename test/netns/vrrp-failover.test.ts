/**
 * Two real `lvsd run` directors (priority 150 and 100) and a client namespace on one bridge: one master
 * holds the VIPs; when it dies (kill -9), loses its link, or freezes (SIGSTOP), the backup takes over
 * within Master_Down_Interval plus a measured margin and its gratuitous ARP moves the client's neighbour
 * entry; preemption gives the VIP back (or not, with preempt: false); a clean stop hands over within
 * Skew_Time plus margin.
 *
 * Margins: Master_Down_Interval counts from the last advert the backup heard, which is at most the kill
 * time, so takeover <= kill + MDI. What comes on top is the timer's lateness, the rtnetlink address add,
 * and on a loaded 2-core host a scheduling delay; measured on this host at 2-12 ms (see the report),
 * we allow MARGIN_MS = 120 ms, 10x the worst seen and still well under one further advert interval
 * at 1 s (and the test fails if the backup waited one extra 100 ms interval plus the margin only when
 * the margin is exceeded).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { primeClient, startPair, type Pair } from './fixtures/vrrp-pair.js';
import { sleep } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();
const MARGIN_MS = 120;

/** Master_Down_Interval (ms) of a backup with this priority, v3 interval in ms (RFC 5798 6.1). */
const mdi = (priority: number, intervalMs: number) => 3 * intervalMs + ((256 - priority) * intervalMs) / 256;
/** Skew_Time (ms), v3. */
const skew = (priority: number, intervalMs: number) => ((256 - priority) * intervalMs) / 256;

const VIP = '10.61.0.100';

async function withPair(o: Parameters<typeof startPair>[0], fn: (p: Pair) => Promise<void>): Promise<void> {
  const p = await startPair(o);
  try {
    await fn(p);
  } finally {
    await Promise.all([p.l1?.stop(3000), p.l2.stop(3000)]);
    p.vlab.cleanup();
  }
}

/**
 * Takes down d1 with `how` and checks d2 takes over within the bound, the client's entry moving to d2.
 * `linkDown`: `how` takes d1's eth0 down, and the time counts from the kernel's link change (ip monitor
 * link), not from before the exec of `ip`: that took 150-570 ms at load 13-30 while d1 still advertised.
 */
async function failover(p: Pair, how: (p: Pair) => void, intervalMs: number, label: string, linkDown = false): Promise<number> {
  const { vlab, d1, d2, client } = p;
  const links = linkDown ? vlab.watchLinks(d1) : undefined; // first: the client's priming gives it time to start
  await primeClient(p);
  assert.equal(vlab.neighbour(client, VIP), d1.mac, 'the client first reaches the VIP at d1');
  const addrs = vlab.watchAddresses(d2);
  const neigh = vlab.watchNeighbours(client);
  await addrs.ready();
  const issued = Date.now();
  how(p);
  const t0 = links ? await links.changed('eth0', false, 10_000, issued).finally(() => links.stop()) : issued;
  const added = await addrs.waitFor((e) => e.added && e.address === VIP, 10_000, 0, `${VIP} added on d2`);
  const moved = await neigh.movedTo(VIP, d2.mac, 10_000);
  const took = added.at - t0;
  const garp = moved.at - t0;
  const bound = mdi(100, intervalMs);
  console.log(`# ${label}: ${links ? `link down ${(t0 - issued).toFixed(1)} ms after the command; ` : ''}VIP on d2 after ${took.toFixed(1)} ms, client entry moved after ${garp.toFixed(1)} ms (MDI ${bound.toFixed(1)} ms)`);
  assert.ok(took <= bound + MARGIN_MS, `${label}: takeover took ${took.toFixed(1)} ms > MDI ${bound.toFixed(1)} + ${MARGIN_MS}`);
  assert.ok(garp <= bound + MARGIN_MS, `${label}: client entry moved after ${garp.toFixed(1)} ms`);
  // and not early: the last advert heard was at most one interval before t0 (20 ms for the clock reads)
  assert.ok(took >= bound - intervalMs - 20, `${label}: took over after only ${took.toFixed(1)} ms, before MDI ran out`);
  assert.ok(vlab.holds(d2, VIP));
  assert.ok(vlab.ping(client, VIP), 'the VIP answers at its new home');
  return took;
}

describe('VRRP failover between two lvsd directors', { skip }, () => {
  test('election: exactly one master, the VIPs only on it, the backup knows the master', async () => {
    await withPair({ vips: ['10.61.0.100/24', '10.61.0.101/24'] }, async (p) => {
      const { vlab, d1, d2, l1, l2 } = p;
      await sleep(500); // several adverts later, nothing moved
      assert.ok(vlab.holds(d1, '10.61.0.100') && vlab.holds(d1, '10.61.0.101'));
      assert.ok(!vlab.holds(d2, '10.61.0.100') && !vlab.holds(d2, '10.61.0.101'));
      const s1 = l1!.vrrp('VI_1');
      const s2 = l2.vrrp('VI_1');
      assert.equal(s1.state, 'master');
      assert.equal(s2.state, 'backup');
      assert.deepEqual(s2.master && { address: s2.master.address, priority: s2.master.priority }, { address: d1.ipv4, priority: 150 });
      assert.equal(s2.adverts.invalid, 0);
      assert.ok(s2.adverts.received >= 4, `backup heard ${s2.adverts.received} adverts in 500 ms`);
      assert.equal(l2.events('vrrp.transition').filter((e) => e.to === 'master').length, 0, 'd2 was never master');
    });
  });

  test('kill -9 of the master: the backup takes over within Master_Down_Interval and its GARP moves the client', async () => {
    await withPair({}, async (p) => {
      await failover(p, () => p.l1!.signal('SIGKILL'), 100, 'kill -9 (100ms)');
    });
  });

  test('the master loses its link: it goes to fault and releases the VIPs, the backup takes over', async () => {
    await withPair({}, async (p) => {
      await failover(p, () => p.vlab.ip(p.d1, 'link set eth0 down'), 100, 'link down (100ms)', true);
      await p.l1!.transition('VI_1', 'fault', 5000);
      assert.ok(!p.vlab.holds(p.d1, VIP), 'the faulty director released the VIP');
      // link back: d1 (150) preempts again
      p.vlab.ip(p.d1, 'link set eth0 up');
      const since = Date.now();
      await p.l1!.transition('VI_1', 'master', 5000, since);
      await p.l2.transition('VI_1', 'backup', 5000, since);
      await p.vlab.until(() => p.vlab.holds(p.d1, VIP) && !p.vlab.holds(p.d2, VIP), 'the VIP on d1 only');
      assert.ok(p.vlab.holds(p.d1, VIP) && !p.vlab.holds(p.d2, VIP));
    });
  });

  test('SIGSTOP of the master: the backup takes over; SIGCONT: the higher priority wins again', async () => {
    await withPair({}, async (p) => {
      await failover(p, () => p.l1!.signal('SIGSTOP'), 100, 'SIGSTOP (100ms)');
      const since = Date.now();
      p.l1!.signal('SIGCONT');
      await p.l2.transition('VI_1', 'backup', 5000, since);
      await p.vlab.until(() => p.vlab.holds(p.d1, VIP) && !p.vlab.holds(p.d2, VIP), 'the VIP on d1 only');
      assert.ok(p.vlab.holds(p.d1, VIP) && !p.vlab.holds(p.d2, VIP));
      await primeClient(p);
      assert.equal(p.vlab.neighbour(p.client, VIP), p.d1.mac);
    });
  });

  test('kill -9 at a 1 s interval: takeover within 3 s + skew', async () => {
    await withPair({ interval: '1s' }, async (p) => {
      await failover(p, () => p.l1!.signal('SIGKILL'), 1000, 'kill -9 (1s)');
    });
  });

  test('preemption: the restarted higher-priority director takes the VIP back', async () => {
    await withPair({}, async (p) => {
      p.l1!.signal('SIGKILL');
      await p.l2.transition('VI_1', 'master', 5000);
      const l1 = p.vlab.lvsd(p.d1, p.config(1), 'd1b');
      const since = Date.now();
      await l1.transition('VI_1', 'master', 5000);
      await p.l2.transition('VI_1', 'backup', 5000, since);
      await p.vlab.until(() => p.vlab.holds(p.d1, VIP) && !p.vlab.holds(p.d2, VIP), 'the VIP on d1 only');
      assert.ok(p.vlab.holds(p.d1, VIP) && !p.vlab.holds(p.d2, VIP));
      await primeClient(p);
      assert.equal(p.vlab.neighbour(p.client, VIP), p.d1.mac);
      await l1.stop(3000);
    });
  });

  test('preempt: false: the restarted higher-priority director stays backup', async () => {
    await withPair({ preempt: false }, async (p) => {
      p.l1!.signal('SIGKILL');
      await p.l2.transition('VI_1', 'master', 5000);
      const l1 = p.vlab.lvsd(p.d1, p.config(1), 'd1b');
      await l1.transition('VI_1', 'backup', 5000);
      await sleep(1000); // ten intervals: no takeover
      assert.equal(l1.events('vrrp.transition').filter((e) => e.to === 'master').length, 0);
      assert.ok(p.vlab.holds(p.d2, VIP) && !p.vlab.holds(p.d1, VIP));
      await l1.stop(3000);
    });
  });

  for (const [interval, ms] of [['100ms', 100], ['1s', 1000]] as const) {
    test(`clean stop (SIGTERM) hands over within Skew_Time, not Master_Down_Interval (${interval})`, async () => {
      await withPair({ interval }, async (p) => {
        const { vlab, d2, client } = p;
        await primeClient(p);
        const addrs = vlab.watchAddresses(d2);
        const neigh = vlab.watchNeighbours(client);
        await addrs.ready();
        const t0 = Date.now();
        p.l1!.signal('SIGTERM');
        const added = await addrs.waitFor((e) => e.added && e.address === VIP, 10_000);
        await neigh.movedTo(VIP, d2.mac, 5000);
        const code = await p.l1!.exit;
        assert.equal(code, 0);
        const took = added.at - t0;
        console.log(`# clean stop (${interval}): VIP on d2 after ${took.toFixed(1)} ms (Skew_Time ${skew(100, ms).toFixed(1)} ms)`);
        assert.ok(took <= skew(100, ms) + MARGIN_MS, `handover took ${took.toFixed(1)} ms`);
        assert.ok(took < mdi(100, ms) - ms, 'faster than a timeout-driven failover');
      });
    });
  }
});
