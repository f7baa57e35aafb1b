/**
 * A master's steady adverts sent by the advert clock (src/vrrp/advert-clock.ts; the native clock is
 * native/src/vrrp_clock.c, tested on real sockets in test/netns/vrrp-advert-clock.test.ts): the runner
 * hands the clock the advert timer and takes it back before anything else the machine does with adverts,
 * so the wire sees what it saw with the runner's own timer, and the counters read from the clock add up.
 * The fake link's clock (vrrp-runner-fakes.ts) keeps the native one's contract on the virtual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LvsdError } from '../../src/errors.js';
import { VrrpInstance } from '../../src/vrrp/instance.js';
import type { RunnerIo } from '../../src/vrrp/runner-io.js';
import { breakSockets, FakeLan, flush, recordingNotifier, VirtualClock } from './vrrp-runner-fakes.js';
import { captureLog } from './log-capture.js';
import { parse } from './config-fixtures.js';

const VIP = '192.0.2.1';

function config(extra: Record<string, unknown> = {}) {
  return parse({ vrrp: [{ name: 'VI', interface: 'eth0', vrid: 7, priority: 100, addresses: [VIP], advertInterval: 0.1, ...extra }] }).vrrp[0]!;
}

function node(lan: FakeLan, name: string, source: string, opts: { advertClock?: boolean; extra?: Record<string, unknown>; io?: (io: RunnerIo) => RunnerIo } = {}) {
  const base = lan.io(name, source, undefined, { advertClock: opts.advertClock ?? true });
  const io = opts.io ? opts.io(base) : base;
  const { log, lines } = captureLog();
  const sent = new Map<string, number>();
  const inst = new VrrpInstance(config(opts.extra), log, {
    onAdvertSent: (i, n = 1) => sent.set(i, (sent.get(i) ?? 0) + n),
  }, undefined, { io, clock: lan.clock, notifier: recordingNotifier() });
  return { inst, io: base, lines, sent, start: () => inst.start({ interfaceUp: true, trackDown: [] }) };
}

/** What `node` put on the wire: [time from t0, priority]. */
const wire = (lan: FakeLan, name: string, t0: number) =>
  lan.of(name, ['advert']).map((e) => (e.kind === 'advert' ? [Math.round((e.t - t0) * 1000) / 1000, e.advert.priority] : []));

const inject = (lan: FakeLan, priority: number) =>
  lan.inject({ version: 3, family: 'ipv4', vrid: 7, priority, addresses: [VIP], source: '10.0.0.9', maxAdvertInterval: 10 });

/**
 * One story, with or without the clock: master alone, a reload that changes the priority, a peer's
 * priority 0 (the master answers at once and re-arms), two masters meeting (we win: advert + re-arm),
 * and a higher priority that takes over (no advert of ours after it).
 */
async function story(advertClock: boolean) {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1', { advertClock });
  await a.start();
  const t0 = await lan.clock.until(() => a.inst.state === 'master', 10_000);
  const heldAsMaster = a.io.clock.held;
  await lan.clock.advance(1000.5);
  a.inst.reconfigure(config({ priority: 120 }), () => true);
  await lan.clock.advance(333.3);
  inject(lan, 0);
  await lan.clock.advance(250);
  inject(lan, 90);
  await lan.clock.advance(420);
  inject(lan, 200);
  const steppedDown = lan.clock.now() - t0;
  const heldAfter = a.io.clock.held;
  await lan.clock.advance(2000);
  await flush();
  return { a, lan, t0, heldAsMaster, heldAfter, steppedDown, wire: wire(lan, 'a', t0) };
}

test('the clock puts on the wire exactly what the runner\'s own timer did: same adverts, same times, same priorities, none after stepping down', async () => {
  const clocked = await story(true);
  const timers = await story(false);
  assert.equal(clocked.heldAsMaster, 1, 'the master\'s advert timer is the clock\'s');
  assert.equal(timers.heldAsMaster, 0);
  assert.deepEqual(clocked.wire, timers.wire);
  assert.equal(clocked.heldAfter, 0, 'a master that steps down takes its adverts off the clock at once');
  assert.ok(clocked.wire.length > 20);
  // (the scripted peer says nothing more: Master_Down_Interval, 300 ms and some, later we are master again)
  assert.deepEqual(clocked.wire.filter(([t]) => t! > clocked.steppedDown && t! < clocked.steppedDown + 300), [], 'no advert after the higher priority was heard');
  // the reload's priority went out from the next due advert on, in the same phase (every 100 ms from t0)
  assert.deepEqual(clocked.wire.slice(0, 13).map(([t, p]) => [t, p]), [
    [0, 100], [100, 100], [200, 100], [300, 100], [400, 100], [500, 100], [600, 100], [700, 100], [800, 100], [900, 100], [1000, 100],
    [1100, 120], [1200, 120],
  ]);
  assert.equal(clocked.a.io.clock.starts, 1);
});

test('counters read from the clock: advertsSent, the metrics hook and the lateness samples add up to what went on the wire', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  await a.start();
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  assert.equal(a.io.clock.held, 1);
  await lan.clock.advance(5000);
  const onWire = lan.of('a', ['advert']).length;
  const snap = a.inst.snapshot();
  assert.equal(snap.counters.advertsSent, onWire);
  assert.equal(a.sent.get('VI'), onWire, 'the metrics hook is told the batch the clock sent');
  assert.equal(snap.advertLateness.length, onWire - 1, 'one sample per advert the clock sent (the first went out with the transition)');
  assert.ok(snap.advertLateness.every((l) => l === 0));
  // read again without sends in between: nothing counted twice
  assert.equal(a.inst.snapshot().counters.advertsSent, onWire);
  // stepped down: what the clock counted until then is kept
  inject(lan, 200);
  assert.equal(a.inst.state, 'backup');
  assert.equal(a.inst.snapshot().counters.advertsSent, lan.of('a', ['advert']).length);
});

test('every way out of master takes the adverts off the clock first: interface down, a stop (priority 0 last on the wire), a sync-group backup', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  await a.start();
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  a.inst.link('eth0', false);
  assert.equal(a.inst.state, 'fault');
  assert.equal(a.io.clock.held, 0);
  const t = lan.clock.now();
  await lan.clock.advance(1000);
  assert.deepEqual(lan.of('a', ['advert'], t + 0.001), [], 'nothing sent while faulty');
  a.inst.link('eth0', true);
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  assert.equal(a.io.clock.held, 1);
  a.inst.sync('backup');
  assert.equal(a.inst.state, 'backup');
  assert.equal(a.io.clock.held, 0);
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(1000);
  const before = lan.of('a', ['advert']).length;
  const stopped = a.inst.stop();
  await lan.clock.advance(0);
  await stopped;
  assert.equal(a.io.clock.held, 0);
  await lan.clock.advance(1000);
  assert.deepEqual(lan.of('a', ['advert']).slice(before).map((e) => e.kind === 'advert' && e.advert.priority), [0], 'priority 0, then nothing');
});

test('a send that fails (link down under the clock): counted as socket errors, logged once, and once more when adverts go out again', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  await a.start();
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  a.io.clock.sendError = 'ENETDOWN';
  await lan.clock.advance(1000);
  a.io.clock.sendError = undefined;
  await lan.clock.advance(300);
  await flush();
  const errs = a.lines.filter((l) => l.event === 'vrrp.socket_error');
  assert.equal(errs.length, 1, 'one line for the whole failing run');
  assert.equal(errs[0]!.code, 'ENETDOWN');
  const back = a.lines.filter((l) => l.event === 'vrrp.send_recovered');
  assert.equal(back.length, 1);
  assert.equal(back[0]!.rounds, 10);
  assert.equal(a.inst.snapshot().counters.socketErrors, 10);
  assert.equal(a.inst.state, 'master', 'the clock carries on sending');
});

test('the clock cannot start: said once, and the runner\'s own timer sends as before', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1', { io: (io) => ({ ...io, startAdvertClock: () => { throw new Error('pthread_create: EAGAIN (fake)'); } }) });
  await a.start();
  const t0 = await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(1000);
  await flush();
  assert.equal(a.io.clock.held, 0);
  assert.deepEqual(wire(lan, 'a', t0).map(([t]) => t), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  assert.equal(a.lines.filter((l) => l.event === 'vrrp.advert_clock_unavailable').length, 1);
  assert.equal(a.inst.snapshot().counters.advertsSent, 11);
});

test('the clock refuses an instance\'s adverts: said once, the runner\'s timer sends them, at the same times', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  a.io.clock.refuse = true;
  await a.start();
  const t0 = await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(1000);
  await flush();
  assert.deepEqual(wire(lan, 'a', t0).map(([t]) => t), [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
  assert.equal(a.lines.filter((l) => l.event === 'vrrp.advert_clock_refused').length, 1, 'not once per advert');
  assert.equal(a.io.clock.schedules, 0);
});

test('a socket replaced while the clock held its adverts: the old entry is gone with the old socket, the new socket carries them', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  await a.start();
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(1000);
  const before = lan.of('a', ['advert']).length;
  breakSockets(lan, 'a', new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'poll stopped (fake)'));
  assert.equal(a.io.clock.held, 1, 'one entry: the old socket\'s went with it');
  const t = lan.clock.now();
  await lan.clock.advance(1000);
  const after = lan.of('a', ['advert'], t + 0.001);
  assert.ok(after.length >= 9, `adverts go on from the new socket (${after.length})`);
  assert.equal(a.inst.snapshot().counters.advertsSent, before + after.length, 'what the old socket\'s entry counted is kept');
});

test('adverts the clock lost while a broken socket could not be replaced are not handed to the socket that opens later: a faulty instance sends nothing', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  await a.start();
  await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(1000);
  a.io.openFails = 2; // the socket cannot be opened again for two seconds
  breakSockets(lan, 'a', new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'poll stopped (fake)'));
  await lan.clock.advance(500);
  // no socket: the clock cannot take the new priority's adverts, the runner's timer sends them
  a.inst.reconfigure(config({ priority: 120 }), () => true);
  await lan.clock.advance(100);
  a.inst.link('eth0', false);
  assert.equal(a.inst.state, 'fault');
  const t = lan.clock.now();
  await lan.clock.advance(3000); // a socket opens again meanwhile
  assert.ok(a.io.sockets >= 2, 'a new socket opened');
  assert.deepEqual(lan.of('a', ['advert'], t + 0.001), [], 'nothing sent while faulty');
  assert.equal(a.io.clock.held, 0, 'nothing on the clock');
});
