/**
 * A restart with the services removed from the config: what the previous daemon owned (its state file)
 * and the config no longer declares is removed, as a reload to the same config would, also when the new
 * config declares no service at all (a VRRP-only director). Foreign services stay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LvsdError } from '../../src/errors.js';
import { serviceId } from '../../src/ipvs/types.js';
import { VI_1, WEB, daemonLab, until } from './daemon-lab.js';

const FOREIGN = { service: { key: { family: 'inet' as const, protocol: 'tcp' as const, address: '198.51.100.7', port: 25 }, scheduler: 'rr', flags: 0, timeout: 0, netmask: 0xffffffff }, dests: [] };

test('a restart on a VRRP-only config removes the services the previous daemon owned, and leaves foreign ones', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  const first = await lab.start();
  await until('web in the kernel', 5000, () => lab.kernel.table.length === 1);
  await first.stop();
  lab.kernel.table.push(structuredClone(FOREIGN) as never);
  lab.write({ services: [], vrrp: [VI_1] });
  await lab.start();
  await until('the owned service removed', 5000, () => !lab.kernel.table.some((e) => serviceId(e.service.key) === 'tcp/192.0.2.10:80'));
  assert.deepEqual(lab.kernel.table.map((e) => serviceId(e.service.key)), ['tcp/198.51.100.7:25'], 'the foreign service stays');
});

test('a VRRP-only restart whose IPVS cannot be opened still starts (VRRP runs) and removes the owned services once IPVS answers', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  const first = await lab.start();
  await until('web in the kernel', 5000, () => lab.kernel.table.length === 1);
  await first.stop();
  lab.write({ services: [], vrrp: [VI_1] });
  let refuse = true;
  const d = await lab.start({
    ipvs: async () => {
      if (refuse) throw new LvsdError('LVSD_IPVS_UNAVAILABLE', 'IPVS is not there (test)');
      return lab.kernel;
    },
    repairBackoff: { baseMs: 50, maxMs: 100 },
  });
  assert.ok(lab.vrrp, 'VRRP started');
  assert.equal(lab.kernel.table.length, 1, 'nothing removed while IPVS refuses');
  assert.ok(lab.logs.some((l) => l.event === 'ipvs.open_failed' && l.owned === 1), 'the failure is logged with what waits');
  const mark = lab.logs.length;
  refuse = false;
  // the repair pass removes the service, then records what it owns (the state file), then counts itself
  // done: status says 'ok' from that moment, which the kernel's table alone does not tell
  await until('the repair pass done (daemon.repaired)', 5000, () => lab.logs.slice(mark).some((l) => l.event === 'daemon.repaired'));
  assert.equal(lab.kernel.table.length, 0, 'the owned service removed after IPVS answers');
  assert.equal((await d.status()).ipvs.state, 'ok');
});
