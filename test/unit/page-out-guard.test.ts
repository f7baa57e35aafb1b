/**
 * The page-out's guards (src/daemon/page-out-guard.ts, wired in src/daemon/page-out.ts): it waits while the
 * daemon is busy (a start, a takeover, a reload, real servers changing state) and while the host's memory is
 * low; it stops for good, saying so once, when its process takes major faults after it (what it unmapped read
 * back from the disk) or when one ran past its time budget. Each guard with its fault injected: the decision
 * exhaustively (fast-check), then through startPageOut with the readings faked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memoryLow, PageOutGuard, type Readings } from '../../src/daemon/page-out-guard.js';
import { startPageOut, type PageOut, type PageOutOptions } from '../../src/daemon/page-out.js';
import type { Logger } from '../../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GiB = 1 << 20; // KiB

const limits = { quietMs: 30_000, minGapMs: 60_000, lowMemoryKb: 256 * 1024, lowMemoryShare: 0.1, majorFaults: 32, guardMs: 120_000, maxParts: 30 };
const quiet = (nowMs: number, more: Partial<Readings> = {}): Readings => ({ nowMs, busyAtMs: 0, memAvailableKb: 8 * GiB, memTotalKb: 16 * GiB, majorFaults: 100, ...more });

test('PageOutGuard: a page-out waits until the daemon has been quiet QUIET_MS, and MIN_GAP_MS after the last one', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e7 }), fc.integer({ min: 0, max: 1e7 }), (busyAtMs, since) => {
    const g = new PageOutGuard(limits);
    const v = g.check(quiet(busyAtMs + since, { busyAtMs }));
    assert.deepEqual(v, since < limits.quietMs ? { run: false, wait: 'busy' } : { run: true });
  }));
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), (gap) => {
    const g = new PageOutGuard(limits);
    g.ran(quiet(1e6), false);
    assert.deepEqual(g.check(quiet(1e6 + gap)), gap < limits.minGapMs ? { run: false, wait: 'busy' } : { run: true });
  }));
});

test('PageOutGuard: it waits while MemAvailable is under 256 MiB or 10 % of MemTotal (unknown: not low)', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 64 * GiB }), fc.integer({ min: 1, max: 64 * GiB }), (avail, total) => {
    const low = avail < 256 * 1024 || avail < total * 0.1;
    assert.equal(memoryLow({ memAvailableKb: avail, memTotalKb: total }, limits), low);
    const g = new PageOutGuard(limits);
    assert.deepEqual(g.check(quiet(1e6, { memAvailableKb: avail, memTotalKb: total })), low ? { run: false, wait: 'memory' } : { run: true });
  }));
  assert.equal(memoryLow({ memAvailableKb: undefined, memTotalKb: undefined }, limits), false);
  // busy is said before memory: the start waits for itself first
  assert.deepEqual(new PageOutGuard(limits).check(quiet(10, { busyAtMs: 5, memAvailableKb: 1 })), { run: false, wait: 'busy' });
});

test('PageOutGuard: more than MAJOR_FAULTS major faults within GUARD_MS after a page-out stop it for good; later ones, or fewer, do not', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 0, max: 20 })), { maxLength: 40 }), (steps) => {
    const g = new PageOutGuard(limits);
    const end = 1_000_000;
    g.ran(quiet(end, { majorFaults: 500 }), false);
    let t = end, faults = 500, want: string | undefined;
    for (const [dt, df] of steps) {
      t += dt;
      faults += df;
      const stop = g.observe(quiet(t, { majorFaults: faults }));
      if (want === undefined && t - end <= limits.guardMs && faults - 500 > limits.majorFaults) {
        want = 'major-faults';
        assert.equal(stop, 'major-faults');
      } else assert.equal(stop, undefined, 'said once');
    }
    assert.equal(g.stopped, want);
    if (want) assert.deepEqual(g.check(quiet(t + 1e7)), { run: false, stopped: 'major-faults' }, 'never again');
  }));
  // before any page-out, faults (the start's) stop nothing
  const g = new PageOutGuard(limits);
  assert.equal(g.observe(quiet(1, { majorFaults: 10_000 })), undefined);
});

test('PageOutGuard: a page-out cut at its time budget goes on in parts while quiet (no gap); MAX_PARTS in a row stop it for good', () => {
  fc.assert(fc.property(fc.array(fc.boolean(), { maxLength: 80 }), (cuts) => {
    const g = new PageOutGuard(limits);
    let t = 1e6, run = 0, want: string | undefined;
    for (const cut of cuts) {
      t += 5000;
      // the next part may run 5 s later (no minimum gap), not while busy
      if (run > 0) {
        assert.deepEqual(g.check(quiet(t), true), want ? { run: false, stopped: 'slow' } : { run: true });
        assert.deepEqual(g.check(quiet(t, { busyAtMs: t - 1 }), true), want ? { run: false, stopped: 'slow' } : { run: false, wait: 'busy' });
      }
      const stop = g.ran(quiet(t), cut);
      run = cut ? run + 1 : 0;
      if (!want && run >= limits.maxParts) {
        want = 'slow';
        assert.equal(stop, 'slow');
      } else assert.equal(stop, undefined);
    }
    assert.equal(g.stopped, want);
  }));
  const g = new PageOutGuard(limits);
  for (let i = 1; i < limits.maxParts; i++) assert.equal(g.ran(quiet(i), true), undefined);
  assert.equal(g.ran(quiet(99), true), 'slow');
  assert.deepEqual(g.check(quiet(1e9)), { run: false, stopped: 'slow' });
});

// ---- through startPageOut, the readings faked ----

interface Line { level: string; event: string; [k: string]: unknown }
function recorder(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (o: Record<string, unknown>) => { lines.push({ ...o, level, event: String(o.event) }); };
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Logger, lines };
}

/** A fake world: a clock the test moves, the daemon's busy time, the host's memory, the process's major faults. */
function world(limitsMs = { quietMs: 100, minGapMs: 100, guardMs: 1000 }) {
  const w = { now: 0, busyAt: 0, availKb: 8 * GiB, majors: 0, fileKb: 45_000, calls: 0, cut: false, cutFirst: 0, from: [] as Array<number | undefined>, onCall: (_n: number) => undefined as void };
  const pageOut: PageOut = (done, resumeFrom) => {
    w.calls++;
    w.from.push(resumeFrom);
    w.onCall(w.calls);
    w.fileKb = 12_000;
    // cut: it stopped at an address past the last
    const cut = w.cut || w.calls <= w.cutFirst;
    setImmediate(() => done([90 << 20, 40, 0, 0, 1500, 9, cut ? (resumeFrom ?? 0x1000) + 0x1000 : 0]));
  };
  const opts: PageOutOptions = {
    atMs: [100, 1000], everyMs: 50, tickMs: 2, env: { LVSD_PAGEOUT: '1' }, pageOut,
    guard: new PageOutGuard({ ...limitsMs, majorFaults: 32, maxParts: 5 }),
    now: () => w.now, busyAtMs: () => w.busyAt, memory: () => ({ availableKb: w.availKb, totalKb: 16 * GiB }),
    majorFaults: () => w.majors, fileKb: () => w.fileKb,
  };
  /** moves the clock in steps, letting the ticks run */
  const advance = async (ms: number, step = 10) => {
    for (let t = 0; t < ms; t += step) {
      w.now += step;
      await sleep(3);
    }
  };
  return { w, opts, advance };
}

test('startPageOut: no page-out while the daemon is busy (a start still weighting, a takeover); one line says it waits; it runs once quiet', async () => {
  const { log, lines } = recorder();
  const { w, opts, advance } = world();
  const stop = startPageOut(log, opts);
  // the start: real servers coming up every 50 ms, well past the first page-out's time
  for (let i = 0; i < 10; i++) {
    w.busyAt = w.now;
    await advance(50);
  }
  assert.equal(w.calls, 0, 'not during the start');
  // a takeover later on: still busy
  w.busyAt = w.now;
  await advance(60);
  assert.equal(w.calls, 0, 'not during a takeover');
  assert.deepEqual(lines.filter((l) => l.event === 'daemon.page_out_waiting').map((l) => l.reason), ['busy'], 'said once');
  await advance(80); // quiet 100 ms
  assert.equal(w.calls, 1, 'once quiet');
  stop();
});

test('startPageOut: no page-out while the host\'s memory is low; one line says it waits; it runs once memory is back', async () => {
  const { log, lines } = recorder();
  const { w, opts, advance } = world();
  w.availKb = 200 * 1024;
  const stop = startPageOut(log, opts);
  await advance(600);
  assert.equal(w.calls, 0);
  assert.deepEqual(lines.filter((l) => l.event === 'daemon.page_out_waiting').map((l) => [l.reason, l.memAvailableMiB]), [['memory', 200]]);
  w.availKb = 4 * GiB;
  await advance(30);
  assert.equal(w.calls, 1);
  stop();
});

test('startPageOut: major faults after a page-out stop it for good with one warning; no page-out after, even when the pages grow back', async () => {
  const { log, lines } = recorder();
  const { w, opts, advance } = world();
  const stop = startPageOut(log, opts);
  await advance(150);
  assert.equal(w.calls, 1);
  w.majors += 20;
  await advance(100);
  assert.equal(lines.filter((l) => l.event === 'daemon.page_out_stopped').length, 0, '20 major faults: not yet');
  w.majors += 20; // 40 since the page-out: what it unmapped is read back from the disk
  await advance(20);
  const stopped = lines.filter((l) => l.event === 'daemon.page_out_stopped');
  assert.deepEqual(stopped.map((l) => [l.level, l.reason]), [['warn', 'major-faults']]);
  w.fileKb = 45_000; // grown back, and the second scheduled time passes
  await advance(1500, 25);
  assert.equal(w.calls, 1, 'never again');
  assert.equal(lines.filter((l) => l.event === 'daemon.page_out_stopped').length, 1, 'said once');
  stop();
});

test('startPageOut: a page-out cut at its time budget goes on where it stopped at the next readings, not while busy; one that never ends stops with one warning', async () => {
  const { log, lines } = recorder();
  const { w, opts, advance } = world();
  w.cut = true;
  // a takeover begins during the first part: the rest waits
  w.onCall = (n) => { if (n === 1) w.busyAt = w.now; };
  const stop = startPageOut(log, opts);
  await advance(180);
  assert.equal(w.calls, 1, 'not while busy');
  await advance(100);
  assert.deepEqual(w.from, [undefined, 0x2000, 0x3000, 0x4000, 0x5000], 'each part from where the last stopped');
  assert.deepEqual(lines.filter((l) => l.event === 'daemon.paged_out').map((l) => [l.part, l.cut]), [[1, true], [2, true], [3, true], [4, true], [5, true]]);
  assert.deepEqual(lines.filter((l) => l.event === 'daemon.page_out_stopped').map((l) => l.reason), ['slow']);
  w.fileKb = 45_000;
  await advance(1500, 25);
  assert.equal(w.calls, 5, 'never again');
  stop();
});

test('startPageOut: a page-out whose last part ends is over: the next one waits its gap and its time', async () => {
  const { log, lines } = recorder();
  const { w, opts, advance } = world();
  w.cutFirst = 1;
  const stop = startPageOut(log, opts);
  await advance(300);
  assert.deepEqual(lines.filter((l) => l.event === 'daemon.paged_out').map((l) => l.cut), [true, false]);
  assert.equal(w.calls, 2);
  assert.equal(lines.filter((l) => l.event === 'daemon.page_out_stopped').length, 0);
  stop();
});

test('startPageOut: a quiet daemon with room pages out at the scheduled times, then only on regrowth', async () => {
  const { log, lines } = recorder();
  const { w, opts, advance } = world();
  const stop = startPageOut(log, opts);
  await advance(150);
  assert.equal(w.calls, 1, 'the first, at 100 ms');
  w.fileKb = 20_000;
  await advance(950);
  assert.equal(w.calls, 2, 'the second, at 1,000 ms');
  await advance(300);
  assert.equal(w.calls, 2, 'steady: no more');
  assert.equal(lines.filter((l) => l.level === 'warn').length, 0);
  stop();
});
