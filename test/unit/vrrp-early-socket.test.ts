/**
 * The VRRP runner on a socket opened before it (at exec: src/vrrp/early-listen.ts), on a fake link and a
 * virtual clock: the Master_Down timer runs from when the socket began to listen, and every advert the
 * socket heard meanwhile (queued by the kernel, or delivered between the adoption and the start) reaches
 * the machine before that timer can fire. The same with real sockets: test/netns/vrrp-early-socket.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VrrpInstance } from '../../src/vrrp/instance.js';
import { FakeLan, recordingNotifier, VirtualClock } from './vrrp-runner-fakes.js';
import { captureLog } from './log-capture.js';
import { parse } from './config-fixtures.js';

const VIP = '192.0.2.1';
/** Master_Down_Interval at 1 s adverts (v3): 3 s + (256 - priority) / 256 s. */
const mdi = (priority: number) => 3000 + ((256 - priority) * 1000) / 256;

function node(lan: FakeLan, name: string, source: string, extra: Record<string, unknown> = {}) {
  const cfg = parse({ vrrp: [{ name: 'VI', interface: 'eth0', vrid: 7, priority: 100, addresses: [VIP], ...extra }] }).vrrp[0]!;
  const io = lan.io(name, source);
  const { log, lines } = captureLog();
  const inst = new VrrpInstance(cfg, log, {}, undefined, { io, clock: lan.clock, notifier: recordingNotifier() });
  return { inst, io, lines, run: () => inst.run({ interfaceUp: true, trackDown: [] }) };
}

function masterAdvert(lan: FakeLan, priority = 200): void {
  lan.inject({ version: 3, family: 'ipv4', vrid: 7, priority, addresses: [VIP], source: '10.0.0.9', maxAdvertInterval: 100 });
}

test('a backup on a socket opened earlier becomes master Master_Down_Interval after the socket opened, not after the runner started', async () => {
  const lan = new FakeLan(new VirtualClock());
  const opened = lan.clock.now();
  const fd = lan.listenEarly('b', '10.0.0.2');
  await lan.clock.advance(2000); // the VRRP thread boots
  const b = node(lan, 'b', '10.0.0.2');
  await b.inst.open({ fd, since: opened });
  await b.run();
  assert.equal(b.io.adopted, 1, 'the socket opened earlier is the one read');
  assert.equal(b.inst.state, 'backup');
  const at = await lan.clock.until(() => b.inst.state === 'master', 10_000);
  assert.equal(at, opened + mdi(100));
  assert.deepEqual(b.lines.filter((l) => l.event === 'vrrp.early_socket').map((l) => [l.listenedMs, l.complete]), [[2000, true]]);
});

test('adverts queued on the early socket keep it backup even when Master_Down_Interval has passed since it opened', async () => {
  const lan = new FakeLan(new VirtualClock());
  const opened = lan.clock.now();
  const fd = lan.listenEarly('b', '10.0.0.2');
  // a master speaks every second while the VRRP thread is still booting, 6 s: longer than Master_Down_Interval
  masterAdvert(lan);
  for (let i = 0; i < 6; i++) {
    await lan.clock.advance(1000);
    masterAdvert(lan);
  }
  assert.equal(lan.queued('b'), 7, 'the kernel queued them');
  const b = node(lan, 'b', '10.0.0.2');
  await b.inst.open({ fd, since: opened });
  const started = lan.clock.now();
  await b.run();
  assert.equal(b.inst.state, 'backup');
  assert.equal(b.inst.snapshot().master?.address, '10.0.0.9', 'the master heard while nothing read the socket is known');
  await lan.clock.advance(mdi(100) - 1);
  assert.equal(b.inst.state, 'backup', 'no takeover: the queued adverts restarted Master_Down');
  assert.deepEqual(lan.of('b', ['add', 'advert']), [], 'neither the VIP nor an advert from the backup');
  await lan.clock.advance(1);
  assert.equal(b.inst.state, 'master', 'the master went silent: takeover Master_Down_Interval after the adverts were read');
  assert.equal(lan.of('b', ['add'])[0]?.t, started + mdi(100));
});

test('an advert delivered between the adoption and the start is held and fed to the machine', async () => {
  const lan = new FakeLan(new VirtualClock());
  const opened = lan.clock.now();
  const fd = lan.listenEarly('b', '10.0.0.2');
  await lan.clock.advance(10_000);
  const b = node(lan, 'b', '10.0.0.2');
  await b.inst.open({ fd, since: opened });
  masterAdvert(lan); // read by the adopted socket's poll before the machine runs
  assert.equal(lan.queued('b'), 0);
  const started = lan.clock.now();
  await b.run();
  assert.equal(b.inst.state, 'backup', 'not master at once, though Master_Down_Interval passed since the socket opened');
  const at = await lan.clock.until(() => b.inst.state === 'master', 10_000);
  assert.equal(at, started + mdi(100));
});

test('a socket on which the kernel dropped packets does not count its listening time: Master_Down runs from the start', async () => {
  const lan = new FakeLan(new VirtualClock());
  const opened = lan.clock.now();
  const fd = lan.listenEarly('b', '10.0.0.2', 3);
  await lan.clock.advance(2000);
  const b = node(lan, 'b', '10.0.0.2');
  await b.inst.open({ fd, since: opened });
  const started = lan.clock.now();
  await b.run();
  const at = await lan.clock.until(() => b.inst.state === 'master', 10_000);
  assert.equal(at, started + mdi(100));
  assert.deepEqual(b.lines.filter((l) => l.event === 'vrrp.early_socket').map((l) => l.complete), [false]);
});

test('a descriptor that is no VRRP socket is not adopted: the instance opens its own and its timer runs from its start', async () => {
  const lan = new FakeLan(new VirtualClock());
  const opened = lan.clock.now();
  await lan.clock.advance(2000);
  const b = node(lan, 'b', '10.0.0.2');
  await b.inst.open({ fd: 4242, since: opened });
  const started = lan.clock.now();
  await b.run();
  assert.equal(b.io.adopted, 0);
  assert.equal(b.io.sockets, 2, 'one refused adoption, one new socket');
  assert.ok(b.lines.some((l) => l.event === 'vrrp.early_socket_refused'));
  const at = await lan.clock.until(() => b.inst.state === 'master', 10_000);
  assert.equal(at, started + mdi(100));
});

test('without an early socket, an advert arriving between open() and the start is not lost either', async () => {
  const lan = new FakeLan(new VirtualClock());
  const b = node(lan, 'b', '10.0.0.2');
  await b.inst.open();
  masterAdvert(lan);
  await b.run();
  assert.equal(b.inst.snapshot().master?.address, '10.0.0.9');
});
