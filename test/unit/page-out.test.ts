/**
 * The page-out of node's mapped files (src/daemon/page-out.ts, the addon's pageOut): once after the start,
 * again only when the mapped pages have grown back by REGROW_KB over what the last one left; on
 * by default unless LVSD_PAGEOUT=0 (MADV_DONTNEED); a kernel that refuses the advice is logged once and never asked
 * again; a mapping with private (copy-on-write) pages is never unmapped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNative, nativeAvailable } from '../../src/net/index.js';
import { packageRoot } from '../../src/package-root.js';
import { MADV_DONTNEED, MADV_PAGEOUT, nativePageOut, ownMajorFaults, hostMemory, PageOutPolicy, pageOutMode, rssFileKb, startPageOut, type PageOut, type PageOutResult } from '../../src/daemon/page-out.js';
import { PageOutGuard } from '../../src/daemon/page-out-guard.js';

/** a guard that never waits (the schedule's tests): the guards have tests of their own (page-out-guard.test.ts) */
const eager = () => new PageOutGuard({ quietMs: 0, minGapMs: 0 });
import type { Logger } from '../../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Line { level: string; event: string; [k: string]: unknown }
function recorder(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (o: Record<string, unknown>) => { lines.push({ ...o, level, event: String(o.event) }); };
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger, lines };
}

test('PageOutPolicy: the first reading after a page-out is the floor; a reading REGROW over the lowest since pages out again', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 60 }), fc.integer({ min: 1, max: 20_000 }), (readings, regrow) => {
    const policy = new PageOutPolicy(regrow);
    // the model: a floor unset after a page-out, the lowest reading since it was set
    let floor: number | undefined;
    for (const kb of readings) {
      let want = false;
      if (floor === undefined) floor = kb;
      else {
        floor = Math.min(floor, kb);
        if (kb - floor >= regrow) {
          want = true;
          floor = undefined;
        }
      }
      assert.equal(policy.sample(kb), want);
    }
  }));
  const p = new PageOutPolicy(4096);
  // a steady daemon: the floor set at its first reading, drifts below REGROW never page out
  assert.deepEqual([12_000, 12_500, 13_000, 15_000].map((kb) => p.sample(kb)), [false, false, false, false]);
  // a reload ran code the steady state does not: 4 MiB more pages out, and the next reading is the floor
  assert.deepEqual([16_200, 13_000, 16_000, 17_100].map((kb) => p.sample(kb)), [true, false, false, true]);
});

test('LVSD_PAGEOUT: 0, off, false or no leave it off; unset (the default) or anything else unmaps', () => {
  for (const v of ['0', 'off', 'false', 'no', ' OFF ']) assert.equal(pageOutMode({ LVSD_PAGEOUT: v }), 'off', v);
  for (const v of [undefined, '', '1', 'on', 'yes', 'dontneed', 'pageout']) assert.equal(pageOutMode(v === undefined ? {} : { LVSD_PAGEOUT: v }), 'dontneed', String(v));
});

test('the page-out runs a while after the start, again when the mapped pages grew back, never after stop', async () => {
  const { log, lines } = recorder();
  const calls: number[] = [];
  let fileKb = 45_000;
  const pageOut: PageOut = (done) => {
    calls.push(fileKb);
    fileKb = 12_000; // what the kernel left
    setImmediate(() => done([90 << 20, 40, 0, 0, 1500]));
  };
  const stop = startPageOut(log, { atMs: [10, 300], everyMs: 15, tickMs: 5, guard: eager(), pageOut, fileKb: () => fileKb, env: { LVSD_PAGEOUT: '1' } });
  // a page-out is over once it logged (its `after` read)
  const logged = () => lines.filter((l) => l.event === 'daemon.paged_out').length;
  for (let i = 0; i < 2000 && logged() < 1; i++) await sleep(5);
  assert.equal(calls.length, 1, 'paged out once after the start');
  fileKb = 20_000; // the start's tail ran more code
  for (let i = 0; i < 2000 && logged() < 2; i++) await sleep(5);
  assert.equal(calls.length, 2, 'and once more when the start is surely over');
  await sleep(80); // readings: the floor, then steady
  assert.equal(calls.length, 2, 'a steady process is not paged out again');
  fileKb = 17_000; // a reload ran cold code
  for (let i = 0; i < 2000 && logged() < 3; i++) await sleep(5);
  assert.equal(calls.length, 3, 'grown back by 5 MiB: paged out again');
  stop();
  fileKb = 40_000;
  await sleep(80);
  assert.equal(calls.length, 3, 'nothing after stop');
  assert.deepEqual(calls, [45_000, 20_000, 17_000]);
  const done = lines.filter((l) => l.event === 'daemon.paged_out');
  assert.deepEqual(done.map((l) => [l.level, l.why, l.fileMiB, l.afterMiB]),
    [['info', 'start', 43.9, 11.7], ['info', 'start', 19.5, 11.7], ['info', 'regrown', 16.6, 11.7]]);
});

test('with LVSD_PAGEOUT=0 (or off): nothing is unmapped, and the log says it is off', async () => {
  for (const env of [{ LVSD_PAGEOUT: '0' }, { LVSD_PAGEOUT: 'off' }]) {
    const { log, lines } = recorder();
    let calls = 0;
    const stop = startPageOut(log, { atMs: [5], everyMs: 5, tickMs: 5, guard: eager(), pageOut: (done) => { calls++; done([0, 1, 0, 0, 0]); }, fileKb: () => 50_000, env });
    await sleep(60);
    stop();
    assert.equal(calls, 0);
    assert.deepEqual(lines.map((l) => l.event), ['daemon.page_out_off']);
  }
});

test('a kernel that refuses the advice (EINVAL, simulated in the addon): one warning, never asked again, nothing else changes', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  const { log, lines } = recorder();
  const refusing = nativePageOut(22)!;
  assert.ok(refusing, 'the addon has pageOut');
  let calls = 0;
  const results: PageOutResult[] = [];
  const pageOut: PageOut = (done) => { calls++; refusing((r) => { results.push(r); done(r); }); };
  let fileKb = 45_000;
  const stop = startPageOut(log, { atMs: [5, 10], everyMs: 5, tickMs: 5, guard: eager(), pageOut, fileKb: () => (fileKb += 5000), env: { LVSD_PAGEOUT: '1' } });
  for (let i = 0; i < 400 && results.length < 1; i++) await sleep(5);
  await sleep(60); // growing readings that would page out again
  stop();
  assert.equal(calls, 1, 'asked once');
  const [bytes, advised, refused, errno] = results[0]!;
  assert.deepEqual([bytes, advised, errno], [0, 0, 22]);
  assert.ok(refused > 0, 'every read-only file mapping refused');
  assert.deepEqual(lines.map((l) => [l.level, l.event, l.code]), [['warn', 'daemon.page_out_failed', 'EINVAL']]);
});

test('the addon pages out this process\'s read-only file mappings off the loop and reports them', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  const native = loadNative();
  const before = rssFileKb();
  assert.ok(before !== undefined && before > 0);
  let answered = false;
  const r = await new Promise<PageOutResult>((resolve) => {
    native.pageOut!(MADV_PAGEOUT, (x) => { answered = true; resolve(x); });
    assert.equal(answered, false, 'the answer comes later, on the loop');
  });
  const [bytes, advised, refused, errno, us] = r;
  assert.ok(advised >= 3, `${advised} mappings (node's text and read-only data at least)`);
  assert.ok(bytes > 10 << 20, `${bytes} bytes`);
  assert.deepEqual([refused, errno], [0, 0], 'this kernel takes MADV_PAGEOUT (Linux 5.4+)');
  assert.ok(us > 0);
  // this process shares node's pages with the test runner, so how much leaves its RSS is not asserted here
  // (test/netns/page-out.test.ts: a daemon with a node of its own)
  assert.throws(() => native.pageOut!(MADV_PAGEOUT, undefined as unknown as () => void), TypeError);
});

/** The read-only file mappings of `path` in this process: [start, end, perms]. */
function mappingsOf(path: string): Array<[number, number, string]> {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(` ${path}`)).map((l) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(l)!;
    return [parseInt(m[1]!, 16), parseInt(m[2]!, 16), m[3]!];
  });
}

function anonymousKb(start: number): number {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf(`${start.toString(16)}-`);
  return Number(/^Anonymous:\s+(\d+) kB/m.exec(smaps.slice(at))?.[1]);
}

test('MADV_DONTNEED unmaps the read-only file mappings but never one with a private (copy-on-write) page: a byte written into one survives', { skip: !nativeAvailable() && 'addon not built' }, async (t) => {
  const native = loadNative();
  // a file mapped read-only by this process alone: a copy of the addon, loaded (its ELF header is in a r--p mapping)
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-cow-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'copy.node');
  copyFileSync(join(packageRoot(), 'native', 'build', 'Release', 'lvsd_native.node'), copy);
  process.dlopen({ exports: {} }, copy);
  const [start, , perms] = mappingsOf(copy)[0]!;
  assert.equal(perms, 'r--p', 'the copy\'s first mapping (its ELF header) is private and read-only');
  // a private page in it, as a debugger's breakpoint makes one: a write through /proc/self/mem (the ELF
  // header's padding, bytes 9-15, which nothing reads)
  const mem = openSync('/proc/self/mem', 'r+');
  t.after(() => closeSync(mem));
  const mark = Buffer.from('lvsdCOW');
  const read = () => { const b = Buffer.alloc(mark.length); readSync(mem, b, 0, b.length, start + 9); return b.toString(); };
  assert.notEqual(read(), mark.toString(), 'the file\'s bytes differ from the mark');
  try {
    writeSync(mem, mark, 0, mark.length, start + 9);
  } catch (e) {
    t.skip(`/proc/self/mem not writable here: ${(e as Error).message}`);
    return;
  }
  assert.equal(read(), mark.toString());
  assert.ok(anonymousKb(start) > 0, 'the mapping holds a private page now');
  const before = rssFileKb()!;

  const [bytes, advised, refused, errno, , kept] = await new Promise<PageOutResult>((resolve) => native.pageOut!(MADV_DONTNEED, resolve));
  assert.deepEqual([refused, errno], [0, 0]);
  assert.ok(advised >= 3 && bytes > 10 << 20, `${advised} mappings, ${bytes} bytes unmapped (node's text and read-only data at least)`);
  // node's RELRO (read-only after the loader's relocations) is one of those kept, with the copy's header
  assert.ok(kept! >= 2, `${kept} mappings kept for their private pages`);
  assert.equal(read(), mark.toString(), 'the private page was not dropped (MADV_DONTNEED would have read the file back)');
  assert.ok(anonymousKb(start) > 0);
  // unmapped: even pages another process maps (this test runner's node) leave this process's RSS
  const after = rssFileKb()!;
  assert.ok(after < before - 5_000, `mapped files ${before} -> ${after} KiB`);
  // and the process runs on: JavaScript, the addon (its pages come back by minor faults)
  assert.equal(JSON.stringify({ a: [1, 2] }), '{"a":[1,2]}');
  assert.equal(typeof native.mallocTrim(), 'number');
});

/** Rss (KiB) of each mapping of `path` in this process, in address order. */
function rssOf(path: string): number[] {
  return readFileSync('/proc/self/smaps', 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).filter((b) => b.split('\n')[0]!.endsWith(` ${path}`))
    .map((b) => Number(/^Rss:\s+(\d+) kB/m.exec(b)?.[1]));
}

/** The read-only mappings of regular files in this process (what the addon considers), by path. */
function readOnlyFileMappings(): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = /^\S+ (\S+) \S+ \S+ (\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, perms, inode, path] = m as unknown as [string, string, string, string];
    if (perms[0] !== 'r' || perms[1] !== '-' || inode === '0' || !path.startsWith('/') || path.startsWith('/dev/') || path.startsWith('/memfd:')) continue;
    out.push(path);
  }
  return out;
}

test('the addon\'s own file is never unmapped (the probe thread and the advert clock run it); the same file loaded from elsewhere is', { skip: !nativeAvailable() && 'addon not built' }, async (t) => {
  const native = loadNative();
  const own = join(packageRoot(), 'native', 'build', 'Release', 'lvsd_native.node');
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-own-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'other.node');
  copyFileSync(own, copy);
  process.dlopen({ exports: {} }, copy);
  const all = readOnlyFileMappings();
  const ownN = all.filter((p) => p === own).length, copyN = all.filter((p) => p === copy).length;
  assert.ok(ownN >= 2 && copyN === ownN, `the addon mapped read-only ${ownN} times, its copy ${copyN}`);
  const [, advised, refused, errno, , kept] = await new Promise<PageOutResult>((resolve) => native.pageOut!(MADV_DONTNEED, resolve));
  assert.deepEqual([refused, errno], [0, 0]);
  // every read-only file mapping was advised or kept for its private pages, but the addon's own
  assert.equal(advised + kept!, all.length - ownN, `${advised} advised + ${kept} kept of ${all.length} (${ownN} the addon's own)`);
});

test('a page-out past its time budget stops advising and says where; a call from there goes on', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  const native = loadNative();
  // a budget of 1 us: over before the first step (reading /proc/self/maps alone takes longer)
  const [bytes, advised, refused, errno, us, , resumeAt] = await new Promise<PageOutResult>((resolve) => native.pageOut!(MADV_DONTNEED, resolve, undefined, 1));
  assert.deepEqual([bytes, advised, refused, errno], [0, 0, 0, 0]);
  assert.ok(us > 1);
  const first = readOnlyFileMappings().length;
  assert.ok(resumeAt! > 0 && first > 0, `cut at 0x${resumeAt!.toString(16)}`);
  // from there, no budget (0): the rest, not cut
  const rest = await new Promise<PageOutResult>((resolve) => native.pageOut!(MADV_DONTNEED, resolve, undefined, 0, resumeAt));
  assert.equal(rest[6], 0);
  assert.ok(rest[1] >= 3);
  // from past every mapping: nothing
  const none = await new Promise<PageOutResult>((resolve) => native.pageOut!(MADV_DONTNEED, resolve, undefined, 0, 2 ** 52));
  assert.deepEqual(none.slice(0, 4).concat(none[6]!), [0, 0, 0, 0, 0]);
});
