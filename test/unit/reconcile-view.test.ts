/**
 * The kept view rebuilt from a full read a slice at a time (the drift pass at 10,000 x 10): the event loop
 * turns between slices, the view is the old one until the new one is whole, and the result is the view a
 * one-block rebuild gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeptView } from '../../src/reconcile/view.js';
import type { KernelEntry } from '../../src/table/index.js';

function table(services: number, weight: number): KernelEntry[] {
  return Array.from({ length: services }, (_, s) => ({
    service: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `172.16.${s >> 8}.${s & 255}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    dests: Array.from({ length: 10 }, (_, d) => ({
      family: 'ipv4', address: `10.0.${s & 255}.${d + 1}`, port: 8080, forwarding: 'nat', weight,
      upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
      activeConns: 7, inactiveConns: 1, persistentConns: 0,
    })),
  }) as KernelEntry);
}

test('a full read of 10,000 x 10 goes into the view a slice per turn, swapped in whole', async () => {
  const view = new KeptView();
  view.replaceAll(table(10_000, 1));
  const first = 'tcp/172.16.0.0:80';
  let turns = 0;
  const seen: number[] = [];
  const ticker = setInterval(() => {
    turns++;
    seen.push(view.entry(first)!.dests[0]!.weight);
  }, 0);
  await view.replaceAllSliced(table(10_000, 5));
  clearInterval(ticker);
  assert.ok(turns >= 2, `timers ran ${turns} times while 110,000 objects went in`);
  assert.ok(seen.every((w) => w === 1), 'the old view until the new one is whole');
  const once = new KeptView();
  once.replaceAll(table(10_000, 5));
  assert.equal(view.size, 10_000);
  assert.equal(view.objects, 110_000);
  for (const id of [first, 'tcp/172.16.39.15:80']) assert.deepEqual(view.entry(id), once.entry(id));
  assert.equal(view.entry(first)!.dests[0]!.activeConns, 0, 'counters are not kept');
});

test('a real server the kernel accepted is held as the command\'s own object, and a read that finds it unchanged keeps it (one object per real server, not a copy in the view)', () => {
  const view = new KeptView();
  const [e] = table(1, 1);
  view.replaceAll([{ service: e!.service, dests: [] }]);
  const wanted = { ...e!.dests[0]!, weight: 3 };
  const { activeConns: _a, inactiveConns: _i, persistentConns: _p, ...spec } = wanted;
  view.applied({ cmd: 'new-dest', service: e!.service.key, dest: spec });
  const held = () => [...(view as unknown as { services: Map<string, { dests: { values(): readonly object[] } }> }).services.values()][0]!.dests.values()[0];
  assert.equal(held(), spec, 'the command\'s object');
  view.replaceAll([{ service: e!.service, dests: [{ ...wanted, activeConns: 9 }] }]);
  assert.equal(held(), spec, 'read as held: the same object');
  assert.deepEqual(view.entry('tcp/172.16.0.0:80')!.dests, [{ ...spec, activeConns: 0, inactiveConns: 0, persistentConns: 0 }], 'handed out as a kernel real server, counters 0');
  view.replaceAll([{ service: e!.service, dests: [{ ...wanted, weight: 4 }] }]);
  assert.notEqual(held(), spec, 'drifted: the read\'s values');
  assert.equal(view.entry('tcp/172.16.0.0:80')!.dests[0]!.weight, 4);
});
