/**
 * Mixed VRRPv2 / VRRPv3 (RFC 5798 8.4) against Debian's keepalived 2.2.7 running VRRPv2: lvsd runs
 * version 3 with `v2Compat`, so it sends a VRRPv2 advert with every VRRPv3 one and hears keepalived's
 * VRRPv2 adverts. Both roles: election, link-down failover, preemption back, clean-stop handover (the
 * shared handover scenario), the same with a VRRPv2 password, and a steady minute-fraction with both up in
 * which nobody changes state.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { handoverScenario, Router, type Kind, type Variant } from './fixtures/vrrp-peers.js';
import { keepalivedSkipReason, sleep, VrrpLab } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason() || keepalivedSkipReason();
const v: Variant = { version: 2, family: 'ipv4', intervalMs: 1000, vip: '10.61.0.100', prefix: 24, vrid: 66, lvsdV2Compat: true };

describe('lvsd (VRRPv3 + v2Compat) and keepalived (VRRPv2) as peers', { skip }, () => {
  for (const [master, backup] of [['keepalived', 'lvsd'], ['lvsd', 'keepalived']] as Array<[Kind, Kind]>) {
    test(`${master} master, ${backup} backup: failover, preemption, clean stop both ways`, async (t) => {
      const vlab = new VrrpLab();
      t.after(() => vlab.cleanup());
      const d1 = vlab.node('d1');
      const d2 = vlab.node('d2');
      const client = vlab.node('c');
      await handoverScenario({
        vlab, v, masterNode: d1, backupNode: d2, client,
        master: { kind: master, priority: 150 },
        backup: { kind: backup, priority: 100 },
        log: (line) => t.diagnostic(`${master}->${backup}: ${line}`),
      });
    });
  }

  test('with a VRRPv2 password (keepalived auth_type PASS): keepalived master, lvsd backup: failover, preemption, clean stop', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    await handoverScenario({
      vlab, v: { ...v, password: 'mix2pw' }, masterNode: vlab.node('d1'), backupNode: vlab.node('d2'), client: vlab.node('c'),
      master: { kind: 'keepalived', priority: 150 },
      backup: { kind: 'lvsd', priority: 100 },
      log: (line) => t.diagnostic(`password: ${line}`),
    });
  });

  test('lvsd starts later with the higher priority: it preempts keepalived once, then 8 s with nobody changing state (no ping-pong)', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const k = Router.start(vlab, d1, { kind: 'keepalived', priority: 100 }, v, 'keepalived');
    await k.entered('master', 30_000);
    const l = Router.start(vlab, d2, { kind: 'lvsd', priority: 150 }, v, 'lvsd');
    try {
      await l.entered('master', 30_000);
      await k.entered('backup', 10_000);
      await sleep(1000);
      const since = Date.now();
      await sleep(8000);
      const lvsdChanges = l.lvsd!.events('vrrp.transition').filter((e) => e.at >= since);
      assert.deepEqual(lvsdChanges, [], 'lvsd changed state while both were up');
      assert.equal(k.keepalived!.items.filter((m) => m.at >= since && /Entering (MASTER|BACKUP)/.test(m.line)).length, 0,
        'keepalived changed state while both were up');
      assert.ok(vlab.holds(d2, v.vip) && !vlab.holds(d1, v.vip), 'the VIP is on lvsd only');
      assert.equal(l.lvsd!.events('vrrp.transition').filter((e) => e.to === 'master').length, 1, 'lvsd became master once');
      assert.equal(l.lvsd!.vrrp('VI_1').adverts.invalid, 0);
      assert.deepEqual(k.complaints(), []);
    } catch (e) {
      for (const r of [k, l]) (e as Error).message += `\n--- ${r.name} log:\n${r.log.slice(-3000)}`;
      throw e;
    } finally {
      await Promise.all([k.stop(), l.stop()]);
    }
  });
});
