/**
 * A daemon's reload compares a config file with the bytes it kept in place (src/config/files.ts
 * reread): an unchanged file gives back those very bytes, with no buffer of the file's
 * size (at 100,000 real servers such buffers, one per reload, forced a full garbage collection every few
 * reloads); any change (in any chunk, grown, shrunk, replaced) gives the new bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPARE_CHUNK, readRegular, reread, type KeptRead } from '../../src/config/files.js';
import { ConfigCache, loadConfig } from '../../src/config/index.js';

/** A KeptRead over `same` with one spare of its own (made on the first change, as the ConfigCache does); `during`: runs when the read asks for a spare. */
function keptOver(same: Buffer, scratch: Buffer, during?: () => void) {
  const made: Buffer[] = [];
  const kept: KeptRead = {
    same, scratch,
    spare: (size, make) => {
      during?.();
      const have = made.at(-1);
      if (have !== undefined && have.length >= size) return have;
      if (!make) return undefined;
      made.push(Buffer.alloc(size + 7));
      return made.at(-1);
    },
  };
  return { kept, made };
}

const prefixOf = (a: Buffer, b: Buffer) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};

test('an unchanged file gives back the kept bytes themselves; every kind of change gives the new bytes and the start they share', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.json');
  const scratch = Buffer.alloc(1000);
  const original = Buffer.from('x'.repeat(2500)); // three chunks of the scratch, the last one short
  writeFileSync(file, original);
  const kept = await readRegular(file);
  assert.deepEqual(kept, original);
  for (const withSpare of [false, true]) {
    const { kept: k, made } = keptOver(kept, scratch);
    if (withSpare) k.spare(4000, true);
    const same = await reread(file, k);
    assert.equal(same.bytes, kept, 'the very buffer: nothing of the file\'s size made');
    assert.equal(made.length, withSpare ? 1 : 0, 'no spare made for an unchanged file');
    for (const [what, bytes] of [
      ['first chunk', Buffer.concat([Buffer.from('y'), original.subarray(1)])],
      ['last byte', Buffer.concat([original.subarray(0, 2499), Buffer.from('y')])],
      ['a chunk boundary', Buffer.concat([original.subarray(0, 1000), Buffer.from('y'), original.subarray(1001)])],
      ['a spare chunk boundary', Buffer.concat([original.subarray(0, COMPARE_CHUNK > 2000 ? 2000 : COMPARE_CHUNK), Buffer.from('yy')])],
      ['grown', Buffer.concat([original, Buffer.from('y')])],
      ['grown past the spare', Buffer.concat([original, Buffer.alloc(3000, 'z')])],
      ['shrunk', original.subarray(0, 2000)],
      ['emptied', Buffer.alloc(0)],
    ] as const) {
      writeFileSync(file, bytes);
      const got = await reread(file, k);
      assert.notEqual(got.bytes, kept, what);
      assert.deepEqual(got.bytes, bytes, what);
      assert.equal(got.prefix, prefixOf(kept, bytes), what);
      assert.ok(made.every((m) => m.buffer !== kept.buffer), 'the kept bytes are never written to');
      assert.deepEqual(kept, original, 'the kept bytes are whole');
    }
    assert.ok(made.length <= 2, `spares made: ${made.length} (one, and one more for the file that outgrew it)`);
    // replaced by another file with the same bytes: the same bytes, kept ones
    writeFileSync(`${file}.new`, original);
    renameSync(`${file}.new`, file);
    assert.equal((await reread(file, k)).bytes, kept);
  }
});

test('a file truncated or rewritten while it is read is read again as it is now', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.json');
  const original = Buffer.from('x'.repeat(5000));
  writeFileSync(file, original);
  const kept = await readRegular(file);
  const edited = Buffer.concat([original.subarray(0, 3000), Buffer.from('y'), original.subarray(3001)]);
  const after = Buffer.from('{"services":[]}');
  for (const withSpare of [false, true]) {
    writeFileSync(file, edited);
    let writes = 0;
    // the writer truncates and rewrites the file in the middle of the read (when it asks for a spare)
    const { kept: k } = keptOver(kept, Buffer.alloc(1000), () => {
      if (writes++ === (withSpare ? 0 : 1)) truncateSync(file, 0);
      if (writes === (withSpare ? 2 : 3)) writeFileSync(file, after);
    });
    if (withSpare) k.spare(8000, true);
    writes = 0;
    const got = await reread(file, k);
    assert.ok(writes >= 2, 'the file was written to during the read');
    assert.deepEqual(got.bytes, after, `never a mix of two versions (spare: ${withSpare})`);
    assert.equal(got.prefix, prefixOf(kept, after));
  }
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

test('reloads read a changed file into a spare, never into the bytes the cache keeps: after edits, a refused version and the good one again, the kept bytes are the last good file\'s', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'services.json');
  const services = Array.from({ length: 400 }, (_, i) => ({
    protocol: 'tcp', address: `192.0.2.${1 + (i % 250)}`, port: 1000 + i, realServers: [{ address: '10.0.0.1', port: 80, weight: 1 }],
  }));
  const text = () => Buffer.from(JSON.stringify({ services }, null, 2));
  const cache = new ConfigCache();
  const load = async (what: string) => {
    const bytes = text();
    writeFileSync(file, bytes);
    const got = await loadConfig(file, { cache });
    assert.deepEqual(got, await loadConfig(file), what);
    assert.deepEqual(cache.bytesOf(file), bytes, `${what}: the kept bytes are the file's`);
    return got;
  };
  await load('first');
  await cache.scanned;
  for (let k = 0; k < 4; k++) {
    services[k * 97]!.realServers[0]!.weight = 10 + k;
    await load(`edit ${k}`);
    assert.equal(cache.stats.filesPatched, 1);
  }
  const good = cache.bytesOf(file)!;
  const goodCopy = Buffer.from(good);
  // a version that is not JSON: refused, and read into the spare, not over the kept bytes
  writeFileSync(file, Buffer.concat([good.subarray(0, 5000), Buffer.from('}}'), good.subarray(5000)]));
  await assert.rejects(loadConfig(file, { cache }), /not valid JSON/);
  assert.deepEqual(good, goodCopy, 'the kept bytes are whole');
  // the good version again: the very bytes kept, reused
  writeFileSync(file, goodCopy);
  const again = await loadConfig(file, { cache });
  assert.equal(cache.stats.filesReused, 1);
  assert.equal(cache.bytesOf(file), good);
  assert.deepEqual(again, await loadConfig(file));
  services[399]!.realServers[0]!.weight = 99;
  await load('an edit after it');
  assert.equal(cache.stats.filesPatched, 1);
});
