/**
 * A drift pass reads the whole kernel table outside the reconciler's queue: a reload, a health change or
 * a drain that comes while it reads goes ahead of it (applied before the read ends, not after the whole
 * pass), and the pass, planned once the read ended, never undoes it nor repairs against what it read of
 * a service the other pass changed meanwhile. Drift it finds elsewhere it still repairs.
 *
 * The model reads as the kernel does: the service list first, then each service's real servers when its
 * turn comes (a service removed meanwhile reads as one without real servers, as the kernel's empty dump).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import type { DumpOptions, KernelEntry } from '../../src/ipvs/types.js';
import { Reconciler, type DesiredTable } from '../../src/reconcile/index.js';
import { canonicalServiceId, type DesiredEntry, type DestSpec, type ServiceSpec } from '../../src/table/index.js';
import { ModelClient, faults } from './reconcile-model.js';
import { rs, tcp } from './reconcile-fixtures.js';

const svc = (s: number): ServiceSpec => tcp(`172.16.2.${s}`, 80, { scheduler: 'wrr' });
const dest = (s: number, d: number, weight: number): DestSpec => rs(`10.2.${s}.${d + 1}`, 8080, { weight });
const SERVICES = 40;
const entry = (s: number, weight: number): DesiredEntry => ({ service: svc(s), dests: [dest(s, 0, weight), dest(s, 1, weight)] });
/** Services 0..SERVICES-1 (minus `without`, plus `plus`), each real server at weight(s). */
const table = (weight: (s: number) => number, o: { without?: number[]; plus?: number[] } = {}): DesiredTable => ({
  entries: [...Array.from({ length: SERVICES }, (_, s) => s).filter((s) => !o.without?.includes(s)), ...(o.plus ?? [])].map((s) => entry(s, weight(s))),
  names: new Map(), ownWholeTable: false,
});
const id = (s: number) => canonicalServiceId(svc(s).key);

/** What happened in which order (the assertions are about order, never about time). */
type Mark = 'read-end' | 'again' | 'queue-read' | 'reload' | 'reload2' | 'health' | 'pass' | 'stop';

/**
 * The model's table handed over as the netlink client does: the service list as it is when the read
 * begins, then each service's real servers as they are when its turn comes, a turn of the event loop
 * between two. At `during.at` services handed over, `during.run` starts something (a reload); the read
 * waits for what it returns (so that it has a chance to go ahead), but no longer than a second: where the
 * reconciler makes it wait for the pass (before this change), the read goes on and the order shows it.
 * A read of some services (`only`: the drift pass's rounds outside the queue) marks `again`; a read of
 * some services with dump() (the stale ones, in the queue) marks `queue-read`.
 */
class KernelStream extends ModelClient {
  during: Array<{ at: number; run: () => Promise<unknown> | void }> = [];
  marks: Mark[] = [];
  reads = 0;
  /** The start read the table too: what follows counts from here. */
  reset(): void {
    this.marks = [];
    this.reads = 0;
  }
  override async dump(only?: ReadonlySet<string>): Promise<KernelEntry[]> {
    if (only) this.marks.push('queue-read');
    return super.dump(only);
  }
  async dumpEach(each: (e: KernelEntry) => void, opts?: DumpOptions, only?: ReadonlySet<string>): Promise<number> {
    if (!only) this.reads++;
    const listed = (await super.dump(only)).reverse().map((e) => e.service);
    let n = 0;
    for (const service of listed) {
      await new Promise((r) => setImmediate(r));
      const key = canonicalServiceId(service.key);
      opts?.began?.(key);
      const now = this.table.find((k) => canonicalServiceId(k.service.key) === key);
      each({ service, dests: now ? structuredClone(now.dests) : [] });
      n++;
      for (const d of this.during) {
        if (d.at !== n || this.reads > 1 || only) continue;
        const p = d.run();
        if (p) await Promise.race([p, new Promise((r) => setTimeout(r, 1000).unref())]);
      }
    }
    this.marks.push(only ? 'again' : 'read-end');
    return n;
  }
}

function setup(t: { after(fn: () => unknown): void }, client: ModelClient) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-drift-ahead-'));
  const r = new Reconciler({
    log: pino({ level: 'silent' }), client: async () => client, stateFile: () => join(dir, 'state.json'),
    internalError: (_w, e) => { throw e; }, sliceObjects: 4,
  });
  t.after(async () => {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return r;
}

function weights(model: ModelClient, s: number): number[] | undefined {
  const e = model.table.find((k) => canonicalServiceId(k.service.key) === id(s));
  return e ? e.dests.map((d) => d.weight).sort() : undefined;
}

function driftAll(model: ModelClient, weight: number): void {
  for (const e of model.table) for (const d of e.dests) d.weight = weight;
}

test('a reload during a drift pass\'s read goes ahead of it (applied before the read ends), and the pass keeps what it did: a weight, a removed service, an added one', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  driftAll(model, 7); // drift everywhere: the pass has work
  const next = table((s) => (s === 30 || s === 3 ? 9 : 5), { without: [35, 4], plus: [40] });
  let reload: Promise<unknown> | undefined;
  // 3 and 4 are read before the reload, 30, 35 and 40 (not listed at all) after it
  model.during.push({
    at: 10, run: () => (reload = r.applyDesired(next, 'reload', 'reload').then((o) => {
      model.marks.push('reload');
      assert.equal(o.result, 'ok');
    })),
  });
  const outcome = await r.repairDrift();
  model.marks.push('pass');
  await reload;
  assert.deepEqual(model.marks, ['reload', 'read-end', 'again', 'pass'], 'the reload waited for the drift pass, or what it changed was read in the queue');
  assert.equal(outcome.result, 'ok', JSON.stringify(outcome.failures));
  assert.deepEqual(weights(model, 30), [9, 9]);
  assert.deepEqual(weights(model, 3), [9, 9]);
  assert.equal(weights(model, 35), undefined, 'the removed service is back');
  assert.equal(weights(model, 4), undefined, 'the removed service is back');
  assert.deepEqual(weights(model, 40), [5, 5]);
  for (let s = 0; s < SERVICES; s++) if (![3, 4, 30, 35].includes(s)) assert.deepEqual(weights(model, s), [5, 5], `service ${s} repaired`);
  // the view is the kernel: a second pass has nothing to do
  assert.equal((await r.repairDrift()).ops, 0);
  assert.equal(model.table.length, SERVICES - 2 + 1);
});

test('drift found while two reloads interleave with the read (a service deleted behind lvsd\'s back): repaired; both reloads went ahead and stay', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  // ipvsadm -D behind lvsd's back: one service read before the reloads, one after
  model.table = model.table.filter((e) => ![id(2), id(33)].includes(canonicalServiceId(e.service.key)));
  const first = table((s) => (s === 20 ? 8 : 5));
  const second = table((s) => (s === 20 ? 8 : s === 21 ? 6 : 5), { plus: [41] });
  const reloads: Promise<unknown>[] = [];
  model.during.push({ at: 5, run: () => (reloads[0] = r.applyDesired(first, 'reload', 'reload').then(() => model.marks.push('reload'))) });
  model.during.push({ at: 25, run: () => (reloads[1] = r.applyDesired(second, 'reload', 'reload').then(() => model.marks.push('reload2'))) });
  const outcome = await r.repairDrift();
  model.marks.push('pass');
  await Promise.all(reloads);
  assert.deepEqual(model.marks, ['reload', 'reload2', 'read-end', 'again', 'pass']);
  assert.equal(outcome.result, 'ok', JSON.stringify(outcome.failures));
  assert.deepEqual(weights(model, 2), [5, 5], 'the service deleted behind lvsd\'s back (read before the reloads) is back');
  assert.deepEqual(weights(model, 33), [5, 5], 'the service deleted behind lvsd\'s back (read after the reloads) is back');
  assert.deepEqual(weights(model, 20), [8, 8]);
  assert.deepEqual(weights(model, 21), [6, 6]);
  assert.deepEqual(weights(model, 41), [5, 5]);
  assert.equal((await r.repairDrift()).ops, 0);
});

test('a reload whose send fails half way (the socket failed) during the read: its services are read again by the pass, which puts the new config in', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  const next = table((s) => (s === 12 || s === 30 ? 9 : 5));
  let reload: Promise<{ result: string }> | undefined;
  model.during.push({
    at: 20, run: () => {
      // the first command lands, then the socket fails: nobody knows what landed
      model.inject({ on: 'op', error: faults.closed, applied: true, times: 1 });
      model.inject({ on: 'execute', error: faults.closed, skip: 0, times: 1 });
      return (reload = r.applyDesired(next, 'reload', 'reload').then((o) => {
        model.marks.push('reload');
        return o;
      }));
    },
  });
  await r.repairDrift();
  model.marks.push('pass');
  assert.equal((await reload)?.result, 'failed');
  assert.deepEqual(model.marks, ['reload', 'read-end', 'again', 'pass']);
  assert.deepEqual(weights(model, 12), [9, 9], 'the kernel was left on the old config');
  assert.deepEqual(weights(model, 30), [9, 9], 'the kernel was left on the old config');
  assert.equal((await r.repairDrift()).ops, 0);
});

test('a health change during the read goes ahead of the pass and stays; a drain too', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  driftAll(model, 7);
  let health: Promise<void> | undefined;
  model.during.push({ at: 15, run: () => (health = r.update([entry(31, 0)], 'health: down', 'health').then(() => void model.marks.push('health'))) });
  model.during.push({ at: 16, run: () => r.update([{ service: svc(32), dests: [dest(32, 0, 0), dest(32, 1, 5)] }], 'drain', 'drain') });
  const outcome = await r.repairDrift();
  model.marks.push('pass');
  await health;
  assert.deepEqual(model.marks, ['health', 'read-end', 'pass']);
  assert.equal(outcome.result, 'ok');
  assert.deepEqual(weights(model, 31), [0, 0]);
  assert.deepEqual(weights(model, 32), [0, 5]);
  for (let s = 0; s < 30; s++) assert.deepEqual(weights(model, s), [5, 5]);
  assert.equal((await r.repairDrift()).ops, 0);
});

test('services a health pass changes after the read reached them are read again outside the queue, not in it: the health change behind never waits for a read', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  driftAll(model, 7);
  // the first three the read hands over (the model's table order)
  const early = model.table.slice(0, 3).map((e) => Array.from({ length: SERVICES }, (_, s) => s).find((s) => id(s) === canonicalServiceId(e.service.key))!);
  const health: Promise<unknown>[] = [];
  // services read before the change (the first listed), changed after the read reached them
  model.during.push({ at: 20, run: () => void health.push(r.update(early.map((s) => entry(s, 0)), 'health: down', 'health')) });
  const outcome = await r.repairDrift();
  model.marks.push('pass');
  await Promise.all(health);
  assert.equal(outcome.result, 'ok');
  assert.deepEqual(model.marks, ['read-end', 'again', 'pass'], 'the changed services were read again in the queue');
  for (const s of early) assert.deepEqual(weights(model, s), [0, 0], `service ${s}'s health change undone`);
  for (let s = 0; s < SERVICES; s++) if (!early.includes(s)) assert.deepEqual(weights(model, s), [5, 5], `service ${s} repaired`);
  assert.equal((await r.repairDrift()).ops, 0);
});

test('a stop during the read does not wait for it, and the pass then sends nothing', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  driftAll(model, 7);
  const sent = model.batches.length;
  let stopped: Promise<void> | undefined;
  model.during.push({ at: 5, run: () => (stopped = r.stop().then(() => void model.marks.push('stop'))) });
  const outcome = await r.repairDrift();
  model.marks.push('pass');
  await stopped;
  assert.deepEqual(model.marks, ['stop', 'read-end', 'pass']);
  assert.equal(outcome.ops, 0);
  assert.equal(model.batches.length, sent, 'the pass sent operations after the stop');
});

test('a pass that reads the whole table in the queue meanwhile (a reload that now owns the whole table) is newer: the drift read is dropped, nothing undone', async (t) => {
  const model = new KernelStream();
  const r = setup(t, model);
  await r.applyDesired(table(() => 5), 'start', 'start');
  model.reset();
  driftAll(model, 7);
  const next = { ...table((s) => (s === 30 ? 9 : 5)), ownWholeTable: true };
  let reload: Promise<unknown> | undefined;
  model.during.push({ at: 10, run: () => (reload = r.applyDesired(next, 'reload', 'reload').then(() => void model.marks.push('reload'))) });
  const outcome = await r.repairDrift();
  model.marks.push('pass');
  await reload;
  assert.equal(outcome.result, 'ok');
  assert.equal(model.marks.at(-1), 'pass');
  assert.deepEqual(weights(model, 30), [9, 9]);
  for (let s = 0; s < SERVICES; s++) if (s !== 30) assert.deepEqual(weights(model, s), [5, 5]);
  assert.equal((await r.repairDrift()).ops, 0);
});
