/**
 * A daemon's reload compares a config file with the bytes it kept in place (src/config/files.ts
 * reread): an unchanged file gives back those very bytes, a changed one how it differs from them (start
 * and end shared, the middle read), with no buffer of the file's size (at 100,000 real servers such
 * buffers, one per reload, forced a full garbage collection every few reloads); the edit is applied in the
 * kept bytes' own memory once a load takes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPARE_CHUNK, readRegular, reread } from '../../src/config/files.js';
import { applyEdit, editedBytes, editedRange, roomyBuffer } from '../../src/config/byte-compare.js';
import { ConfigCache, loadConfig } from '../../src/config/index.js';

const prefixOf = (a: Buffer, b: Buffer) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};
const suffixOf = (a: Buffer, b: Buffer, max: number) => {
  let i = 0;
  while (i < max && a[a.length - 1 - i] === b[b.length - 1 - i]) i++;
  return i;
};

test('an unchanged file gives back the kept bytes themselves; every kind of change gives how it differs, exactly, and nothing of the file\'s size', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.json');
  const scratch = Buffer.alloc(1000);
  const original = Buffer.from(Array.from({ length: 2500 }, (_, i) => 'abcdefghij'[i % 10]).join('')); // three scratches, the last one short
  writeFileSync(file, original);
  const kept = await readRegular(file);
  assert.deepEqual(kept, original);
  assert.deepEqual(await reread(file, kept, scratch), { same: true });
  for (const [what, bytes] of [
    ['first byte', Buffer.concat([Buffer.from('y'), original.subarray(1)])],
    ['last byte', Buffer.concat([original.subarray(0, 2499), Buffer.from('y')])],
    ['a scratch boundary', Buffer.concat([original.subarray(0, 1000), Buffer.from('y'), original.subarray(1001)])],
    ['longer in the middle', Buffer.concat([original.subarray(0, 1200), Buffer.from('yyyyy'), original.subarray(1200)])],
    ['shorter in the middle', Buffer.concat([original.subarray(0, 1200), original.subarray(1700)])],
    ['two places', Buffer.concat([original.subarray(0, 100), Buffer.from('y'), original.subarray(101, 2400), Buffer.from('z'), original.subarray(2401)])],
    ['grown at the end', Buffer.concat([original, Buffer.from('y')])],
    ['grown at the start', Buffer.concat([Buffer.from('y'), original])],
    ['shrunk', original.subarray(0, 2000)],
    ['emptied', Buffer.alloc(0)],
    ['much longer', Buffer.concat([original, original, original])],
  ] as const) {
    writeFileSync(file, bytes);
    const got = await reread(file, kept, scratch);
    assert.ok('edited' in got, what);
    const e = got.edited;
    const prefix = prefixOf(kept, bytes);
    assert.equal(e.prefix, prefix, what);
    assert.equal(e.suffix, suffixOf(kept, bytes, Math.min(kept.length, bytes.length) - prefix), what);
    assert.equal(e.size, bytes.length, what);
    assert.ok(e.middle.length <= bytes.length, what);
    assert.deepEqual(editedBytes(kept, e), bytes, what);
    // any range of the new content, without making it whole
    for (const [from, to] of [[0, bytes.length], [0, e.prefix + 1], [Math.max(0, e.prefix - 3), e.prefix + e.middle.length + 3], [Math.max(0, bytes.length - 10), bytes.length]] as const) {
      const lo = Math.min(from, bytes.length);
      const hi = Math.min(to, bytes.length);
      assert.deepEqual(editedRange(kept, e, lo, hi), bytes.subarray(lo, hi), `${what} [${lo}, ${hi})`);
    }
    // made in place in memory of its own with room (and in a new buffer when there is no room)
    const roomy = roomyBuffer(kept.length);
    kept.copy(roomy);
    const inPlace = applyEdit(roomy.subarray(0, kept.length), e, true);
    assert.deepEqual(inPlace, bytes, what);
    if (bytes.length <= roomy.length) assert.equal(inPlace.buffer, roomy.buffer, `${what}: in place`);
    assert.deepEqual(kept, original, 'the kept bytes are not written to by a read');
  }
  // replaced by another file with the same bytes: the same bytes, kept ones
  writeFileSync(`${file}.new`, original);
  renameSync(`${file}.new`, file);
  assert.deepEqual(await reread(file, kept, scratch), { same: true });
});

test('a file truncated or rewritten while it is read is read again as it is now', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.json');
  const original = Buffer.from('x'.repeat(5000));
  writeFileSync(file, original);
  const kept = await readRegular(file);
  const edited = Buffer.concat([original.subarray(0, 3000), Buffer.from('y'), original.subarray(3001)]);
  // the same size, changed where the read has been already: only the file's times say it was written
  const sameSize = Buffer.concat([original.subarray(0, 500), Buffer.from('z'), original.subarray(501)]);
  const shorter = Buffer.from('{"services":[]}');
  for (const [then, at] of [[shorter, 1], [shorter, 2], [shorter, 5], [sameSize, 2], [sameSize, 4]] as const) {
    writeFileSync(file, edited);
    let steps = 0;
    // an editor writes the file (truncated, then written) after the at-th read, in a later clock tick
    const got = await reread(file, kept, Buffer.alloc(1000), () => {
      if (++steps !== at) return;
      writeFileSync(file, then);
      utimesSync(file, new Date(), new Date(Date.now() + 5000));
    });
    assert.ok(steps >= at, 'the file was written to during the read');
    const now = 'same' in got ? kept : 'edited' in got ? editedBytes(kept, got.edited) : got.bytes;
    assert.deepEqual(now, then, `never a mix of two versions (${then.length} bytes written after read ${at})`);
  }
});

test('a reload of an unchanged large file through the ConfigCache reuses the kept bytes (and the config in force)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'services.json');
  const services = Array.from({ length: 1500 }, (_, i) => ({
    name: `s${i}`, protocol: 'tcp', address: `192.0.2.${1 + (i % 250)}`, port: 1000 + i, realServers: [{ address: '10.0.0.1', port: 80 }],
  }));
  const text = JSON.stringify({ $comment: 'x'.repeat(COMPARE_CHUNK), services }, null, 2);
  writeFileSync(file, text);
  assert.ok(text.length > COMPARE_CHUNK, 'more than one chunk');
  const cache = new ConfigCache();
  const first = await loadConfig(file, { cache });
  const kept = cache.bytesOf(file);
  const again = await loadConfig(file, { cache });
  assert.equal(again, first, 'every file unchanged: the config in force');
  assert.equal(cache.bytesOf(file), kept, 'the kept bytes, not a new copy');
  assert.equal(cache.stats.filesReused, 1);
});

test('an edit is applied to the kept bytes only once a load takes it: after edits, a version that is not JSON and the good one again, the kept bytes are the last good file\'s', async (t) => {
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
  // a version that is not JSON: refused, and the kept bytes untouched
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

test('a load that fails after one file was patched leaves that file\'s kept bytes as they were: the next load sees its edit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-same-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = join(dir, 'a.json');
  const b = join(dir, 'b.json');
  const services = Array.from({ length: 200 }, (_, i) => ({
    protocol: 'tcp', address: `192.0.2.${1 + (i % 250)}`, port: 1000 + i, realServers: [{ address: '10.0.0.1', port: 80, weight: 1 }],
  }));
  const good = JSON.stringify({ ipvs: { driftInterval: '30s' } });
  writeFileSync(a, JSON.stringify({ services }, null, 2));
  writeFileSync(b, good);
  const cache = new ConfigCache();
  await loadConfig(dir, { cache });
  await cache.scanned;
  // a.json edited (patched), b.json broken: the load fails after a.json's patch
  services[120]!.realServers[0]!.weight = 42;
  writeFileSync(a, JSON.stringify({ services }, null, 2));
  writeFileSync(b, '{"ipvs": ');
  await assert.rejects(loadConfig(dir, { cache }), /not valid JSON/);
  writeFileSync(b, good);
  const config = await loadConfig(dir, { cache });
  assert.equal(config.services[120]!.realServers[0]!.spec.weight, 42, 'a.json\'s edit is loaded');
  assert.deepEqual(config, await loadConfig(dir));
  assert.equal(cache.stats.filesPatched, 1);
});
