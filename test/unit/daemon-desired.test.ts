/**
 * The daemon's desired table: drains on top of health verdicts, and the adoption rule that lets a restarted
 * daemon keep the kernel's table until the health checker has spoken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import type { ServiceConfig } from '../../src/config/types.js';
import { destId, type DestSpec } from '../../src/ipvs/types.js';
import { adoptDests, desiredEntry, drainKey } from '../../src/daemon/desired.js';

function service(extra: Record<string, unknown> = {}): ServiceConfig {
  const config = parseConfig([{
    file: 'services.json',
    text: JSON.stringify({
      services: [{
        name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, forwarding: 'nat',
        healthCheck: { type: 'tcp' },
        realServers: [
          { address: '10.0.1.11', port: 8080, weight: 100 },
          { address: '10.0.1.12', port: 8080, weight: 100 },
          { address: '10.0.1.13', port: 8080, weight: 100 },
        ],
        sorryServer: { address: '10.0.1.99', port: 8080 },
        ...extra,
      }],
    }),
  }]);
  return config.services[0]!;
}

const rs = (svc: ServiceConfig, i: number, weight?: number): DestSpec => ({ ...svc.realServers[i]!.spec, ...(weight !== undefined ? { weight } : {}) });
const weights = (dests: DestSpec[]) => Object.fromEntries(dests.map((d) => [destId(d), d.weight]));

test('a drained real server is desired at weight 0 whatever the health checker wants; others untouched', () => {
  const svc = service();
  const health = [rs(svc, 0), rs(svc, 1, 40)];
  const e = desiredEntry(svc, { healthDests: new Map([['web', health]]), drains: new Set([drainKey('web', rs(svc, 0))]) });
  assert.deepEqual(weights(e.dests), { '10.0.1.11:8080': 0, '10.0.1.12:8080': 40 });
  assert.equal(health[0]!.weight, 100, 'the health list is not mutated');
  assert.deepEqual(weights(desiredEntry(svc).dests), { '10.0.1.11:8080': 100, '10.0.1.12:8080': 100, '10.0.1.13:8080': 100 });
});

test('adoption: without verdicts the kernel weights stand, also against an all-down health list with the sorry server', () => {
  const svc = service();
  // what a fresh checker says before any probe with initialState down: all inhibited, sorry server in
  const health = [rs(svc, 0, 0), rs(svc, 1, 0), rs(svc, 2, 0), { ...svc.sorryServer! }];
  const kernel = [rs(svc, 0, 100), rs(svc, 1, 0), rs(svc, 2, 37)];
  const out = adoptDests(svc, health, { kernel, verdicts: new Set() });
  assert.deepEqual(weights(out), { '10.0.1.11:8080': 100, '10.0.1.12:8080': 0, '10.0.1.13:8080': 37 });
});

test('adoption: a real server with a verdict follows the health checker; the sorry server once all have one', () => {
  const svc = service();
  // the previous daemon had every real server down and the sorry server in; the new checker starts them up
  const kernel = [rs(svc, 0, 0), rs(svc, 1, 0), rs(svc, 2, 0), { ...svc.sorryServer! }];
  const health = [rs(svc, 0, 100), rs(svc, 1, 100), rs(svc, 2, 100)];
  assert.deepEqual(weights(adoptDests(svc, health, { kernel, verdicts: new Set() })),
    { '10.0.1.11:8080': 0, '10.0.1.12:8080': 0, '10.0.1.13:8080': 0, '10.0.1.99:8080': 1 }, 'no verdict: the kernel stands');
  // one real server judged down again: the others still stand at 0, so the sorry server must stay
  const oneDown = [rs(svc, 0, 0), rs(svc, 1, 100), rs(svc, 2, 100)];
  assert.deepEqual(weights(adoptDests(svc, oneDown, { kernel, verdicts: new Set(['10.0.1.11:8080']) })),
    { '10.0.1.11:8080': 0, '10.0.1.12:8080': 0, '10.0.1.13:8080': 0, '10.0.1.99:8080': 1 });
  // every real server judged: the health checker's list, sorry server included or not, is the answer
  const all = new Set(['10.0.1.11:8080', '10.0.1.12:8080', '10.0.1.13:8080']);
  assert.deepEqual(weights(adoptDests(svc, [rs(svc, 0, 0), rs(svc, 1, 100), rs(svc, 2, 0)], { kernel, verdicts: all })),
    { '10.0.1.11:8080': 0, '10.0.1.12:8080': 100, '10.0.1.13:8080': 0 });
  const allDown = [rs(svc, 0, 0), rs(svc, 1, 0), rs(svc, 2, 0), { ...svc.sorryServer! }];
  assert.deepEqual(weights(adoptDests(svc, allDown, { kernel: kernel.slice(0, 3), verdicts: all })),
    { '10.0.1.11:8080': 0, '10.0.1.12:8080': 0, '10.0.1.13:8080': 0, '10.0.1.99:8080': 1 });
});

test('adoption: a real server the kernel lacks stays out until its verdict (it may have been removed as down)', () => {
  const svc = service({ onFailure: 'remove' });
  const health = [rs(svc, 0), rs(svc, 1), rs(svc, 2)];
  const kernel = [rs(svc, 0), rs(svc, 2)];
  assert.deepEqual(Object.keys(weights(adoptDests(svc, health, { kernel, verdicts: new Set() }))), ['10.0.1.11:8080', '10.0.1.13:8080']);
  assert.deepEqual(Object.keys(weights(adoptDests(svc, health, { kernel, verdicts: new Set(['10.0.1.12:8080']) }))),
    ['10.0.1.11:8080', '10.0.1.12:8080', '10.0.1.13:8080']);
});

test('adoption: attributes other than the weight come from the config, not the kernel', () => {
  const svc = service();
  const kernel = [{ ...rs(svc, 0, 5), upperThreshold: 999, forwarding: 'dr' as const }];
  const [d] = adoptDests(svc, [], { kernel, verdicts: new Set() });
  assert.deepEqual(d, { ...rs(svc, 0), weight: 5 });
});
