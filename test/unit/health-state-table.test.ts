/**
 * The scheduler's health states as columns (src/health/state-table.ts) against the representation they
 * replace, one RealServerState object per probe: any run of probe results, runs told by the addon, slots
 * freed and taken again, leaves in each slot exactly the object the old representation held, and the pure
 * functions read the same from either.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { StateTable } from '../../src/health/state-table.js';
import {
  applyProbe, applyRun, effectiveWeight, initialState, nextRampAt, statusOf, type ProbeResult, type RealServerState,
} from '../../src/health/index.js';

const result: fc.Arbitrary<ProbeResult> = fc.oneof(
  fc.record({
    ok: fc.constant(true), latencyMs: fc.double({ min: 0, max: 5000, noNaN: true }), reason: fc.constantFrom('connected', 'status 200', 'up 75%'),
    weightPercent: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }), weight: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
    drain: fc.option(fc.boolean(), { nil: undefined }),
  }, { requiredKeys: ['ok', 'latencyMs', 'reason'] }),
  fc.record({
    ok: fc.constant(false), latencyMs: fc.double({ min: 0, max: 5000, noNaN: true }), reason: fc.constantFrom('connect ECONNREFUSED', 'timeout after 1000ms', 'maint'),
    maint: fc.option(fc.boolean(), { nil: undefined }),
  }, { requiredKeys: ['ok', 'latencyMs', 'reason'] }),
);

/** One step on probe `i` (of those alive): a result, a run told by the addon, a free, or a new probe. */
const step = fc.oneof(
  fc.record({ kind: fc.constant('probe' as const), i: fc.nat(), r: result, dt: fc.integer({ min: 0, max: 60_000 }) }),
  fc.record({ kind: fc.constant('run' as const), i: fc.nat(), r: result, run: fc.integer({ min: 1, max: 6 }), dt: fc.integer({ min: 0, max: 60_000 }) }),
  fc.record({ kind: fc.constant('free' as const), i: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), up: fc.boolean() }),
);

test('a slot holds what the object per probe held, through results, runs, frees and reuse (property)', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 80 }), fc.array(step, { maxLength: 300 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 30 }),
    (n0, steps, rise, fall, slowStart) => {
      const table = new StateTable();
      const rf = { rise, fall };
      let now = 1_700_000_000_000;
      const live: Array<{ slot: number; s: RealServerState }> = [];
      const add = (up: boolean): void => {
        const s = initialState(up ? 'up' : 'down', now);
        live.push({ slot: table.alloc(s), s });
      };
      for (let k = 0; k < n0; k++) add(k % 2 === 0);
      for (const st of steps) {
        if (st.kind === 'add') {
          add(st.up);
          continue;
        }
        if (live.length === 0) continue;
        const at = st.i % live.length;
        const p = live[at]!;
        if (st.kind === 'free') {
          table.free(p.slot);
          live.splice(at, 1);
          continue;
        }
        now += st.dt;
        // the scheduler folds a result into the flyweight read, then stores what comes out
        const out = st.kind === 'probe' ? applyProbe(table.read(p.slot), st.r, rf, now) : applyRun(table.read(p.slot), st.r, st.run, rf, now);
        const old = st.kind === 'probe' ? applyProbe(p.s, st.r, rf, now) : applyRun(p.s, st.r, st.run, rf, now);
        assert.deepEqual(out, old);
        table.set(p.slot, out.state);
        p.s = old.state;
      }
      assert.equal(table.size, live.length);
      for (const { slot, s } of live) {
        assert.deepEqual(table.get(slot), s);
        const r = table.read(slot);
        assert.equal(table.up(slot), s.up);
        assert.equal(statusOf(r), statusOf(s));
        assert.equal(effectiveWeight(r, 7, slowStart, now + 1234), effectiveWeight(s, 7, slowStart, now + 1234));
        assert.equal(nextRampAt(r, 7, slowStart, now + 1234), nextRampAt(s, 7, slowStart, now + 1234));
      }
    },
  ), { numRuns: 300 });
});

test('a freed slot is taken again before the table grows, and a fresh state leaves nothing of the one before', () => {
  const table = new StateTable();
  const a = table.alloc({ ...initialState('up', 5), weightPercent: 50, dynamicWeight: 3, lastProbeAt: 9, lastResult: { ok: true, latencyMs: 1, reason: 'x' } });
  table.alloc(initialState('down', 6));
  table.free(a);
  const c = table.alloc(initialState('down', 7));
  assert.equal(c, a);
  assert.deepEqual(table.get(c), initialState('down', 7));
  assert.equal(table.size, 2);
});
