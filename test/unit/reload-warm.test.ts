/**
 * The warm after the start (src/daemon/reload-warm.ts): it runs the load of an edited file on a scratch
 * config (the edit path, not a whole parse), one ping over the control socket (answered without any
 * handler), and reports a step that failed without failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { pingControl, startControlServer } from '../../src/daemon/control-server.js';
import { afterStartRamp, warmLoadPath, warmReloadPaths, WARM_LATEST_MS, WARM_POLL_MS, WARM_QUIET_MS, WARM_SERVICES, type RampWatch } from '../../src/daemon/reload-warm.js';

const dir = mkdtempSync(join(tmpdir(), 'lvsd-warm-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines };
}

test('the warm loads its scratch config again after a one-weight edit the way a reload does: one file patched, one service built, a delta of that service', async () => {
  const where = mkdtempSync(join(dir, 'load-'));
  const w = await warmLoadPath(where);
  assert.equal(w.filesPatched, 1, 'the edited file was patched, not parsed whole');
  assert.equal(w.itemsBuilt, 1, 'only the edited service was built');
  assert.ok(w.delta, 'the reload would have a delta');
  assert.deepEqual(w.delta.after.map((s) => s.name), ['warm-0']);
  assert.equal(w.delta.after[0]!.realServers[0]!.spec.weight, 101);
  assert.ok(WARM_SERVICES > 4, 'one service edited is under the delta\'s share');
  assert.deepEqual(readdirSync(where), [], 'the scratch file is removed');
});

test('a ping over the control socket is answered 200 without any handler being asked', async () => {
  const socket = join(dir, 'ping.sock');
  const asked: string[] = [];
  const handler = (what: string) => () => { asked.push(what); throw new Error(`${what} asked`); };
  const server = await startControlServer({
    path: socket, log: capture().log,
    handlers: { status: handler('status'), reload: handler('reload'), drain: handler('drain'), undrain: handler('undrain') },
  });
  try {
    assert.equal(await pingControl(socket), 200);
    assert.equal(await pingControl(socket), 200);
  } finally {
    await server.close();
  }
  assert.deepEqual(asked, []);
});

test('the warm runs every step and logs reload.warmed; a step that fails is named and the rest still run, never a rejection', async () => {
  const socket = join(dir, 'warm.sock');
  const server = await startControlServer({
    path: socket, log: capture().log,
    handlers: { status: () => { throw new Error('no'); }, reload: () => ({ ok: false }), drain: () => { throw new Error('no'); }, undrain: () => { throw new Error('no'); } },
  });
  let configWarmed = 0;
  try {
    const good = capture();
    await warmReloadPaths(async () => { configWarmed++; }, socket, good.log);
    const line = good.lines.find((l) => l.event === 'reload.warmed');
    assert.ok(line, 'reload.warmed logged');
    assert.equal(line.failed, undefined);
    assert.equal(configWarmed, 1);
  } finally {
    await server.close();
  }
  const bad = capture();
  await warmReloadPaths(async () => { throw new Error('config unreadable'); }, join(dir, 'nobody.sock'), bad.log);
  const line = bad.lines.find((l) => l.event === 'reload.warmed');
  assert.ok(line, 'reload.warmed logged');
  const failed = line.failed as string[];
  assert.equal(failed.length, 2, JSON.stringify(failed));
  assert.equal(failed[0], 'config');
  assert.match(failed[1]!, /^control: .*ENOENT/);
  assert.equal(typeof line.loadPathMs, 'number', 'the load path ran between the two failures');
  assert.ok(!existsSync(join(dir, 'nobody.sock')));
});

/** A daemon as afterStartRamp() reads it, on a virtual clock: `unsettled` and `busyAt` set by the test. */
function rampDaemon() {
  const d = { t: 0, unsettled: 10_000, busyAt: 0, stopped: false, counted: 0 };
  const w: RampWatch = {
    unsettled: () => { d.counted++; return d.unsettled; }, busyAtMs: () => d.busyAt, stopped: () => d.stopped,
    now: () => d.t, sleep: async (ms) => { d.t += ms; step(d.t); },
  };
  let step: (t: number) => void = () => undefined;
  return { d, w, on: (f: (t: number) => void) => (step = f) };
}

test('the warm waits until the start\'s ramp is over: every real server has its first verdict and the daemon has been quiet (not inside the ramp, whose rate is the main thread)', async () => {
  const { d, w, on } = rampDaemon();
  // the ramp: verdicts read and health passes made until 30 s, busy at every look; settled at 29 s
  on((t) => {
    if (t <= 30_000) d.busyAt = t - 100;
    if (t >= 29_000) d.unsettled = 0;
  });
  assert.equal(await afterStartRamp(w), 'settled');
  assert.ok(d.t >= 30_000 + WARM_QUIET_MS && d.t <= 30_000 + WARM_QUIET_MS + WARM_POLL_MS, `the warm at ${d.t} ms, the ramp over at 30,000`);

  // quiet while verdicts are still missing (the start pass, a slow first interval): still waits
  const q = rampDaemon();
  q.on((t) => { if (t >= 12_000) q.d.unsettled = 0; });
  assert.equal(await afterStartRamp(q.w), 'settled');
  assert.equal(q.d.t, 12_000);
  assert.ok(q.d.counted <= 12_000 / WARM_POLL_MS + 1, 'the unsettled count read once per look at most');
});

test('the warm runs WARM_LATEST_MS after the start at the latest (a real server whose verdict never comes, a busy daemon), and not after a stop', async () => {
  const { d, w, on } = rampDaemon();
  on((t) => { d.busyAt = t; });
  assert.equal(await afterStartRamp(w), 'latest');
  assert.equal(d.t, WARM_LATEST_MS);

  const s = rampDaemon();
  s.on((t) => { if (t === 5000) s.d.stopped = true; });
  assert.equal(await afterStartRamp(s.w), 'stopped');
  assert.equal(s.d.t, 5000);

  const none = rampDaemon();
  none.d.unsettled = 0;
  none.d.busyAt = -WARM_QUIET_MS; // no health checks, quiet since the start
  assert.equal(await afterStartRamp(none.w), 'settled');
  assert.equal(none.d.t, 0, 'at once');
});
