import { test } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { createMetrics, parseListen, startMetricsServer } from '../../src/daemon/metrics.js';
import { isLvsdError } from '../../src/errors.js';
import { fixtureSnapshot } from './status-fixture.js';

interface Sample { name: string; labels: Record<string, string>; value: number }

/** The Prometheus text exposition format, enough for the tests: samples and their TYPE lines. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) { types.set(type[1]!, type[2]!); continue; }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function scrape(port: number, path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

test('a scrape shows the events the daemon recorded, with their labels and values', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const server = await startMetricsServer('127.0.0.1:0', m.registry);
  t.after(() => server.close());
  assert.ok(server.port > 0);

  m.vrrpState('vi_web', 'master');
  m.vrrpState('vi_dns', 'fault');
  m.vrrpTransition('vi_web', 'backup');
  m.vrrpTransition('vi_web', 'master');
  m.vrrpTransition('vi_web', 'master');
  for (let i = 0; i < 5; i++) m.vrrpAdvertSent('vi_web');
  m.vrrpAdvertReceived('vi_dns');
  m.vrrpAdvertInvalid('vi_dns', 'checksum');
  m.healthResult('web', '10.0.1.11:8080', 'up');
  m.healthResult('web', '10.0.1.11:8080', 'up');
  m.healthResult('web', '10.0.1.12:8080', 'timeout');
  m.healthUp('web', '10.0.1.11:8080', true);
  m.healthUp('web', '10.0.1.12:8080', false);
  m.healthProbeDuration('http', 0.003);
  m.healthProbeDuration('http', 0.2);
  m.reconcileDuration(0.04);
  m.reconcileError(2);
  m.configReload('ok');
  m.configReload('refused');
  m.reload('ok'); // the daemon's DaemonMetrics shape
  m.reconcile(0.02, 1);

  const res = await scrape(server.port);
  assert.equal(res.status, 200);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  const { samples, types } = parseExposition(res.body);
  assert.equal(value(samples, 'lvsd_vrrp_state', { instance: 'vi_web' }), 2);
  assert.equal(value(samples, 'lvsd_vrrp_state', { instance: 'vi_dns' }), 3);
  assert.equal(value(samples, 'lvsd_vrrp_transitions_total', { instance: 'vi_web', to: 'master' }), 2);
  assert.equal(value(samples, 'lvsd_vrrp_transitions_total', { instance: 'vi_web', to: 'backup' }), 1);
  assert.equal(value(samples, 'lvsd_vrrp_adverts_sent_total', { instance: 'vi_web' }), 5);
  assert.equal(value(samples, 'lvsd_vrrp_adverts_received_total', { instance: 'vi_dns' }), 1);
  assert.equal(value(samples, 'lvsd_vrrp_adverts_invalid_total', { instance: 'vi_dns', reason: 'checksum' }), 1);
  assert.equal(value(samples, 'lvsd_health_results_total', { service: 'web', real_server: '10.0.1.11:8080', result: 'up' }), 2);
  assert.equal(value(samples, 'lvsd_health_results_total', { service: 'web', real_server: '10.0.1.12:8080', result: 'timeout' }), 1);
  assert.equal(value(samples, 'lvsd_health_up', { service: 'web', real_server: '10.0.1.11:8080' }), 1);
  assert.equal(value(samples, 'lvsd_health_up', { service: 'web', real_server: '10.0.1.12:8080' }), 0);
  assert.equal(types.get('lvsd_health_probe_duration_seconds'), 'histogram');
  assert.equal(value(samples, 'lvsd_health_probe_duration_seconds_count', { type: 'http' }), 2);
  assert.equal(value(samples, 'lvsd_health_probe_duration_seconds_bucket', { type: 'http', le: '0.005' }), 1);
  assert.equal(value(samples, 'lvsd_health_probe_duration_seconds_bucket', { type: 'http', le: '+Inf' }), 2);
  assert.equal(value(samples, 'lvsd_reconcile_duration_seconds_count'), 2);
  assert.equal(value(samples, 'lvsd_reconcile_errors_total'), 3);
  assert.equal(value(samples, 'lvsd_config_reloads_total', { result: 'ok' }), 2);
  assert.equal(value(samples, 'lvsd_config_reloads_total', { result: 'refused' }), 1);
  assert.equal(types.get('lvsd_vrrp_transitions_total'), 'counter');
  assert.equal(types.get('lvsd_vrrp_state'), 'gauge');

  // a stopped instance and a removed real server leave no stale series behind
  m.vrrpState('vi_dns', 'stopped');
  m.forgetRealServer('web', '10.0.1.12:8080');
  const after = parseExposition((await scrape(server.port)).body).samples;
  assert.equal(value(after, 'lvsd_vrrp_state', { instance: 'vi_dns' }), undefined);
  assert.equal(value(after, 'lvsd_health_up', { real_server: '10.0.1.12:8080' }), undefined);
  assert.equal(value(after, 'lvsd_health_results_total', { real_server: '10.0.1.12:8080' }), undefined);
  assert.equal(value(after, 'lvsd_health_up', { real_server: '10.0.1.11:8080' }), 1);
});

test('kernel counters and the health loop come from the latest snapshot at scrape time', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const server = await startMetricsServer('127.0.0.1:0', m.registry);
  t.after(() => server.close());
  let snapshot = fixtureSnapshot();
  m.setSnapshotSource(() => snapshot);
  let { samples, types } = parseExposition((await scrape(server.port)).body);
  assert.equal(types.get('lvsd_ipvs_service_connections_total'), 'counter');
  assert.equal(value(samples, 'lvsd_ipvs_service_connections_total', { service: 'web' }), 1234567);
  assert.equal(value(samples, 'lvsd_ipvs_service_connections_total', { service: 'dns6' }), undefined, 'not in the kernel: no counter');
  assert.equal(value(samples, 'lvsd_ipvs_service_present', { service: 'web' }), 1);
  assert.equal(value(samples, 'lvsd_ipvs_service_present', { service: 'dns6' }), 0);
  assert.equal(value(samples, 'lvsd_ipvs_service_bytes_total', { service: 'web', direction: 'in' }), 1);
  assert.equal(value(samples, 'lvsd_ipvs_service_connections_per_second', { service: 'web' }), 1200);
  assert.equal(value(samples, 'lvsd_ipvs_real_server_active_connections', { service: 'web', real_server: '10.0.1.11:8080' }), 1500);
  assert.equal(value(samples, 'lvsd_ipvs_real_server_inactive_connections', { service: 'web', real_server: '10.0.1.12:8080' }), 3);
  assert.equal(value(samples, 'lvsd_ipvs_real_server_weight', { service: 'web', real_server: '10.0.1.12:8080' }), 0);
  assert.equal(value(samples, 'lvsd_real_server_drained', { service: 'web', real_server: '10.0.1.12:8080' }), 1);
  assert.equal(value(samples, 'lvsd_ipvs_real_server_active_connections', { service: 'dns6' }), undefined);
  assert.equal(value(samples, 'lvsd_health_loop_alive'), 1);
  assert.equal(value(samples, 'lvsd_health_loop_lag_seconds'), 0.2);
  assert.equal(value(samples, 'lvsd_health_probes_in_flight'), 3);

  // the next scrape sees the next snapshot: a hung loop, grown counters, a service gone
  snapshot = fixtureSnapshot();
  snapshot.health = { alive: false, lastTickAt: '2026-11-25T11:59:00.000Z', lagMs: 60_000, probesInFlight: 0 };
  snapshot.services[0]!.stats!.conns = 2_000_000;
  snapshot.services.pop();
  ({ samples } = parseExposition((await scrape(server.port)).body));
  assert.equal(value(samples, 'lvsd_health_loop_alive'), 0);
  assert.equal(value(samples, 'lvsd_health_loop_lag_seconds'), 60);
  assert.equal(value(samples, 'lvsd_ipvs_service_connections_total', { service: 'web' }), 2_000_000);
  assert.equal(value(samples, 'lvsd_ipvs_service_present', { service: 'dns6' }), undefined);
});

test('tracked scripts, files and processes of VRRP instances: up and priority delta per object (fault: -255), from the snapshot', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const server = await startMetricsServer('127.0.0.1:0', m.registry);
  t.after(() => server.close());
  const snapshot = fixtureSnapshot();
  snapshot.vrrp[0]!.tracks = [
    { kind: 'script', name: 'chk', up: false, weight: -30, effect: -30 },
    { kind: 'process', name: 'sshd', up: false, value: 0, weight: 0, effect: 'fault' },
    { kind: 'file', name: '/run/w', up: true, value: 0, weight: 1, effect: 0 },
  ];
  m.setSnapshotSource(() => snapshot);
  const { samples, types } = parseExposition((await scrape(server.port)).body);
  assert.equal(types.get('lvsd_vrrp_track_up'), 'gauge');
  assert.equal(value(samples, 'lvsd_vrrp_track_up', { instance: 'vi_web', kind: 'script', name: 'chk' }), 0);
  assert.equal(value(samples, 'lvsd_vrrp_track_up', { instance: 'vi_web', kind: 'file', name: '/run/w' }), 1);
  assert.equal(value(samples, 'lvsd_vrrp_track_priority_delta', { instance: 'vi_web', kind: 'script', name: 'chk' }), -30);
  assert.equal(value(samples, 'lvsd_vrrp_track_priority_delta', { instance: 'vi_web', kind: 'process', name: 'sshd' }), -255);
  assert.equal(value(samples, 'lvsd_vrrp_track_priority_delta', { instance: 'vi_dns6' }), undefined, 'no tracked objects, no series');
});

test('process metrics are included by default; other paths are 404', async (t) => {
  const m = createMetrics();
  const server = await startMetricsServer('127.0.0.1:0', m.registry);
  t.after(() => server.close());
  const { samples } = parseExposition((await scrape(server.port)).body);
  assert.ok(samples.some((s) => s.name === 'process_resident_memory_bytes'));
  assert.equal((await scrape(server.port, '/')).status, 404);
});

test('listen addresses: host:port, [v6]:port, :port; anything else is refused', async () => {
  assert.deepEqual(parseListen('127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
  assert.deepEqual(parseListen('[::1]:9100'), { host: '::1', port: 9100 });
  assert.deepEqual(parseListen(':9100'), { host: undefined, port: 9100 });
  for (const bad of ['9100', 'localhost', '::1:9100', 'host:99999']) {
    assert.throws(() => parseListen(bad), (e: unknown) => isLvsdError(e, 'LVSD_CONFIG_INVALID'), bad);
  }
  const m = createMetrics({ processMetrics: false });
  const first = await startMetricsServer('127.0.0.1:0', m.registry);
  try {
    await assert.rejects(startMetricsServer(`127.0.0.1:${first.port}`, m.registry),
      (e: unknown) => isLvsdError(e, 'LVSD_CONFIG_INVALID') && /EADDRINUSE/.test(e.message));
  } finally {
    await first.close();
  }
});

test('a group of 100 members is one series per real server (connections summed, weight and presence the lowest), not 100', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const server = await startMetricsServer('127.0.0.1:0', m.registry);
  t.after(() => server.close());
  const snapshot = fixtureSnapshot();
  const web = snapshot.services[0]!;
  const size = 100;
  snapshot.services = Array.from({ length: size }, (_, index) => ({
    ...structuredClone(web),
    name: `g[tcp/192.0.2.${index + 1}:80]`, key: `tcp/192.0.2.${index + 1}:80`, group: { name: 'g', index, size },
    realServers: web.realServers.map((r) => ({ ...structuredClone(r), sharedId: r.id })),
  }));
  snapshot.services[7]!.kernel = 'missing';
  snapshot.services[7]!.stats = null;
  snapshot.services[9]!.realServers[0]!.weight.kernel = 0;
  m.setSnapshotSource(() => snapshot);
  const { samples } = parseExposition((await scrape(server.port)).body);
  const series = (name: string) => samples.filter((s) => s.name === name);
  assert.equal(series('lvsd_ipvs_service_present').length, 1);
  assert.equal(value(samples, 'lvsd_ipvs_service_present', { service: 'g' }), 0, 'one member missing: the group is not whole');
  assert.equal(series('lvsd_ipvs_real_server_active_connections').length, web.realServers.length);
  assert.equal(value(samples, 'lvsd_ipvs_real_server_active_connections', { service: 'g', real_server: '10.0.1.11:8080' }), 1500 * size);
  assert.equal(value(samples, 'lvsd_ipvs_real_server_weight', { service: 'g', real_server: '10.0.1.11:8080' }), 0, 'the lowest member weight');
  assert.equal(value(samples, 'lvsd_ipvs_service_connections_total', { service: 'g' }), 1234567 * (size - 1));
  assert.ok(!samples.some((s) => String(s.labels.service ?? '').startsWith('g[')), 'no per-member series');
});

test('ecmp: sessions, BFD, announced addresses, BIRD up, restarts and the director drain come from the snapshot; none without ecmp', async (t) => {
  const m = createMetrics({ processMetrics: false });
  const server = await startMetricsServer('127.0.0.1:0', m.registry);
  t.after(() => server.close());
  let snapshot = fixtureSnapshot();
  m.setSnapshotSource(() => snapshot);
  let { samples } = parseExposition((await scrape(server.port)).body);
  assert.equal(value(samples, 'lvsd_bgp_session_up', { peer: '10.1.0.1' }), undefined);
  assert.equal(value(samples, 'lvsd_vip_announced', { vip: '10.200.0.10/32' }), undefined);
  snapshot = {
    ...fixtureSnapshot(),
    ecmp: {
      daemon: { running: true, pid: 42, restarts: 3, startedAt: null, lastError: null, nextStartAt: null },
      drained: true, drainedSince: null, stopping: false, problems: [],
      peers: [
        { address: '10.1.0.1', as: 65000, bgp: 'Established', bfd: 'Up', detail: '', since: '2026-01-01T00:00:00Z' },
        { address: '10.1.1.1', as: 65000, bgp: 'Active', bfd: 'off', detail: '', since: '2026-01-01T00:00:00Z' },
      ],
      vips: [{ address: '10.200.0.10', prefix: '10.200.0.10/32', announced: false, reason: 'director drained' }],
    },
  };
  ({ samples } = parseExposition((await scrape(server.port)).body));
  assert.equal(value(samples, 'lvsd_bgp_session_up', { peer: '10.1.0.1' }), 1);
  assert.equal(value(samples, 'lvsd_bgp_session_up', { peer: '10.1.1.1' }), 0);
  assert.equal(value(samples, 'lvsd_bfd_session_up', { peer: '10.1.0.1' }), 1);
  assert.equal(value(samples, 'lvsd_bfd_session_up', { peer: '10.1.1.1' }), undefined, 'no BFD on that peer: no series');
  assert.equal(value(samples, 'lvsd_vip_announced', { vip: '10.200.0.10/32' }), 0);
  assert.equal(value(samples, 'lvsd_bgp_daemon_up', {}), 1);
  assert.equal(value(samples, 'lvsd_bgp_daemon_restarts_total', {}), 3);
  assert.equal(value(samples, 'lvsd_director_drained', {}), 1);
});
