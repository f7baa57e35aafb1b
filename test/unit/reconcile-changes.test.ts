/**
 * A reload that changed some services in place hands the reconciler only their entries
 * (applyChangesNow): what it leaves (the kernel's table, the owned set and its file, what failed) is what
 * the whole table (applyDesiredNow) leaves, through health changes between reloads and kernel faults that
 * leave services stale or with failures to repair. A property over random tables and edits, each
 * reconciler over its own in-memory kernel; and the cases where only the whole table will do.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { silentLogger } from '../../src/log.js';
import { Reconciler, canonicalServiceId, type DesiredTable } from '../../src/reconcile/index.js';
import type { DesiredEntry, DestSpec } from '../../src/table/index.js';
import { rs, tcp } from './reconcile-fixtures.js';
import { ModelClient, essence, faults, keyOf } from './reconcile-model.js';

const VIPS = ['192.0.2.10', '192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14', '192.0.2.15'];
const RS = ['10.0.1.1', '10.0.1.2', '10.0.1.3'];

const destsArb: fc.Arbitrary<DestSpec[]> = fc.uniqueArray(
  fc.record({ address: fc.constantFrom(...RS), weight: fc.integer({ min: 0, max: 3 }) }).map((d) => rs(d.address, 8080, { weight: d.weight })),
  { maxLength: 3, selector: (d) => d.address },
);
const entryArb = (vip: string): fc.Arbitrary<DesiredEntry> =>
  fc.record({ scheduler: fc.constantFrom('wlc', 'wrr'), dests: destsArb }).map((e) => ({ service: tcp(vip, 80, { scheduler: e.scheduler }), dests: e.dests }));

const stepArb = fc.record({
  /** positions edited by the reload, and their new entries */
  edits: fc.array(fc.tuple(fc.nat(), fc.constantFrom(...VIPS).chain(() => destsArb), fc.constantFrom('wlc', 'wrr')), { maxLength: 3 }),
  /** health changes before it: a position and its new list */
  health: fc.array(fc.tuple(fc.nat(), destsArb), { maxLength: 2 }),
  /** a fault the kernel gives during the health pass: a lost reply (the service goes stale) or a refusal (a failure to repair) */
  fault: fc.constantFrom('none', 'lost', 'refused'),
  timeouts: fc.constantFrom(0, 0, 600),
});

function side(dir: string, name: string, kernel: ModelClient) {
  const r = new Reconciler({
    log: silentLogger, client: async () => kernel, stateFile: () => join(dir, `${name}.json`),
    // no repair pass on its own: both sides must see the same history
    backoff: { baseMs: 1e9, maxMs: 1e9 },
    internalError: (_where, e) => { throw e; },
  });
  return { r, kernel, file: join(dir, `${name}.json`) };
}

function table(entries: DesiredEntry[], timeouts: number): DesiredTable {
  return {
    entries, names: new Map(entries.map((e, i) => [canonicalServiceId(e.service.key), `s${i}`])), ownWholeTable: false,
    ...(timeouts ? { timeouts: { tcp: timeouts } } : {}),
  };
}

/** Failures without their times. */
const timeless = <T extends { at?: unknown; atMs?: unknown }>(fs: readonly T[]) => fs.map(({ at: _a, atMs: _m, ...f }) => f);
const view = (k: ModelClient) => k.table.map((e) => essence(e)).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));

test('the changed entries alone leave what the whole table leaves: kernel, owned set, failures', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-changes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let run = 0;
  let alone = 0;
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 2, max: VIPS.length }).chain((n) => fc.tuple(...VIPS.slice(0, n).map(entryArb))),
    fc.array(stepArb, { minLength: 1, maxLength: 4 }),
    fc.boolean(),
    async (start, steps, keepLeftover) => {
      run++;
      // a foreign service and one a previous lvsd owned: the table passes keep or remove them
      const foreign = { service: tcp('198.51.100.1', 80), dests: [] };
      const leftover = { service: tcp('198.51.100.2', 80), dests: [] };
      const whole = side(dir, `whole-${run}`, new ModelClient([foreign, leftover]));
      const changes = side(dir, `changes-${run}`, new ModelClient([foreign, leftover]));
      for (const s of [whole, changes]) s.r.owned = new Set([canonicalServiceId(leftover.service.key)]);
      let entries = [...start];
      // the kernel refuses to remove the leftover at start: it stays owned, a failure to repair
      for (const s of [whole, changes]) if (keepLeftover) s.kernel.refuseWith = (c) => (c.cmd === 'del-service' ? { errno: 16, message: 'Device or resource busy' } : undefined);
      await whole.r.applyDesired(table(entries, 0), 'start', 'start');
      await changes.r.applyDesired(table(entries, 0), 'start', 'start');
      for (const s of [whole, changes]) s.kernel.refuseWith = undefined;
      for (const step of steps) {
        for (const s of [whole, changes]) {
          if (step.fault === 'lost') s.kernel.inject({ on: 'op', error: faults.overrun, applied: true });
          if (step.fault === 'refused') s.kernel.refuseWith = (c) => (c.cmd === 'new-dest' ? { errno: 22, message: 'Invalid argument' } : undefined);
        }
        for (const [at, dests] of step.health) {
          const i = at % entries.length;
          entries = entries.map((e, j) => (j === i ? { service: e.service, dests } : e));
          for (const s of [whole, changes]) await s.r.update([entries[i]!], 'health', 'health');
        }
        for (const s of [whole, changes]) s.kernel.refuseWith = undefined;
        const next = [...entries];
        const changed = new Set<number>();
        for (const [at, dests, scheduler] of step.edits) {
          const i = at % next.length;
          next[i] = { service: { ...next[i]!.service, scheduler }, dests };
          changed.add(i);
        }
        entries = next;
        const full = table(entries, step.timeouts);
        const a = await whole.r.enqueue(() => whole.r.applyDesiredNow(full, 'reload', 'reload'));
        const b = await changes.r.enqueue(() => {
          const { entries: _all, ...rest } = full;
          const p = changes.r.applyChangesNow({ ...rest, entries: [...changed].sort().map((i) => entries[i]!) }, 'reload', 'reload');
          if (p) alone++;
          return p ?? changes.r.applyDesiredNow(full, 'reload', 'reload');
        });
        assert.deepEqual({ ...b, failures: timeless(b.failures) }, { ...a, failures: timeless(a.failures) });
        assert.deepEqual(view(changes.kernel), view(whole.kernel));
        assert.deepEqual([...changes.r.owned].sort(), [...whole.r.owned].sort());
        assert.deepEqual(JSON.parse(readFileSync(changes.file, 'utf8')), JSON.parse(readFileSync(whole.file, 'utf8')));
        const st = (r: Reconciler) => ({ ...r.status(), failures: timeless(r.status().failures), lastReconcile: null, repair: null });
        assert.deepEqual(st(changes.r), st(whole.r));
      }
      // what either left is what a full read and plan of the last table leaves: nothing to do
      for (const s of [whole, changes]) {
        const drift = await s.r.repairDrift();
        assert.equal(drift.ops, 0, 'the kernel holds the desired table');
      }
      await whole.r.stop();
      await changes.r.stop();
    },
  ), { numRuns: 120 });
  assert.ok(alone > 100, `the changes were applied alone ${alone} times`);
});

test('only the whole table will do for an entry under an id the table does not have, or before the first pass', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-changes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = side(dir, 'one', new ModelClient());
  const a = { service: tcp('192.0.2.10', 80), dests: [rs('10.0.1.1', 8080)] };
  const rest = { names: new Map(), ownWholeTable: false };
  assert.equal(s.r.applyChangesNow({ ...rest, entries: [a] }, 'reload', 'reload'), undefined, 'the view knows nothing yet');
  await s.r.applyDesired(table([a], 0), 'start', 'start');
  const other = { service: tcp('192.0.2.11', 80), dests: [] };
  assert.equal(s.r.applyChangesNow({ ...rest, entries: [other] }, 'reload', 'reload'), undefined, 'not in the table');
  assert.equal(s.r.applyChangesNow({ ...rest, entries: [a, a] }, 'reload', 'reload'), undefined, 'given twice');
  assert.equal(s.r.applyChangesNow({ ...rest, ownWholeTable: true, entries: [a] }, 'reload', 'reload'), undefined, 'ownWholeTable changed');
  const moved = { service: a.service, dests: [rs('10.0.1.1', 8080, { weight: 5 })] };
  const out = await s.r.applyChangesNow({ ...rest, entries: [moved] }, 'reload', 'reload');
  assert.equal(out?.ops, 1);
  assert.equal(s.kernel.table[0]!.dests[0]!.weight, 5);
  assert.equal(keyOf(s.kernel.table[0]!.service.key), keyOf(a.service.key));
  await s.r.stop();
});
