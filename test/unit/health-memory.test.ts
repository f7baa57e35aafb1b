/**
 * What the health checker keeps per real server, and what a change costs (issue #11 item 3: RSS at 10,000
 * and 100,000 real servers). The lists are recomputed incrementally and the records share V8 hidden
 * classes; these tests pin that down, and that the lists are exactly what the policy says.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ServiceConfig } from '../../src/config/types.js';
import { computeDesired } from '../../src/health/build.js';
import type { Job, ServiceEntry } from '../../src/health/job.js';
import { destSpec } from '../../src/table/index.js';
import type { RealServerConfig } from '../../src/config/types.js';
import { StateTable } from '../../src/health/state-table.js';
import { desiredDests, diffDests, effectiveWeight, initialState, type DestChange } from '../../src/health/index.js';
import { destId, type DestSpec } from '../../src/table/index.js';

describe('per-real-server records share their hidden classes', () => {
  test('health states, the lists, status, the config\'s checks and the kept view: one class each at 2,000 real servers', () => {
    const child = fileURLToPath(new URL('./hidden-classes-child.js', import.meta.url));
    const out = JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', child], { encoding: 'utf8' })) as {
      realServers: number; listed: number; viewed: number; classes: Record<string, number>;
      shared: { servicesArrays: number; targetsNotSpecs: number; longestKey: number };
    };
    assert.equal(out.realServers, 2000);
    assert.equal(out.listed, 2000);
    assert.equal(out.viewed, 2000);
    // before: a spread copy with a field added gave each state and each check a class of its own (50+ here)
    for (const [kind, n] of Object.entries(out.classes)) assert.ok(n <= 2, `${kind}: ${n} hidden classes for 2,000 records`);
  });

  test('what the probes of 2,000 real servers share: one users array per service, the config\'s destinations as targets, short keys', () => {
    const child = fileURLToPath(new URL('./hidden-classes-child.js', import.meta.url));
    const out = JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', child], { encoding: 'utf8' })) as {
      shared: { servicesArrays: number; targetsNotSpecs: number; longestKey: number };
    };
    assert.equal(out.shared.servicesArrays, 20, 'an array of users per service, not per probe');
    assert.equal(out.shared.targetsNotSpecs, 0, 'no target object of its own per probe');
    // before: ~130 characters, the check's every field as JSON per probe
    assert.ok(out.shared.longestKey <= 60, `keys up to ${out.shared.longestKey} characters`);
  });
});

const dest = (i: number, weight: number): DestSpec => ({
  family: 'ipv4', address: `10.0.${i >> 8}.${i & 255}`, port: 80 + (i % 3), forwarding: 'nat', weight,
  upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
});

/** The diff as it was written before its in-place path: by address:port through maps. */
function diffByMaps(before: readonly DestSpec[], after: readonly DestSpec[]): DestChange[] {
  const old = new Map(before.map((d) => [destId(d), d]));
  const out: DestChange[] = [];
  for (const d of after) {
    const prev = old.get(destId(d));
    if (!prev) out.push({ kind: 'add', dest: d });
    else if (JSON.stringify(prev) !== JSON.stringify(d)) out.push({ kind: 'update', dest: d, before: prev });
    old.delete(destId(d));
  }
  for (const d of old.values()) out.push({ kind: 'remove', dest: d });
  return out;
}

/**
 * The list as it was computed with an object per real server (`{ rs, job, dest }`, before ServiceEntry's
 * arrays by index): the reference the arrays are held to, entry objects' reuse included.
 */
function byMembers(config: ServiceConfig, members: Array<{ rs: RealServerConfig; up: boolean; weight: number; dest?: DestSpec }>): DestSpec[] {
  let up = 0;
  for (const m of members) if (m.up) up++;
  const quorumMet = config.quorum === undefined || up >= config.quorum.minUp;
  const dests: DestSpec[] = [];
  for (const m of members) {
    let weight: number;
    if (m.up && quorumMet) weight = m.weight;
    else if (config.onFailure === 'inhibit') weight = 0;
    else continue;
    const last = m.dest;
    if (last !== undefined && last.weight === weight) dests.push(last);
    else dests.push((m.dest = weight === m.rs.spec.weight ? m.rs.spec : destSpec(m.rs.spec, weight)));
  }
  if ((quorumMet ? up : 0) === 0 && config.sorryServer !== undefined) dests.push(config.sorryServer);
  return dests;
}

const arbState = fc.record({ up: fc.boolean(), upAgo: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }), percent: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }), drain: fc.boolean() });

describe('a service\'s list recomputed after each batch of outcomes', () => {
  test('is what desiredDests says, and reuses the entries whose weight did not change (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 12 }), fc.constantFrom('inhibit', 'remove'), fc.integer({ min: 0, max: 10 }),
      fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), fc.boolean(), fc.boolean(),
      fc.array(fc.array(arbState, { minLength: 12, maxLength: 12 }), { minLength: 1, maxLength: 6 }),
      (n, onFailure, slowStart, minUp, sorry, duplicate, rounds) => {
        const realServers = Array.from({ length: n }, (_, i) => ({ spec: dest(duplicate && i === n - 1 ? 0 : i, 1 + (i % 5)) }));
        const config = {
          name: 's', onFailure, slowStart, realServers,
          ...(minUp !== undefined && { quorum: { minUp } }), ...(sorry && { sorryServer: dest(200, 1) }),
        } as unknown as ServiceConfig;
        const states = new StateTable();
        const svc: ServiceEntry = { config, jobs: realServers.map(() => ({ slot: states.alloc(initialState('down', 0)) }) as Job), dests: undefined, desired: undefined! };
        const members = realServers.map((rs) => ({ rs: rs as RealServerConfig, up: false, weight: 0, dest: undefined as DestSpec | undefined }));
        let previous = computeDesired(svc, states, 0).dests;
        let previousOld = byMembers(config, members);
        rounds.forEach((round, k) => {
          const now = 1000 * (k + 1) * 1000;
          svc.jobs.forEach((job, i) => {
            const s = round[i]!;
            states.set(job.slot, { ...initialState(s.up ? 'up' : 'down', 0), ...(s.upAgo !== undefined && { upSince: now - s.upAgo }), weightPercent: s.percent, drain: s.drain });
            members[i]!.up = s.up;
            members[i]!.weight = effectiveWeight(states.get(job.slot), realServers[i]!.spec.weight, slowStart, now);
          });
          const got = computeDesired(svc, states, now);
          const want = desiredDests(config, svc.jobs.map((job, i) => ({
            spec: realServers[i]!.spec, up: states.get(job.slot).up,
            weight: effectiveWeight(states.get(job.slot), realServers[i]!.spec.weight, slowStart, now),
          })));
          assert.deepEqual(got, want);
          if (!duplicate) {
            // the same entries as an object per real server gave: equal, and the same ones reused or made anew
            const old = byMembers(config, members);
            assert.deepEqual(got.dests, old);
            const reused = (list: DestSpec[], prev: DestSpec[]) => list.map((d) => prev.includes(d) ? 'reused' : realServers.some((rs) => rs.spec === d) ? 'configured' : 'made');
            assert.deepEqual(reused(got.dests, previous), reused(old, previousOld));
            previousOld = old;
          }
          // an entry whose weight is the same is the previous list's object (what the change costs is what changed)
          const before = new Map(previous.map((d) => [destId(d), d]));
          for (const d of got.dests) {
            const p = before.get(destId(d));
            if (p && p.weight === d.weight && !duplicate && d !== config.sorryServer) assert.equal(d, p, `${destId(d)} reused`);
          }
          assert.deepEqual(diffDests(previous, got.dests), diffByMaps(previous, got.dests));
          previous = got.dests;
        });
      },
    ), { numRuns: 300 });
  });

  test('diffDests agrees with a diff by maps on any two lists (property)', () => {
    const list = fc.uniqueArray(fc.record({ i: fc.integer({ min: 0, max: 15 }), w: fc.integer({ min: 0, max: 3 }) }), { selector: (x) => x.i, maxLength: 10 })
      .map((xs) => xs.map(({ i, w }) => dest(i, w)));
    fc.assert(fc.property(list, list, (a, b) => assert.deepEqual(diffDests(a, b), diffByMaps(a, b))));
  });
});
