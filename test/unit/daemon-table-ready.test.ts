/**
 * The daemon tells VRRP when its first reconcile finished (tableReady), so no instance claims mastership
 * with a table that is not in the kernel: once, after the pass, whether the kernel took it or not; never
 * again on a reload. Over the in-memory IPVS model with faults (daemon-lab.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonLab, until, VI_1, WEB } from './daemon-lab.js';
import { faults } from './reconcile-model.js';

test('VRRP is told the table is ready once the first reconcile has put it in the kernel', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  await lab.start();
  assert.deepEqual(lab.vrrp!.tableReadyCalls, [{ ok: true, error: undefined, kernelServices: 1 }]);
});

test('IPVS refusing the whole first pass: VRRP is released anyway, with the reason; the table is repaired later', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  lab.kernel.inject({ on: 'execute', error: faults.closed });
  await lab.start({ repairBackoff: { baseMs: 50, maxMs: 100 } });
  const calls = lab.vrrp!.tableReadyCalls;
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.ok, false);
  assert.equal(calls[0]!.kernelServices, 0, 'released before the table was in');
  assert.match(calls[0]!.error ?? '', /IPVS could not be reached: .*netlink socket closed/);
  await until('the repair pass', 5000, () => lab.kernel.table.length === 1);
});

test('a reload does not make VRRP wait again', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  const d = await lab.start();
  lab.write({ services: [WEB, { ...WEB, name: 'web2', port: 81 }], vrrp: [{ ...VI_1, priority: 160 }] });
  const r = await d.reload('control');
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(lab.vrrp!.tableReadyCalls.length, 1);
});
