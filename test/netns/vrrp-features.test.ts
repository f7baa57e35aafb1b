/**
 * VRRP features beyond plain failover, each between two real `lvsd run` directors on a bridge:
 * address-list mismatch (logged once, never two masters), tracked-interface weights (the peer preempts),
 * tracked interface with weight 0 (fault, VIPs released, back when it returns), sync groups (members move
 * together), and notify commands (argv + state, instance, priority; the daemon does not wait for them).
 */
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { settled } from './fixtures/vrrp-pair.js';
import { sleep, VrrpLab, type Lvsd, START_MS } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();

function instance(priority: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'VI_1', interface: 'eth0', vrid: 71, priority, version: 3, advertInterval: '100ms',
    addresses: ['10.61.0.100/24'], garp: { count: 1, interval: '0s', refresh: '0s' }, ...extra,
  };
}

const lastState = (l: Lvsd, name = 'VI_1') => l.events('vrrp.transition').filter((e) => e.instance === name).at(-1)?.to;
const masters = (l: Lvsd, name = 'VI_1') => l.events('vrrp.transition').filter((e) => e.instance === name && e.to === 'master').length;

describe('VRRP features between two lvsd directors', { skip }, () => {
  test('one instance going backup does not take another instance\'s VIP of the same subnet with it', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    // VI_A (150) wins its election before VI_B (100): its VIP becomes the primary address of 10.99.0.0/24 on d1
    const viA = (priority: number) => instance(priority, { name: 'VI_A', vrid: 72, addresses: ['10.99.0.10/24'] });
    const viB = instance(100, { name: 'VI_B', vrid: 73, addresses: ['10.99.0.11/24'] });
    const l1 = vlab.lvsd(d1, { vrrp: [viA(150), viB] }, 'd1');
    await l1.transition('VI_A', 'master', START_MS);
    await l1.transition('VI_B', 'master', START_MS);
    const addrs = vlab.ip(d1, '-4 addr show dev eth0');
    assert.match(addrs, /inet 10\.99\.0\.10\/24 (?!.*secondary)/, addrs);
    assert.match(addrs, /inet 10\.99\.0\.11\/24 .*secondary/, addrs);
    // d2 preempts VI_A only: d1 removes 10.99.0.10, and must keep VI_B's 10.99.0.11
    const l2 = vlab.lvsd(d2, { vrrp: [viA(200)] }, 'd2');
    await l2.transition('VI_A', 'master', START_MS);
    await sleep(300);
    assert.ok(!vlab.holds(d1, '10.99.0.10'), 'd1 released VI_A');
    assert.ok(vlab.holds(d1, '10.99.0.11'), `d1 still holds VI_B: ${vlab.ip(d1, '-4 addr show dev eth0')}`);
    assert.equal(lastState(l1, 'VI_B'), 'master');
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('address-list mismatch: a warning logged once per peer and list, adverts still accepted, never two masters', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { addresses: ['10.61.0.100/24', '10.61.0.101/24'] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);
    await sleep(1500); // ~15 mismatching adverts
    const mismatches = l2.events('vrrp.address_mismatch');
    assert.equal(mismatches.length, 1, 'reported once, not per advert');
    assert.equal(mismatches[0]!.peer, d1.ipv4);
    assert.deepEqual(mismatches[0]!.advertised, ['10.61.0.100', '10.61.0.101']);
    assert.deepEqual(mismatches[0]!.configured, ['10.61.0.100']);
    assert.equal(mismatches[0]!.level, 'warn');
    assert.equal(masters(l2), 0, 'the backup did not take over because of the mismatch');
    assert.ok(vlab.holds(d1, '10.61.0.101') && !vlab.holds(d2, '10.61.0.100'));
    // the adverts were still accepted (a mismatch is not an invalid packet)
    const s2 = l2.vrrp('VI_1');
    assert.equal(s2.adverts.invalid, 0);
    assert.ok(s2.adverts.received >= 10);
    // ...but every one of them is counted, for status and metrics
    assert.ok(s2.addressMismatches >= 10, `addressMismatches ${s2.addressMismatches}`);
    assert.equal(l1.vrrp('VI_1').addressMismatches, 0, 'the master sees no mismatch: it has no peer adverts');
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a tracked interface going down lowers the priority by its weight: the peer preempts, and gives back', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    vlab.localLink(d1, 'up0');
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { trackInterfaces: [{ name: 'up0', weight: -60 }] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);

    let since = Date.now();
    vlab.ip(d1, 'link set up0 down');
    await l2.transition('VI_1', 'master', 5000, since);
    await l1.transition('VI_1', 'backup', 5000, since);
    const s1 = l1.vrrp('VI_1');
    assert.deepEqual(s1.priority, { configured: 150, effective: 90 });
    assert.deepEqual(s1.trackInterfaces, [{ name: 'up0', up: false, weight: -60 }]);
    assert.equal(l2.vrrp('VI_1').state, 'master');
    await sleep(200);
    assert.ok(vlab.holds(d2, '10.61.0.100') && !vlab.holds(d1, '10.61.0.100'));

    since = Date.now();
    vlab.ip(d1, 'link set up0 up');
    await l1.transition('VI_1', 'master', 5000, since);
    await l2.transition('VI_1', 'backup', 5000, since);
    assert.equal(l1.vrrp('VI_1').priority.effective, 150);
    await sleep(200);
    assert.ok(vlab.holds(d1, '10.61.0.100') && !vlab.holds(d2, '10.61.0.100'));
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a tracked interface with weight 0 going down is a fault: VIPs released, the peer takes over; up again: back', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    vlab.localLink(d1, 'up0');
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { trackInterfaces: [{ name: 'up0' }] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);

    let since = Date.now();
    vlab.ip(d1, 'link set up0 down');
    const fault = await l1.transition('VI_1', 'fault', 5000, since);
    assert.equal(fault.reason, 'track_down');
    // a faulty master says priority 0 on its way out: the peer takes over after Skew_Time, not MDI
    const taken = await l2.transition('VI_1', 'master', 5000, since);
    assert.ok(taken.at - since < 300, `peer took over after ${taken.at - since} ms`);
    await l1.waitFor((e) => e.event === 'vrrp.vips_removed', 5000, since);
    assert.ok(!vlab.holds(d1, '10.61.0.100'), 'VIPs released in fault');
    assert.equal(l1.vrrp('VI_1').state, 'fault');

    since = Date.now();
    vlab.ip(d1, 'link set up0 up');
    await l1.transition('VI_1', 'master', 5000, since);
    await l2.transition('VI_1', 'backup', 5000, since);
    await sleep(200);
    assert.ok(vlab.holds(d1, '10.61.0.100') && !vlab.holds(d2, '10.61.0.100'));
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('sync group: when one member\'s link goes down, the whole group moves to the peer, and back', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    vlab.secondLink([d1, d2], 'eth1', '10.62.0');
    const config = (priority: number) => ({
      vrrp: [
        instance(priority),
        instance(priority, { name: 'VI_2', interface: 'eth1', vrid: 72, addresses: ['10.62.0.100/24'] }),
      ],
      syncGroups: [{ name: 'G1', instances: ['VI_1', 'VI_2'] }],
    });
    const l1 = vlab.lvsd(d1, config(150), 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    await l1.transition('VI_2', 'master', START_MS);
    const l2 = vlab.lvsd(d2, config(100), 'd2');
    await settled(l1, l2, 'VI_1');
    await settled(l1, l2, 'VI_2');

    let since = Date.now();
    vlab.ip(d1, 'link set eth1 down'); // only VI_2's link
    await l1.transition('VI_2', 'fault', 5000, since);
    const f1 = await l1.transition('VI_1', 'fault', 5000, since);
    assert.equal(f1.reason, 'sync_group_fault');
    await l2.transition('VI_1', 'master', 5000, since);
    await l2.transition('VI_2', 'master', 5000, since);
    await sleep(200);
    assert.ok(!vlab.holds(d1, '10.61.0.100'), 'the healthy member released its VIP too');
    assert.ok(vlab.holds(d2, '10.61.0.100') && vlab.holds(d2, '10.62.0.100', 'eth1'));

    since = Date.now();
    vlab.ip(d1, 'link set eth1 up');
    await l1.transition('VI_1', 'master', 5000, since);
    await l1.transition('VI_2', 'master', 5000, since);
    await l2.transition('VI_1', 'backup', 5000, since);
    await l2.transition('VI_2', 'backup', 5000, since);
    await sleep(300);
    assert.equal(lastState(l1, 'VI_1'), 'master');
    assert.equal(lastState(l1, 'VI_2'), 'master');
    assert.ok(vlab.holds(d1, '10.61.0.100') && vlab.holds(d1, '10.62.0.100', 'eth1'));
    assert.ok(!vlab.holds(d2, '10.61.0.100') && !vlab.holds(d2, '10.62.0.100', 'eth1'));

    // both links down, then only eth1 back: VI_2 stays in Fault while VI_1 is faulty (no split group)
    since = Date.now();
    vlab.ip(d1, 'link set eth1 down');
    vlab.ip(d1, 'link set eth0 down');
    await l2.transition('VI_1', 'master', 5000, since);
    await l2.transition('VI_2', 'master', 5000, since);
    since = Date.now();
    vlab.ip(d1, 'link set eth1 up');
    await sleep(1000); // well past VI_2's Master_Down_Interval (~340 ms)
    assert.equal(lastState(l1, 'VI_2'), 'fault', 'VI_2 held in Fault by the group');
    assert.equal(masters(l2, 'VI_2'), 2, 'd2 kept VI_2 (its second term)');
    assert.ok(!vlab.holds(d1, '10.62.0.100', 'eth1'));
    since = Date.now();
    vlab.ip(d1, 'link set eth0 up');
    await l1.transition('VI_1', 'master', 5000, since);
    await l1.transition('VI_2', 'master', 5000, since);
    await l2.transition('VI_1', 'backup', 5000, since);
    await l2.transition('VI_2', 'backup', 5000, since);
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('reload: an unchanged instance is left alone; a priority change is taken in place and the peer preempts by the protocol', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const other = instance(150, { name: 'VI_9', vrid: 79, addresses: ['10.61.0.109/24'] });
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150), other] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);
    const path = `${vlab.dir}/d1.json`;
    const rewrite = (vrrp: unknown[]) => {
      const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      vlab.file('d1.json', JSON.stringify({ ...doc, vrrp }, null, 2));
      l1.signal('SIGHUP');
    };

    // same instances, other order (their place in the file changes): nothing moves
    let since = Date.now();
    rewrite([other, instance(150)]);
    await l1.waitFor((e) => e.event === 'config.reloaded', 10_000, since);
    await sleep(500);
    assert.deepEqual(l1.events('vrrp.transition').filter((e) => e.at >= since), [], 'no transition on a no-op reload');

    // priority 150 -> 80: d1 stays running (no stop, no priority 0), d2 (100) preempts after its MDI
    since = Date.now();
    rewrite([other, instance(80)]);
    const reconfigured = await l1.waitFor((e) => e.event === 'vrrp.reconfigured' && e.instance === 'VI_1', 10_000, since);
    assert.equal(reconfigured.priority, 80);
    await l2.transition('VI_1', 'master', 5000, since);
    const back = await l1.transition('VI_1', 'backup', 5000, since);
    assert.equal(back.reason, 'higher_priority');
    const moves = l1.events('vrrp.transition').filter((e) => e.at >= since);
    assert.deepEqual(moves.map((e) => `${e.instance}:${e.from}->${e.to}`), ['VI_1:master->backup'], 'VI_9 untouched, VI_1 not restarted');
    assert.equal(l1.vrrp('VI_1').priority.configured, 80);
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('notify commands get (state, instance, priority) appended and run without blocking the protocol', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const out = `${vlab.dir}/notify.out`;
    // a slow notify command: records its argv, then runs until the test lets it end (go-<its letter>, at
    // most 60 s): a condition, not a fixed sleep that a loaded host outlasts before the checks below
    const script = vlab.file('notify.sh', `#!/bin/sh\necho "$@ start" >> ${out}\n` +
      `i=0; while [ ! -e ${vlab.dir}/go-$1 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done\necho "$1 done" >> ${out}\n`);
    const go = (which: string) => vlab.file(`go-${which}`, '');
    t.after(() => {
      try {
        go('S'); // lets a stop command still waiting end (on a failure path too)
      } catch {
        // the lab's dir is gone already
      }
    });
    const notify = { master: ['/bin/sh', script, 'M'], backup: ['/bin/sh', script, 'B'], stop: ['/bin/sh', script, 'S'] };
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { notify })] }, 'd1');
    const master = await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);
    // while the master's notify still sleeps, adverts keep flowing: d2 never takes over
    await sleep(Math.max(0, master.at + 1500 - Date.now()));
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.deepEqual(lines, ['B backup VI_1 150 start', 'M master VI_1 150 start'], 'backup at start, then master; neither finished yet');
    assert.equal(masters(l2), 0);
    const sent = l1.vrrp('VI_1').adverts.sent;
    await sleep(1200); // the status snapshot refreshes every second
    assert.ok(l1.vrrp('VI_1').adverts.sent >= sent + 5, 'adverts keep going while notify runs');
    assert.ok(!readFileSync(out, 'utf8').includes('done'), 'the notify commands were still running meanwhile');
    go('M');
    go('B');
    const done = await l1.waitFor((e) => e.event === 'vrrp.notify' && e.kind === 'master', 10_000);
    assert.equal(done.exitCode, 0);
    assert.ok(existsSync(out) && readFileSync(out, 'utf8').includes('M done'));
    // a clean stop starts the stop command but does not wait for it (it runs until go-S): exit 0 within ~1 s (+ startup slack)
    const t0 = Date.now();
    assert.equal(await l1.stop(), 0);
    const stopMs = Date.now() - t0;
    assert.ok(stopMs < 2500, `stop took ${stopMs} ms`);
    assert.ok(readFileSync(out, 'utf8').includes('S stop VI_1 150 start'));
    assert.equal(l1.events('vrrp.notify_detached').length, 1);
    go('S');
    await l2.stop();
  });
});
