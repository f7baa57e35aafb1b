import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { applyPlan, planReconcile, reconcile, type DesiredEntry } from '../../src/reconcile/index.js';
import { ModelClient } from './reconcile-model.js';
import { entry, krs, rs, tcp, udp } from './reconcile-fixtures.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const web = tcp('192.0.2.10', 80, { scheduler: 'wrr' });
const dns = udp('192.0.2.53', 53);
const desired: DesiredEntry[] = [
  { service: web, dests: [rs('10.0.1.11', 8080, { weight: 50 }), rs('10.0.1.12', 8080)] },
  { service: dns, dests: [rs('10.0.1.21', 53)] },
];

test('reconcile programs an empty kernel and the second run sends nothing', async () => {
  const client = new ModelClient();
  const first = await reconcile(client, desired, { owned: new Set(), ownWholeTable: false, verify: true });
  assert.equal(first.report.ok, true);
  assert.equal(first.report.sent, 5);
  assert.equal(first.converged, true);
  assert.equal(client.table.length, 2);

  const before = client.batches.length;
  const second = await reconcile(client, desired, { owned: new Set(['tcp/192.0.2.10:80', 'udp/192.0.2.53:53']), ownWholeTable: false });
  assert.equal(second.plan.ops.length, 0);
  assert.equal(client.batches.length, before, 'an empty plan sends no batch');
});

test('commands are pipelined: one batch for services, one for real servers, in plan order', async () => {
  const client = new ModelClient();
  const plan = planReconcile({ desired, kernel: [], owned: new Set(), ownWholeTable: false });
  await applyPlan(client, plan);
  assert.deepEqual(client.batches.map((b) => b.map((c) => c.cmd)), [
    ['new-service', 'new-service'],
    ['new-dest', 'new-dest', 'new-dest'],
  ]);
});

test('a refused real server is reported with its reason and the rest still goes out', async () => {
  const client = new ModelClient();
  client.refuseWith = (c) => (c.cmd === 'new-dest' && c.dest.address === '10.0.1.11' ? { errno: 101, message: 'Network is unreachable' } : undefined);
  const { log, lines } = capture();
  const plan = planReconcile({ desired, kernel: [], owned: new Set(), ownWholeTable: false });
  const report = await applyPlan(client, plan, { log });
  assert.equal(report.ok, false);
  assert.equal(report.succeeded, 4);
  assert.equal(report.failed.length, 1);
  assert.equal(report.failed[0]!.reason, 'Network is unreachable');
  assert.equal(report.failed[0]!.code, 'LVSD_IPVS_KERNEL');
  assert.equal(report.failed[0]!.errno, 101);
  assert.equal(client.table.find((e) => e.service.key.kind === 'addr' && e.service.key.port === 80)!.dests.length, 1);
  const failure = lines.find((l) => l.event === 'ipvs.op_failed');
  assert.ok(failure);
  assert.equal(failure.service, 'tcp/192.0.2.10:80');
  assert.equal(failure.dest, '10.0.1.11:8080');
  assert.equal(failure.reason, 'Network is unreachable');
});

test('real servers of a service the kernel refused to create are skipped, not sent', async () => {
  const client = new ModelClient();
  client.refuseWith = (c) => (c.cmd === 'new-service' && c.service.scheduler === 'wrr' ? { errno: 2, message: 'No such file or directory' } : undefined);
  const plan = planReconcile({ desired, kernel: [], owned: new Set(), ownWholeTable: false });
  const report = await applyPlan(client, plan);
  assert.equal(report.failed.length, 1);
  assert.deepEqual(report.skipped.map((s) => s.op.destId), ['10.0.1.11:8080', '10.0.1.12:8080']);
  assert.match(report.skipped[0]!.reason, /tcp\/192\.0\.2\.10:80 was not created: No such file or directory/);
  assert.ok(client.batches.flat().every((c) => !(c.cmd === 'new-dest' && c.service.kind === 'addr' && c.service.port === 80)));
  assert.equal(client.table.length, 1, 'the other service is programmed');
});

test('a failed service edit does not hold back its real servers', async () => {
  const client = new ModelClient([entry(tcp('192.0.2.10', 80), [krs('10.0.1.11', 8080)])]);
  client.refuseWith = (c) => (c.cmd === 'set-service' ? { errno: 2, message: 'No such file or directory' } : undefined);
  const report = await applyPlan(client, planReconcile({ desired, kernel: await client.dump(), owned: new Set(), ownWholeTable: false }));
  assert.equal(report.failed.length, 1);
  assert.equal(report.skipped.length, 0);
  assert.equal(client.table[0]!.dests.length, 2);
});

test('reconcile logs one ipvs.apply line with counts and phase durations', async () => {
  const client = new ModelClient([entry(tcp('192.0.2.99', 80))]);
  const { log, lines } = capture();
  let t = 0;
  const result = await reconcile(client, desired, { owned: new Set(['tcp/192.0.2.99:80']), ownWholeTable: false, log, now: () => (t += 5), verify: true });
  const apply = lines.filter((l) => l.event === 'ipvs.apply');
  assert.equal(apply.length, 1);
  const line = apply[0]! as Record<string, any>;
  assert.deepEqual(line.services, { added: 2, changed: 0, removed: 1, unchanged: 0, foreign: 0 });
  assert.deepEqual(line.dests, { added: 3, changed: 0, removed: 0, unchanged: 0 });
  assert.equal(line.failed, 0);
  assert.equal(line.converged, true);
  for (const phase of ['dumpMs', 'planMs', 'applyMs', 'verifyMs']) assert.ok(line.durations[phase] > 0, phase);
  assert.deepEqual(result.report.durations, line.durations);
});

test('dry run plans and sends nothing', async () => {
  const client = new ModelClient();
  const result = await reconcile(client, desired, { owned: new Set(), ownWholeTable: false, dryRun: true });
  assert.equal(result.plan.ops.length, 5);
  assert.equal(client.batches.length, 0);
  assert.equal(client.table.length, 0);
});

test('desired timeouts are read from the kernel and only differing ones set', async () => {
  const client = new ModelClient();
  const result = await reconcile(client, [], { owned: new Set(), ownWholeTable: false, timeouts: { tcp: 900, udp: 60 } });
  assert.deepEqual(result.plan.ops.map((o) => o.command), [{ cmd: 'set-timeouts', timeouts: { tcp: 0, tcpFin: 0, udp: 60 } }]);
  assert.deepEqual(client.timeouts, { tcp: 900, tcpFin: 120, udp: 60 });
});

test('a service deleted behind lvsd\'s back is restored by the next reconcile', async () => {
  const client = new ModelClient();
  const owned = new Set(['tcp/192.0.2.10:80', 'udp/192.0.2.53:53']);
  await reconcile(client, desired, { owned, ownWholeTable: false });
  client.table = client.table.filter((e) => e.service.key.kind === 'addr' && e.service.key.protocol === 'tcp');
  const again = await reconcile(client, desired, { owned, ownWholeTable: false, verify: true });
  assert.deepEqual(again.plan.ops.map((o) => `${o.command.cmd} ${o.serviceId}`), ['new-service udp/192.0.2.53:53', 'new-dest udp/192.0.2.53:53']);
  assert.equal(again.converged, true);
});

test('applyPlan on its own logs one ipvs.apply line; an empty plan logs it at debug only', async () => {
  const client = new ModelClient();
  const { log, lines } = capture();
  await applyPlan(client, planReconcile({ desired, kernel: [], owned: new Set(), ownWholeTable: false }), { log });
  const apply = lines.filter((l) => l.event === 'ipvs.apply');
  assert.equal(apply.length, 1);
  assert.equal(apply[0]!.level, 30);
  assert.equal(apply[0]!.sent, 5);

  const quiet = capture();
  await reconcile(client, desired, { owned: new Set(), ownWholeTable: false, log: quiet.log });
  assert.deepEqual(quiet.lines.map((l) => [l.event, l.level]), [['ipvs.apply', 20]]);
});

test('a client that fails outright (not a refusal) makes apply throw, so the caller re-reads the table', async () => {
  const client = new ModelClient();
  client.execute = async () => {
    throw new Error('socket closed');
  };
  await assert.rejects(reconcile(client, desired, { owned: new Set(), ownWholeTable: false }), /socket closed/);
});

test('a client answering with the wrong number of results is a protocol error, not a silent success', async () => {
  const client = new ModelClient();
  client.execute = async () => [];
  await assert.rejects(applyPlan(client, planReconcile({ desired, kernel: [], owned: new Set(), ownWholeTable: false })), { code: 'LVSD_IPVS_PROTOCOL' });
});
