/** The tracker runner of one instance (src/vrrp/trackers.ts) with an injected script runner and real files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProbeResult } from '../../src/health/types.js';
import { InstanceTrackers, type ScriptRunner, type TrackChange } from '../../src/vrrp/trackers.js';
import { parse } from './config-fixtures.js';

const instance = (extra: Record<string, unknown>) =>
  parse({ vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1'], ...extra }] }).vrrp[0]!;

/** A runner answering from a script of results, then `ok` forever; counts its calls. */
function scripted(results: Array<Partial<ProbeResult>>): ScriptRunner & { calls: number } {
  const f = (async () => {
    const r = results[f.calls] ?? { ok: true, reason: 'exit 0' };
    f.calls++;
    return { ok: false, reason: 'exit 1', ms: 1, ...r } as ProbeResult;
  }) as unknown as ScriptRunner & { calls: number };
  f.calls = 0;
  return f;
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('a script run the director itself could not start (EMFILE, EAGAIN) counts neither way: only real failures bring it down', async () => {
  const cfg = instance({ trackScripts: [{ name: 'chk', command: ['/bin/true'], interval: '10ms', weight: -50, fall: 2 }] });
  const local = { ok: false, reason: 'spawn EMFILE', local: 'EMFILE' };
  const runner = scripted([{ ok: true }, local, local, local, { ok: false }, local, { ok: false }]);
  const changes: Array<TrackChange & { call: number }> = [];
  const t = new InstanceTrackers(cfg, (c) => changes.push({ ...c, call: runner.calls }), undefined, runner);
  await t.start();
  try {
    await waitFor(() => runner.calls >= 8);
    assert.equal(changes[0]?.call, 7, 'down at the 7th run (the second real failure), not at the first local ones');
    // fall 2: the two real failures (calls 5 and 7) bring it down; the four local ones in between did not count
    const downs = changes.filter((c) => !c.status.up);
    assert.equal(downs.length >= 1, true);
    assert.equal(downs[0]!.status.effect, -50);
    assert.equal(changes[0]!.status.up, false, 'the first change is the fall, after the second real failure');
    assert.equal(changes[0]!.before, 0);
  } finally {
    t.stop();
  }
});

test('local failures alone never bring a script down, however many', async () => {
  const cfg = instance({ trackScripts: [{ name: 'chk', command: ['/bin/true'], interval: '10ms', weight: 0 }] });
  const local = { ok: false, reason: 'spawn EAGAIN', local: 'EAGAIN' };
  // more local results than the test waits for: had the script run out, the next run (an ok one) could land
  // between the wait and the asserts and change the detail (a race seen once under load)
  const runner = scripted(Array.from({ length: 10_000 }, () => local));
  const changes: TrackChange[] = [];
  const t = new InstanceTrackers(cfg, (c) => changes.push(c), undefined, runner);
  await t.start();
  try {
    await waitFor(() => runner.calls >= 20);
    assert.deepEqual(changes.filter((c) => !c.status.up), []);
    assert.equal(t.effects()['script:chk'], 0);
    assert.match(t.snapshot()[0]!.detail ?? '', /not counted/);
  } finally {
    t.stop();
  }
});

test('a tracked file is read before start, and a change is reported within about a second; a missing file reads 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-trackers-'));
  const file = join(dir, 'w');
  writeFileSync(file, '4\n');
  const cfg = instance({ trackFiles: [{ path: file, weight: -10 }] });
  const changes: TrackChange[] = [];
  const t = new InstanceTrackers(cfg, (c) => changes.push(c));
  try {
    await t.start();
    assert.deepEqual(t.effects(), { [`file:${file}`]: -40 });
    assert.equal(changes.length, 0, 'the first reading is the start state, not a change');
    writeFileSync(file, '1\n');
    await waitFor(() => changes.length > 0, 3000);
    assert.equal(changes[0]!.status.effect, -10);
    assert.equal(changes[0]!.before, -40);
    rmSync(file);
    await waitFor(() => changes.length > 1, 3000);
    assert.equal(changes[1]!.status.effect, 0);
    assert.equal(changes[1]!.status.up, false);
  } finally {
    t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload keeps what was observed: a script down before is still down in the new trackers', async () => {
  const cfg = instance({ trackScripts: [{ name: 'chk', command: ['/bin/false'], interval: '10ms', weight: -20 }] });
  const runner = scripted([{ ok: false }, { ok: false }, { ok: false }]);
  const changes: TrackChange[] = [];
  const t1 = new InstanceTrackers(cfg, (c) => changes.push(c), undefined, runner);
  await t1.start();
  await waitFor(() => changes.some((c) => !c.status.up));
  t1.stop();
  const cfg2 = instance({ priority: 120, trackScripts: [{ name: 'chk', command: ['/bin/false'], interval: '10ms', weight: -30 }] });
  const t2 = new InstanceTrackers(cfg2, () => {}, t1, scripted([{ ok: false }]));
  assert.deepEqual(t2.effects(), { 'script:chk': -30 }, 'down, with the new weight, before any run');
  t2.stop();
});

test('on a reload the first reading is reported: a file changed since the old trackers read it reaches the machine', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-trackers-'));
  const file = join(dir, 'w');
  writeFileSync(file, '2\n');
  const cfg = instance({ trackFiles: [{ path: file, weight: -10 }] });
  const t1 = new InstanceTrackers(cfg, () => {});
  try {
    await t1.start();
    t1.stop();
    writeFileSync(file, '5\n');
    const changes: TrackChange[] = [];
    const t2 = new InstanceTrackers(cfg, (c) => changes.push(c), t1);
    assert.deepEqual(t2.effects(), { [`file:${file}`]: -20 }, 'the old reading until the new one');
    await t2.start(true);
    t2.stop();
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.status.effect, -50);
    assert.equal(changes[0]!.before, -20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
