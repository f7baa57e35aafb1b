/**
 * The advert clock (native/src/vrrp_clock.c) on real sockets: two namespaces joined by a veth pair, an
 * agent in each (fixtures/net-agent.ts). The clock sends the bytes it was given at the interval, keeps
 * doing so while the agent's event loop is held, stops when told and when its socket closes (a socket
 * opened next, on the descriptor just freed, never carries the old bytes), and a link that is down makes
 * every send fail: counted, reported once, without the clock spinning. And with `lvsd run`: a master whose
 * adverts the clock sends, preempted by a higher priority, sends nothing once it stepped down.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { VRRP_GROUP_IPV4 } from '../../src/net/index.js';
import { JsonChild, NetnsLab, netnsSkipReason, type JsonMessage } from './netns.js';
import { agentPair } from './agent-pair.js';
import { startPair } from './fixtures/vrrp-pair.js';

const skip = netnsSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Stats { sent: number; failed: number; lastError?: string; lateness: number[] }

describe('the advert clock on a veth pair', { skip }, () => {
  let lab: NetnsLab;
  let a: string;
  let agentA: JsonChild;
  let agentB: JsonChild;
  let seq = 0;
  const tag = (t: string) => Buffer.from(`clock-${t}-${++seq}-${Date.now()}`).toString('hex');
  const packetsOf = (hex: string) => agentB.drain((m: JsonMessage) => m.event === 'packet' && m.payload === hex);

  before(async () => {
    lab = new NetnsLab();
    ({ a, agentA, agentB } = await agentPair(lab, '10.79.0'));
    await agentB.call('open', { name: 'rx', family: 'ipv4', interface: 'b0', multicast: true });
    // SCHED_RR 10 as lvsd runs it (the test runs as root): on a loaded host an ordinary thread is late by tens of ms
    const started = await agentA.call<{ tid: number; realtime: boolean }>('clockStart', { priority: 10 });
    assert.ok(started.tid > 0);
    assert.equal(started.realtime, true);
  });
  after(() => lab?.cleanup());

  /** Each test's sockets are closed when it ends, passed or not: a failure does not leave adverts going. */
  const opened: string[] = [];
  const open = async (name: string) => {
    await agentA.call('open', { name, family: 'ipv4', interface: 'a0', multicast: true, source: '10.79.0.1' });
    opened.push(name);
  };
  afterEach(async () => {
    for (const name of opened.splice(0)) await agentA.call('close', { name }).catch(() => undefined);
  });

  test('the given bytes go out at the interval, on time while the owner\'s event loop is held, and stop when told', async () => {
    await open('tx');
    const hex = tag('steady');
    // the window is what the calls really spanned (a loaded host stretches the 1.5 s): the first advert goes
    // out between the schedule call's start and end, the last before the stop call ends and after it starts
    const scheduleAt = performance.now();
    await agentA.call('schedule', { name: 'tx', payloads: [hex], destinations: [VRRP_GROUP_IPV4], intervalMs: 100, firstInMs: 0 });
    const scheduledAt = performance.now();
    await agentA.call('block', { ms: 1000 }); // the agent's JavaScript does nothing for a second
    await sleep(500);
    const stopAt = performance.now();
    const stats = await agentA.call<Stats>('stopAdverts', { name: 'tx' });
    const stoppedAt = performance.now();
    // what was sent before the stop reaches the receiving agent, whose process a loaded host may run late:
    // wait for as many as were sent (3 s at most), then judge
    const got = packetsOf(hex);
    for (const until = performance.now() + 3000; got.length < stats.sent && performance.now() < until;) {
      await sleep(100);
      got.push(...packetsOf(hex));
    }
    await sleep(200);
    got.push(...packetsOf(hex));
    const fewest = Math.floor((stopAt - scheduledAt) / 100) - 1;
    const most = Math.ceil((stoppedAt - scheduleAt) / 100) + 1;
    assert.ok(fewest >= 13, `the window was at least 1.5 s (${(stopAt - scheduledAt).toFixed(0)} ms)`);
    assert.ok(got.length >= fewest && got.length <= most, `one advert per 100 ms: ${fewest}-${most} in ${(stopAt - scheduledAt).toFixed(0)}-${(stoppedAt - scheduleAt).toFixed(0)} ms, got ${got.length}`);
    assert.equal(stats.sent, got.length, 'each one sent was received');
    assert.equal(stats.failed, 0);
    assert.equal(stats.lateness.length, got.length);
    const gaps = got.slice(1).map((m, i) => (m.receivedAt as number) - (got[i]!.receivedAt as number));
    const sorted = [...gaps].sort((x, y) => x - y);
    const median = sorted[sorted.length >> 1]!;
    assert.ok(median > 90 && median < 110, `median gap ${median} ms`);
    assert.equal(got[0]!.ttl, 255);
    assert.equal(got[0]!.source, '10.79.0.1');
    // stopped: nothing more
    await sleep(400);
    assert.deepEqual(packetsOf(hex), [], 'nothing after the stop');
    await agentA.call('close', { name: 'tx' });
  });

  test('reading the counts while making their JavaScript value is slow (a V8 collection) does not hold the clock', async () => {
    await open('tx');
    const hex = tag('read');
    await agentA.call('schedule', { name: 'tx', payloads: [hex], destinations: [VRRP_GROUP_IPV4], intervalMs: 20, firstInMs: 0 });
    await sleep(100);
    // each read spends 250 ms making its value: were that under the clock's lock (as it was: the clock sends
    // under it), the adverts of those 250 ms would all go out late by up to 250 ms
    const reads: Stats[] = [];
    for (let i = 0; i < 3; i++) reads.push(await agentA.call<Stats>('readAdverts', { name: 'tx', holdMs: 250 }));
    reads.push(await agentA.call<Stats>('stopAdverts', { name: 'tx' }));
    const sent = reads.reduce((n, r) => n + r.sent, 0);
    const lateness = reads.flatMap((r) => r.lateness);
    assert.ok(sent >= 30, `adverts went out meanwhile (${sent})`);
    const worst = Math.max(...lateness);
    assert.ok(worst < 150, `no advert 150 ms late or more (worst ${worst.toFixed(1)} ms over ${lateness.length})`);
    await agentA.call('close', { name: 'tx' });
  });

  test('page-outs dropping node\'s and libc\'s pages under the clock: it takes no page fault (it runs on locked memory)', async () => {
    // A fault waits for the address space's lock, which any thread mapping, unmapping or protecting memory
    // (V8, malloc) holds for writing, for as long as that thread waits for a CPU: the clock must not fault.
    // Each page-out zaps libc's code from the page tables; whichever thread runs a page of it next faults it
    // back (with its neighbours), so an unlocked clock faults after some of them (6-9 of 3 natively).
    const clock = await agentA.call<{ tid: number; lockedKiB: number }>('clockStart', { priority: 10 });
    assert.ok(clock.lockedKiB >= 1024, `the clock locked its stack's top, the addon and libc's code (${clock.lockedKiB} KiB)`);
    await open('tx');
    const hex = tag('paged');
    await agentA.call('schedule', { name: 'tx', payloads: [hex], destinations: [VRRP_GROUP_IPV4], intervalMs: 20, firstInMs: 0 });
    await sleep(200);
    const before = await agentA.call<number>('threadFaults', { tid: clock.tid });
    let advised = 0;
    let refused = 0;
    // 60 page-outs at least, over 600 ms at least (30 adverts' time: on a fast host 60 take ~300 ms)
    const t0 = performance.now();
    let pageOuts = 0;
    for (; pageOuts < 60 || performance.now() - t0 < 600; pageOuts++) {
      const r = await agentA.call<{ advised: number; refused: number }>('pageOut');
      advised += r.advised;
      refused += r.refused;
    }
    const faults = (await agentA.call<number>('threadFaults', { tid: clock.tid })) - before;
    const stats = await agentA.call<Stats>('stopAdverts', { name: 'tx' });
    assert.ok(advised >= pageOuts, `the page-outs advised mappings (${advised} in ${pageOuts})`);
    assert.equal(refused, 0, 'the page-out leaves the locked mappings alone (MADV_DONTNEED would refuse them)');
    assert.ok(stats.sent >= 20, `adverts went out meanwhile (${stats.sent})`);
    assert.equal(faults, 0, `the clock thread took ${faults} page faults while it sent ${stats.sent} adverts across ${pageOuts} page-outs`);
    await agentA.call('close', { name: 'tx' });
  });

  test('a replace keeps the phase and carries the new bytes from the next advert on', async () => {
    await open('tx');
    const one = tag('one');
    const two = tag('two');
    const scheduleAt = performance.now();
    await agentA.call('schedule', { name: 'tx', payloads: [one], destinations: [VRRP_GROUP_IPV4], intervalMs: 200, firstInMs: 0 });
    const scheduledAt = performance.now();
    await sleep(450);
    const replaceAt = performance.now();
    await agentA.call('schedule', { name: 'tx', payloads: [two], destinations: [VRRP_GROUP_IPV4], intervalMs: 200 });
    const replacedAt = performance.now();
    await sleep(500);
    await agentA.call('stopAdverts', { name: 'tx' });
    await sleep(100);
    const first = packetsOf(one);
    const second = packetsOf(two);
    // at 0, 200, 400 ms (3) when the replace lands at ~450 ms; a loaded host may make the calls take longer,
    // so the old bytes go out once per 200 ms between the first call and the replace, no more, no fewer
    const fewest = Math.floor((replaceAt - scheduledAt) / 200) + 1, most = Math.floor((replacedAt - scheduleAt) / 200) + 1;
    assert.ok(first.length >= fewest && first.length <= most, `the old bytes every 200 ms until the replace: ${fewest}-${most}, got ${first.length}`);
    assert.ok(second.length >= 2);
    const gap = (second[0]!.receivedAt as number) - (first.at(-1)!.receivedAt as number);
    assert.ok(gap > 180 && gap < 220, `the next advert one interval after the last old one (${gap} ms), not one after the replace`);
    await agentA.call('close', { name: 'tx' });
  });

  test('a socket closed while the clock holds its adverts: nothing more goes out, not even on the socket that takes its descriptor', async () => {
    await open('tx');
    const hex = tag('closed');
    await agentA.call('schedule', { name: 'tx', payloads: [hex], destinations: [VRRP_GROUP_IPV4], intervalMs: 20, firstInMs: 0 });
    await sleep(200);
    await agentA.call('close', { name: 'tx' });
    // the next socket most likely reuses the descriptor just closed
    await open('tx2');
    await sleep(100);
    packetsOf(hex); // what was on its way
    await sleep(400);
    assert.deepEqual(packetsOf(hex), [], 'no send on a closed or reused descriptor');
    assert.equal(await agentA.call('readAdverts', { name: 'tx2' }), null, 'the new socket has no adverts on the clock');
    await agentA.call('close', { name: 'tx2' });
  });

  test('the link goes down under the clock: every send fails, counted, reported once, no spinning; reported again once they go out', async (t) => {
    await open('tx');
    const hex = tag('down');
    await agentA.call('schedule', { name: 'tx', payloads: [hex], destinations: [VRRP_GROUP_IPV4], intervalMs: 10, firstInMs: 0 });
    await sleep(100);
    lab.ip(a, 'link set a0 down');
    t.after(() => lab.ip(a, 'link set a0 up'));
    const failed = await agentA.next((m) => m.event === 'clock' && m.kind === 'send_failed', 3000);
    assert.match(String(failed.error), /^ENET(DOWN|UNREACH)$/, 'the link is down');
    // the counting window is what lies between the two reads, at most from before the first call to after
    // the second returns (the calls cross to the agent: on a loaded host that is more than the sleep)
    const from = performance.now();
    await agentA.call<Stats>('readAdverts', { name: 'tx' });
    const cpu0 = await agentA.call<number>('cpuMs');
    await sleep(1000);
    const cpu1 = await agentA.call<number>('cpuMs');
    const during = await agentA.call<Stats>('readAdverts', { name: 'tx' });
    const windowMs = performance.now() - from;
    assert.ok(during.failed >= 80 && during.failed <= during.sent, `each send failed and was counted (${during.failed} of ${during.sent})`);
    assert.ok(during.sent <= windowMs / 10 + 2, `no faster than the interval while failing (${during.sent} in ${Math.round(windowMs)} ms at 10 ms)`);
    assert.ok(cpu1 - cpu0 < 200, `the process used ${cpu1 - cpu0} ms of CPU in that second`);
    assert.deepEqual(agentA.drain((m) => m.event === 'clock' && m.kind === 'send_failed'), [], 'reported once');
    lab.ip(a, 'link set a0 up');
    await lab.waitOperUp(a, 'a0');
    const back = await agentA.next((m) => m.event === 'clock' && m.kind === 'send_recovered', 5000);
    assert.ok((back.rounds as number) >= 80);
    await agentA.call('stopAdverts', { name: 'tx' });
    await agentA.call('close', { name: 'tx' });
  });

  test('an agent whose sockets held adverts exits on its own once its input closes (the clock keeps no loop alive)', async () => {
    await open('tx');
    await agentA.call('schedule', { name: 'tx', payloads: [tag('exit')], destinations: [VRRP_GROUP_IPV4], intervalMs: 50, firstInMs: 0 });
    assert.equal(await agentA.stop(5000), 0);
  });
});

describe('a master whose adverts the clock sends steps down', { skip }, () => {
  test('a higher priority appears: no advert of the old master after it stepped down', async (t) => {
    // d2 (100) master alone; d1 (150) starts and preempts it
    const p = await startPair({ startD1: false, vrid: 73 });
    t.after(() => p.vlab.cleanup());
    const { vlab, d1, d2, client, l2 } = p;
    await l2.transition('VI_1', 'master', 10_000);
    assert.ok(l2.events('vrrp.advert_clock').length === 1, 'the advert clock sends d2\'s adverts');
    const locked = l2.events('vrrp.advert_clock')[0]!.lockedKiB as number;
    assert.ok(locked >= 1024, `what the clock runs on is locked in memory (${locked} KiB)`);
    const listener = await vlab.listen(client);
    t.after(() => listener.stop());
    await sleep(500);
    assert.ok(listener.arrivals(d2.ipv4, 73).length >= 3, 'd2 speaks as master');
    const since = Date.now();
    const l1 = vlab.lvsd(d1, p.config(1), 'd1');
    t.after(() => l1.stop(3000));
    const down = await l2.transition('VI_1', 'backup', 20_000, since);
    const downAt = typeof down.time === 'number' ? down.time : down.at; // when d2 logged it, not when the test read it
    await sleep(1500);
    const after = listener.arrivals(d2.ipv4, 73, downAt + 1);
    assert.deepEqual(after.map((x) => (x - downAt).toFixed(1)), [], 'nothing from d2 once it stepped down');
    assert.ok(listener.arrivals(d1.ipv4, 73, downAt).length >= 10, 'd1 is the master now');
    assert.ok(listener.arrivals(d2.ipv4, 73, 0, downAt).length >= 5);
    await Promise.all([l1.stop(3000), l2.stop(3000)]);
  });
});

describe('memory the advert clock cannot lock (no CAP_IPC_LOCK, RLIMIT_MEMLOCK 64 KiB)', { skip: skip ?? (spawnSync('capsh', ['--help']).error ? 'no capsh' : undefined) }, () => {
  test('the clock starts anyway, with what it locked and why the rest was refused', () => {
    const net = new URL('../../src/net/index.js', import.meta.url).href;
    const script = `import(${JSON.stringify(net)}).then((n) => process.stdout.write(JSON.stringify(n.startAdvertClock(0))))`;
    const r = spawnSync('capsh', ['--drop=cap_ipc_lock', '--', '-c', 'exec prlimit --memlock=65536:65536 "$0" -e "$1"', process.execPath, script],
      { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout) as { tid: number; lockedKiB: number; lockError?: string };
    assert.ok(c.tid > 0);
    assert.ok(c.lockedKiB > 0 && c.lockedKiB <= 64, `the stack's top fits the limit (${c.lockedKiB} KiB)`);
    assert.match(c.lockError ?? '', /^(ENOMEM|EPERM|EAGAIN) \(needs CAP_IPC_LOCK or a higher RLIMIT_MEMLOCK\)$/);
  });
});
