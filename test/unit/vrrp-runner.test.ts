/**
 * The VRRP runner (src/vrrp/instance.ts) on a fake link and a virtual clock: what a user sees of a
 * takeover, a preemption, a clean stop and the GARP / NA schedule, at exact virtual times. The same
 * stories with real sockets and addresses: test/netns/vrrp-failover.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LvsdError } from '../../src/errors.js';
import { VrrpInstance, type InstanceTransition } from '../../src/vrrp/instance.js';
import { breakSockets, FakeLan, recordingNotifier, VirtualClock } from './vrrp-runner-fakes.js';
import { captureLog } from './log-capture.js';
import { parse } from './config-fixtures.js';

const VIP = '192.0.2.1';
/** Master_Down_Interval at 1 s adverts (v3): 3 s + (256 - priority) / 256 s. */
const mdi = (priority: number) => 3000 + ((256 - priority) * 1000) / 256;
const skew = (priority: number) => ((256 - priority) * 1000) / 256;

function node(lan: FakeLan, name: string, source: string, extra: Record<string, unknown> = {}, vips?: Set<string>) {
  const cfg = parse({ vrrp: [{
    name: 'VI', interface: 'eth0', vrid: 7, priority: 100, addresses: [VIP], notify: { master: ['/bin/m'], backup: ['/bin/b'], stop: ['/bin/s'] }, ...extra,
  }] }).vrrp[0]!;
  const io = lan.io(name, source, vips);
  const notifier = recordingNotifier();
  const { log, lines } = captureLog();
  const transitions: Array<InstanceTransition & { vipsThen: boolean }> = [];
  const inst = new VrrpInstance(cfg, log, { onTransition: (t) => transitions.push({ ...t, vipsThen: io.vips.has(VIP) }) }, undefined, { io, clock: lan.clock, notifier });
  return { inst, io, notifier, lines, transitions, start: () => inst.start({ interfaceUp: true, trackDown: [] }) };
}

/** A scripted master at 10.0.0.9 sending adverts every second from now, `count` times. */
async function scriptedMaster(lan: FakeLan, priority: number, count: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0) await lan.clock.advance(1000);
    lan.inject({ version: 3, family: 'ipv4', vrid: 7, priority, addresses: [VIP], source: '10.0.0.9', maxAdvertInterval: 100 });
    last = lan.clock.now();
  }
  return last;
}

test('takeover: a backup becomes master exactly Master_Down_Interval after the last advert: VIP added first, then advert, GARP burst, hooks', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2');
  await b.start();
  const last = await scriptedMaster(lan, 200, 6);
  await lan.clock.advance(mdi(100) - 1);
  assert.equal(b.inst.state, 'backup');
  assert.deepEqual(lan.of('b', ['add', 'advert']), [], 'a backup neither adds the VIP nor sends while the master speaks');
  await lan.clock.advance(1);
  assert.equal(b.inst.state, 'master');
  const at = last + mdi(100);
  const events = lan.of('b', ['add', 'advert', 'announce']);
  assert.deepEqual(events.slice(0, 3).map((e) => [e.kind, e.t]), [['add', at], ['advert', at], ['announce', at]]);
  await lan.clock.advance(2000);
  // default burst: 5 GARPs 200 ms apart
  assert.deepEqual(lan.of('b', ['announce']).map((e) => e.t - at), [0, 200, 400, 600, 800]);
  assert.equal(b.transitions.at(-1)?.to, 'master');
  assert.equal(b.transitions.at(-1)?.vipsThen, true, 'the transition is told once the VIP is in');
  assert.deepEqual(b.notifier.runs.map((r) => r.kind), ['backup', 'master']);
  const timing = b.lines.find((l) => l.event === 'vrrp.takeover_timing');
  assert.ok(timing, 'one vrrp.takeover_timing line');
  const tenth = (x: number) => Math.round(x * 10) / 10;
  assert.deepEqual([timing.deadline, timing.fired, timing.addStart, timing.garpSent], [mdi(100), mdi(100), mdi(100), mdi(100)].map(tenth));
});

test('a backup whose thread stands still past Master_Down_Interval while the master keeps speaking stays backup: its timer reads the socket first', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2');
  await b.start();
  await scriptedMaster(lan, 200, 3);
  // from here b's loop stands still: adverts queue in its socket, its Master_Down timer fires when due
  lan.stall('b', true);
  await scriptedMaster(lan, 200, 10);
  assert.equal(b.inst.state, 'backup', 'the timer expired with adverts received in time in the socket');
  lan.stall('b', false);
  const last = await scriptedMaster(lan, 200, 3);
  await lan.clock.advance(mdi(100) - 1);
  assert.equal(b.inst.state, 'backup');
  assert.deepEqual(lan.of('b', ['add', 'advert']), [], 'never master, no VIP, no advert');
  await lan.clock.advance(1);
  assert.equal(b.inst.state, 'master', 'and it still takes over Master_Down_Interval after the last advert');
  assert.equal(lan.of('b', ['add'])[0]!.t, last + mdi(100));
});

test('a backup whose thread stands still while the master falls silent takes over Master_Down_Interval after the last advert the kernel received', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2');
  await b.start();
  await scriptedMaster(lan, 200, 3);
  lan.stall('b', true);
  await lan.clock.advance(1000);
  const last = await scriptedMaster(lan, 200, 2); // heard only when the timer reads the socket
  await lan.clock.until(() => b.inst.state === 'master', 10_000);
  assert.equal(lan.of('b', ['add'])[0]!.t, last + mdi(100), 'the deadline runs from the queued advert\'s arrival, not from when it was read');
  const timing = b.lines.find((l) => l.event === 'vrrp.takeover_timing');
  assert.equal(timing?.deadline, Math.round(mdi(100) * 10) / 10, 'the takeover line counts from the last advert received');
  lan.stall('b', false);
});

test('preemption: a higher priority that starts later takes over in its own Master_Down_Interval; the old master removes its VIP at that instant', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  const b = node(lan, 'b', '10.0.0.2', { priority: 200 });
  await a.start();
  await lan.clock.advance(mdi(100));
  assert.equal(a.inst.state, 'master');
  await lan.clock.advance(1500);
  const tb = lan.clock.now();
  await b.start();
  await lan.clock.advance(mdi(200) - 1);
  assert.equal(b.inst.state, 'backup', 'lower-priority adverts are discarded, not accepted: no early takeover either');
  await lan.clock.advance(1);
  assert.equal(b.inst.state, 'master');
  assert.equal(a.inst.state, 'backup');
  assert.deepEqual(lan.of('b', ['add']).map((e) => e.t), [tb + mdi(200)]);
  assert.deepEqual(lan.of('a', ['remove'], tb).map((e) => e.t), [tb + mdi(200)]);
  assert.deepEqual([a.io.vips.has(VIP), b.io.vips.has(VIP)], [false, true]);
  await lan.clock.advance(30_000);
  assert.deepEqual([a.inst.state, b.inst.state], ['backup', 'master'], 'no ping-pong');
});

test('preempt off: a higher priority that starts later stays backup while the master speaks', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  const b = node(lan, 'b', '10.0.0.2', { priority: 200, preempt: false });
  await a.start();
  await lan.clock.advance(mdi(100) + 500);
  await b.start();
  await lan.clock.advance(30_000);
  assert.deepEqual([a.inst.state, b.inst.state], ['master', 'backup']);
  assert.deepEqual(lan.of('b', ['add', 'advert']), []);
});

test('preempt delay: the higher priority takes over no sooner than the delay after it heard the master, and within delay + MDI', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1');
  const b = node(lan, 'b', '10.0.0.2', { priority: 200, preemptDelay: '5s' });
  await a.start();
  await lan.clock.advance(mdi(100) + 500);
  const tb = lan.clock.now();
  await b.start();
  const took = await lan.clock.until(() => b.inst.state === 'master', 20_000);
  const firstHeard = lan.of('a', ['advert'], tb)[0]!.t;
  assert.ok(took >= firstHeard + 5000, `took over ${took - firstHeard} ms after first hearing the master`);
  assert.ok(took <= firstHeard + 5000 + mdi(200), `took over ${took - firstHeard} ms after first hearing the master`);
  assert.equal(lan.of('b', ['add'])[0]!.t, took);
  await lan.clock.advance(1);
  assert.equal(a.inst.state, 'backup');
});

test('clean stop: the master sends priority 0 and removes its VIP; the backup takes over after Skew_Time, not Master_Down_Interval', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1', { priority: 150 });
  const b = node(lan, 'b', '10.0.0.2', { priority: 50 });
  await a.start();
  await b.start();
  await lan.clock.advance(mdi(150) + 2500);
  assert.deepEqual([a.inst.state, b.inst.state], ['master', 'backup']);
  const ts = lan.clock.now();
  const stopped = a.inst.stop();
  await lan.clock.advance(0);
  await stopped;
  const last = lan.of('a', ['advert'], ts);
  assert.deepEqual(last.map((e) => e.kind === 'advert' && e.advert.priority), [0]);
  assert.deepEqual(lan.of('a', ['remove'], ts).map((e) => e.t), [ts]);
  assert.equal(a.io.vips.has(VIP), false);
  assert.equal(a.notifier.runs.at(-1)?.kind, 'stop');
  await lan.clock.advance(skew(50) - 1);
  assert.equal(b.inst.state, 'backup');
  await lan.clock.advance(1);
  assert.equal(b.inst.state, 'master');
  assert.equal(lan.of('b', ['add'])[0]!.t, ts + skew(50));
  await lan.clock.advance(10_000);
  assert.deepEqual(lan.of('a', ['advert', 'add', 'announce'], ts + 1), [], 'a stopped instance sends nothing more');
});

test('a director that starts as backup removes VIPs a previous run left on the interface, and says so once', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2', {}, new Set([VIP]));
  await b.start();
  await lan.clock.advance(0);
  assert.equal(b.io.vips.has(VIP), false);
  assert.deepEqual(b.lines.filter((l) => l.event === 'vrrp.vips_removed').map((l) => [l.reason, l.vips]), [['leftover', [`${VIP}/32`]]]);
  const clean = node(lan, 'c', '10.0.0.3');
  await clean.start();
  await lan.clock.advance(0);
  assert.equal(clean.lines.filter((l) => l.event === 'vrrp.vips_removed').length, 0, 'nothing left over: no line');
});

test('GARP / NA schedule: count x interval at takeover, the burst again every refresh period, and nothing once backup', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1', { garp: { count: 3, interval: '500ms', refresh: '10s' } });
  await a.start();
  const t0 = await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(25_000);
  assert.deepEqual(lan.of('a', ['announce']).map((e) => e.t - t0), [0, 500, 1000, 10_000, 10_500, 11_000, 20_000, 20_500, 21_000]);
  // a higher priority master appears in the middle of a refresh burst: the burst stops, the refresh stops
  await lan.clock.advance(4_700);
  const tx = lan.clock.now();
  assert.equal(tx - t0, 29_700);
  await lan.clock.advance(500); // the burst at 30_000 started: its first GARP is out, two more due at 30_500 and 31_000
  assert.deepEqual(lan.of('a', ['announce'], tx).map((e) => e.t - t0), [30_000]);
  lan.inject({ version: 3, family: 'ipv4', vrid: 7, priority: 250, addresses: [VIP], source: '10.0.0.9', maxAdvertInterval: 100 });
  const tBackup = lan.clock.now();
  assert.equal(a.inst.state, 'backup');
  await lan.clock.advance(1);
  assert.equal(a.io.vips.has(VIP), false);
  for (let i = 0; i < 30; i++) {
    await lan.clock.advance(1000);
    lan.inject({ version: 3, family: 'ipv4', vrid: 7, priority: 250, addresses: [VIP], source: '10.0.0.9', maxAdvertInterval: 100 });
  }
  assert.deepEqual(lan.of('a', ['announce'], tBackup + 1), [], 'no GARP for an address we gave up');
});

test('a VRRP socket that stops reading is replaced at once, then every second until one opens; the new one hears adverts', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2');
  await b.start();
  await scriptedMaster(lan, 200, 2);
  b.io.openFails = 2;
  breakSockets(lan, 'b', new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'poll stopped (fake)'));
  assert.equal(b.inst.counters.socketReopens, 1);
  assert.deepEqual(b.lines.filter((l) => String(l.event).startsWith('vrrp.socket_reopen')).map((l) => l.event), ['vrrp.socket_reopen_failed']);
  await lan.clock.advance(1000);
  assert.equal(b.io.sockets, 1, 'the second attempt failed too');
  await lan.clock.advance(1000);
  assert.equal(b.io.sockets, 2);
  assert.deepEqual(b.lines.filter((l) => String(l.event).startsWith('vrrp.socket_reopen')).map((l) => l.event),
    ['vrrp.socket_reopen_failed', 'vrrp.socket_reopen_failed', 'vrrp.socket_reopened']);
  const before = b.inst.counters.advertsReceived;
  await scriptedMaster(lan, 200, 5);
  assert.equal(b.inst.counters.advertsReceived, before + 5);
  assert.equal(b.inst.state, 'backup');
});

test('v2Compat (RFC 5798 8.4): the master sends a VRRPv3 and a VRRPv2 advert every interval, at 0 on stop both', async () => {
  const lan = new FakeLan(new VirtualClock());
  const a = node(lan, 'a', '10.0.0.1', { v2Compat: true });
  await a.start();
  const t0 = await lan.clock.until(() => a.inst.state === 'master', 10_000);
  await lan.clock.advance(2500);
  const sent = lan.of('a', ['advert']).map((e) => e.kind === 'advert' && [e.t - t0, e.advert.version, e.advert.priority,
    e.advert.version === 2 ? e.advert.advertInterval : e.advert.maxAdvertInterval]);
  assert.deepEqual(sent, [[0, 3, 100, 100], [0, 2, 100, 1], [1000, 3, 100, 100], [1000, 2, 100, 1], [2000, 3, 100, 100], [2000, 2, 100, 1]]);
  const ts = lan.clock.now();
  const stopped = a.inst.stop();
  await lan.clock.advance(0);
  await stopped;
  assert.deepEqual(lan.of('a', ['advert'], ts).map((e) => e.kind === 'advert' && [e.advert.version, e.advert.priority]), [[3, 0], [2, 0]]);
});

test('v2Compat: a backup follows a VRRPv2 master, learning its interval in seconds, and takes over one Master_Down_Interval after its last advert', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2', { v2Compat: true });
  await b.start();
  let last = 0;
  for (let i = 0; i < 8; i++) {
    if (i > 0) await lan.clock.advance(2000);
    lan.inject({ version: 2, family: 'ipv4', vrid: 7, priority: 200, addresses: [VIP], source: '10.0.0.9', advertInterval: 2 });
    last = lan.clock.now();
  }
  assert.equal(b.inst.state, 'backup', 'a 2 s VRRPv2 master is followed (its interval learnt, not required to be ours)');
  assert.equal(b.inst.counters.advertsReceived, 8);
  const mdi2 = 3 * 2000 + ((256 - 100) * 2000) / 256;
  await lan.clock.advance(last + mdi2 - 1 - lan.clock.now());
  assert.equal(b.inst.state, 'backup');
  await lan.clock.advance(1);
  assert.equal(b.inst.state, 'master');
});

test('v2Compat: the VRRPv2 adverts of a router also heard in VRRPv3 are ignored; a lone VRRPv2 router is heard', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2', { v2Compat: true });
  await b.start();
  for (let i = 0; i < 5; i++) {
    if (i > 0) await lan.clock.advance(1000);
    lan.inject({ version: 3, family: 'ipv4', vrid: 7, priority: 200, addresses: [VIP], source: '10.0.0.9', maxAdvertInterval: 100 });
    lan.inject({ version: 2, family: 'ipv4', vrid: 7, priority: 200, addresses: [VIP], source: '10.0.0.9', advertInterval: 1 });
  }
  assert.equal(b.inst.counters.advertsReceived, 5, 'each pair counted once: the VRRPv3 one');
  assert.equal(b.inst.snapshot().master?.advertInterval, 1);
  // the same router stops speaking VRRPv3 (reconfigured to v2): after three of its intervals its VRRPv2 adverts count
  for (let i = 0; i < 5; i++) {
    await lan.clock.advance(1000);
    lan.inject({ version: 2, family: 'ipv4', vrid: 7, priority: 200, addresses: [VIP], source: '10.0.0.9', advertInterval: 1 });
  }
  assert.equal(b.inst.counters.advertsReceived, 7, 'the VRRPv2 ones 4 s and 5 s after its last VRRPv3 one');
  assert.equal(b.inst.state, 'backup');
});

test('without v2Compat a version 3 instance drops VRRPv2 adverts (counted as invalid: version) and sends VRRPv3 only', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2');
  await b.start();
  lan.inject({ version: 2, family: 'ipv4', vrid: 7, priority: 200, addresses: [VIP], source: '10.0.0.9', advertInterval: 1 });
  assert.equal(b.inst.counters.invalid.version, 1);
  await lan.clock.until(() => b.inst.state === 'master', 10_000);
  await lan.clock.advance(1500);
  assert.ok(lan.of('b', ['advert']).every((e) => e.kind === 'advert' && e.advert.version === 3));
});
