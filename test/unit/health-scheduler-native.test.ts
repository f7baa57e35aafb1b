/**
 * The scheduler with the real checkers and real time: its TCP checks run in the addon (watches: the addon
 * starts each probe on its schedule, JavaScript only reads outcomes). Against real listeners on loopback:
 * a server going away is taken out after `fall` probes and brought back after `rise`, on the configured
 * cadence; the addon counts every result (takeCounts hands them to the metrics) and tells JavaScript only
 * the changes; a reload keeps a healthy server's watch and
 * state; stop() leaves no watch and no socket behind.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { HealthCheckConfig, HealthGlobalConfig, ServiceConfig } from '../../src/config/types.js';
import type { DestSpec } from '../../src/ipvs/types.js';
import { HealthScheduler, type ProbeResult } from '../../src/health/index.js';
import { nativeAvailable, sharedTcpProber } from '../../src/net/index.js';
import { DURATION_BUCKETS } from '../../src/daemon/buckets.js';
import { createMetrics } from '../../src/daemon/metrics.js';

const health: HealthGlobalConfig = { execUser: 'nobody', maxConcurrent: 1024, execOutputLimit: 4096 };
const openFds = () => readdirSync('/proc/self/fd').length;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function service(name: string, ports: number[], check: Partial<HealthCheckConfig> = {}): ServiceConfig {
  const dest = (port: number): DestSpec => ({
    family: 'ipv4', address: '127.0.0.1', port, forwarding: 'nat', weight: 10,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  });
  return {
    name,
    origin: { file: 't.json', pointer: `/services/${name}` },
    spec: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    realServers: ports.map((port) => ({
      spec: dest(port),
      healthCheck: { type: 'tcp', interval: 0.2, timeout: 0.5, rise: 2, fall: 2, address: '127.0.0.1', port, ...check } as HealthCheckConfig,
    })),
    onFailure: 'inhibit',
    slowStart: 0,
    initialState: 'down',
  };
}

async function listener(port = 0): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port: (server.address() as net.AddressInfo).port };
}
const closeServer = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));

async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
  return Date.now() - t0;
}

describe('TCP checks run by the addon', { skip: nativeAvailable() ? false : 'native addon not built (npm ci)' }, () => {
  test('a server that goes away is out after fall probes and back after rise, each result counted', async () => {
    const a = await listener();
    const b = await listener();
    const counts = new Map<number, { ok: number; failed: number }>();
    const told: ProbeResult[] = [];
    const weights = new Map<number, number>();
    const changes: Array<{ port: number; reason: string; to: string }> = [];
    const s = new HealthScheduler({ services: [service('web', [a.port, b.port])], health }, {
      onProbeResult: (_c, _t, result) => told.push(result),
      onProbeCounts: (_c, target, ok, failed) => {
        const c = counts.get(target.port) ?? { ok: 0, failed: 0 };
        counts.set(target.port, { ok: c.ok + ok, failed: c.failed + failed });
      },
      onChange: (_svc, dests, c) => {
        for (const d of dests) weights.set(d.port, d.weight);
        changes.push({ port: Number(c.realServer.split(':')[1]), reason: c.reason, to: c.to });
      },
    });
    const watches0 = sharedTcpProber()!.stats().watches;
    s.start();
    const t0 = Date.now();
    try {
      assert.equal(sharedTcpProber()!.stats().watches - watches0, 2, 'both checks are addon watches');
      await until(() => weights.get(a.port) === 10 && weights.get(b.port) === 10, 3000, 'both up after rise 2');
      await sleep(1000);
      // cadence: one probe per interval (200 ms), counted by the addon and taken at once
      s.takeCounts();
      const elapsed = Date.now() - t0;
      const aCount = counts.get(a.port)!;
      assert.equal(aCount.failed, 0);
      assert.ok(aCount.ok >= elapsed / 200 - 3 && aCount.ok <= elapsed / 200 + 1, `${aCount.ok} probes of a in ${elapsed} ms at 200 ms`);
      assert.equal(told.length, 0, 'no result one by one: the addon counts them');
      await closeServer(b.server);
      const t1 = Date.now();
      const downIn = await until(() => weights.get(b.port) === 0, 3000, 'b inhibited after fall 2');
      assert.ok(downIn >= 150, `down after ${downIn} ms: fall 2 needs a second failed probe`);
      s.takeCounts();
      assert.ok(counts.get(b.port)!.failed >= 2, JSON.stringify(counts.get(b.port)));
      const down = changes.filter((c) => c.port === b.port && c.to === 'down');
      assert.deepEqual(down.map((c) => c.reason), ['connect ECONNREFUSED'], 'taken out with the reason');
      assert.ok(Date.now() - t1 < 3000);
      assert.equal(weights.get(a.port), 10, 'a is untouched');
      const back = await listener(b.port);
      try {
        await until(() => weights.get(b.port) === 10, 3000, 'b back after rise 2');
      } finally {
        await closeServer(back.server);
      }
    } finally {
      await s.stop();
      await closeServer(a.server);
    }
    assert.equal(sharedTcpProber()!.stats().watches, watches0, 'stop removes every watch');
  });

  test('status shows each addon check\'s run and last probe, though JavaScript hears only the changes', async () => {
    const a = await listener();
    const svc = service('web', [a.port]);
    const s = new HealthScheduler({ services: [svc], health });
    s.start();
    try {
      await until(() => s.snapshot().services[0]!.up === 1, 3000, 'up');
      await until(() => s.snapshot().services[0]!.realServers[0]!.successes >= 6, 5000, 'successes go on counting');
      const row = s.snapshot().services[0]!.realServers[0]!;
      assert.equal(row.status, 'up');
      assert.equal(row.failures, 0);
      assert.equal(row.lastResult?.reason, 'connected');
      assert.ok(row.lastProbeAt !== undefined && Date.now() - row.lastProbeAt < 1000, `last probe ${Date.now() - row.lastProbeAt!} ms ago`);
      assert.ok(row.latencyMs !== undefined && row.latencyMs >= 0);
      await closeServer(a.server);
      await until(() => s.snapshot().services[0]!.realServers[0]!.failures >= 4, 5000, 'failures counted');
      const down = s.snapshot().services[0]!.realServers[0]!;
      assert.equal(down.status, 'down');
      assert.equal(down.successes, 0);
      assert.equal(down.lastResult?.reason, 'connect ECONNREFUSED');
    } finally {
      await s.stop();
      if (a.server.listening) await closeServer(a.server);
    }
  });

  test('a metrics scrape takes the addon\'s counts: results per real server and the latency histogram', async () => {
    const a = await listener();
    const metrics = createMetrics({ processMetrics: false });
    const s = new HealthScheduler({ services: [service('web', [a.port])], health }, {
      durationBuckets: DURATION_BUCKETS,
      onProbeCounts: (_c, target, ok, failed) => {
        const rs = `127.0.0.1:${target.port}`;
        if (ok) metrics.healthResult('web', rs, 'up', ok);
        if (failed) metrics.healthResult('web', rs, 'down', failed);
      },
      onProbeDurations: (type, h) => metrics.healthProbeDurations(type, h),
    });
    metrics.healthCountsFrom(() => s.takeCounts());
    s.start();
    try {
      await until(() => s.snapshot().services[0]!.realServers[0]!.successes >= 5, 5000, '5 probes');
      const text = await metrics.registry.metrics();
      const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
      const up = value(new RegExp(`lvsd_health_results_total\\{service="web",real_server="127.0.0.1:${a.port}",result="up"\\} (\\d+)`));
      assert.ok(up >= 5, `results up ${up}\n${text.split('\n').filter((l) => l.includes('health')).join('\n')}`);
      const count = value(/lvsd_health_probe_duration_seconds_count\{type="tcp"\} (\d+)/);
      const inf = value(/lvsd_health_probe_duration_seconds_bucket\{le="\+Inf",type="tcp"\} (\d+)/);
      assert.ok(count >= up && inf === count, `histogram count ${count}, +Inf ${inf}, results ${up}`);
      // the next scrape adds what came since: counters only grow
      await sleep(500);
      const again = Number(new RegExp(`result="up"\\} (\\d+)`).exec(await metrics.registry.metrics())?.[1]);
      assert.ok(again > up, `${again} after ${up}`);
    } finally {
      await s.stop();
      await closeServer(a.server);
    }
  });

  test('a reload keeps a healthy server (no new rise); stop leaves no socket open', async () => {
    const a = await listener();
    const fds = openFds();
    const svc = service('web', [a.port]);
    const changes: string[] = [];
    const s = new HealthScheduler({ services: [svc], health }, { onChange: (_n, _d, c) => changes.push(`${c.from}->${c.to}`) });
    s.start();
    try {
      await until(() => s.snapshot().services[0]!.up === 1, 3000, 'up');
      s.update({ services: [{ ...svc, realServers: svc.realServers.map((r) => ({ ...r, spec: { ...r.spec, weight: 20 } })) }], health });
      assert.equal(s.snapshot().services[0]!.up, 1, 'still up right after the reload');
      await sleep(600);
      assert.deepEqual(changes, ['down->up'], 'no transition from the reload');
      assert.equal(s.desired('web')![0]!.weight, 20, 'the new weight applies at once');
    } finally {
      await s.stop();
      await closeServer(a.server);
    }
    // the engine closes its sockets on its own thread: waited for (a leak never gets there), not slept on
    for (const end = Date.now() + 10_000; openFds() > fds + 1 && Date.now() < end;) await sleep(20);
    assert.ok(openFds() <= fds + 1, `file descriptors: ${fds} before, ${openFds()} after`);
  });
});
