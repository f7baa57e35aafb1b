/**
 * Duplicate service names and kernel keys, checked on a reload for the changed items alone against what the
 * last build claimed (normaliseServices' ServiceChecks): the outcome is the whole check's, the config or every
 * problem in its order. Random lists of valid services whose names and keys collide often, edited in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigCache, loadConfig } from '../../src/config/index.js';
import { outcome } from './config-outcome.js';

const service = fc.record({
  name: fc.option(fc.constantFrom('web', 'api', 'db'), { nil: undefined }),
  address: fc.constantFrom('192.0.2.1', '192.0.2.2', '192.0.2.3'),
  port: fc.constantFrom(80, 443),
  weight: fc.integer({ min: 1, max: 3 }),
  members: fc.option(fc.constantFrom([{ port: 80 }], [{ port: 443 }, { port: 8443 }]), { nil: undefined }),
}).map(({ name, address, port, weight, members }) => (members
  ? { name: name ?? 'grp', protocol: 'tcp', members: members.map((m) => ({ address, ...m })), realServers: [{ address: '10.0.0.1', port: 80, weight }] }
  : { ...(name !== undefined && { name }), protocol: 'tcp', address, port, realServers: [{ address: '10.0.0.1', port: 80, weight }] }));

test('the changed items checked alone give the whole check\'s outcome: names and keys that collide, in place edits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-checks-'));
  const file = join(dir, 'lvsd.json');
  let alone = 0;
  try {
    await fc.assert(fc.asyncProperty(
      fc.array(service, { minLength: 4, maxLength: 12 }), fc.array(fc.tuple(fc.nat(), fc.option(service, { freq: 6 })), { minLength: 1, maxLength: 8 }),
      async (start, edits) => {
        // a valid list to begin with: its names and keys apart
        const services = start.map((_, i) => ({ name: `s${i}`, protocol: 'tcp', address: '192.0.2.9', port: 1000 + i, realServers: [{ address: '10.0.0.1', port: 80, weight: 1 }] }) as object);
        const cache = new ConfigCache();
        const load = async () => {
          writeFileSync(file, JSON.stringify({ services }));
          assert.deepEqual(await outcome(loadConfig(file, { cache })), await outcome(loadConfig(file)));
          // the memo keeps what the latest build saw, and no more
          assert.equal(cache.services.size, cache.services.reused + cache.services.built);
        };
        await load();
        for (const [at, value] of edits) {
          // an item replaced in place, or now and then removed
          if (value !== null) services[at % services.length] = value;
          else if (services.length > 1) services.splice(at % services.length, 1);
          await load();
        }
        alone += cache.services.checks.incremental;
      },
    ), { numRuns: 200 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(alone > 100, `builds that checked the changed items alone: ${alone}`);
});
