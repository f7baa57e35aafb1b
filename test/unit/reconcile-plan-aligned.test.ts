/**
 * The planner's in-place path (plan.ts planAligned): a service whose kernel real servers are the wanted
 * ones in the same order is planned without id maps, and must plan exactly what the general path plans.
 * The general path is reached by the same kernel table in another order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { planReconcile } from '../../src/reconcile/plan.js';
import type { DesiredEntry, DestSpec, KernelDest, KernelEntry, ServiceSpec } from '../../src/table/index.js';

const service = (i: number, scheduler: string): ServiceSpec => ({
  key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `192.0.2.${i + 1}`, port: 80 }, scheduler, flags: 0, timeout: 0, netmask: 0xffffffff, pe: '',
});
const dest = (i: number, weight: number, upper: number): DestSpec => ({
  family: 'ipv4', address: `10.0.0.${i + 1}`, port: 8080, forwarding: 'nat', weight,
  upperThreshold: upper, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
});
const kernelDest = (d: DestSpec): KernelDest => ({ ...d, activeConns: 3, inactiveConns: 1, persistentConns: 0 });

const arbService = fc.record({
  scheduler: fc.constantFrom('wrr', 'rr'), kernelScheduler: fc.constantFrom('wrr', 'rr'),
  dests: fc.array(fc.record({ w: fc.integer({ min: 0, max: 3 }), kw: fc.integer({ min: 0, max: 3 }), u: fc.integer({ min: 0, max: 1 }) }), { maxLength: 8 }),
  seed: fc.integer(),
});

describe('planning a service the kernel holds in the wanted order', () => {
  test('plans what the general path plans (property)', () => {
    fc.assert(fc.property(fc.array(arbService, { minLength: 1, maxLength: 4 }), (svcs) => {
      const desired: DesiredEntry[] = svcs.map((s, i) => ({ service: service(i, s.scheduler), dests: s.dests.map((d, j) => dest(j, d.w, d.u)) }));
      const kernel = (shuffle: boolean): KernelEntry[] => svcs.map((s, i) => {
        const dests = s.dests.map((d, j) => kernelDest(dest(j, d.kw, 0)));
        if (shuffle && dests.length > 1) dests.push(dests.shift()!); // another order: the general path
        return { service: service(i, s.kernelScheduler), dests };
      });
      const input = (shuffle: boolean) => ({ desired, kernel: kernel(shuffle), owned: new Set<string>(), ownWholeTable: false });
      const inPlace = planReconcile(input(false));
      const general = planReconcile(input(true));
      assert.deepEqual(inPlace, general);
      // and it is right: applying the edits gives the wanted weights and thresholds
      assert.ok(inPlace.ops.every((op) => op.action === 'change'));
    }), { numRuns: 300 });
  });
});
