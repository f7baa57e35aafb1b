/**
 * The users of each probe (the (service, real server) pairs its result is counted for) follow the config
 * in force: after a reload that changed services in place, the patched map answers as one built from the
 * new config would; and the map never keeps a config the daemon switched away from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import type { Config, HealthCheckConfig, RealServerConfig, ServiceConfig } from '../../src/config/types.js';
import { probeTarget } from '../../src/health/check-key.js';
import { ProbeUsers } from '../../src/daemon/probe-users.js';
import { servicesDelta } from '../../src/daemon/service-delta.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CHECKS: HealthCheckConfig[] = [
  { type: 'tcp', interval: 2, timeout: 1, rise: 1, fall: 2 } as unknown as HealthCheckConfig,
  { type: 'tcp', interval: 5, timeout: 1, rise: 2, fall: 3 } as unknown as HealthCheckConfig,
];

/** Checks are per real server once normalised (address and port filled in): one object per (check, address). */
const checks = new Map<string, HealthCheckConfig>();
function checkOf(address: string, check: number): HealthCheckConfig {
  const k = `${address} ${check}`;
  let c = checks.get(k);
  if (!c) checks.set(k, (c = { ...CHECKS[check]!, address, port: 8080 }));
  return c;
}

function realServer(address: number, check: number): RealServerConfig {
  const a = `10.1.0.${address}`;
  return { spec: { address: a, port: 8080, weight: 1, forwarding: 'nat' }, healthCheck: checkOf(a, check) } as unknown as RealServerConfig;
}

function service(i: number, rs: Array<[number, number]>): ServiceConfig {
  return {
    name: `s${i}`,
    spec: { key: { kind: 'inet', protocol: 'tcp', address: `10.0.0.${i + 1}`, port: 80 } },
    realServers: rs.map(([a, c]) => realServer(a, c)),
  } as unknown as ServiceConfig;
}

const config = (services: ServiceConfig[]): Config => ({ services } as unknown as Config);

/** Every probe's users in `c`, as the metrics see them: "key -> sorted service/realServer pairs". */
function answers(users: ProbeUsers, c: Config): string[] {
  const out: string[] = [];
  for (const s of c.services) {
    for (const rs of s.realServers) {
      const u = users.of(rs.healthCheck, probeTarget(rs)).map((x) => `${x.service}/${x.realServer}`).sort();
      out.push(`${rs.spec.address} ${rs.healthCheck.interval}: ${u.join(' ')}`);
    }
  }
  return out.sort();
}

const rsList = fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1 })), { maxLength: 4 })
  .map((l) => [...new Map(l.map(([a, c]) => [a, [a, c] as [number, number]])).values()]);

test('after an in-place reload the patched users are those of a map built from the new config', () => {
  fc.assert(fc.property(
    fc.array(rsList, { minLength: 4, maxLength: 12 }),
    fc.array(fc.tuple(fc.nat(), rsList), { minLength: 1, maxLength: 3 }),
    (lists, edits) => {
      const old = config(lists.map((l, i) => service(i, l)));
      const services = [...old.services];
      for (const [at, l] of edits) services[at % services.length] = service(at % services.length, l);
      const next = config(services);
      let inForce = old;
      const users = new ProbeUsers(() => inForce);
      answers(users, old); // the map made for the old config, as probes before the reload would
      const delta = servicesDelta(old, next);
      inForce = next;
      users.switched(old, next, delta);
      assert.deepEqual(answers(users, next), answers(new ProbeUsers(() => next), next));
    },
  ), { numRuns: 300 });
});

test('the map keeps no config it was switched away from', async () => {
  let inForce = config([service(0, [[1, 0], [2, 0]])]);
  const ref = new WeakRef(inForce);
  const users = new ProbeUsers(() => inForce);
  answers(users, inForce);
  // a switch the map was not told about (no switched() call) must not keep it either
  inForce = config([service(0, [[3, 0]])]);
  for (let i = 0; i < 3 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.equal(ref.deref(), undefined, 'the old config is still held');
  assert.deepEqual(answers(users, inForce), ['10.1.0.3 2: s0/10.1.0.3:8080']);
});
