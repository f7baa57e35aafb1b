/**
 * The pure per-real-server state: rise/fall, flapping, agent and exec weights, drain and maint, the slow-start
 * ramp on a virtual clock, and the agent reply parser.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  applyProbe, applyRun, effectiveWeight, initialState, nextRampAt, parseAgentReply, rampWeight, SLOW_START_STEPS, statusOf,
  type ProbeResult, type RealServerState,
} from '../../src/health/index.js';

const ok = (extra: Partial<ProbeResult> = {}): ProbeResult => ({ ok: true, latencyMs: 1, reason: 'status 200', ...extra });
const bad = (reason = 'connect ECONNREFUSED', extra: Partial<ProbeResult> = {}): ProbeResult => ({ ok: false, latencyMs: 1, reason, ...extra });

function feed(s: RealServerState, results: ProbeResult[], rf = { rise: 2, fall: 3 }, t0 = 0) {
  const transitions: string[] = [];
  let t = t0;
  for (const r of results) {
    t += 1000;
    const out = applyProbe(s, r, rf, t);
    s = out.state;
    if (out.transition) transitions.push(`${out.transition.from}->${out.transition.to}:${out.transition.reason}@${t}`);
  }
  return { s, transitions };
}

describe('rise and fall', () => {
  test('a server starts down and needs `rise` consecutive successes to go up', () => {
    const s0 = initialState('down', 0);
    assert.equal(statusOf(s0), 'down');
    const one = feed(s0, [ok()]);
    assert.equal(one.s.up, false);
    const two = feed(s0, [ok(), ok()]);
    assert.deepEqual(two.transitions, ['down->up:status 200@2000']);
    assert.equal(two.s.since, 2000);
  });

  test('a failure between successes restarts the rise count', () => {
    assert.equal(feed(initialState('down', 0), [ok(), bad(), ok()]).s.up, false);
    assert.equal(feed(initialState('down', 0), [ok(), bad(), ok(), ok()]).s.up, true);
  });

  test('initialState up starts up and needs `fall` consecutive failures to go down, with the last reason', () => {
    const s0 = initialState('up', 0);
    assert.equal(feed(s0, [bad(), bad()]).s.up, true);
    const r = feed(s0, [bad('status 503'), bad('status 503'), bad('timeout after 2000ms')]);
    assert.deepEqual(r.transitions, ['up->down:timeout after 2000ms@3000']);
    assert.equal(r.s.reason, 'timeout after 2000ms');
  });

  test('a flapping server (alternating) never changes state with rise 2 / fall 3', () => {
    const flap = Array.from({ length: 50 }, (_, i) => (i % 2 ? bad() : ok()));
    assert.deepEqual(feed(initialState('up', 0), flap).transitions, []);
    assert.deepEqual(feed(initialState('down', 0), flap).transitions, []);
  });

  test('rise 1 / fall 1 follows every result', () => {
    const r = feed(initialState('down', 0), [ok(), bad(), ok()], { rise: 1, fall: 1 });
    assert.equal(r.transitions.length, 3);
  });

  test('property: the state changes only after rise successes or fall failures in a row', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 60 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), (seq, rise, fall) => {
        let s = initialState('down', 0);
        let run = 0;
        let last: boolean | undefined;
        seq.forEach((good, i) => {
          run = good === last ? run + 1 : 1;
          last = good;
          const out = applyProbe(s, good ? ok() : bad(), { rise, fall }, i);
          if (out.transition) {
            assert.equal(out.transition.to === 'up', good);
            assert.ok(run >= (good ? rise : fall));
          }
          s = out.state;
        });
      }),
    );
  });
});

describe('runs told by the addon', () => {
  test('property: a told run folds as before (applyProbe over its counts) but keeps no last result or probe time: the addon keeps them', () => {
    // applyRun as it was: the run's earlier outcomes as counts, then the told one through applyProbe
    const before = (s: RealServerState, r: ProbeResult, run: number, rf: { rise: number; fall: number }, now: number) =>
      applyProbe({ ...s, successes: r.ok ? Math.max(0, run - 1) : 0, failures: r.ok ? 0 : Math.max(0, run - 1) }, r, rf, now);
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 6 })), { maxLength: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.boolean(),
      (runs, rise, fall, startUp) => {
        let told = initialState(startUp ? 'up' : 'down', 0);
        let t = 0;
        for (const [good, n] of runs) {
          const r = good ? ok() : bad();
          const want = before(told, r, n, { rise, fall }, ++t);
          const got = applyRun(told, r, n, { rise, fall }, t);
          assert.deepEqual(got, { ...want, state: { ...want.state, lastResult: undefined, lastProbeAt: undefined } });
          told = got.state;
        }
      },
    ));
  });
});

describe('weights, drain, maint', () => {
  test('the agent share applies to the configured weight and sticks until changed', () => {
    let s = feed(initialState('up', 0), [ok({ weightPercent: 75 })]).s;
    assert.equal(effectiveWeight(s, 200, 0, 0), 150);
    s = feed(s, [ok()]).s;
    assert.equal(effectiveWeight(s, 200, 0, 0), 150, '`up` without a percentage keeps the share');
    s = feed(s, [ok({ weightPercent: 10 })]).s;
    assert.equal(effectiveWeight(s, 200, 0, 0), 20);
    assert.equal(effectiveWeight(feed(s, [ok({ weightPercent: 1 })]).s, 10, 0, 0), 1, 'never rounds a live share to 0');
  });

  test('drain keeps the server up with weight 0, at once; a later plain success undrains', () => {
    const out = applyProbe(initialState('up', 0), ok({ drain: true }), { rise: 2, fall: 3 }, 1);
    assert.deepEqual(out.transition, { from: 'up', to: 'drain', reason: 'status 200' });
    assert.equal(effectiveWeight(out.state, 100, 0, 1), 0);
    assert.equal(out.state.up, true);
    assert.equal(statusOf(applyProbe(out.state, ok(), { rise: 2, fall: 3 }, 2).state), 'up');
  });

  test('maint takes the server down at once, without waiting for fall', () => {
    const out = applyProbe(initialState('up', 0), bad('agent maint', { maint: true }), { rise: 2, fall: 3 }, 1);
    assert.deepEqual(out.transition, { from: 'up', to: 'maint', reason: 'agent maint' });
    assert.equal(effectiveWeight(out.state, 100, 0, 1), 0);
  });

  test('an exec dynamic weight replaces the configured weight; exit 0 restores it', () => {
    let s = feed(initialState('up', 0), [ok({ weight: 7 })]).s;
    assert.equal(effectiveWeight(s, 100, 0, 0), 7);
    s = feed(s, [ok()]).s;
    assert.equal(effectiveWeight(s, 100, 0, 0), 100);
  });

  test('a weight-only change is reported as such', () => {
    const out = applyProbe(initialState('up', 0), ok({ weightPercent: 50 }), { rise: 2, fall: 3 }, 1);
    assert.equal(out.transition, undefined);
    assert.equal(out.weightChanged, true);
    assert.equal(applyProbe(out.state, ok({ weightPercent: 50 }), { rise: 2, fall: 3 }, 2).weightChanged, false);
  });

  test('down is weight 0', () => {
    assert.equal(effectiveWeight(initialState('down', 0), 100, 0, 0), 0);
  });
});

describe('slow start', () => {
  test('after recovery the weight ramps from 1 to the configured weight in at most 10 steps over slowStart', () => {
    const s = feed(initialState('down', 0), [ok(), ok()]).s; // up at t=2000
    assert.equal(s.upSince, 2000);
    const slowStart = 60; // seconds
    const weights: Array<[number, number]> = [];
    let t = 2000;
    for (;;) {
      weights.push([t - 2000, effectiveWeight(s, 100, slowStart, t)]);
      const next = nextRampAt(s, 100, slowStart, t);
      if (next === undefined) break;
      assert.ok(next > t);
      t = next;
    }
    assert.deepEqual(weights, [
      [0, 1], [6000, 10], [12000, 20], [18000, 30], [24000, 40], [30000, 50],
      [36000, 60], [42000, 70], [48000, 80], [54000, 90], [60000, 100],
    ]);
    assert.equal(effectiveWeight(s, 100, slowStart, 2000 + 3000), 1, 'between steps the weight holds');
  });

  test('a server that started up does not ramp; slowStart 0 means at once', () => {
    assert.equal(effectiveWeight(initialState('up', 0), 100, 60, 1), 100);
    const s = feed(initialState('down', 0), [ok(), ok()]).s;
    assert.equal(effectiveWeight(s, 100, 0, 2000), 100);
  });

  test('property: the ramp is monotonic, starts >= 1, ends at the target, has at most SLOW_START_STEPS changes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0.5, max: 600, noNaN: true }), (target, slowStart) => {
        let prev = rampWeight(target, 0, slowStart);
        assert.ok(prev >= 1);
        let changes = 0;
        const total = slowStart * 1000;
        for (let i = 1; i <= 200; i++) {
          const w = rampWeight(target, i === 200 ? total : (total * i) / 200, slowStart);
          assert.ok(w >= prev && w <= target);
          if (w !== prev) changes++;
          prev = w;
        }
        assert.equal(prev, target);
        assert.ok(changes <= SLOW_START_STEPS);
      }),
    );
  });

  test('property: following nextRampAt visits every weight change and terminates', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 120 }), (weight, slowStart) => {
        const s: RealServerState = { ...initialState('up', 0), upSince: 0 };
        let t = 0;
        let hops = 0;
        for (let next = nextRampAt(s, weight, slowStart, t); next !== undefined; next = nextRampAt(s, weight, slowStart, t)) {
          assert.ok(effectiveWeight(s, weight, slowStart, next - 1) === effectiveWeight(s, weight, slowStart, t));
          t = next;
          assert.ok(++hops <= SLOW_START_STEPS);
        }
        assert.equal(effectiveWeight(s, weight, slowStart, t), weight);
      }),
    );
  });
});

describe('agent replies', () => {
  const cases: Array<[string, Partial<ReturnType<typeof parseAgentReply>>]> = [
    ['75%', { ok: true, weightPercent: 75 }],
    ['up 50%', { ok: true, weightPercent: 50 }],
    ['UP,25%', { ok: true, weightPercent: 25 }],
    ['drain', { ok: true, drain: true }],
    ['ready', { ok: true }],
    ['maint', { ok: false, maint: true }],
    ['down', { ok: false }],
    ['fail #db unreachable', { ok: false, reason: 'agent fail #db unreachable' }],
    ['stopped', { ok: false }],
    ['drain ready', { ok: true }],
    ['5000%', { ok: true, weightPercent: 1000 }],
  ];
  for (const [line, want] of cases) {
    test(`'${line}'`, () => {
      const got = parseAgentReply(line);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof typeof got], v, k);
      if (want.drain === undefined) assert.equal(got.drain, undefined);
    });
  }
});
