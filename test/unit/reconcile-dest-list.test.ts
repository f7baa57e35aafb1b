/**
 * The kept view's list of a service's real servers (reconcile/dest-list.ts) against what it replaced, a Map
 * keyed by canonicalDestId: any sequence of set, delete and find leaves the same entries in the same order
 * and finds the same ones, whatever the address text (IPv6 spelled in capitals or with zeros), below and
 * above the size at which the list keeps an index.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DestList, INDEXED } from '../../src/reconcile/dest-list.js';
import { KeptView } from '../../src/reconcile/view.js';
import { canonicalDestId, canonicalServiceId, type DestSpec, type KernelEntry } from '../../src/table/index.js';

/** Spellings of a few IPv6 addresses (several texts for one address) and enough IPv4 ones to pass INDEXED. */
const V6 = ['2001:db8::1', '2001:DB8::1', '2001:db8:0::1', '2001:0db8::1', '2001:db8::2', '2001:DB8::2', 'fe80::a', 'FE80::A'];
const V4 = Array.from({ length: INDEXED + 20 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);

const destArb: fc.Arbitrary<DestSpec> = fc.record({
  address: fc.oneof(fc.constantFrom(...V6), fc.constantFrom(...V4)),
  port: fc.constantFrom(80, 8080),
  weight: fc.integer({ min: 0, max: 5 }),
}).map(({ address, port, weight }) => ({
  family: address.includes(':') ? 'ipv6' : 'ipv4', address, port, forwarding: 'nat', weight,
  upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
}) as DestSpec);

type Op = { op: 'set' | 'delete' | 'find'; dest: DestSpec };
const opArb: fc.Arbitrary<Op> = fc.record({ op: fc.constantFrom('set' as const, 'set' as const, 'set' as const, 'delete' as const, 'find' as const), dest: destArb });

test('a DestList behaves as a Map keyed by canonicalDestId: same entries, same order, same finds', () => {
  fc.assert(fc.property(fc.array(destArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 400 }), (initial, ops) => {
    const map = new Map<string, DestSpec>();
    for (const d of initial) if (!map.has(canonicalDestId(d))) map.set(canonicalDestId(d), d);
    const list = DestList.of(initial);
    for (const { op, dest } of ops) {
      const id = canonicalDestId(dest);
      if (op === 'set') {
        map.set(id, dest);
        list.set(dest);
      } else if (op === 'delete') {
        map.delete(id);
        list.delete(dest);
      } else {
        assert.equal(list.find(dest), map.get(id));
      }
      assert.equal(list.size, map.size);
    }
    assert.deepEqual([...list.values()], [...map.values()]);
    for (const d of list.values()) assert.equal(list.find(d), d);
  }), { numRuns: 300 });
});

test('a DestList of more than INDEXED real servers finds, replaces and removes by index, in order', () => {
  const dests = V4.map((address, i) => ({
    family: 'ipv4', address, port: 80, forwarding: 'nat', weight: i, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  }) as DestSpec);
  const list = DestList.of(dests);
  assert.equal(list.size, V4.length);
  const edited = { ...dests[70]!, weight: 99 };
  list.set(edited);
  assert.equal(list.values()[70], edited, 'replaced where it stood');
  list.delete(dests[3]!);
  assert.equal(list.size, V4.length - 1);
  assert.equal(list.find(dests[3]!), undefined);
  assert.equal(list.values()[69], edited, 'the others keep their order');
  assert.equal(list.find({ address: V4[80]!, port: 80 }), dests[80]);
});

/** The view's read before DestList (a Map per service keyed by canonicalDestId): the reference for KeptView.replaceAll. */
function referenceRead(kernel: readonly KernelEntry[], before: Map<string, Map<string, DestSpec>>): Map<string, Map<string, DestSpec>> {
  const same = (a: DestSpec, b: DestSpec) => a.address === b.address && a.port === b.port && a.weight === b.weight;
  const out = new Map<string, Map<string, DestSpec>>();
  for (const e of kernel) {
    const id = canonicalServiceId(e.service.key);
    if (out.has(id)) continue;
    const had = before.get(id);
    const dests = new Map<string, DestSpec>();
    for (const d of e.dests) {
      const did = canonicalDestId(d);
      if (dests.has(did)) continue;
      const old = had?.get(did);
      dests.set(did, old !== undefined && same(old, d) ? old : d);
    }
    out.set(id, dests);
  }
  return out;
}

const serviceArb = fc.record({ address: fc.constantFrom('192.0.2.1', '192.0.2.2'), port: fc.constantFrom(80, 443) });

test('the view read twice (drift passes) holds what the Map-based view held: the same real servers in the same order, the held objects kept where unchanged', () => {
  const entriesArb = fc.array(fc.record({ service: serviceArb, dests: fc.array(destArb, { maxLength: 90 }) }), { maxLength: 4 });
  fc.assert(fc.property(entriesArb, entriesArb, fc.boolean(), (first, second, reorder) => {
    const kernel = (list: typeof first): KernelEntry[] => list.map(({ service, dests }) => ({
      service: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: service.address, port: service.port }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
      dests: dests.map((d) => ({ ...d, activeConns: 0, inactiveConns: 0, persistentConns: 0 })),
    }));
    const view = new KeptView();
    const a = kernel(first);
    view.replaceAll(a);
    const held = (v: KeptView, id: string) => v.plannable(id)?.dests;
    // the second read: another table, or the first again (in order or reversed), as a drift pass finds it
    const b = second.length > 0 ? kernel(second) : a.map((e) => ({ ...e, dests: reorder ? [...e.dests].reverse() : [...e.dests] }));
    const before = new Map([...view.ids()].map((id) => [id, new Map(held(view, id)!.map((d) => [canonicalDestId(d), d]))]));
    view.replaceAll(b);
    const want = referenceRead(b, before);
    assert.deepEqual([...view.ids()], [...want.keys()]);
    for (const [id, dests] of want) {
      const got = held(view, id)!;
      assert.equal(got.length, dests.size);
      [...dests.values()].forEach((d, i) => {
        assert.equal(got[i]!.address, d.address);
        assert.equal(got[i]!.port, d.port);
        assert.equal(got[i]!.weight, d.weight);
        // an object the view held before and read unchanged is kept (identity), else the read's values
        const was = before.get(id)?.get(canonicalDestId(d));
        assert.equal(got[i] === was, d === was);
      });
    }
  }), { numRuns: 200 });
});
