/**
 * What a load read, told unchanged later without reading a byte (src/config/read-stamp.ts): the daemon
 * answers a reload request that came while a reload ran with that reload's outcome only when every file it
 * read is still as it read it. Every kind of change a deploy makes must show: an edit in place of the same
 * size, a file renamed over it, a file added to or removed from a config directory, a link pointed
 * elsewhere, a file removed; and a file changed just before the read (in the same clock tick, a write after
 * the read could leave its times as they were) never counts as unchanged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, type BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigCache, loadConfig } from '../../src/config/index.js';
import { RACY_MS, ReadRecord, racy, unchangedSince, type FileStamp } from '../../src/config/read-stamp.js';

const NS = 1_000_000n;
const SERVICE = (weight: number) => JSON.stringify({
  services: [{ protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat', realServers: [{ address: '10.0.0.1', port: 8080, weight }] }],
});

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-read-stamp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A load of `path` with a cache, begun once its last change is older than RACY_MS (as a reload of an edit
 * is, typically): a change made after it is in a later tick of the file system's clock than that one.
 */
async function readOf(path: string): Promise<ReadRecord> {
  await sleep(RACY_MS + 20);
  const cache = new ConfigCache();
  await loadConfig(path, { cache });
  const read = cache.lastRead!;
  assert.ok(read.stamps.length > 0);
  return read;
}

/** The same read, taken as if it began `laterMs` after the newest change time it saw (nothing is changed after it). */
async function readAsIf(path: string, laterMs: number): Promise<ReadRecord> {
  const cache = new ConfigCache();
  await loadConfig(path, { cache });
  const read = cache.lastRead!;
  const newest = read.stamps.reduce((m, s) => (s.ctimeNs > m ? s.ctimeNs : m), 0n);
  const shifted = new ReadRecord(newest + BigInt(laterMs) * NS);
  shifted.stamps.push(...read.stamps);
  return shifted;
}

test('a load notes each file it read with its status; untouched, they are unchanged', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'services.json');
  writeFileSync(file, SERVICE(5));
  const cache = new ConfigCache();
  await loadConfig(file, { cache });
  assert.deepEqual(cache.lastRead!.stamps.map((s) => s.path), [file]);
  assert.equal(cache.lastRead!.stamps[0]!.ino, statSync(file, { bigint: true }).ino);
  assert.equal(unchangedSince(await readOf(file)), true);
  // a reload that reads it again (kept bytes compared in place: files.ts reread) notes it too
  await loadConfig(file, { cache });
  assert.deepEqual(cache.lastRead!.stamps.map((s) => s.path), [file]);
});

test('an edit in place of the same size, a file renamed over it, a link pointed elsewhere, a removal: each is a change', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'services.json');
  writeFileSync(file, SERVICE(5));

  let read = await readOf(file);
  writeFileSync(file, SERVICE(6)); // same size, same inode
  assert.equal(unchangedSince(read), false, 'edited in place');

  read = await readOf(file);
  writeFileSync(`${file}.new`, SERVICE(7));
  renameSync(`${file}.new`, file);
  assert.equal(unchangedSince(read), false, 'renamed over');

  // only the times moved back to what they were: the change time (set by the kernel) still moved
  read = await readOf(file);
  const before = statSync(file);
  writeFileSync(file, SERVICE(8));
  utimesSync(file, before.atime, before.mtime);
  assert.equal(unchangedSince(read), false, 'written, then its modification time set back');

  const a = join(dir, 'a.json');
  const b = join(dir, 'b.json');
  const link = join(dir, 'link.json');
  writeFileSync(a, SERVICE(1));
  writeFileSync(b, SERVICE(1));
  symlinkSync(a, link);
  read = await readOf(link);
  unlinkSync(link);
  symlinkSync(b, link);
  assert.equal(unchangedSince(read), false, 'the link points at another file with the same bytes');

  read = await readOf(file);
  unlinkSync(file);
  assert.equal(unchangedSince(read), false, 'removed');
});

test('a config directory: a file added, removed or renamed in it is a change; an edit of one of its files too', async (t) => {
  const dir = tmp(t);
  const conf = join(dir, 'conf.d');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(conf);
  writeFileSync(join(conf, '10-web.json'), SERVICE(5));
  writeFileSync(join(conf, '20-global.json'), JSON.stringify({ ipvs: { driftInterval: '60s' } }));

  let read = await readOf(conf);
  // the files are read at once: the order they are noted in is the order their reads began, which varies
  assert.deepEqual(read.stamps.map((s) => s.path).sort(), [conf, join(conf, '10-web.json'), join(conf, '20-global.json')]);
  assert.equal(unchangedSince(read), true);
  writeFileSync(join(conf, '30-more.json'), '{}');
  assert.equal(unchangedSince(read), false, 'a file added');

  read = await readOf(conf);
  unlinkSync(join(conf, '30-more.json'));
  assert.equal(unchangedSince(read), false, 'a file removed');

  read = await readOf(conf);
  renameSync(join(conf, '20-global.json'), join(conf, '05-global.json'));
  assert.equal(unchangedSince(read), false, 'a file renamed (its order changed)');

  read = await readOf(conf);
  writeFileSync(join(conf, '10-web.json'), SERVICE(6));
  assert.equal(unchangedSince(read), false, 'one of its files edited');
});

test('a file changed just before the read is never unchanged: a write in the same clock tick would not show', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'services.json');
  writeFileSync(file, SERVICE(5));
  assert.equal(unchangedSince(await readAsIf(file, RACY_MS / 2)), false, 'changed 50 ms before the read began');
  assert.equal(unchangedSince(await readAsIf(file, 0)), false, 'changed as the read began');
  assert.equal(unchangedSince(await readAsIf(file, -5000)), false, 'changed "after" the read began (a clock ahead of this one)');
  assert.equal(unchangedSince(await readAsIf(file, RACY_MS * 3)), true);
  // read for real right after the write: racy, whatever the times say
  writeFileSync(file, SERVICE(6));
  const cache = new ConfigCache();
  await loadConfig(file, { cache });
  assert.equal(unchangedSince(cache.lastRead!), false, 'read within 100 ms of its change');

  // a file system that keeps whole seconds: a change time with no nanoseconds needs seconds more
  const stamp: FileStamp = { path: file, dev: 1n, ino: 2n, size: 3n, mtimeNs: 1_700_000_000n * 1_000_000_000n, ctimeNs: 1_700_000_000n * 1_000_000_000n };
  assert.equal(racy(stamp, stamp.ctimeNs + 1000n * NS), true, 'one second after a whole-second change time');
  assert.equal(racy(stamp, stamp.ctimeNs + 5000n * NS), false);
  assert.equal(racy({ ...stamp, ctimeNs: stamp.ctimeNs + 1n }, stamp.ctimeNs + 1000n * NS), false, 'nanosecond times: a second is plenty');
});

test('no file noted, a status that cannot be read: not unchanged', () => {
  assert.equal(unchangedSince(new ReadRecord()), false);
  const read = new ReadRecord(10n ** 19n);
  read.saw('/nonexistent/lvsd-read-stamp', { dev: 1n, ino: 1n, size: 1n, mtimeNs: 1n, ctimeNs: 1n } as BigIntStats);
  assert.equal(unchangedSince(read), false);
  assert.equal(unchangedSince(read, () => { throw new Error('EIO'); }), false);
});

test('a load that cannot read every file leaves no record (nothing to answer later requests with)', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'services.json');
  writeFileSync(file, SERVICE(5));
  const cache = new ConfigCache();
  await loadConfig(file, { cache });
  assert.ok(cache.lastRead);
  unlinkSync(file);
  await assert.rejects(loadConfig(file, { cache }));
  assert.equal(cache.lastRead, undefined);
});
