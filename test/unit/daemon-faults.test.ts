/**
 * The daemon under kernel faults, over the in-memory IPVS model with injected failures (an overrun on one
 * operation, a closed socket, a dump that fails): what an operator sees (status, metrics, logs) and what
 * the kernel holds once lvsd has repaired it. Reload transactions are in daemon-reload.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destId, type IpvsCommand } from '../../src/ipvs/types.js';
import { faults } from './reconcile-model.js';
import { daemonLab, metricValue, until, weights } from './daemon-lab.js';

const setDestOf = (address: string) => (c: IpvsCommand) => c.cmd === 'set-dest' && c.dest.address === address;

async function allUp(lab: ReturnType<typeof daemonLab>): Promise<void> {
  await until('all up', 5000, () => {
    const w = weights(lab.kernel);
    return w['10.0.1.11:8080'] === 100 && w['10.0.1.12:8080'] === 100 && w['10.0.1.13:8080'] === 100;
  });
}

test('a health change whose apply is lost (overrun) is logged with its real server, counted, shown in status, retried with backoff and repaired', async (t) => {
  const lab = daemonLab(t);
  const d = await lab.start({ repairBackoff: { baseMs: 100, maxMs: 400 } });
  await allUp(lab);
  // the change fails, and so does the first repair's attempt at it: two overruns
  lab.kernel.inject({ on: 'op', match: setDestOf('10.0.1.12'), error: faults.overrun, times: 2 });
  lab.alive.delete('10.0.1.12:8080');

  await until('the failure shows in status', 3000, () => lab.logs.some((l) => l.event === 'ipvs.op_failed'));
  const failedLine = lab.logs.find((l) => l.event === 'ipvs.op_failed')!;
  assert.equal(failedLine.service, 'tcp/192.0.2.10:80');
  assert.equal(failedLine.dest, '10.0.1.12:8080');
  assert.equal(failedLine.code, 'LVSD_NETLINK_OVERRUN');

  await until('repaired', 5000, () => weights(lab.kernel)['10.0.1.12:8080'] === 0 && lab.logs.some((l) => l.event === 'daemon.repaired'));
  assert.equal(lab.kernel.faultsLeft, 0);
  const scheduled = lab.logs.filter((l) => l.event === 'daemon.repair_scheduled');
  assert.deepEqual(scheduled.map((l) => [l.attempt, l.inMs]), [[1, 100], [2, 200]], 'backs off between attempts');
  assert.equal(scheduled[0]!.realServer, '10.0.1.12:8080');
  assert.equal(scheduled[0]!.service, 'web');

  const snap = await d.status();
  assert.equal(snap.ipvs.state, 'ok');
  assert.equal(snap.ipvs.failedOps, 0);
  assert.equal(snap.ipvs.lastReconcile?.result, 'ok');
  assert.equal(snap.services[0]!.realServers[1]!.weight.kernel, 0);
  const text = await lab.metrics.registry.metrics();
  assert.equal(metricValue(text, 'lvsd_ipvs_op_failures_total', { op: 'set-dest', reason: 'overrun' }), 2);
  assert.equal(metricValue(text, 'lvsd_ipvs_reconciles_total', { kind: 'health', result: 'partial' }), 1);
  assert.equal(metricValue(text, 'lvsd_ipvs_reconciles_total', { kind: 'repair', result: 'partial' }), 1);
  assert.equal(metricValue(text, 'lvsd_ipvs_reconciles_total', { kind: 'repair', result: 'ok' }), 1);
  assert.equal(metricValue(text, 'lvsd_ipvs_failures_pending', {}), 0);
});

test('status shows a failed operation until it is repaired', async (t) => {
  const lab = daemonLab(t);
  const d = await lab.start({ repairBackoff: { baseMs: 60_000, maxMs: 60_000 } });
  await allUp(lab);
  lab.kernel.inject({ on: 'op', match: setDestOf('10.0.1.13'), error: faults.enobufs });
  lab.alive.delete('10.0.1.13:8080');
  await until('failure recorded', 3000, () => lab.logs.some((l) => l.event === 'daemon.repair_scheduled'));
  const snap = await d.status();
  assert.equal(snap.ipvs.state, 'repairing');
  assert.equal(snap.ipvs.failedOps, 1);
  assert.deepEqual(
    snap.ipvs.failures.map((f) => [f.service, f.realServer, f.op, f.reason, f.code]),
    [['web', '10.0.1.13:8080', 'set-dest', 'overrun', 'LVSD_NETLINK_OVERRUN']],
  );
  assert.equal(snap.ipvs.repair?.attempts, 1);
  assert.notEqual(snap.ipvs.repair?.nextAttemptAt, null);
  assert.equal(weights(lab.kernel)['10.0.1.13:8080'], 100, 'the kernel still has the old weight');
  assert.equal(metricValue(await lab.metrics.registry.metrics(), 'lvsd_ipvs_failures_pending', {}), 1);
  // any full pass (here the drift timer's) repairs it; status clears
  await d.fullReconcile('drift', 'drift');
  assert.equal(weights(lab.kernel)['10.0.1.13:8080'], 0);
  const after = await d.status();
  assert.equal(after.ipvs.state, 'ok');
  assert.deepEqual(after.ipvs.failures, []);
  assert.equal(after.ipvs.repair, null);
});

test('a closed netlink socket on the health path neither crashes the daemon nor loses the change', async (t) => {
  const lab = daemonLab(t);
  const d = await lab.start({ repairBackoff: { baseMs: 50, maxMs: 200 } });
  await allUp(lab);
  lab.kernel.inject({ on: 'execute', error: faults.closed });
  lab.alive.delete('10.0.1.11:8080');
  await until('repaired', 5000, () => weights(lab.kernel)['10.0.1.11:8080'] === 0 && lab.logs.some((l) => l.event === 'daemon.repaired'));
  const failed = lab.logs.find((l) => l.event === 'ipvs.op_failed');
  assert.equal(failed?.dest, '10.0.1.11:8080');
  assert.equal(failed?.code, 'LVSD_IPVS_UNAVAILABLE');
  assert.equal(metricValue(await lab.metrics.registry.metrics(), 'lvsd_ipvs_op_failures_total', { op: 'set-dest', reason: 'unavailable' }), 1);
  assert.equal((await d.status()).ipvs.state, 'ok');
});

test('a drift pass that cannot read the table is logged, counted, shown, and retried until it can', async (t) => {
  const lab = daemonLab(t);
  const d = await lab.start({ repairBackoff: { baseMs: 60_000, maxMs: 60_000 } });
  await allUp(lab);
  // someone changes the table behind lvsd's back, and the next dump fails
  lab.kernel.table[0]!.dests.find((x) => destId(x) === '10.0.1.11:8080')!.weight = 5;
  lab.kernel.inject({ on: 'dump', error: faults.overrun });
  const outcome = await d.fullReconcile('drift', 'drift');
  assert.equal(outcome.result, 'failed');
  const line = lab.logs.find((l) => l.event === 'daemon.reconcile_failed');
  assert.equal(line?.reason, 'drift');
  assert.equal(line?.code, 'LVSD_NETLINK_OVERRUN');
  const snap = await d.status();
  assert.equal(snap.ipvs.state, 'repairing');
  assert.equal(snap.ipvs.lastReconcile?.result, 'failed');
  assert.deepEqual(snap.ipvs.failures.map((f) => [f.service, f.op, f.reason]), [[null, 'reconcile', 'overrun']]);
  assert.equal(metricValue(await lab.metrics.registry.metrics(), 'lvsd_ipvs_reconciles_total', { kind: 'drift', result: 'failed' }), 1);
  assert.ok(lab.logs.some((l) => l.event === 'daemon.repair_scheduled'), 'a repair is scheduled');
  await d.fullReconcile('repair', 'repair');
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 100);
  const after = await d.status();
  assert.equal(after.ipvs.state, 'ok');
  assert.equal(after.ipvs.lastReconcile?.result, 'ok');
});

test('a daemon whose start fails half way stops what it started (no probe runs afterwards)', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  let probesAfter = 0;
  let failed = false;
  lab.onProbe = () => { if (failed) probesAfter++; };
  await assert.rejects(
    lab.start({ vrrp: async () => { throw Object.assign(new Error('cannot open the VRRP socket'), { code: 'LVSD_NATIVE_UNAVAILABLE' }); } }),
    /cannot open the VRRP socket/,
  );
  failed = true;
  await new Promise((r) => setTimeout(r, 400)); // four probe intervals
  assert.equal(probesAfter, 0);
});

test('a drain IPVS refuses is recorded and retried, and the drain request says the kernel has not taken it', async (t) => {
  const lab = daemonLab(t);
  const d = await lab.start({ repairBackoff: { baseMs: 50, maxMs: 200 } });
  await until('all up', 5000, () => weights(lab.kernel)['10.0.1.12:8080'] === 100);
  lab.kernel.inject({ on: 'op', match: setDestOf('10.0.1.12'), error: faults.enobufs });
  const r = await d.drain({ service: 'web', realServer: '10.0.1.12:8080' }, true);
  assert.equal(r.ok, true);
  assert.ok(r.ok && r.kernel && !r.kernel.applied, `the kernel's refusal is reported: ${JSON.stringify(r)}`);
  assert.match((r as { kernel: { error: string } }).kernel.error, /No buffer space available/);
  await until('the repair applies the drain', 5000, () => weights(lab.kernel)['10.0.1.12:8080'] === 0);
  const again = await d.drain({ service: 'web', realServer: '10.0.1.11:8080' }, true);
  assert.deepEqual(again, { ok: true, changed: true }, 'a drain the kernel takes says nothing more');
});
