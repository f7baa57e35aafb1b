import { test } from 'node:test';
import assert from 'node:assert/strict';
import { establishedFigures, goalLines, hopChangeAt, newConnFigures, routeEvent, unexpectedRoutes, type PooledConn } from '../../src/lab/ecmp-figures.js';
import { ecmpBuildScript, ecmpNodes, renewDirectorScript, routerBirdConf } from '../../src/lab/ecmp-topology.js';
import type { ClientEvent } from '../../src/lab/scenario.js';
import { directorAs } from '../../src/lab/ecmp-config.js';
import { loadConfig } from '../../src/config/index.js';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const at = (s: string) => new Date(s).getTime();

test("the router's route changes, from `ip -ts -o monitor route`: multipath, one next hop, deleted, other routes", () => {
  const multi = '[2026-12-04T20:25:38.826831] 10.90.100.100 proto bird metric 32 \\\tnexthop via 10.90.0.3 dev eth1 weight 1 \\\tnexthop via 10.90.0.2 dev eth1 weight 1 ';
  assert.deepEqual(routeEvent(multi, '10.90.100.100'), { at: at('2026-12-04T20:25:38.826') + 0.831, nexthops: ['10.90.0.2', '10.90.0.3'] });
  assert.deepEqual(routeEvent('[2026-12-04T20:25:38.869932] 10.90.100.100 via 10.90.0.3 dev eth1 proto bird metric 32 ', '10.90.100.100')?.nexthops, ['10.90.0.3']);
  assert.deepEqual(routeEvent('[2026-12-04T20:25:38.871633] Deleted 10.90.100.100 via 10.90.0.3 dev eth1 proto bird ', '10.90.100.100')?.nexthops, []);
  assert.equal(routeEvent('[2026-12-04T20:25:39.492208] local fe80::acb4 dev va table local proto kernel metric 0 pref medium', '10.90.100.100'), undefined);
  assert.equal(routeEvent('[2026-12-04T20:25:39.492208] 10.90.100.1 via 10.90.0.3 dev eth1', '10.90.100.100'), undefined, 'another prefix');
  assert.equal(routeEvent('garbage', '10.90.100.100'), undefined);
  const events = [{ at: 1, nexthops: ['a', 'b'] }, { at: 5, nexthops: ['b'] }, { at: 9, nexthops: ['a', 'b'] }];
  assert.equal(hopChangeAt(events, 'a', false, 2), 5);
  assert.equal(hopChangeAt(events, 'a', true, 6), 9);
  assert.equal(hopChangeAt(events, 'a', false, 6), undefined);
  // a drop of c from a,b,c: only a,b is expected; a flap of b (a alone, then none) is counted, outside the window not
  const flappy = [{ at: 10, nexthops: ['a', 'b'] }, { at: 11, nexthops: ['a'] }, { at: 12, nexthops: [] }, { at: 13, nexthops: ['a', 'b'] }, { at: 30, nexthops: ['b'] }];
  assert.equal(unexpectedRoutes(flappy, 10, 20, ['a', 'b', 'c'], 'c', 'drop'), 2);
  assert.equal(unexpectedRoutes(flappy.slice(0, 1), 10, 20, ['c', 'b', 'a'], 'c', 'drop'), 0, 'order does not matter');
  assert.equal(unexpectedRoutes([{ at: 5, nexthops: ['a', 'b', 'c'] }], 0, 9, ['a', 'b'], 'c', 'add'), 0);
});

const conn = (id: number, o: Partial<PooledConn> = {}): PooledConn => ({ id, port: 40000 + id, server: 'rs1', servers: ['rs1'], ok: 5, failed: 0, longestWaitMs: 1000, ...o });

test('established connections across a disruption: reset, moved to another web server, silent, never counted', () => {
  const before = [conn(1), conn(2), conn(3), conn(4), conn(5), conn(6, { dead: 'ECONNRESET' }), conn(7, { ok: 0 })];
  const after = [
    conn(1, { ok: 12, longestWaitMs: 2400 }),
    conn(2, { ok: 6, dead: 'ECONNRESET' }),
    conn(3, { ok: 12, servers: ['rs1', 'rs2'] }),
    conn(4, { ok: 6 }),
    conn(5, { ok: 12 }),
    conn(6, { dead: 'ECONNRESET' }), conn(7, { ok: 8 }),
  ];
  const f = establishedFigures(before, after);
  assert.equal(f.total, 5, 'a connection dead or silent before the disruption is not counted');
  assert.equal(f.survived, 2);
  assert.equal(f.longestWaitMs, 2400);
  assert.deepEqual(f.lost.map((l) => l.split(':')[0]), ['#2 (port 40002)', '#3 (port 40003)', '#4 (port 40004)']);
  assert.match(f.lost[1]!, /rs1 then rs2/);
});

const short = (atMs: number, ok: boolean, ms: number, connectMs?: number): ClientEvent =>
  ({ kind: 'short', at: atMs, ok, ms, ...(connectMs === undefined ? {} : { connectMs }), ...(ok ? { server: 'rs1' } : { err: 'timeout' }) });

test('new connections: failed, retried SYNs, the longest gap, and when they were all fine again', () => {
  const t0 = 10_000;
  const events = [
    short(9_800, true, 20, 5), short(9_900, true, 20, 5),
    short(10_000, true, 1030, 1010), // SYN to the dead director, sent again after 1 s: answered
    short(10_100, true, 20, 5), // hashed to a live director
    short(10_200, false, 2500), // lost twice
    short(10_300, true, 1010, 1004),
    short(10_400, true, 20, 5), short(10_500, true, 20, 5),
    { kind: 'long', at: 10_450, ok: false, ms: 0, err: 'ECONNRESET' } as ClientEvent,
  ];
  const f = newConnFigures(events, 9_000, 11_000, t0);
  assert.equal(f.total, 8);
  assert.equal(f.failed, 1);
  assert.equal(f.retried, 2);
  assert.equal(f.resumedMs, 400, 'from t0 to the start of the first one after the last hurt one');
  // answers ended at 9820, 9920, 10120, 10420, 10520, 11030, 11310: longest 10520 -> 11030
  assert.equal(f.longestGapMs, 510);
  assert.equal(newConnFigures(events.slice(0, 2), 9_000, 11_000, t0).resumedMs, 0, 'none hurt');
});

test('the goals, stated as met or not', () => {
  const est = { total: 100, survived: 99, longestWaitMs: 0, lost: [] };
  const fresh = { total: 50, failed: 0, retried: 3, longestGapMs: 300, resumedMs: 900 };
  const lines = goalLines({ est, fresh }, { est: { ...est, survived: 100 } }, { est: { ...est, survived: 100 }, fresh });
  assert.ok(lines.every((l) => /^ {2}met /.test(l)), lines.join('\n'));
  const bad = goalLines({ est: { ...est, survived: 98 }, fresh: { ...fresh, resumedMs: 1200 } }, { est }, { est, fresh: { ...fresh, failed: 1 } });
  assert.ok(bad.every((l) => /NOT met/.test(l)), bad.join('\n'));
});

test('the ECMP lab network: private addresses, L4 multipath hashing on the router, VIP only on the web servers', () => {
  for (const n of ecmpNodes()) assert.match(n.address, /^10\.90\.0\.\d+$/);
  const script = ecmpBuildScript();
  assert.match(script, /ip netns exec lve-r sysctl -qw net\.ipv4\.ip_forward=1 net\.ipv4\.fib_multipath_hash_policy=1/);
  for (const rs of ['rs1', 'rs2', 'rs3']) assert.match(script, new RegExp(`ip -n lve-${rs} addr add 10\\.90\\.100\\.100/32 dev lo`));
  assert.doesNotMatch(script, /lve-d\d addr add 10\.90\.100\.100/, 'lvsd puts the VIP on the directors (ecmp.vipInterface)');
  const renew = renewDirectorScript(2);
  assert.match(renew, /ip -n lve-sw link del p-d2\nip netns del lve-d2\nip netns add lve-d2/);
  const conf = routerBirdConf({ bfdIntervalMs: 200, bfdMultiplier: 3, logFile: '/tmp/x.log', peers: [{ name: 'd1', address: '10.90.0.2', as: 65001 }] });
  assert.match(conf, /merge paths on/);
  assert.match(conf, /min rx interval 200 ms; min tx interval 200 ms;.* multiplier 3/);
  assert.match(conf, /error wait time 1, 5/);
  assert.match(conf, /protocol bgp d1 from director \{ neighbor 10\.90\.0\.2 as 65001; \}/);
});

test('examples/lab/ecmp: every director config is valid, announces the VIP over BFD to the router, mh + DR', async () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  for (const which of [1, 2, 3] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-ecmp-example-'));
    try {
      copyFileSync(join(root, 'examples/lab/ecmp/services.json'), join(dir, 'services.json'));
      copyFileSync(join(root, `examples/lab/ecmp/director-${which}/ecmp.json`), join(dir, 'ecmp.json'));
      const c = await loadConfig(dir);
      assert.equal(c.ecmp?.routerId, `10.90.0.${which + 1}`);
      assert.equal(c.ecmp?.localAs, directorAs(which), 'the router expects this AS');
      assert.deepEqual(c.ecmp?.peers.map((p) => p.address), ['10.90.0.1']);
      const web = c.services[0]!;
      assert.deepEqual(web.spec.key, { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '10.90.100.100', port: 80 });
      assert.equal(web.spec.scheduler, 'mh');
      assert.deepEqual(web.realServers.map((r) => r.spec.address), ['10.90.0.11', '10.90.0.12', '10.90.0.13']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
