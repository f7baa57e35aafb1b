/**
 * servicesDelta: a reload's services compared with those in force, place by place by identity; a delta
 * only when every service that differs keeps its place, name, kernel key and group, and a small share of
 * the list changed. Over configs the config layer built (reused services are the same objects).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { servicesDelta } from '../../src/daemon/service-delta.js';

const svc = (i: number, over: Record<string, unknown> = {}) => ({
  name: `s${i}`, protocol: 'tcp', address: '192.0.2.20', port: 1000 + i, realServers: [{ address: '10.0.1.1', port: 80, weight: 1 }], ...over,
});
const build = (services: unknown[]): Config => parseConfig([{ file: 'c.json', text: JSON.stringify({ services }) }]);
/** `old` with the services at `at` taken from `other` (as the config layer hands the unchanged ones: the same objects). */
function mix(old: Config, other: Config, at: number[]): Config {
  return { ...old, services: old.services.map((s, i) => (at.includes(i) ? other.services[i]! : s)) };
}

const N = 12;
const base = build(Array.from({ length: N }, (_, i) => svc(i)));

test('services changed in place: those alone, old and new, in list order', () => {
  const edited = build(Array.from({ length: N }, (_, i) => svc(i, { realServers: [{ address: '10.0.1.1', port: 80, weight: 5 }] })));
  const next = mix(base, edited, [7, 2]);
  const d = servicesDelta(base, next)!;
  assert.deepEqual(d.before, [base.services[2], base.services[7]]);
  assert.deepEqual(d.after, [edited.services[2], edited.services[7]]);
  assert.deepEqual(servicesDelta(base, { ...base }), { before: [], after: [] }, 'nothing changed in the services');
});

test('no delta when a service is added, removed, renamed, moved to another key or group, or much of the list changed', () => {
  const cases: Array<[string, Config]> = [
    ['added', build([...Array.from({ length: N }, (_, i) => svc(i)), svc(N)])],
    ['removed', { ...base, services: base.services.slice(1) }],
    ['renamed', mix(base, build(Array.from({ length: N }, (_, i) => svc(i, { name: `t${i}` }))), [3])],
    ['another key', mix(base, build(Array.from({ length: N }, (_, i) => svc(i, { port: 2000 + i }))), [3])],
    ['in another group', { ...base, services: base.services.map((s, i) => (i === 3 ? { ...s, group: { name: 'g', index: 0, size: 1 } } : s)) }],
    ['a quarter changed', mix(base, build(Array.from({ length: N }, (_, i) => svc(i, { scheduler: 'rr' }))), [0, 1, 2, 3])],
  ];
  for (const [what, next] of cases) assert.equal(servicesDelta(base, next), undefined, what);
});

test('given the changed indices (the config layer\'s), the delta is the one a walk of the whole list gives, and so is every refusal', () => {
  const edited = build(Array.from({ length: N }, (_, i) => svc(i, { realServers: [{ address: '10.0.1.1', port: 80, weight: 5 }] })));
  const next = mix(base, edited, [2, 7]);
  assert.deepEqual(servicesDelta(base, next, [2, 7]), servicesDelta(base, next));
  assert.deepEqual(servicesDelta(base, next, [2, 7])!.after, [edited.services[2], edited.services[7]]);
  const renamed = mix(base, build(Array.from({ length: N }, (_, i) => svc(i, { name: `t${i}` }))), [3]);
  assert.equal(servicesDelta(base, renamed, [3]), undefined, 'renamed');
  const quarter = mix(base, build(Array.from({ length: N }, (_, i) => svc(i, { scheduler: 'rr' }))), [0, 1, 2, 3]);
  assert.equal(servicesDelta(base, quarter, [0, 1, 2, 3]), undefined, 'a quarter changed');
});
