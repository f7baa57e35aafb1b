/**
 * The scheduler on a virtual clock with a scripted prober (spreading, dedup, concurrency, reload, slow start,
 * sorry server, quorum, logs, snapshot), and once end to end with a real TCP server and real time.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { HealthCheckConfig, HealthGlobalConfig, ServiceConfig } from '../../src/config/types.js';
import type { DestSpec } from '../../src/ipvs/types.js';
import {
  HealthScheduler, ManualClock, type HealthChange, type ProbeResult, type Prober,
} from '../../src/health/index.js';
import { FIRST_UP_EVERY_MS } from '../../src/health/first-up-log.js';
import { captureLog } from './log-capture.js';

const health: HealthGlobalConfig = { execUser: 'nobody', maxConcurrent: 1024, execOutputLimit: 4096 };

function tcpCheck(address: string, over: Partial<HealthCheckConfig> = {}): HealthCheckConfig {
  return { type: 'tcp', interval: 5, timeout: 2, rise: 2, fall: 3, address, port: 80, ...over } as HealthCheckConfig;
}
function dest(address: string, weight = 100): DestSpec {
  return {
    family: 'ipv4', address, port: 80, forwarding: 'nat', weight,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  };
}
function service(name: string, addresses: string[], over: Partial<ServiceConfig> = {}, check = (a: string) => tcpCheck(a)): ServiceConfig {
  return {
    name,
    origin: { file: 'test.json', pointer: `/services/${name}` },
    spec: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    realServers: addresses.map((a) => ({ spec: dest(a), healthCheck: check(a) })),
    onFailure: 'inhibit',
    slowStart: 0,
    initialState: 'down',
    ...over,
  };
}

/** A prober whose answers the test sets per address, recording when each probe started. */
function scripted(clock: ManualClock) {
  const answers = new Map<string, Partial<ProbeResult>>();
  const calls: Array<{ address: string; at: number }> = [];
  const prober: Prober = async (check) => {
    calls.push({ address: check.address, at: clock.now() });
    const a = answers.get(check.address) ?? { ok: true, reason: 'connected' };
    return { ok: a.ok ?? true, latencyMs: 3, reason: a.reason ?? (a.ok === false ? 'connect ECONNREFUSED' : 'connected'), ...a };
  };
  return { answers, calls, prober };
}

function recorder() {
  const events: Array<{ service: string; dests: DestSpec[]; change: HealthChange }> = [];
  return { events, onChange: (service: string, dests: DestSpec[], change: HealthChange) => events.push({ service, dests, change }) };
}
const weights = (ds: DestSpec[] | undefined) => (ds ?? []).map((d) => `${d.address}=${d.weight}`);

describe('spreading and limits', () => {
  test('1,000 probes with a 5 s interval start spread over the interval, each once per interval', async () => {
    const clock = new ManualClock(1_000_000);
    const { calls, prober } = scripted(clock);
    const addrs = Array.from({ length: 1000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.1`);
    const s = new HealthScheduler({ services: [service('big', addrs)], health }, { clock, prober });
    s.start();
    await clock.advance(4999);
    const firsts = new Map<string, number>();
    for (const c of calls) if (!firsts.has(c.address)) firsts.set(c.address, c.at);
    assert.equal(firsts.size, 1000, 'every probe ran in the first interval');
    const buckets = new Array(10).fill(0);
    for (const at of firsts.values()) buckets[Math.floor((at - 1_000_000) / 500)]++;
    // evenly spread would be 100 per 500 ms; all at once would be 1000 in the first bucket
    for (const b of buckets) assert.ok(b >= 60 && b <= 140, `bucket counts ${buckets.join(',')}`);
    await clock.advance(5000);
    // once per interval, each at a fixed cadence; a turn due within COALESCE_MS (10 ms) of a wake-up
    // starts with it (probe-runner.ts), so a start may be up to 10 ms before its turn
    const byAddress = new Map<string, number[]>();
    for (const c of calls) byAddress.set(c.address, [...(byAddress.get(c.address) ?? []), c.at]);
    for (const [address, at] of byAddress) {
      const onTime = at.filter((t) => t - firsts.get(address)! < 2 * 5000 - 10);
      assert.equal(onTime.length, 2, `${address}: ${at.join(', ')}: each probe runs once per interval`);
      for (let i = 1; i < at.length; i++) assert.ok(Math.abs(at[i]! - at[i - 1]! - 5000) <= 10, `${address}: ${at.join(', ')}: a fixed cadence per probe`);
    }
    await s.stop();
    assert.equal(clock.pending, 0, 'stop clears every timer');
  });

  test('one timer serves every probe; probes due within 10 ms share a wake-up and each keeps its cadence', async () => {
    const clock = new ManualClock(0);
    const { calls, prober } = scripted(clock);
    const addrs = Array.from({ length: 1000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.1`);
    const s = new HealthScheduler({ services: [service('big', addrs)], health }, { clock, prober });
    s.start();
    // the heartbeat and the one probe timer: not a timer per real server
    assert.ok(clock.pending <= 2, `${clock.pending} timers pending for 1,000 probes`);
    await clock.advance(9999);
    const byAddress = new Map<string, number[]>();
    for (const c of calls) byAddress.set(c.address, [...(byAddress.get(c.address) ?? []), c.at]);
    assert.equal(byAddress.size, 1000, 'every real server was probed');
    for (const [address, at] of byAddress) {
      assert.ok(at[0]! < 5000, `${address} first probed at ${at[0]}`);
      // each probe keeps its own cadence: one interval between its turns, whatever batch it rode in (a
      // batch may start it up to 10 ms before its turn; the next turn still counts from when it was due)
      for (let i = 1; i < at.length; i++) assert.ok(Math.abs(at[i]! - at[i - 1]! - 5000) <= 10, `${address}: ${at.join(', ')}`);
    }
    const starts = [...new Set(calls.map((c) => c.at))].sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! > 10, `wake-ups at ${starts[i - 1]} and ${starts[i]} are 10 ms or less apart`);
    assert.ok(starts.filter((t) => t < 5000).length < 1000, 'probes shared wake-ups');
    await s.stop();
    assert.equal(clock.pending, 0);
  });

  test('no more than maxConcurrent probes are in flight; a probe still running skips its turn', async () => {
    const clock = new ManualClock();
    let inFlight = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const prober: Prober = () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise((resolve) => release.push(() => {
        inFlight--;
        resolve({ ok: true, latencyMs: 1, reason: 'connected' });
      }));
    };
    const addrs = Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 1}`);
    const s = new HealthScheduler({ services: [service('s', addrs)], health: { ...health, maxConcurrent: 3 } }, { clock, prober });
    s.start();
    await clock.advance(5000);
    assert.equal(peak, 3);
    assert.equal(s.snapshot().loop.queued, 17);
    const probing = s.snapshot().services[0]!.realServers.filter((r) => r.probingSince !== undefined);
    assert.equal(probing.length, 3, 'the snapshot shows which probes are running, and since when');
    await clock.advance(5000);
    assert.equal(s.snapshot().loop.skipped, 20, 'all 20 were still pending at their next turn');
    while (release.length) {
      release.shift()!();
      await clock.advance(0);
    }
    assert.equal(peak, 3);
    await s.stop();
  });
});

describe('results to destinations', () => {
  test('rise brings a server in, fall takes it out (inhibit: weight 0), one change event and log line each', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const { log: logger, lines } = captureLog();
    const rec = recorder();
    const s = new HealthScheduler({ services: [service('web', ['10.0.0.1', '10.0.0.2'])], health }, { clock, prober, logger, onChange: rec.onChange });
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=0', '10.0.0.2=0'], 'servers start down (inhibited)');
    answers.set('10.0.0.2', { ok: false });
    s.start();
    await clock.advance(5000);
    assert.equal(rec.events.length, 0, 'one success is not enough with rise 2');
    await clock.advance(5000);
    assert.equal(rec.events.length, 1);
    assert.deepEqual(weights(rec.events[0]!.dests), ['10.0.0.1=100', '10.0.0.2=0']);
    assert.deepEqual(
      (({ realServer, from, to, reason, latencyMs }) => ({ realServer, from, to, reason, latencyMs }))(rec.events[0]!.change),
      { realServer: '10.0.0.1:80', from: 'down', to: 'up', reason: 'connected', latencyMs: 3 },
    );
    assert.deepEqual(rec.events[0]!.change.changes.map((c) => c.kind), ['update'], 'only the changed destination');
    answers.set('10.0.0.1', { ok: false, reason: 'connect ECONNREFUSED' });
    await clock.advance(10000);
    assert.equal(rec.events.length, 1, 'two failures are not enough with fall 3');
    await clock.advance(5000);
    assert.equal(rec.events.length, 2);
    assert.deepEqual(weights(rec.events[1]!.dests), ['10.0.0.1=0', '10.0.0.2=0']);
    // up at its first verdict: counted in a health.first_up line (first-up-log.ts), not a health.change of its own
    assert.deepEqual(lines.filter((l) => l.event === 'health.first_up').map((l) => [l.count, l.services, l.realServers]),
      [[1, 1, [{ service: 'web', realServer: '10.0.0.1:80', weight: 100 }]]]);
    const changes = lines.filter((l) => l.event === 'health.change');
    assert.deepEqual(changes.map((l) => [l.service, l.realServer, l.from, l.to, l.reason]), [
      ['web', '10.0.0.1:80', 'up', 'down', 'connect ECONNREFUSED'],
    ]);
    await s.stop();
  });

  test('real servers up at their first check are told in one health.first_up line a second at most; every later change, and an up after failing first, in a health.change each', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const { log: logger, lines } = captureLog();
    const rec = recorder();
    const addrs = Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 1}`);
    const check = (a: string) => tcpCheck(a, { rise: 1, fall: 1 });
    const s = new HealthScheduler({ services: [service('web', addrs.slice(0, 10), {}, check), service('api', addrs.slice(10), {}, check)], health },
      { clock, prober, logger, onChange: rec.onChange });
    answers.set('10.0.0.20', { ok: false }); // fails its first checks
    s.start();
    await clock.advance(5000); // every first verdict, spread over the interval
    await clock.advance(FIRST_UP_EVERY_MS); // the last line is written a second after the first it counts
    const firstUps = () => lines.filter((l) => l.event === 'health.first_up');
    assert.ok(firstUps().length >= 2 && firstUps().length <= 6, `${firstUps().length} lines over the interval's 5 s`);
    const changes = () => lines.filter((l) => l.event === 'health.change').map((l) => [l.service, l.realServer, l.from, l.to]);
    assert.deepEqual(changes(), [], 'no health.change for a real server up at its first check');
    const told = firstUps().reduce((n, l) => n + (l.count as number), 0);
    assert.equal(told, 19, 'every one of them counted');
    assert.ok(firstUps().every((l) => (l.realServers as unknown[]).length === Math.min(16, l.count as number)), 'the first 16 of each line named');
    const named = firstUps().flatMap((l) => (l.realServers as Array<{ service: string; realServer: string }>).map((r) => `${r.service} ${r.realServer}`));
    assert.ok(named.includes('web 10.0.0.1:80') && !named.some((n) => n.includes('10.0.0.20:80')), named.join(', '));
    assert.equal(rec.events.reduce((n, e) => n + e.change.transitions.length, 0), 19, 'each is still a transition of its service');
    const last = new Map(rec.events.map((e) => [e.service, e.dests]));
    assert.deepEqual([...last.values()].flat().filter((d) => d.weight !== 100).map((d) => `${d.address}=${d.weight}`), ['10.0.0.20=0'], 'every list follows');
    // the one that failed first comes up: its own line; a later fall and rise too
    answers.delete('10.0.0.20');
    answers.set('10.0.0.1', { ok: false });
    await clock.advance(5000);
    answers.delete('10.0.0.1');
    await clock.advance(5000);
    assert.deepEqual(changes().map((c) => c.join(' ')).sort(), ['api 10.0.0.20:80 down up', 'web 10.0.0.1:80 down up', 'web 10.0.0.1:80 up down']);
    assert.equal(firstUps().reduce((n, l) => n + (l.count as number), 0), 19, 'no first_up after the first verdicts');
    await s.stop();
  });

  test('the same check of the same real server in two services is probed once and both follow it', async () => {
    const clock = new ManualClock();
    const { calls, prober } = scripted(clock);
    const rec = recorder();
    const s = new HealthScheduler(
      { services: [service('a', ['10.0.0.1']), service('b', ['10.0.0.1']), service('c', ['10.0.0.1'], {}, (a) => tcpCheck(a, { rise: 1 }))], health },
      { clock, prober, onChange: rec.onChange },
    );
    s.start();
    await clock.advance(10000);
    const probesPerInterval = calls.length / 2;
    assert.equal(probesPerInterval, 2, 'a and b share one probe; c has other parameters and its own');
    assert.deepEqual(rec.events.map((e) => e.service).sort(), ['a', 'b', 'c']);
    assert.equal(s.snapshot().loop.probes, 2);
    await s.stop();
  });

  test('a flapping server with rise 2 / fall 3 causes no changes', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const rec = recorder();
    const s = new HealthScheduler({ services: [service('web', ['10.0.0.1'], { initialState: 'up' })], health }, { clock, prober, onChange: rec.onChange });
    s.start();
    for (let i = 0; i < 20; i++) {
      answers.set('10.0.0.1', { ok: i % 2 === 0 });
      await clock.advance(5000);
    }
    assert.equal(rec.events.length, 0);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=100']);
    await s.stop();
  });

  test('agent weights, drain and maint reach the destinations', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const s = new HealthScheduler({ services: [service('web', ['10.0.0.1'], { initialState: 'up' })], health }, { clock, prober });
    s.start();
    answers.set('10.0.0.1', { ok: true, weightPercent: 75, reason: 'agent 75%' });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=75']);
    answers.set('10.0.0.1', { ok: true, drain: true, reason: 'agent drain' });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=0']);
    assert.equal(s.snapshot().services[0]!.realServers[0]!.status, 'drain');
    answers.set('10.0.0.1', { ok: false, maint: true, reason: 'agent maint' });
    await clock.advance(5000);
    assert.equal(s.snapshot().services[0]!.realServers[0]!.status, 'maint');
    await s.stop();
  });
});

describe('sorry server, quorum, slow start', () => {
  test('the sorry server comes when the last real server goes and leaves when one returns', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const rec = recorder();
    const check = (a: string) => tcpCheck(a, { rise: 1, fall: 1 });
    const svc = service('web', ['10.0.0.1', '10.0.0.2'], { onFailure: 'remove', initialState: 'up', sorryServer: dest('10.9.9.9', 1) }, check);
    const s = new HealthScheduler({ services: [svc], health }, { clock, prober, onChange: rec.onChange });
    s.start();
    answers.set('10.0.0.1', { ok: false });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.2=100']);
    answers.set('10.0.0.2', { ok: false });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.9.9.9=1']);
    assert.equal(s.snapshot().services[0]!.sorryActive, true);
    answers.set('10.0.0.2', { ok: true });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.2=100']);
    assert.deepEqual(rec.events.at(-1)!.change.changes.map((c) => `${c.kind} ${c.dest.address}`).sort(), ['add 10.0.0.2', 'remove 10.9.9.9']);
    await s.stop();
  });

  test('losing quorum withdraws every real server', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const check = (a: string) => tcpCheck(a, { rise: 1, fall: 1 });
    const svc = service('web', ['10.0.0.1', '10.0.0.2', '10.0.0.3'], { initialState: 'up', quorum: { minUp: 2 }, sorryServer: dest('10.9.9.9', 1) }, check);
    const s = new HealthScheduler({ services: [svc], health }, { clock, prober });
    s.start();
    answers.set('10.0.0.1', { ok: false });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=0', '10.0.0.2=100', '10.0.0.3=100']);
    answers.set('10.0.0.2', { ok: false });
    await clock.advance(5000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=0', '10.0.0.2=0', '10.0.0.3=0', '10.9.9.9=1']);
    assert.equal(s.snapshot().services[0]!.quorumMet, false);
    await s.stop();
  });

  test('a recovered server ramps up under slow start, one change per step', async () => {
    const clock = new ManualClock();
    const { answers, prober } = scripted(clock);
    const rec = recorder();
    const check = (a: string) => tcpCheck(a, { rise: 1, fall: 1, interval: 5 });
    const s = new HealthScheduler({ services: [service('web', ['10.0.0.1'], { initialState: 'up', slowStart: 30 }, check)], health }, { clock, prober, onChange: rec.onChange });
    s.start();
    answers.set('10.0.0.1', { ok: false });
    await clock.advance(5000);
    answers.set('10.0.0.1', { ok: true });
    await clock.advance(5000);
    rec.events.length = 0;
    await clock.advance(40000);
    const ramp = rec.events.map((e) => e.dests[0]!.weight);
    assert.deepEqual(ramp, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    assert.ok(rec.events.every((e) => /^slow start/.test(e.change.reason)));
    await s.stop();
  });
});

describe('reload and status', () => {
  test('update() keeps the state of unchanged checks, starts new ones down and drops removed ones', async () => {
    const clock = new ManualClock();
    const { calls, prober } = scripted(clock);
    const s = new HealthScheduler({ services: [service('web', ['10.0.0.1', '10.0.0.2'])], health }, { clock, prober });
    s.start();
    await clock.advance(10000);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=100', '10.0.0.2=100']);
    const web2 = service('web', ['10.0.0.1', '10.0.0.3']);
    web2.realServers[0]!.spec.weight = 50; // a weight change is not a check change
    s.update({ services: [web2], health });
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=50', '10.0.0.3=0']);
    calls.length = 0;
    await clock.advance(10000);
    assert.deepEqual([...new Set(calls.map((c) => c.address))].sort(), ['10.0.0.1', '10.0.0.3']);
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=50', '10.0.0.3=100']);
    s.update({ services: [], health });
    assert.equal(s.desired('web'), undefined);
    calls.length = 0;
    await clock.advance(10000);
    assert.equal(calls.length, 0);
    await s.stop();
  });

  test('update() with reused config objects (a reload that changed one service): the kept service keeps its entry, a shared probe keeps running for it, one only the removed service used stops', async () => {
    const clock = new ManualClock();
    const { answers, calls, prober } = scripted(clock);
    const { events, onChange } = recorder();
    // 10.0.0.1 is one probe shared by both services; 10.0.0.2 only b uses
    const a = service('a', ['10.0.0.1', '10.0.0.3']);
    const b = service('b', ['10.0.0.1', '10.0.0.2']);
    const s = new HealthScheduler({ services: [a, b], health }, { clock, prober, onChange });
    s.start();
    await clock.advance(10000);
    assert.deepEqual(weights(s.desired('a')), ['10.0.0.1=100', '10.0.0.3=100']);

    // b's config changes (a new object), a's is the very same object: a is kept
    const b2 = service('b', ['10.0.0.1', '10.0.0.2'], { onFailure: 'remove' });
    s.update({ services: [a, b2], health });
    assert.deepEqual(weights(s.desired('a')), ['10.0.0.1=100', '10.0.0.3=100']);
    // b removed: the shared probe keeps running for a, and a result of it still reaches a
    s.update({ services: [a], health });
    assert.equal(s.desired('b'), undefined);
    calls.length = 0;
    answers.set('10.0.0.1', { ok: false, reason: 'connect ECONNREFUSED' });
    events.length = 0;
    await clock.advance(20000);
    assert.deepEqual([...new Set(calls.map((c) => c.address))].sort(), ['10.0.0.1', '10.0.0.3'], '10.0.0.2 (only b) stopped, 10.0.0.1 (shared) runs');
    assert.deepEqual(weights(s.desired('a')), ['10.0.0.1=0', '10.0.0.3=100']);
    assert.deepEqual(events.map((e) => e.service), ['a'], 'the shared probe\'s verdict reaches a only');
    // b comes back as a new object: it gets the running shared probe's state (down), its own new probe starts down
    const b3 = service('b', ['10.0.0.1', '10.0.0.2']);
    s.update({ services: [a, b3], health });
    assert.deepEqual(weights(s.desired('b')), ['10.0.0.1=0', '10.0.0.2=0']);
    answers.delete('10.0.0.1');
    events.length = 0;
    await clock.advance(20000);
    assert.deepEqual(weights(s.desired('a')), ['10.0.0.1=100', '10.0.0.3=100']);
    assert.deepEqual(weights(s.desired('b')), ['10.0.0.1=100', '10.0.0.2=100']);
    assert.deepEqual([...new Set(events.map((e) => e.service))].sort(), ['a', 'b'], 'the shared probe serves both again');
    await s.stop();
  });

  test('snapshot shows per real server state, weights and last result, and loop health', async () => {
    const clock = new ManualClock(50_000);
    const { answers, prober } = scripted(clock);
    answers.set('10.0.0.2', { ok: false, reason: 'status 503' });
    const s = new HealthScheduler({ services: [service('web', ['10.0.0.1', '10.0.0.2'], { initialState: 'up' })], health }, { clock, prober });
    s.start();
    await clock.advance(20000);
    const snap = s.snapshot();
    assert.equal(snap.running, true);
    assert.equal(snap.loop.lastTickAt, 70_000);
    assert.equal(snap.loop.lagMs, 0);
    const [a, b] = snap.services[0]!.realServers;
    assert.deepEqual([a!.realServer, a!.status, a!.configuredWeight, a!.effectiveWeight, a!.latencyMs], ['10.0.0.1:80', 'up', 100, 100, 3]);
    assert.deepEqual([b!.status, b!.reason, b!.effectiveWeight, b!.lastResult?.reason], ['down', 'status 503', 0, 'status 503']);
    assert.ok(b!.since > 50_000 && b!.lastProbeAt! >= b!.since);
    await s.stop();
    assert.equal(s.snapshot().running, false);
  });
});

test('end to end: a real TCP server going away and coming back, with real time', async () => {
  const server = net.createServer((sock) => sock.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const rec = recorder();
  const check = { ...tcpCheck('127.0.0.1', { interval: 0.1, timeout: 0.1, rise: 1, fall: 1 }), port } as HealthCheckConfig;
  const svc = service('live', [], { initialState: 'down' });
  svc.realServers = [{ spec: { ...dest('127.0.0.1'), port }, healthCheck: check }];
  const s = new HealthScheduler({ services: [svc], health }, { onChange: rec.onChange });
  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(cond());
  };
  try {
    s.start();
    await waitFor(() => rec.events.length >= 1);
    assert.equal(rec.events[0]!.dests[0]!.weight, 100);
    await new Promise<void>((r) => server.close(() => r()));
    await waitFor(() => rec.events.length >= 2);
    assert.equal(rec.events[1]!.dests[0]!.weight, 0);
    assert.match(rec.events[1]!.change.reason, /^connect ECONN(REFUSED|RESET)$/); // RESET: a connection caught in the closing listener's backlog
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    await waitFor(() => rec.events.length >= 3);
    assert.equal(rec.events[2]!.change.to, 'up');
  } finally {
    await s.stop();
    if (server.listening) await new Promise<void>((r) => server.close(() => r()));
  }
});

describe('failures of the director itself', () => {
  test('a probe failing with EMFILE leaves an up real server up, is logged once per 10 s and retried within a second', async () => {
    const clock = new ManualClock(1_000_000);
    const { answers, calls, prober } = scripted(clock);
    const { log: logger, lines } = captureLog();
    const { events, onChange } = recorder();
    const seen: ProbeResult[] = [];
    const s = new HealthScheduler(
      { services: [service('web', ['10.0.0.1'], { initialState: 'up' }, (a) => tcpCheck(a, { fall: 1 }))], health },
      { clock, prober, onChange, logger, onProbeResult: (_c, _t, r) => seen.push(r) },
    );
    s.start();
    await clock.advance(5000);
    assert.equal(calls.length, 1);
    answers.set('10.0.0.1', { ok: false, reason: 'connect EMFILE', local: 'EMFILE' });
    const before = calls.length;
    while (calls.length === before) await clock.advance(100); // the next turn fails locally...
    await clock.advance(1000);
    assert.equal(calls.length, before + 2, '...and is tried again within a second, not five');
    await clock.advance(3000);
    assert.equal(events.length, 0, 'fall 1, yet no change: the real server is not judged');
    assert.deepEqual(weights(s.desired('web')), ['10.0.0.1=100']);
    const row = s.snapshot().services[0]!.realServers[0]!;
    assert.equal(row.status, 'up');
    assert.equal(row.failures, 0);
    const logged = lines.filter((l) => l.event === 'health.local_failure');
    assert.equal(logged.length, 1, 'rate limited');
    assert.equal(logged[0]!.level, 50);
    assert.equal(logged[0]!.errno, 'EMFILE');
    assert.ok(seen.some((r) => r.local === 'EMFILE'), 'the result still reaches metrics');
    answers.set('10.0.0.1', { ok: false, reason: 'connect ECONNREFUSED' });
    await clock.advance(5000);
    assert.equal(events.length, 1, 'a real refusal still takes it out');
    assert.equal(events[0]!.change.to, 'down');
    await s.stop();
  });
});

test('unsettledServers: a real server counts until its first rise or fall (initially up or down), and not past twice that time when it flaps', async () => {
  const clock = new ManualClock(0);
  const { answers, prober } = scripted(clock);
  answers.set('10.0.0.2', { ok: false });
  const s = new HealthScheduler({ services: [service('web', ['10.0.0.1', '10.0.0.2']), service('up', ['10.0.0.3'], { initialState: 'up' })], health }, { clock, prober });
  assert.equal(s.unsettledServers('web'), 2);
  assert.equal(s.unsettledServers('up'), 1);
  s.start();
  await clock.advance(5000); // one probe each: rise 2, fall 3 not reached
  assert.equal(s.unsettledServers('web'), 2);
  await clock.advance(5000); // .1 rose (2 successes); .2 has 2 failures of 3; .3 reached rise 2 while up
  assert.equal(s.unsettledServers('web'), 1);
  assert.equal(s.unsettledServers('up'), 0);
  await clock.advance(5000); // .2's third failure: down is a verdict too
  assert.equal(s.unsettledServers('web'), 0);
  assert.equal(s.unsettledServers('nosuch'), undefined);
  await s.stop();
});

test('awaitingFirstVerdicts: a real server counts until its first rise or fall however long that takes (a start\'s ramp at a loaded host: the warm after it must not start inside it), not a real server without a check', async () => {
  const clock = new ManualClock(0);
  const { answers, prober } = scripted(clock);
  answers.set('10.0.0.2', { ok: false });
  const none = (a: string) => ({ ...tcpCheck(a), type: 'none' }) as HealthCheckConfig;
  const s = new HealthScheduler({ services: [service('web', ['10.0.0.1', '10.0.0.2']), service('plain', ['10.0.0.3'], {}, none)], health }, { clock, prober });
  assert.equal(s.awaitingFirstVerdicts(), 2);
  await clock.advance(100_000); // not probed yet (the start pass, a slow first interval)
  assert.equal(s.unsettledServers('web'), 0, 'the flapping rule counts them settled by now');
  assert.equal(s.awaitingFirstVerdicts(), 2, 'still no verdict');
  s.start();
  await clock.advance(10_000); // .1: 2 successes (rise 2); .2: 2 failures of fall 3
  assert.equal(s.awaitingFirstVerdicts(), 1);
  await clock.advance(5000); // .2's third failure: down is a verdict too
  assert.equal(s.awaitingFirstVerdicts(), 0);
  await s.stop();
});

test('unsettledServers: a real server without a check (type none) is settled from the start: an ECMP director and the start\'s warm do not wait for a verdict that never comes', async () => {
  const clock = new ManualClock(0);
  const { prober } = scripted(clock);
  const none = (a: string) => ({ ...tcpCheck(a), type: 'none' }) as HealthCheckConfig;
  const s = new HealthScheduler({ services: [service('plain', ['10.0.0.1', '10.0.0.2'], {}, none), service('web', ['10.0.0.3'])], health }, { clock, prober });
  s.start();
  // before: counted until twice a rise's time had passed (2 x (3 x 5 s + 2 s) = 34 s by default)
  assert.equal(s.unsettledServers('plain'), 0);
  assert.equal(s.awaitingFirstVerdicts(), 1, 'the checked one only');
  await clock.advance(10_000);
  assert.equal(s.awaitingFirstVerdicts(), 0);
  await s.stop();
});
