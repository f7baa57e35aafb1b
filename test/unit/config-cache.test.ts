/**
 * A reload costs what changed (issue #11 item 1): loadConfig with a ConfigCache reuses the parse and schema
 * check of every file whose bytes are unchanged and the normalised result of every unchanged service, and
 * checks what crosses files and services afresh. Its result is the one a load without the cache gives,
 * problems included, and a file is never trusted by its size or mtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigCache, loadConfig, realServerOrigin, type Config } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';
import { outcome } from './config-outcome.js';

const service = (i: number, weight = 1) => ({
  protocol: 'tcp', address: `192.0.2.${i}`, port: 80,
  realServers: [{ address: `10.0.0.${i}`, port: 8080, weight }, { address: `10.0.1.${i}`, port: 8080, weight: 5 }],
});

function withDir(files: Record<string, unknown>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-cache-'));
  for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(value));
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}


/** Loads with the cache and without; asserts both give the same outcome, and returns it. */
async function same(dir: string, cache: ConfigCache): Promise<unknown> {
  const cached = await outcome(loadConfig(dir, { cache }));
  assert.deepEqual(cached, await outcome(loadConfig(dir)));
  return cached;
}

test('a reload reads every file but parses and normalises only what changed: one file, one service', async () => {
  const files: Record<string, unknown> = { '00-global.json': { ipvs: { driftInterval: '60s' } } };
  for (let f = 1; f <= 5; f++) files[`${f}.json`] = { services: [service(f * 10), service(f * 10 + 1)] };
  await withDir(files, async (dir) => {
    const cache = new ConfigCache();
    await same(dir, cache);
    assert.deepEqual(cache.stats, { filesReused: 0, filesPatched: 0, filesRead: 6, itemsReused: 0, itemsBuilt: 10 });
    await same(dir, cache);
    assert.deepEqual(cache.stats, { filesReused: 6, filesPatched: 0, filesRead: 6, itemsReused: 10, itemsBuilt: 0 });
    writeFileSync(join(dir, '3.json'), JSON.stringify({ services: [service(30, 77), service(31)] }));
    const r = await same(dir, cache) as { config: Config };
    assert.deepEqual(cache.stats, { filesReused: 5, filesPatched: 1, filesRead: 6, itemsReused: 9, itemsBuilt: 1 });
    assert.equal(r.config.services.find((s) => s.realServers[0]!.spec.address === '10.0.0.30')!.realServers[0]!.spec.weight, 77);
  });
});

test('a file rewritten in place with the same size and mtime is read as new: a changed weight is loaded, a broken value refused at its pointer', async () => {
  await withDir({ 'a.json': { services: [service(1, 10)] }, 'b.json': { services: [service(2, 20)] } }, async (dir) => {
    const b = join(dir, 'b.json');
    // whole seconds, so the restored mtime is exactly the one the cache saw
    utimesSync(b, 1_700_000_000, 1_700_000_000);
    const cache = new ConfigCache();
    await loadConfig(dir, { cache });
    const rewrite = (from: string, to: string) => {
      const before = statSync(b);
      const text = readFileSync(b, 'utf8');
      assert.equal(from.length, to.length);
      assert.ok(text.includes(from));
      writeFileSync(b, text.replace(from, to));
      utimesSync(b, 1_700_000_000, 1_700_000_000);
      const after = statSync(b);
      assert.equal(after.size, before.size);
      assert.equal(after.mtimeMs, before.mtimeMs);
    };
    rewrite('"weight":20', '"weight":90');
    const r = await same(dir, cache) as { config: Config };
    assert.equal(r.config.services[1]!.realServers[0]!.spec.weight, 90);

    rewrite('"weight":90', '"weight":-9');
    await assert.rejects(loadConfig(dir, { cache }), (e: unknown) => {
      assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'));
      assert.deepEqual((e.details as Array<{ file: string; pointer: string }>).map((p) => [p.file, p.pointer]), [[b, '/services/0/realServers/0/weight']]);
      return true;
    });
    await same(dir, cache);
  });
});

test('what crosses files is checked on every load: a duplicate of an unchanged file\'s service is refused naming both', async () => {
  await withDir({ 'a.json': { services: [{ ...service(1), name: 'web' }] }, 'b.json': { services: [service(2)] } }, async (dir) => {
    const cache = new ConfigCache();
    await same(dir, cache);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ services: [{ ...service(1), name: 'web' }] }));
    const r = await same(dir, cache) as { details: Array<{ file: string; message: string }> };
    assert.deepEqual(r.details.map((p) => [p.file, p.message]), [
      [join(dir, 'b.json'), `duplicate service name "web" (also ${join(dir, 'a.json')} /services/0)`],
      [join(dir, 'b.json'), `duplicate service tcp/192.0.2.1:80 (also ${join(dir, 'a.json')} /services/0)`],
    ]);
    assert.equal(cache.stats.itemsReused, 1, 'a.json\'s service was reused and still took part in the check');
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ services: [service(2)] }));
    assert.ok('config' in (await same(dir, cache) as object));
  });
});

test('a reused service keeps reporting its own problems, and a changed health default rebuilds the checks that use it', async () => {
  const exec = { ...service(3), healthCheck: { type: 'exec', command: ['/bin/true'] } };
  const bad = { ...service(4), scheduler: 'wrr', schedulerFlags: ['sh-port'] };
  await withDir({ 'a.json': { health: { execUser: 'nobody' } }, 'b.json': { services: [exec, bad] } }, async (dir) => {
    const cache = new ConfigCache();
    const first = await same(dir, cache) as { details: Array<{ pointer: string }> };
    assert.deepEqual(first.details.map((p) => p.pointer), ['/services/1/schedulerFlags/0']);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ services: [exec, bad, service(5)] }));
    const again = await same(dir, cache) as { details: Array<{ pointer: string }> };
    assert.deepEqual(again.details.map((p) => p.pointer), ['/services/1/schedulerFlags/0'], 'the reused item still reports it');
    assert.equal(cache.stats.itemsReused, 2);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ services: [exec] }));
    const ok = await same(dir, cache) as { config: Config };
    assert.equal(ok.config.services[0]!.realServers[0]!.healthCheck.type === 'exec' && ok.config.services[0]!.realServers[0]!.healthCheck.user, 'nobody');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ health: { execUser: 'daemon' } }));
    const other = await same(dir, cache) as { config: Config };
    assert.equal(other.config.services[0]!.realServers[0]!.healthCheck.type === 'exec' && other.config.services[0]!.realServers[0]!.healthCheck.user, 'daemon');
    assert.equal(cache.stats.itemsBuilt, 1);
  });
});

test('a service that moved (another index, another file) is built again: its origin names where it is now', async () => {
  await withDir({ 'a.json': { services: [service(1), service(2)] }, 'b.json': { services: [service(3)] } }, async (dir) => {
    const cache = new ConfigCache();
    await same(dir, cache);
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ services: [service(2)] }));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ services: [service(3), service(1)] }));
    const r = await same(dir, cache) as { config: Config };
    assert.deepEqual(r.config.services.map((s) => [s.origin.file, s.origin.pointer, realServerOrigin(s, 0).pointer]), [
      [join(dir, 'a.json'), '/services/0', '/services/0/realServers/0'],
      [join(dir, 'b.json'), '/services/0', '/services/0/realServers/0'],
      [join(dir, 'b.json'), '/services/1', '/services/1/realServers/0'],
    ]);
  });
});

test('a single file: a one-weight edit rebuilds one service; bad JSON is refused with line and column and the next good load still reuses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-cache-'));
  try {
    const file = join(dir, 'lvsd.json');
    const services = Array.from({ length: 20 }, (_, i) => service(i + 1));
    writeFileSync(file, JSON.stringify({ services }));
    const cache = new ConfigCache();
    await same(file, cache);
    services[7] = service(8, 42);
    writeFileSync(file, JSON.stringify({ services }));
    const r = await same(file, cache) as { config: Config };
    assert.deepEqual(cache.stats, { filesReused: 0, filesPatched: 1, filesRead: 1, itemsReused: 19, itemsBuilt: 1 });
    assert.equal(r.config.services[7]!.realServers[0]!.spec.weight, 42);
    writeFileSync(file, JSON.stringify({ services }).slice(0, -3));
    const broken = await same(file, cache) as { code: string; message: string };
    assert.equal(broken.code, 'LVSD_CONFIG_UNREADABLE');
    assert.match(broken.message, /lvsd\.json:1:\d+: not valid JSON/);
    writeFileSync(file, JSON.stringify({ services }));
    await same(file, cache);
    assert.equal(cache.stats.itemsBuilt, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every file unchanged: the config in force is handed out again, not built, and the host checks still run on it', async () => {
  const vi = { name: 'vi', interface: 'eth0', vrid: 7, addresses: ['192.0.2.7'], acceptMode: false };
  await withDir({ 'a.json': { services: [service(1), service(2)] }, 'b.json': { vrrp: [vi] } }, async (dir) => {
    const tools = mkdtempSync(join(tmpdir(), 'lvsd-tools-'));
    const path = process.env['PATH'];
    try {
      writeFileSync(join(tools, 'nft'), '#!/bin/sh\n', { mode: 0o755 });
      process.env['PATH'] = `${tools}:${path ?? ''}`;
      const cache = new ConfigCache();
      const first = await loadConfig(dir, { cache, hostChecks: true });
      const again = await loadConfig(dir, { cache, hostChecks: true });
      assert.equal(again, first, 'the very config');
      assert.deepEqual(cache.stats, { filesReused: 2, filesPatched: 0, filesRead: 2, itemsReused: 2, itemsBuilt: 0 });
      assert.deepEqual(again, await loadConfig(dir, { hostChecks: true }), 'what a fresh load gives');
      // nft gone from the host: the same files are refused at the instance that needs it
      process.env['PATH'] = join(tools, 'none');
      await assert.rejects(loadConfig(dir, { cache, hostChecks: true }), (e: unknown) => {
        assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'));
        assert.deepEqual((e.details as Array<{ file: string; pointer: string }>).map((p) => [p.file, p.pointer]), [[join(dir, 'b.json'), '/vrrp/0/acceptMode']]);
        return true;
      });
      // a changed file is built again
      writeFileSync(join(dir, 'a.json'), JSON.stringify({ services: [service(1, 9), service(2)] }));
      process.env['PATH'] = `${tools}:${path ?? ''}`;
      const changed = await loadConfig(dir, { cache, hostChecks: true });
      assert.notEqual(changed, first);
      assert.equal(changed.services[1], first.services[1], 'the unchanged service is the same object');
      assert.equal(changed.services[0]!.realServers[0]!.spec.weight, 9);
    } finally {
      process.env['PATH'] = path;
      rmSync(tools, { recursive: true, force: true });
    }
  });
});
