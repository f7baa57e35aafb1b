/**
 * A daemon's reload compares a config file with the bytes it kept in place (src/config/files.ts
 * readRegular with `same`): an unchanged file gives back those very bytes, with no buffer of the file's
 * size (at 100,000 real servers such buffers, one per reload, forced a full garbage collection every few
 * reloads); any change (in any chunk, grown, shrunk, replaced) gives the new bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPARE_CHUNK, readRegular } from '../../src/config/files.js';
import { ConfigCache, loadConfig } from '../../src/config/index.js';

test('an unchanged file gives back the kept bytes themselves; every kind of change gives the new bytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.json');
  const scratch = Buffer.alloc(1000);
  const original = Buffer.from('x'.repeat(2500)); // three chunks of the scratch, the last one short
  writeFileSync(file, original);
  const kept = await readRegular(file);
  assert.deepEqual(kept, original);
  assert.equal(await readRegular(file, kept, scratch), kept, 'the very buffer: nothing of the file\'s size made');
  for (const [what, bytes] of [
    ['first chunk', Buffer.concat([Buffer.from('y'), original.subarray(1)])],
    ['last byte', Buffer.concat([original.subarray(0, 2499), Buffer.from('y')])],
    ['a chunk boundary', Buffer.concat([original.subarray(0, 1000), Buffer.from('y'), original.subarray(1001)])],
    ['grown', Buffer.concat([original, Buffer.from('y')])],
    ['shrunk', original.subarray(0, 2000)],
    ['emptied', Buffer.alloc(0)],
  ] as const) {
    writeFileSync(file, bytes);
    const got = await readRegular(file, kept, scratch);
    assert.notEqual(got, kept, what);
    assert.deepEqual(got, bytes, what);
  }
  // replaced by another file with the same bytes: the same bytes, kept ones
  writeFileSync(`${file}.new`, original);
  renameSync(`${file}.new`, file);
  assert.equal(await readRegular(file, kept, scratch), kept);
});

test('a reload of an unchanged large file through the ConfigCache reuses the kept bytes (and the config in force)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'services.json');
  const services = Array.from({ length: 1500 }, (_, i) => ({
    name: `s${i}`, protocol: 'tcp', address: `192.0.2.${1 + (i % 250)}`, port: 1000 + i, realServers: [{ address: '10.0.0.1', port: 80 }],
  }));
  writeFileSync(file, JSON.stringify({ services }, null, 2));
  assert.ok(JSON.stringify({ services }, null, 2).length > COMPARE_CHUNK, 'more than one chunk');
  const cache = new ConfigCache();
  const first = await loadConfig(file, { cache });
  const kept = cache.bytesOf(file);
  const again = await loadConfig(file, { cache });
  assert.equal(again, first, 'every file unchanged: the config in force');
  assert.equal(cache.bytesOf(file), kept, 'the kept bytes, not a new copy');
  assert.equal(cache.stats.filesReused, 1);
});
