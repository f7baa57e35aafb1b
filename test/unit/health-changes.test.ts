/**
 * A reload that changed some services in place (same names) is built from those services alone
 * (prepareChanges): the scheduler it leaves is the one a build of the whole list leaves, probes, their
 * states and users, the services' entries and lists, and what it does afterwards. A property over random
 * configs whose services share real servers, random probe outcomes and random edits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { HealthCheckConfig, HealthGlobalConfig, ServiceConfig } from '../../src/config/types.js';
import type { DestSpec } from '../../src/table/index.js';
import { HealthScheduler, ManualClock, type Prober } from '../../src/health/index.js';
import type { Job, ServiceEntry } from '../../src/health/job.js';
import type { StateTable } from '../../src/health/state-table.js';

const health: HealthGlobalConfig = { execUser: 'nobody', maxConcurrent: 1024, execOutputLimit: 4096 };
const POOL = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'];

interface RsShape { address: string; weight: number; check: 'tcp5' | 'tcp10' | 'none' }
interface SvcShape { servers: RsShape[]; initialState: 'up' | 'down'; slowStart: number; inhibit: boolean; sorry: boolean }

const rsArb = fc.record({
  address: fc.constantFrom(...POOL), weight: fc.integer({ min: 1, max: 3 }), check: fc.constantFrom('tcp5' as const, 'tcp10' as const, 'none' as const),
});
const svcArb: fc.Arbitrary<SvcShape> = fc.record({
  servers: fc.uniqueArray(rsArb, { minLength: 1, maxLength: 4, selector: (r) => r.address }),
  initialState: fc.constantFrom('up' as const, 'down' as const),
  slowStart: fc.constantFrom(0, 0, 20),
  inhibit: fc.boolean(),
  sorry: fc.boolean(),
});

function dest(address: string, weight: number): DestSpec {
  return { family: 'ipv4', address, port: 80, forwarding: 'nat', weight, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}

function check(address: string, kind: RsShape['check']): HealthCheckConfig {
  return { type: kind === 'none' ? 'none' : 'tcp', interval: kind === 'tcp10' ? 10 : 5, timeout: 2, rise: 2, fall: 2, address, port: 80 } as HealthCheckConfig;
}

function service(i: number, s: SvcShape): ServiceConfig {
  return {
    name: `s${i}`,
    origin: { file: 'test.json', pointer: `/services/${i}` },
    spec: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 1000 + i }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    realServers: s.servers.map((r) => ({ spec: dest(r.address, r.weight), healthCheck: check(r.address, r.check) })),
    onFailure: s.inhibit ? 'inhibit' : 'remove',
    slowStart: s.slowStart,
    initialState: s.initialState,
    ...(s.sorry ? { sorryServer: dest('10.9.9.9', 1) } : {}),
  } as ServiceConfig;
}

/** A scheduler on its own clock, whose prober answers by address from `down`, with every change it emits. */
function scheduler(services: ServiceConfig[], down: Set<string>) {
  const clock = new ManualClock(1_000_000);
  const events: string[] = [];
  const prober: Prober = async (c) => (down.has(c.address) ? { ok: false, latencyMs: 1, reason: 'refused' } : { ok: true, latencyMs: 1, reason: 'ok' });
  const s = new HealthScheduler({ services, health }, {
    clock, prober, onChange: (name, dests) => events.push(`${name}: ${dests.map((d) => `${d.address}=${d.weight}`).join(' ')}`),
  });
  s.start();
  return { s, clock, events };
}

/** Everything the scheduler holds that a build decides, as plain data. */
function describe(s: HealthScheduler): unknown {
  const inner = s as unknown as { jobs: Map<string, Job>; states: StateTable; lists: { entries: Map<string, ServiceEntry> } };
  return {
    jobs: [...inner.jobs].map(([key, j]) => ({
      key, services: [...j.services], state: inner.states.get(j.slot), offsetMs: j.offsetMs, due: j.turn?.due, alive: j.alive, queued: j.turn?.queueIndex !== undefined,
    })),
    entries: [...inner.lists.entries].map(([name, e]) => ({
      name, config: e.config.origin.pointer, members: e.jobs.map((j, i) => [j.key, e.config.realServers[i]!.spec.weight]), desired: e.desired, ramp: e.rampTimer !== undefined,
    })),
  };
}

test('a build of the services changed in place leaves the scheduler a build of the whole list leaves, and it runs on the same', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(svcArb, { minLength: 2, maxLength: 8 }),
    fc.array(fc.record({
      edits: fc.array(fc.tuple(fc.nat(), svcArb), { minLength: 1, maxLength: 3 }),
      down: fc.subarray(POOL),
      ms: fc.integer({ min: 0, max: 12_000 }),
    }), { minLength: 1, maxLength: 4 }),
    async (shapes, steps) => {
      let services = shapes.map((sh, i) => service(i, sh));
      const down = new Set<string>();
      const whole = scheduler(services, down);
      const changes = scheduler(services, down);
      for (const step of steps) {
        down.clear();
        for (const a of step.down) down.add(a);
        await whole.clock.advance(step.ms);
        await changes.clock.advance(step.ms);
        const next = [...services];
        const changed = new Map<number, ServiceConfig>();
        for (const [at, sh] of step.edits) changed.set(at % next.length, service(at % next.length, sh));
        for (const [i, svc] of changed) next[i] = svc;
        whole.s.update({ services: next, health });
        const prepared = changes.s.prepareChanges([...changed.keys()].sort((a, b) => a - b).map((i) => next[i]!), health);
        assert.ok(prepared, 'every changed service runs: the change is built alone');
        changes.s.commit(prepared);
        assert.deepEqual(describe(changes.s), describe(whole.s));
        services = next;
      }
      await whole.clock.advance(15_000);
      await changes.clock.advance(15_000);
      assert.deepEqual(describe(changes.s), describe(whole.s));
      assert.deepEqual(changes.events, whole.events);
      await whole.s.stop();
      await changes.s.stop();
    },
  ), { numRuns: 150 });
});

test('a change naming a service that does not run is not built alone', () => {
  const down = new Set<string>();
  const { s } = scheduler([service(0, { servers: [{ address: '10.0.0.1', weight: 1, check: 'tcp5' }], initialState: 'up', slowStart: 0, inhibit: true, sorry: false })], down);
  const other = { ...service(1, { servers: [{ address: '10.0.0.2', weight: 1, check: 'tcp5' }], initialState: 'up', slowStart: 0, inhibit: true, sorry: false }) };
  assert.equal(s.prepareChanges([other], health), undefined);
  void s.stop();
});

test('the states\' slots follow the running probes: a reload given up gives back those it took, a probe removed gives back its own', async () => {
  const down = new Set<string>();
  const shape = (addresses: string[]): SvcShape => ({ servers: addresses.map((address) => ({ address, weight: 1, check: 'tcp5' as const })), initialState: 'up', slowStart: 0, inhibit: true, sorry: false });
  const { s, clock } = scheduler([service(0, shape(['10.0.0.1', '10.0.0.2'])), service(1, shape(['10.0.0.3']))], down);
  const inner = s as unknown as { jobs: Map<string, Job>; states: StateTable };
  assert.equal(inner.states.size, 3);
  // three reloads given up (another part refused the config): each made new probes, none was committed
  for (let k = 0; k < 3; k++) {
    s.prepare({ services: [service(0, shape(['10.0.0.4', '10.0.0.5'])), service(1, shape(['10.0.0.6', '10.0.0.1']))], health });
    assert.ok(s.prepareChanges([service(1, shape(['10.0.0.6']))], health));
  }
  const given = s.prepare({ services: [service(0, shape(['10.0.0.4']))], health });
  const kept = s.prepare({ services: [service(0, shape(['10.0.0.5', '10.0.0.1']))], health });
  assert.throws(() => s.commit(given), /another prepare\(\) has replaced/);
  s.commit(kept);
  assert.equal(inner.jobs.size, 2);
  assert.equal(inner.states.size, 2, 'one slot per running probe: none left by the builds given up or the probes removed');
  await clock.advance(12_000);
  assert.deepEqual(s.upServers('s0'), ['10.0.0.5:80', '10.0.0.1:80']);
  await s.stop();
});
