/**
 * The drift pass runs over many turns of the event loop (its read a service at a time, its plan a slice
 * at a time, its operations a chunk at a time): what lands between two of them must not be undone by it.
 * A health change is planned by the pass itself when it lands before its service's slice (not sent with
 * the weight it replaced), a reload goes ahead of the pass's read (reconcile-drift-ahead), a read that fails half way leaves the
 * view as it was.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { DumpOptions, IpvsClient, IpvsCommand, KernelEntry } from '../../src/ipvs/types.js';
import { Reconciler, type DesiredTable } from '../../src/reconcile/index.js';
import { canonicalServiceId, type DesiredEntry, type DestSpec, type ServiceSpec } from '../../src/table/index.js';
import { ModelClient, faults } from './reconcile-model.js';

function svc(s: number): ServiceSpec {
  return { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `172.16.1.${s}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
}
function dest(s: number, d: number, weight: number): DestSpec {
  return { family: 'ipv4', address: `10.1.${s}.${d + 1}`, port: 8080, forwarding: 'nat', weight, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}
const SERVICES = 40;
const entry = (s: number, weight: number): DesiredEntry => ({ service: svc(s), dests: [dest(s, 0, weight), dest(s, 1, weight)] });
const table = (weight: (s: number) => number): DesiredTable => ({
  entries: Array.from({ length: SERVICES }, (_, s) => entry(s, weight(s))), names: new Map(), ownWholeTable: false,
});
const id = (s: number) => canonicalServiceId(svc(s).key);

/** The model's table as the netlink client hands it over: one service at a time, a turn between two. */
class StreamingModel extends ModelClient {
  /** Called after `at` services were handed over (then the read goes on). */
  during?: { at: number; run: () => void };
  async dumpEach(each: (e: KernelEntry) => void, opts?: DumpOptions, only?: ReadonlySet<string>): Promise<number> {
    const all = await this.dump(only);
    let n = 0;
    for (const e of all.reverse()) { // the model reverses its dumps: the kernel's order back
      await new Promise((r) => setImmediate(r));
      opts?.began?.(canonicalServiceId(e.service.key));
      each(e);
      if (++n === this.during?.at && !only) this.during.run();
    }
    return n;
  }
}

function setup(t: { after(fn: () => unknown): void }, client: IpvsClient, opts: { sliceObjects?: number; sinkOps?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-drift-conc-'));
  const r = new Reconciler({
    log: pino({ level: 'silent' }), client: async () => client, stateFile: () => join(dir, 'state.json'),
    internalError: (_w, e) => { throw e; }, ...opts,
  });
  t.after(async () => {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return r;
}

/** Every real server of service `s` in the model's table, by weight. */
function weights(model: ModelClient, s: number): number[] {
  const e = model.table.find((k) => canonicalServiceId(k.service.key) === id(s));
  return e ? e.dests.map((d) => d.weight) : [];
}

/** Sets every real server's weight in the kernel behind lvsd's back (drift for the pass to repair). */
function driftAll(model: ModelClient, weight: number): void {
  for (const e of model.table) for (const d of e.dests) d.weight = weight;
}

const setDests = (commands: readonly IpvsCommand[], s: number) =>
  commands.filter((c): c is Extract<IpvsCommand, { cmd: 'set-dest' }> => c.cmd === 'set-dest' && canonicalServiceId(c.service) === id(s));

for (const streaming of [false, true]) {
  const how = streaming ? 'read a service at a time' : 'read whole';
  test(`a health change that lands while a drift pass sends its first chunk is what the pass sends for that service (${how}): the repair never sets the weight it replaced`, async (t) => {
    const model = streaming ? new StreamingModel() : new ModelClient();
    const r = setup(t, model, { sliceObjects: 4, sinkOps: 1 });
    await r.applyDesired(table(() => 5), 'start', 'start');
    driftAll(model, 7);
    const last = SERVICES - 1;
    const after: IpvsCommand[] = [];
    let health: Promise<void> | undefined;
    const execute = model.execute.bind(model);
    model.execute = async (commands) => {
      if (health) after.push(...commands);
      else {
        // the pass's first chunk is on its way: the health checks mark the last service's real servers down
        health = r.update([entry(last, 0)], 'health: down', 'health');
      }
      return execute(commands);
    };
    const outcome = await r.repairDrift();
    await health;
    assert.equal(outcome.result, 'ok');
    assert.ok(health, 'the pass sent its operations in more than one chunk');
    assert.deepEqual(setDests(after, last).map((c) => c.dest.weight).filter((w) => w !== 0), [],
      'the repair set the weight the health change had replaced');
    assert.deepEqual(weights(model, last), [0, 0]);
    for (let s = 0; s < last; s++) assert.deepEqual(weights(model, s), [5, 5], `service ${s} repaired`);
  });
}

test('a health change that lands during the read (a service at a time) is planned by the pass and stays', async (t) => {
  const model = new StreamingModel();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  driftAll(model, 7);
  let health: Promise<void> | undefined;
  model.during = { at: SERVICES / 2, run: () => { health = r.update([entry(3, 0)], 'health: down', 'health'); } };
  const outcome = await r.repairDrift();
  await health;
  assert.equal(outcome.result, 'ok');
  assert.deepEqual(weights(model, 3), [0, 0]);
  for (let s = 0; s < SERVICES; s++) if (s !== 3) assert.deepEqual(weights(model, s), [5, 5]);
  // the view is the kernel: a second pass has nothing to do
  const again = await r.repairDrift();
  assert.equal(again.ops, 0);
});

test('a reload that arrives during a drift pass goes ahead of it, and the pass does not undo it', async (t) => {
  const model = new StreamingModel();
  const r = setup(t, model, { sliceObjects: 4, sinkOps: 1 });
  await r.applyDesired(table(() => 5), 'start', 'start');
  driftAll(model, 7);
  let reload: Promise<unknown> | undefined;
  model.during = { at: 10, run: () => { reload = r.applyDesired(table((s) => (s === 30 ? 9 : 5)), 'reload', 'reload'); } };
  await r.repairDrift();
  await reload;
  assert.deepEqual(weights(model, 30), [9, 9]);
  assert.deepEqual(weights(model, 0), [5, 5]);
});

test('a read that fails half way through leaves the view as it was: the pass fails, and the next one repairs', async (t) => {
  const model = new StreamingModel();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  const before = r.snapshot([id(0), id(SERVICES - 1)]);
  driftAll(model, 7);
  model.dumpEach = async function (each) {
    const all = (await ModelClient.prototype.dump.call(this)).reverse();
    for (const e of all.slice(0, SERVICES / 2)) each(e);
    throw faults.overrun();
  };
  const failed = await r.repairDrift();
  assert.equal(failed.result, 'failed');
  assert.deepEqual(r.snapshot([id(0), id(SERVICES - 1)]), before, 'the view was half replaced');
  delete (model as { dumpEach?: unknown }).dumpEach; // the prototype's again
  const repaired = await r.repairDrift();
  assert.equal(repaired.result, 'ok');
  for (let s = 0; s < SERVICES; s++) assert.deepEqual(weights(model, s), [5, 5]);
});
