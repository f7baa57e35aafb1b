/** The per-service policy: inhibit vs remove, quorum, the sorry server coming and going, and the diff. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { DestSpec } from '../../src/ipvs/types.js';
import { desiredDests, diffDests, type RealServerView, type ServicePolicy } from '../../src/health/index.js';

const dest = (last: number, weight = 100): DestSpec => ({
  family: 'ipv4', address: `10.0.1.${last}`, port: 80, forwarding: 'nat', weight,
  upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
});
const sorry = dest(250, 1);
const view = (last: number, up: boolean, weight = 100): RealServerView => ({ spec: dest(last), up, weight });
const summary = (ds: DestSpec[]) => ds.map((d) => `${d.address.split('.')[3]}:${d.weight}`);

describe('inhibit and remove', () => {
  test('inhibit keeps a down server with weight 0; remove leaves it out', () => {
    const servers = [view(1, true, 60), view(2, false)];
    assert.deepEqual(summary(desiredDests({ onFailure: 'inhibit' }, servers).dests), ['1:60', '2:0']);
    assert.deepEqual(summary(desiredDests({ onFailure: 'remove' }, servers).dests), ['1:60']);
  });
});

describe('sorry server', () => {
  const policy: ServicePolicy = { onFailure: 'remove', sorryServer: sorry };
  test('added when no real server is up, removed when one comes back', () => {
    const allDown = desiredDests(policy, [view(1, false), view(2, false)]);
    assert.equal(allDown.sorryActive, true);
    assert.deepEqual(summary(allDown.dests), ['250:1']);
    const oneBack = desiredDests(policy, [view(1, true), view(2, false)]);
    assert.equal(oneBack.sorryActive, false);
    assert.deepEqual(summary(oneBack.dests), ['1:100']);
    const changes = diffDests(allDown.dests, oneBack.dests);
    assert.deepEqual(changes.map((c) => `${c.kind} ${summary([c.dest])[0]}`).sort(), ['add 1:100', 'remove 250:1']);
  });

  test('with inhibit, the inhibited servers stay at weight 0 beside the sorry server', () => {
    const r = desiredDests({ ...policy, onFailure: 'inhibit' }, [view(1, false), view(2, false)]);
    assert.deepEqual(summary(r.dests), ['1:0', '2:0', '250:1']);
  });

  test('a drained server is still up: no sorry server', () => {
    assert.equal(desiredDests(policy, [view(1, true, 0)]).sorryActive, false);
  });

  test('no sorry server configured: nothing is added', () => {
    assert.deepEqual(desiredDests({ onFailure: 'remove' }, [view(1, false)]).dests, []);
  });
});

describe('quorum', () => {
  const policy: ServicePolicy = { onFailure: 'inhibit', sorryServer: sorry, quorum: { minUp: 2 } };
  test('below minUp every real server is withdrawn and the sorry server serves', () => {
    const r = desiredDests(policy, [view(1, true), view(2, false), view(3, false)]);
    assert.equal(r.quorumMet, false);
    assert.equal(r.up, 1);
    assert.deepEqual(summary(r.dests), ['1:0', '2:0', '3:0', '250:1']);
  });

  test('at minUp the up servers serve and the sorry server goes', () => {
    const r = desiredDests(policy, [view(1, true), view(2, true), view(3, false)]);
    assert.equal(r.quorumMet, true);
    assert.deepEqual(summary(r.dests), ['1:100', '2:100', '3:0']);
  });

  test('with remove, a lost quorum leaves only the sorry server', () => {
    const r = desiredDests({ ...policy, onFailure: 'remove' }, [view(1, true), view(2, false)]);
    assert.deepEqual(summary(r.dests), ['250:1']);
  });
});

describe('diff', () => {
  test('reports only what changed', () => {
    const a = [dest(1), dest(2), dest(3)];
    const b = [dest(1), dest(2, 50), dest(4)];
    const c = diffDests(a, b).map((x) => `${x.kind} ${x.dest.address}`);
    assert.deepEqual(c.sort(), ['add 10.0.1.4', 'remove 10.0.1.3', 'update 10.0.1.2']);
  });

  test('property: the same list has no changes; applying a diff reproduces the target', () => {
    const list = fc.uniqueArray(fc.record({ last: fc.integer({ min: 1, max: 20 }), weight: fc.integer({ min: 0, max: 5 }) }), {
      selector: (x) => x.last,
      maxLength: 10,
    }).map((xs) => xs.map((x) => dest(x.last, x.weight)));
    fc.assert(
      fc.property(list, list, (a, b) => {
        assert.deepEqual(diffDests(b, b), []);
        const m = new Map(a.map((d) => [d.address, d]));
        for (const ch of diffDests(a, b)) {
          if (ch.kind === 'remove') m.delete(ch.dest.address);
          else m.set(ch.dest.address, ch.dest);
        }
        const sort = (ds: DestSpec[]) => [...ds].sort((x, y) => x.address.localeCompare(y.address));
        assert.deepEqual(sort([...m.values()]), sort(b));
      }),
    );
  });

  test('property: the sorry server is present exactly when no real server serves', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 8 }), fc.integer({ min: 0, max: 4 }), fc.constantFrom('inhibit' as const, 'remove' as const), (ups, minUp, onFailure) => {
        const r = desiredDests({ onFailure, sorryServer: sorry, quorum: { minUp } }, ups.map((u, i) => view(i + 1, u)));
        const serving = r.dests.filter((d) => d.address !== sorry.address && d.weight > 0).length;
        assert.equal(r.dests.some((d) => d.address === sorry.address), serving === 0);
      }),
    );
  });
});
