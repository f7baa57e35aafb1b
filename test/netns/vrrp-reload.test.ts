/**
 * A reload VRRP cannot take leaves the running instances alone: a real `lvsd run` in a namespace, master
 * of VI_1, is asked to replace VI_1 (a new VRID) and add VI_2 on an interface that does not exist. The
 * VRRP thread opens the new instances first, fails on VI_2, and stops nothing: VI_1 stays master with its
 * VIP, `lvsd reload` exits 3 with the reason, status says FAILED. Then a good reload goes through.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { LVSD_MAIN, sleep, VrrpLab, START_MS } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();

const VI_1 = {
  name: 'VI_1', interface: 'eth0', vrid: 81, priority: 150, version: 3, advertInterval: '100ms',
  addresses: ['10.61.0.100/24'], garp: { count: 1, interval: '0s', refresh: '0s' },
};

describe('VRRP reload transaction', { skip }, () => {
  test('a reload whose new instance cannot open its socket stops and replaces nothing; VI_1 keeps its VIP', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const l1 = vlab.lvsd(d1, { vrrp: [VI_1] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    assert.ok(vlab.holds(d1, '10.61.0.100'));
    const transitionsBefore = l1.events('vrrp.transition').length;

    // VI_1 would be replaced (VRID 81 -> 82) and VI_2 added on an interface that does not exist
    vlab.file('d1.json', JSON.stringify({
      vrrp: [{ ...VI_1, vrid: 82 }, { ...VI_1, name: 'VI_2', interface: 'nosuch0', vrid: 83, addresses: ['10.61.0.101/24'] }],
      control: { socket: l1.socket },
    }));
    const r = spawnSync(process.execPath, [LVSD_MAIN, 'reload', '--socket', l1.socket], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /reload refused, the running config stays: .*nosuch0/);

    await sleep(500); // five advert intervals: a replaced VI_1 would have gone through init by now
    assert.equal(l1.events('vrrp.transition').length, transitionsBefore, 'VI_1 was neither stopped nor replaced');
    assert.ok(vlab.holds(d1, '10.61.0.100'), 'the VIP never left');
    const s = l1.status();
    assert.equal(s.lastLoad?.result, 'failed');
    assert.deepEqual(s.vrrp.map((v) => [v.name, v.vrid, v.state]), [['VI_1', 81, 'master']]);
    assert.equal(l1.events('config.reload_failed').at(-1)?.step, 'vrrp');

    // a config VRRP can take goes through whole
    vlab.file('d1.json', JSON.stringify({ vrrp: [{ ...VI_1, priority: 120 }], control: { socket: l1.socket } }));
    const ok = spawnSync(process.execPath, [LVSD_MAIN, 'reload', '--socket', l1.socket], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(l1.vrrp('VI_1').priority.configured, 120);
    await l1.stop();
  });
});
