/**
 * The status page's pure parts and its HTTP routes: the rate history (buckets, gaps, the window), the
 * events found between snapshots, the projection (nothing a metrics scrape would not show: no config
 * path, pid or refusal text), and the routes (read-only, strict CSP on every answer, ETag, gzip).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { METRICS_LIMITS } from '../../src/daemon/conn-limits.js';
import { createMetrics, startMetricsServer } from '../../src/daemon/metrics.js';
import { gunzipSync } from 'node:zlib';
import { CSP, diffEvents, EventLog, pageState, RateHistory, Sampler, statusPageRoutes, type PageState } from '../../src/daemon/web/index.js';
import { silentLogger } from '../../src/log.js';
import { bigSnapshot, ecmpBlock } from '../browser/big-snapshot.js';
import { fixtureSnapshot } from './status-fixture.js';
import { node, statusPageUrl } from '../../src/lab/topology.js';

const T0 = Date.parse('2026-12-04T00:00:00Z');

test('history: a bucket holds the mean of its samples; an empty bucket is a gap; the window keeps the last 90', () => {
  const h = new RateHistory({ bucketMs: 10_000, buckets: 90 });
  h.record(T0, [{ name: 'web', cps: 10, bps: 100 }]);
  h.record(T0 + 5000, [{ name: 'web', cps: 20, bps: 300 }]);
  h.record(T0 + 10_000, [{ name: 'web', cps: 7, bps: 7 }]);
  // nothing at all during the next bucket, then a sample: that bucket is a gap
  h.record(T0 + 30_000, [{ name: 'web', cps: 1, bps: 1 }]);
  const d = h.since(0)!;
  assert.deepEqual(d.series['web'], { cps: [15, 7, null], bps: [200, 7, null] });
  assert.equal(d.to - d.from, 2);
  assert.equal(h.since(d.to), undefined, 'nothing new after the last completed bucket');
  for (let t = 40_000; t < 3_600_000; t += 10_000) h.record(T0 + t, [{ name: 'web', cps: 3, bps: 3 }]);
  const all = h.since(0)!;
  assert.equal(all.series['web']!.cps.length, 89, 'at most 90 buckets, one of them being filled');
});

test('history: a service removed by a reload is forgotten; a new one starts with gaps', () => {
  const h = new RateHistory({ bucketMs: 1000, buckets: 10 });
  h.record(T0, [{ name: 'a', cps: 1, bps: 1 }]);
  h.record(T0 + 1000, [{ name: 'a', cps: 1, bps: 1 }, { name: 'b', cps: 2, bps: 2 }]);
  h.record(T0 + 2000, [{ name: 'b', cps: 2, bps: 2 }]);
  h.record(T0 + 3000, [{ name: 'b', cps: 2, bps: 2 }]);
  const d = h.since(0)!;
  assert.deepEqual(Object.keys(d.series), ['b']);
  assert.deepEqual(d.series['b']!.cps, [null, 2, 2]);
});

test('events: a VRRP transition, a real server going down, a drain and a refused reload, each at the time it happened', () => {
  const a = bigSnapshot({ services: 3, realServers: 2, nowMs: T0 });
  const b = bigSnapshot({ services: 3, realServers: 2, nowMs: T0 + 2000, vrrpState: 'backup', down: new Set(['1/1']), drained: new Set(['2/0']), reloadRefused: true });
  b.vrrp[0]!.transitions = 2;
  b.vrrp[0]!.since = new Date(T0 + 1500).toISOString();
  const ev = diffEvents(a, b);
  const find = (kind: string) => ev.filter((e) => e.kind === kind);
  assert.deepEqual(find('vrrp').map((e) => [e.subject, e.text, e.level, e.at]), [['VI_WEB', 'backup (was master)', 'warn', new Date(T0 + 1500).toISOString()]]);
  assert.deepEqual(find('health').map((e) => [e.subject, e.text, e.level]), [['svc-0001 10.0.1.11:8080', 'down', 'bad']]);
  assert.deepEqual(find('drain').map((e) => [e.subject, e.text]), [['svc-0002 10.0.2.10:8080', 'drained']]);
  assert.deepEqual(find('load').map((e) => [e.text, e.level]), [['reload refused: the previous config stays', 'bad']]);
  assert.ok(!JSON.stringify(ev).includes('SECRET'), 'the refusal\'s reason stays on the control socket');
  assert.deepEqual(diffEvents(b, b), [], 'no change, no event');
  const c = bigSnapshot({ services: 3, realServers: 2, nowMs: T0 + 4000 });
  c.lastLoad = { kind: 'reload', at: new Date(T0 + 3000).toISOString(), ok: false, result: 'partial', error: 'SECRET' };
  assert.deepEqual(diffEvents(b, c).filter((e) => e.kind === 'load').map((e) => [e.text, e.level]),
    [['reload applied, some IPVS operations retried', 'warn']], 'a partial reload is in force: amber, not red');
});

test('events: a mass failure is summed up, not a thousand lines; the log keeps the newest 50', () => {
  const a = bigSnapshot({ services: 100, realServers: 2, nowMs: T0 });
  const b = bigSnapshot({ services: 100, realServers: 2, nowMs: T0 + 2000, down: new Set(Array.from({ length: 100 }, (_, i) => `${i}/0`)) });
  const ev = diffEvents(a, b).filter((e) => e.kind === 'health');
  assert.equal(ev.length, 1);
  assert.match(ev[0]!.subject, /^100 real servers$/);
  const log = new EventLog(50);
  for (let i = 0; i < 80; i++) log.add([{ at: new Date(T0 + i * 1000).toISOString(), kind: 'load', level: 'ok', subject: 'config', text: `#${i}` }]);
  const list = log.list();
  assert.equal(list.length, 50);
  assert.equal(list[0]!.text, '#79', 'newest first');
});

test('the page state shows the figures but not what only the control socket tells (config path, pid, refusal reasons, probe errors)', () => {
  const s = fixtureSnapshot();
  s.lastLoad = { kind: 'reload', at: s.generatedAt, ok: false, error: 'a.json: /x: SECRET', problems: [{ file: '/etc/lvsd/a.json', pointer: '/x', message: 'SECRET' }] };
  const page = pageState(s, { events: [], history: undefined, sampleMs: 2000 });
  const text = JSON.stringify(page);
  for (const hidden of [s.configPath, 'SECRET', String(s.pid), 'ECONNREFUSED', 'HTTP 503']) {
    assert.ok(!text.includes(hidden), `${hidden} is not on the page`);
  }
  assert.deepEqual(page.load, { kind: 'reload', at: s.generatedAt, ok: false, result: 'refused' });
  const web = page.services.find((x) => x.name === 'web')!;
  assert.equal(web.rs.length, s.services.find((x) => x.name === 'web')!.realServers.length);
  assert.equal(page.vrrp[1]!.master?.address, 'fe80::1');
});

test('the page state carries an ECMP director\'s sessions and announcements and each service\'s group, not BIRD\'s pid or error text', () => {
  const s = bigSnapshot({ services: 3, realServers: 2, group: { name: 'web-all', size: 2 }, ecmp: ecmpBlock() });
  const page = pageState(s, { events: [], history: undefined, sampleMs: 2000 });
  assert.deepEqual(page.ecmp, {
    bird: { running: true, restarts: 2 },
    drained: false,
    peers: [{ address: '10.9.1.1', as: 65000, bgp: 'Established', bfd: 'Up' }, { address: '10.9.2.1', as: 65000, bgp: 'Active', bfd: 'Down' }],
    vips: [{ prefix: '192.0.0.0/32', announced: true, reason: null }, { prefix: '192.0.0.1/32', announced: false, reason: 'svc-0001: 0 real servers up, quorum 1' }],
  });
  assert.deepEqual(page.services.map((x) => x.group), ['web-all', 'web-all', null]);
  const text = JSON.stringify(page);
  for (const hidden of ['SECRET-BIRD-LINE', '777', 'Connection refused']) assert.ok(!text.includes(hidden), `${hidden} is not on the page`);
  assert.equal(pageState(bigSnapshot({ services: 1, realServers: 1 }), { events: [], history: undefined, sampleMs: 2000 }).ecmp, null);
});

async function serve(sampler: Sampler): Promise<{ server: Server; base: string }> {
  const routes = statusPageRoutes(sampler);
  const server = createServer((req, res) => { if (!routes.handle(req, res)) res.writeHead(404).end('not here\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, base: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` };
}

function get(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('routes: the page and its files under a strict CSP; state.json per sample with ETag and gzip; everything else read-only or not ours', async (t) => {
  let n = 0;
  const sampler = new Sampler({ take: async () => bigSnapshot({ services: 50, realServers: 3, nowMs: Date.now(), tick: n++ }), log: silentLogger });
  const { server, base } = await serve(sampler);
  t.after(() => { sampler.close(); server.close(); });

  const starting = await get(`${base}/state.json`);
  assert.equal(starting.status, 200);
  assert.deepEqual(JSON.parse(starting.body.toString()).starting, true, 'before the first sample the page says it waits');

  await sampler.sample();
  for (const path of ['/', '/app.js', '/style.css', '/favicon.svg', '/state.json']) {
    const r = await get(base + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-security-policy'], CSP, path);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['x-frame-options'], 'DENY');
  }
  assert.doesNotMatch(CSP, /unsafe|\*|data:/, 'no inline script or style, no wildcard, no data: URLs');
  const html = (await get(`${base}/`)).body.toString();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script');
  assert.doesNotMatch(html, /\sstyle=|<style/, 'no inline style');
  assert.doesNotMatch(html, /https?:\/\//, 'nothing from another origin');

  const s1 = await get(`${base}/state.json`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(s1.headers['content-encoding'], 'gzip');
  const doc = JSON.parse(gunzipSync(s1.body).toString()) as PageState;
  assert.equal(doc.services.length, 50);
  const etag = String(s1.headers['etag']);
  assert.equal((await get(`${base}/state.json`, { headers: { 'if-none-match': etag } })).status, 304, 'same sample: not modified');
  await sampler.sample();
  assert.equal((await get(`${base}/state.json`, { headers: { 'if-none-match': etag } })).status, 200, 'a new sample: new body');

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await get(`${base}/state.json`, { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers['allow'], 'GET, HEAD');
  }
  assert.equal((await get(`${base}/v1/drain`, { method: 'POST' })).status, 404, 'no control endpoint here');
  assert.equal((await get(`${base}/etc/passwd`)).status, 404);
  assert.equal((await get(`${base}/../package.json`)).status, 404);
});

test('a sampler whose snapshot fails keeps the last good one and says so once in the log', async () => {
  const lines: unknown[] = [];
  const log = { warn: (o: unknown) => lines.push(o) } as unknown as typeof silentLogger;
  let fail = false;
  const sampler = new Sampler({ take: async () => { if (fail) throw new Error('dump failed'); return bigSnapshot({ services: 2, realServers: 1 }); }, log });
  await sampler.sample();
  fail = true;
  await sampler.sample();
  await sampler.sample();
  assert.equal(sampler.seq, 1);
  assert.ok(sampler.latest);
  assert.equal(lines.length, 1);
});

test('the lab\'s directors serve their status pages on their own addresses, which `lvsd lab --keep` prints', () => {
  for (const mode of ['dr', 'nat'] as const) {
    for (const which of [1, 2] as const) {
      assert.equal(statusPageUrl(which, mode), `http://${node(`d${which}`, mode).address}:9650/`, `${mode} d${which}`);
    }
  }
});

test('on the metrics listener the page is under its connection cap: idle connections make room, the page still answers', async (t) => {
  const sampler = new Sampler({ take: async () => bigSnapshot({ services: 2, realServers: 1 }), log: silentLogger });
  await sampler.sample();
  const server = await startMetricsServer('127.0.0.1:0', createMetrics({ processMetrics: false }).registry, statusPageRoutes(sampler));
  t.after(() => server.close());
  const idle: Socket[] = [];
  for (let i = 0; i < METRICS_LIMITS.maxConnections; i++) {
    const s = connect(server.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    idle.push(s);
  }
  const closed = idle.map((s) => new Promise<boolean>((r) => { s.once('close', () => r(true)); setTimeout(() => r(false), 3000); }));
  const r = await get(`http://127.0.0.1:${server.port}/state.json`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-security-policy'], CSP);
  assert.ok((await Promise.all(closed)).some(Boolean), 'the longest idle connection was closed to make room');
  for (const s of idle) s.destroy();
});
