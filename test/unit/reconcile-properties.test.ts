import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planReconcile, planCommands, type DesiredEntry } from '../../src/reconcile/index.js';
import type { DestSpec, IpvsCommand, KernelEntry, ServiceKey, ServiceSpec } from '../../src/ipvs/types.js';
import { applyCommands, essence, keyOf, type ModelOptions } from './reconcile-model.js';

// Small pools so that desired, kernel and owned collide often.
const V4 = ['192.0.2.10', '192.0.2.11', '192.0.2.12'];
const V6 = ['2001:db8::10', '2001:db8::11'];
const RS4 = ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4'];
const RS6 = ['2001:db8:1::1', '2001:db8:1::2'];
const LOCAL = '10.0.1.4'; // "on the director" in the local-forwarding runs

const keyArb: fc.Arbitrary<ServiceKey> = fc.oneof(
  fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv4' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const), address: fc.constantFrom(...V4), port: fc.constantFrom(80, 443) }),
  fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv6' as const), protocol: fc.constantFrom('tcp' as const, 'sctp' as const), address: fc.constantFrom(...V6), port: fc.constantFrom(80, 443) }),
  fc.record({ kind: fc.constant('fwmark' as const), family: fc.constantFrom('ipv4' as const, 'ipv6' as const), fwmark: fc.integer({ min: 1, max: 3 }) }),
);

const serviceArb: fc.Arbitrary<ServiceSpec> = keyArb.chain((key) =>
  fc.record({
    key: fc.constant(key),
    scheduler: fc.constantFrom('wlc', 'wrr', 'rr', 'mh'),
    flags: fc.constantFrom(0, 1, 4, 1 | 8),
    timeout: fc.constantFrom(0, 300),
    netmask: key.family === 'ipv6' ? fc.constantFrom(128, 64) : fc.constantFrom(0xffffffff, 0xffffff00),
    pe: fc.constantFrom('', 'sip'),
  }),
);

const destArb = (family: 'ipv4' | 'ipv6'): fc.Arbitrary<DestSpec> =>
  fc
    .record({
      address: fc.constantFrom(...(family === 'ipv4' ? RS4 : RS6)),
      port: fc.constantFrom(80, 8080),
      forwarding: fc.constantFrom('nat' as const, 'dr' as const, 'tunnel' as const),
      weight: fc.integer({ min: 0, max: 3 }),
      upperThreshold: fc.constantFrom(0, 100),
      lowerThreshold: fc.constantFrom(0, 10),
      tunnel: fc.constantFrom(['ipip', 0, 0] as const, ['gue', 6080, 1] as const, ['gue', 5555, 0] as const, ['gre', 0, 2] as const),
    })
    .map(({ tunnel, ...d }) => {
      const isTunnel = d.forwarding === 'tunnel';
      return {
        family, ...d,
        tunnelType: isTunnel ? tunnel[0] : 'ipip',
        tunnelPort: isTunnel ? tunnel[1] : 0,
        tunnelFlags: isTunnel ? tunnel[2] : 0,
      };
    });

const entryArb: fc.Arbitrary<DesiredEntry> = serviceArb.chain((service) =>
  fc.record({
    service: fc.constant(service),
    dests: fc.uniqueArray(destArb(service.key.family), { maxLength: 4, selector: (d) => `${d.address}|${d.port}` }),
  }),
);

const tableArb = fc.uniqueArray(entryArb, { maxLength: 6, selector: (e) => keyOf(e.service.key) });

const scenarioArb = fc.record({
  desired: tableArb,
  kernel: tableArb,
  ownedPool: fc.array(keyArb, { maxLength: 4 }),
  ownWholeTable: fc.boolean(),
  local: fc.boolean(),
});

function idOf(k: ServiceKey): string {
  return k.kind === 'fwmark' ? `fwmark/${k.family}/${k.fwmark}` : `${k.protocol}/${k.address.includes(':') ? `[${k.address}]` : k.address}:${k.port}`;
}

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function setup(s: Scenario) {
  const opts: ModelOptions = s.local ? { localAddresses: new Set([LOCAL]) } : {};
  // The kernel table as the kernel would report it: start from empty and let the model build it.
  const build = applyCommands([], s.kernel.flatMap((e) => [
    { cmd: 'new-service' as const, service: e.service },
    ...e.dests.map((d) => ({ cmd: 'new-dest' as const, service: e.service.key, dest: d })),
  ]), opts);
  const kernel: KernelEntry[] = build.table;
  const owned = new Set<string>(s.ownedPool.map(idOf));
  return { opts, kernel, owned, desired: s.desired, ownWholeTable: s.ownWholeTable };
}

const runs = { numRuns: 400 };

/** The service a command is about ('' for timeouts). */
function targetOf(c: IpvsCommand): string {
  switch (c.cmd) {
    case 'new-service':
    case 'set-service':
      return keyOf(c.service.key);
    case 'del-service':
      return keyOf(c.key);
    case 'new-dest':
    case 'set-dest':
    case 'del-dest':
      return keyOf(c.service);
    default:
      return '';
  }
}

test('applying the plan makes every declared service match the declaration, and the kernel accepts every command', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const { opts, kernel, owned, desired, ownWholeTable } = setup(s);
      const plan = planReconcile({ desired, kernel, owned, ownWholeTable });
      const after = applyCommands(kernel, planCommands(plan), opts);
      assert.ok(after.results.every((r) => r.ok), 'a command the kernel would refuse');
      for (const want of desired) {
        const got = after.table.find((e) => keyOf(e.service.key) === keyOf(want.service.key));
        assert.ok(got, `missing ${keyOf(want.service.key)}`);
        assert.deepEqual(essence(got, opts), essence(want, opts));
      }
    }),
    runs,
  );
});

test('planning again after applying plans nothing (apply is idempotent)', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const { opts, kernel, owned, desired, ownWholeTable } = setup(s);
      const first = planReconcile({ desired, kernel, owned, ownWholeTable });
      const after = applyCommands(kernel, planCommands(first), opts).table;
      const second = planReconcile({ desired, kernel: after, owned, ownWholeTable });
      assert.deepEqual(planCommands(second), []);
    }),
    runs,
  );
});

test('services neither declared nor owned stay exactly as they were; owned undeclared ones are gone', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const { opts, kernel, owned, desired, ownWholeTable } = setup(s);
      const plan = planReconcile({ desired, kernel, owned, ownWholeTable });
      const after = applyCommands(kernel, planCommands(plan), opts).table;
      const declared = new Set(desired.map((d) => keyOf(d.service.key)));
      for (const k of kernel) {
        const id = keyOf(k.service.key);
        if (declared.has(id)) continue;
        const got = after.find((e) => keyOf(e.service.key) === id);
        if (ownWholeTable || owned.has(idOf(k.service.key))) assert.equal(got, undefined, `${id} should be removed`);
        else assert.deepEqual(got, k, `${id} was touched`);
      }
    }),
    runs,
  );
});

test('no command repeats, and a declared service is never deleted', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const { kernel, owned, desired, ownWholeTable } = setup(s);
      const plan = planReconcile({ desired, kernel, owned, ownWholeTable });
      const seen = new Set<string>();
      for (const op of plan.ops) {
        const c = op.command;
        const target = targetOf(c);
        const dest = 'dest' in c ? `${c.dest.address}|${c.dest.port}` : '';
        const id = `${target}|${dest}`; // one op per object, whatever the kind
        assert.ok(!seen.has(id), `repeated: ${id}`);
        seen.add(id);
        if (c.cmd === 'del-service') assert.ok(!desired.some((d) => keyOf(d.service.key) === keyOf(c.key)));
      }
    }),
    runs,
  );
});

test('planning a table against itself plans nothing', () => {
  fc.assert(
    fc.property(tableArb, fc.boolean(), (t, ownWholeTable) => {
      const kernel = applyCommands([], t.flatMap((e) => [
        { cmd: 'new-service' as const, service: e.service },
        ...e.dests.map((d) => ({ cmd: 'new-dest' as const, service: e.service.key, dest: d })),
      ])).table;
      assert.deepEqual(planReconcile({ desired: t, kernel, owned: new Set(), ownWholeTable }).ops, []);
    }),
    runs,
  );
});

test('a declared service with real servers before and after never passes through zero real servers', () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const { opts, kernel, owned, desired, ownWholeTable } = setup(s);
      const commands = planCommands(planReconcile({ desired, kernel, owned, ownWholeTable }));
      const watched = desired
        .filter((d) => d.dests.length > 0 && kernel.some((k) => keyOf(k.service.key) === keyOf(d.service.key) && k.dests.length > 0))
        .map((d) => keyOf(d.service.key));
      for (let n = 0; n <= commands.length; n++) {
        const table = applyCommands(kernel, commands.slice(0, n), opts).table;
        for (const id of watched) {
          const e = table.find((x) => keyOf(x.service.key) === id);
          assert.ok(e && e.dests.length > 0, `${id} empty after ${n} commands`);
        }
      }
    }),
    { numRuns: 200 },
  );
});
