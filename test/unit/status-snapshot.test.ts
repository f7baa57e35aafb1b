import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  healthLoopStatus, persistenceStatus, serviceFlagNames, serviceForwarding, statsToStatus, uptimeSeconds,
} from '../../src/daemon/status.js';
import type { ServiceSpec } from '../../src/ipvs/types.js';
import { fixtureSnapshot } from './status-fixture.js';

test('a hung health checker loop shows as not alive once its last tick is too old', () => {
  const base = { startedAtMs: 0, maxLagMs: 15_000, probesInFlight: 4 };
  const fresh = healthLoopStatus({ ...base, nowMs: 100_000, lastTickAtMs: 99_000 });
  assert.deepEqual(fresh, { alive: true, lastTickAt: new Date(99_000).toISOString(), lagMs: 1000, probesInFlight: 4 });
  const hung = healthLoopStatus({ ...base, nowMs: 100_000, lastTickAtMs: 80_000 });
  assert.equal(hung.alive, false);
  assert.equal(hung.lagMs, 20_000);
  // never ticked: fine just after start, hung later
  assert.equal(healthLoopStatus({ ...base, nowMs: 5_000, lastTickAtMs: null }).alive, true);
  assert.deepEqual(healthLoopStatus({ ...base, nowMs: 60_000, lastTickAtMs: null }),
    { alive: false, lastTickAt: null, lagMs: null, probesInFlight: 4 });
});

test('kernel stats become plain numbers that survive JSON', () => {
  const big = 2n ** 40n;
  const st = statsToStatus({ conns: 7n, inpkts: big, outpkts: 1n, inbytes: big * 1500n, outbytes: 0n, cps: 3n, inpps: 0n, outpps: 0n, inbps: 12n, outbps: 0n });
  assert.ok(st);
  assert.equal(st.inpkts, 2 ** 40);
  assert.equal(st.inbytes, 2 ** 40 * 1500);
  assert.deepEqual(JSON.parse(JSON.stringify(st)), st);
  assert.equal(statsToStatus(undefined), null);
});

test('the fixture snapshot round-trips through JSON unchanged (no bigint, no undefined)', () => {
  const s = fixtureSnapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
});

test('flag names, persistence and forwarding as the status shows them', () => {
  const spec = (flags: number, scheduler: string, family: 'ipv4' | 'ipv6' = 'ipv4'): ServiceSpec => ({
    key: family === 'ipv4' ? { kind: 'addr', family, protocol: 'tcp', address: '192.0.2.1', port: 80 }
      : { kind: 'fwmark', family, fwmark: 3 },
    scheduler, flags, timeout: 300, netmask: family === 'ipv4' ? 0xffffff00 : 64, pe: '',
  });
  assert.deepEqual(serviceFlagNames(spec(0x1 | 0x8 | 0x10, 'sh')), ['persistent', 'sh-fallback', 'sh-port']);
  assert.deepEqual(serviceFlagNames(spec(0x4 | 0x8, 'wrr')), ['one-packet', 'sched-flag-1']);
  assert.deepEqual(serviceFlagNames(spec(0, 'rr')), []);
  assert.deepEqual(persistenceStatus(spec(0x1, 'wlc')), { timeout: 300, netmask: '255.255.255.0', pe: null });
  assert.deepEqual(persistenceStatus(spec(0x1, 'wlc', 'ipv6')), { timeout: 300, netmask: '/64', pe: null });
  assert.equal(persistenceStatus(spec(0, 'wlc')), null);
  assert.equal(serviceForwarding(['dr', 'dr']), 'dr');
  assert.equal(serviceForwarding(['dr', 'nat']), 'mixed');
  assert.equal(serviceForwarding([]), null);
  assert.equal(uptimeSeconds(1_000, 62_999), 61);
});
