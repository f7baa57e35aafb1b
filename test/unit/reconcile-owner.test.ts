/**
 * The reconciler owns the table: a reload sends only what changed and reads no table; status answers
 * from the kept view (plus counters of the services it shows); a kept view that diverged from the kernel
 * (ipvsadm behind lvsd's back, a reply lost after the kernel applied the command) is corrected by the
 * drift pass and by a failed operation's repair. Over the in-memory IPVS model (reconcile-model.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalServiceId, planReconcile, planSliced, KeptView, type DesiredEntry } from '../../src/reconcile/index.js';
import { TurnBudget } from '../../src/turn-budget.js';
import type { IpvsCommand } from '../../src/ipvs/types.js';
import type { DestSpec, KernelEntry, ServiceSpec } from '../../src/table/index.js';
import { faults } from './reconcile-model.js';
import { WEB, daemonLab, metricValue, weights } from './daemon-lab.js';

const NOCHECK = { ...WEB, healthCheck: { type: 'none' } };
const API = { ...NOCHECK, name: 'api', address: '192.0.2.20', realServers: [{ address: '10.0.2.11', port: 8080, weight: 10 }] };

const sentSince = (lab: ReturnType<typeof daemonLab>, from: number): IpvsCommand[] => lab.kernel.batches.slice(from).flat();

test('a reload that edits one weight sends that one set-dest and reads no table', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [NOCHECK, API] });
  const d = await lab.start();
  assert.equal(weights(lab.kernel)['10.0.1.12:8080'], 100);
  const dumps = lab.kernel.dumpCount;
  const batches = lab.kernel.batches.length;
  const edited = { ...NOCHECK, realServers: NOCHECK.realServers.map((r, i) => (i === 1 ? { ...r, weight: 7 } : r)) };
  lab.write({ services: [edited, API] });
  const r = await d.reload('control');
  assert.equal(r.ok, true);
  assert.equal(lab.kernel.dumpCount, dumps, 'the reload read no table');
  const sent = sentSince(lab, batches);
  assert.deepEqual(sent.map((c) => c.cmd), ['set-dest']);
  assert.equal(weights(lab.kernel)['10.0.1.12:8080'], 7);

  // removing a service: one del-service, still no read
  lab.write({ services: [edited] });
  const before = lab.kernel.batches.length;
  assert.equal((await d.reload('control')).ok, true);
  assert.deepEqual(sentSince(lab, before).map((c) => c.cmd), ['del-service']);
  assert.equal(lab.kernel.dumpCount, dumps);
});

test('status answers from the kept view with counters read for the services shown; -s reads one; --fresh reads the kernel', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [NOCHECK, API] });
  const d = await lab.start();
  const asked: Array<string[] | undefined> = [];
  const dump = lab.kernel.dump.bind(lab.kernel);
  lab.kernel.dump = async (only?: ReadonlySet<string>) => {
    asked.push(only ? [...only].sort() : undefined);
    return dump();
  };
  lab.kernel.table[0]!.dests[0]!.activeConns = 42;
  const one = await d.status({ service: 'api' });
  assert.deepEqual(asked, [['tcp/192.0.2.20:80']], '-s api reads api only');
  assert.deepEqual(one.services.map((s) => s.name), ['api']);
  const all = await d.status();
  assert.deepEqual(asked[1], ['tcp/192.0.2.10:80', 'tcp/192.0.2.20:80']);
  assert.equal(all.services[0]!.realServers[0]!.activeConns, 42, 'counters come from the kernel');

  // behind lvsd's back: the view still says 100 until a fresh read or the drift pass
  lab.kernel.table[0]!.dests[1]!.weight = 3;
  assert.equal((await d.status()).services[0]!.realServers[1]!.weight.kernel, 100);
  assert.equal((await d.status({ fresh: true })).services[0]!.realServers[1]!.weight.kernel, 3);
  assert.equal(asked.at(-1), undefined, '--fresh reads the whole table');
});

test('a kept view that diverged from the kernel (ipvsadm behind lvsd\'s back) is corrected by the drift pass', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [NOCHECK, API] });
  const d = await lab.start();
  // someone edits a weight, deletes a real server and deletes a whole service
  const web = lab.kernel.table.find((e) => e.service.key.kind === 'addr' && e.service.key.address === '192.0.2.10')!;
  web.dests.find((x) => x.address === '10.0.1.11')!.weight = 1;
  web.dests.splice(web.dests.findIndex((x) => x.address === '10.0.1.13'), 1);
  lab.kernel.table.splice(lab.kernel.table.findIndex((e) => e !== web), 1);
  // a reload that changes something else plans against the view: it does not see the edits...
  lab.write({ services: [{ ...NOCHECK, scheduler: 'rr' }, API] });
  assert.equal((await d.reload('control')).ok, true);
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 1);
  // ...the drift pass does
  const outcome = await d.fullReconcile('drift', 'drift');
  assert.equal(outcome.result, 'ok');
  assert.deepEqual(weights(lab.kernel), { '10.0.1.11:8080': 100, '10.0.1.12:8080': 100, '10.0.1.13:8080': 100 });
  assert.deepEqual(weights(lab.kernel, 'tcp/192.0.2.20:80'), { '10.0.2.11:8080': 10 });
  assert.equal(lab.kernel.table.find((e) => e.service.key.kind === 'addr' && e.service.key.address === '192.0.2.10')!.service.scheduler, 'rr');
  // and the view agrees with the kernel again: a weight edit now goes out as one set-dest
  const batches = lab.kernel.batches.length;
  lab.write({ services: [{ ...NOCHECK, scheduler: 'rr', realServers: NOCHECK.realServers.map((r, i) => (i === 0 ? { ...r, weight: 5 } : r)) }, API] });
  assert.equal((await d.reload('control')).ok, true);
  assert.deepEqual(sentSince(lab, batches).map((c) => c.cmd), ['set-dest']);
});

test('an operation whose reply was lost after the kernel applied it: the view is read again, nothing is refused, the repair converges', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [NOCHECK] });
  const d = await lab.start({ repairBackoff: { baseMs: 60_000, maxMs: 60_000 } });
  // a new real server: the kernel takes it but the reply is lost (overrun)
  lab.kernel.inject({ on: 'op', match: (c) => c.cmd === 'new-dest', error: faults.overrun, applied: true });
  const withNew = { ...NOCHECK, realServers: [...NOCHECK.realServers, { address: '10.0.1.14', port: 8080, weight: 100 }] };
  lab.write({ services: [withNew] });
  const r = await d.reload('control');
  assert.equal(r.ok, false, 'reported incomplete');
  assert.equal(weights(lab.kernel)['10.0.1.14:8080'], 100, 'the kernel has it');
  // a drain on the same service before the repair: the stale service is read first, so no new-dest is
  // sent again (the kernel would refuse it: File exists)
  const batches = lab.kernel.batches.length;
  await d.drain({ service: 'web', realServer: '10.0.1.11:8080' }, true);
  assert.deepEqual(sentSince(lab, batches).map((c) => c.cmd), ['set-dest']);
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 0);
  // the repair (a full read) clears the failure
  const outcome = await d.fullReconcile('repair', 'repair');
  assert.equal(outcome.result, 'ok');
  assert.equal(outcome.ops, 0);
  const snap = await d.status();
  assert.equal(snap.ipvs.state, 'ok');
  const text = await lab.metrics.registry.metrics();
  assert.equal(metricValue(text, 'lvsd_ipvs_op_failures_total', { op: 'new-dest', reason: 'refused' }), undefined);
});

test('a refused operation leaves the view as it was: the next reload sends it again', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [NOCHECK] });
  const d = await lab.start({ repairBackoff: { baseMs: 60_000, maxMs: 60_000 } });
  lab.kernel.refuseWith = (c) => (c.cmd === 'set-dest' && c.dest.weight === 9 ? { errno: 22, message: 'Invalid argument' } : undefined);
  lab.write({ services: [{ ...NOCHECK, realServers: NOCHECK.realServers.map((r, i) => (i === 2 ? { ...r, weight: 9 } : r)) }] });
  assert.equal((await d.reload('control')).ok, false);
  lab.kernel.refuseWith = undefined;
  const batches = lab.kernel.batches.length;
  // an unchanged config: only the service with the outstanding failure is planned again
  assert.equal((await d.reload('control')).ok, true);
  assert.deepEqual(sentSince(lab, batches).map((c) => c.cmd), ['set-dest']);
  assert.equal(weights(lab.kernel)['10.0.1.13:8080'], 9);
});

// ---- planning a large table a slice at a time ----

function svc(i: number): ServiceSpec {
  return { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `192.0.${i >> 8}.${i & 255}`, port: 80 }, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
}
function dest(j: number, weight: number): DestSpec {
  return { family: 'ipv4', address: `10.1.${j >> 8}.${j & 255}`, port: 80, forwarding: 'nat', weight, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}

test('a sliced plan is the plan of one planReconcile call, and the event loop turns between slices', async () => {
  const desired: DesiredEntry[] = [];
  const kernel: KernelEntry[] = [];
  for (let i = 0; i < 2000; i++) {
    desired.push({ service: svc(i), dests: Array.from({ length: 10 }, (_, j) => dest(j, i % 7 === 0 && j === 3 ? 5 : 1)) });
    if (i % 11 !== 0) kernel.push({ service: svc(i), dests: Array.from({ length: i % 13 === 0 ? 9 : 10 }, (_, j) => ({ ...dest(j, 1), activeConns: 0, inactiveConns: 0, persistentConns: 0 })) });
  }
  const owned = svc(5000);
  kernel.push({ service: owned, dests: [] }, { service: svc(5001), dests: [] });
  const view = new KeptView();
  view.replaceAll(kernel);
  let turns = 0;
  let running = true;
  const spin = () => {
    if (!running) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const sliced = await planSliced({ desired, view, candidates: [...view.ids()], owned: new Set([canonicalServiceId(owned.key)]), ownWholeTable: false, sliceObjects: 1000, budget: new TurnBudget(0) });
  running = false;
  const whole = planReconcile({ desired, kernel, owned: new Set([canonicalServiceId(owned.key)]), ownWholeTable: false });
  assert.deepEqual(sliced.ops.map((o) => [o.command.cmd, o.serviceId, o.destId]), whole.ops.map((o) => [o.command.cmd, o.serviceId, o.destId]));
  assert.deepEqual(sliced.summary, whole.summary);
  assert.ok(turns >= 20, `the loop turned ${turns} times during the plan (22,000 objects in chunks of 1,000, a turn after each)`);
});
