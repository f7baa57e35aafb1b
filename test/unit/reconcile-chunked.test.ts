/**
 * A full pass over a large table sends its additive operations a chunk at a time as it plans them
 * (reconciler sinkOps, sliced.ts sink), so a start does not hold every operation at once: the kernel ends
 * the same as with one plan, every removal still goes after every additive operation, each service's real
 * servers after the service, the pass counts and logs every operation once, and a refusal is reported as
 * in one plan.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { Reconciler } from '../../src/reconcile/index.js';
import { canonicalServiceId, type DesiredEntry, type DestSpec, type KernelEntry, type ServiceSpec } from '../../src/table/index.js';
import { ModelClient, essence, faults } from './reconcile-model.js';

function svc(s: number): ServiceSpec {
  return { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `172.16.0.${s}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
}
function dest(s: number, d: number, weight: number): DestSpec {
  return { family: 'ipv4', address: `10.0.${s}.${d + 1}`, port: 8080, forwarding: 'nat', weight, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}

async function run(t: { after(fn: () => unknown): void }, kernel: KernelEntry[], desired: DesiredEntry[], owned: string[], sinkOps?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-chunked-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const client = new ModelClient(kernel);
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void logs.push(JSON.parse(l) as Record<string, unknown>) });
  const r = new Reconciler({
    log, client: async () => client, stateFile: () => join(dir, 'state.json'), internalError: (_w, e) => { throw e; },
    ...(sinkOps !== undefined ? { sinkOps } : {}), sliceObjects: 8,
  });
  r.owned = new Set(owned);
  const outcome = await r.applyDesired({ entries: desired, names: new Map(), ownWholeTable: false, timeouts: { tcp: 60 } }, 'start', 'start');
  await r.stop();
  return { client, outcome, logs };
}

const tableArb = fc.array(fc.record({ dests: fc.uniqueArray(fc.integer({ min: 0, max: 12 }), { maxLength: 8 }), weight: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 12 });

test('a full pass sent in chunks leaves the kernel as one plan does, removals last, every op counted and logged once', async (t) => {
  await fc.assert(fc.asyncProperty(tableArb, tableArb, fc.integer({ min: 1, max: 20 }), async (had, want, sinkOps) => {
    const kernel: KernelEntry[] = had.map((s, i) => ({ service: svc(i), dests: s.dests.map((d) => ({ ...dest(i, d, s.weight), activeConns: 0, inactiveConns: 0, persistentConns: 0 })) }));
    const desired: DesiredEntry[] = want.map((s, i) => ({ service: svc(i + 3), dests: s.dests.map((d) => dest(i + 3, d, s.weight + 1)) }));
    const owned = kernel.map((e) => canonicalServiceId(e.service.key));
    const one = await run(t, kernel, desired, owned);
    const chunked = await run(t, kernel, desired, owned, sinkOps);
    assert.deepEqual(chunked.client.table.map((e) => essence(e)).sort(byJson), one.client.table.map((e) => essence(e)).sort(byJson));
    assert.equal(chunked.outcome.ops, one.outcome.ops);
    assert.equal(chunked.outcome.result, 'ok');
    const cmds = chunked.client.batches.flat();
    assert.equal(cmds.length, one.client.batches.flat().length);
    const lastAdditive = cmds.findLastIndex((c) => !c.cmd.startsWith('del-'));
    const firstRemoval = cmds.findIndex((c) => c.cmd.startsWith('del-'));
    if (firstRemoval >= 0) assert.ok(firstRemoval > lastAdditive, 'every removal after every additive operation');
    assert.equal(cmds.findIndex((c) => c.cmd === 'set-timeouts'), 0, 'the timeouts first');
    const applies = chunked.logs.filter((l) => l.event === 'ipvs.apply');
    assert.equal(applies.length, 1, 'one ipvs.apply line for the pass');
    assert.equal(applies[0]!.ops, one.outcome.ops);
  }), { numRuns: 60 });
});

test('a full pass of 120 services x 10 goes out in chunks, and a refused service skips its real servers as in one plan', async (t) => {
  const desired: DesiredEntry[] = Array.from({ length: 120 }, (_, s) => ({ service: svc(s), dests: Array.from({ length: 10 }, (_, d) => dest(s, d, 1)) }));
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-chunked-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const client = new ModelClient();
  client.refuseWith = (c) => (c.cmd === 'new-service' && c.service.key.kind === 'addr' && c.service.key.address === '172.16.0.70' ? { errno: 22, message: 'Invalid argument' } : undefined);
  const r = new Reconciler({ log: pino({ level: 'silent' }), client: async () => client, stateFile: () => join(dir, 'state.json'), internalError: (_w, e) => { throw e; }, sinkOps: 200 });
  const outcome = await r.applyDesired({ entries: desired, names: new Map(), ownWholeTable: false }, 'start', 'start');
  await r.stop();
  assert.ok(client.batches.length >= 2 * 5, `sent in chunks (${client.batches.length} batches)`);
  assert.ok(client.batches.every((b) => b.length <= 200 + 256), 'no batch holds more than a chunk and one slice of planning (256 objects)');
  assert.equal(outcome.result, 'partial');
  assert.equal(outcome.ops, 120 * 11);
  assert.deepEqual(outcome.failures.map((f) => f.op).sort(), ['new-dest', 'new-service'].flatMap((op) => (op === 'new-dest' ? Array(10).fill(op) : [op])).sort());
  assert.equal(client.table.length, 119);
  assert.ok(client.table.every((e) => e.dests.length === 10));
});

function byJson(a: unknown, b: unknown): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

test('the netlink socket failing in the middle of a chunked start: the pass fails (nobody knows what landed), everything declared is owned, and the repair pass converges', async (t) => {
  const desired: DesiredEntry[] = Array.from({ length: 60 }, (_, s) => ({ service: svc(s), dests: Array.from({ length: 10 }, (_, d) => dest(s, d, 1)) }));
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-chunked-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const client = new ModelClient();
  // the third batch (the second chunk's services) fails as a whole: the socket closed
  client.inject({ on: 'execute', error: faults.closed, skip: 2 });
  const r = new Reconciler({ log: pino({ level: 'silent' }), client: async () => client, stateFile: () => join(dir, 'state.json'), internalError: (_w, e) => { throw e; }, sinkOps: 150 });
  t.after(() => r.stop());
  const table = { entries: desired, names: new Map<string, string>(), ownWholeTable: false };
  const outcome = await r.applyDesired(table, 'start', 'start');
  assert.equal(outcome.result, 'failed');
  assert.equal(outcome.failures[0]!.code, 'LVSD_IPVS_UNAVAILABLE');
  assert.ok(client.table.length > 0 && client.table.length < 60, `the first chunk landed, not the rest (${client.table.length} services)`);
  assert.equal(r.owned.size, 60, 'everything declared is owned, so a later pass can clean up');
  const repaired = await r.repairDrift('repair', 'repair');
  assert.equal(repaired.result, 'ok');
  assert.deepEqual(client.table.map((e) => essence(e)).sort(byJson), desired.map((e) => essence(e)).sort(byJson));
  assert.equal((await r.repairDrift()).ops, 0);
});
