/**
 * The per-real-server metric families are made at scrape time (src/daemon/metrics-families.ts): their
 * text must be what prom-client's own Gauge and Counter wrote for the same events and snapshot (the
 * reference below does what metrics.ts and metrics-snapshot.ts did with them), and nothing per series may
 * stay in the heap between scrapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { Counter, Gauge, Registry } from 'prom-client';
import { createMetrics } from '../../src/daemon/metrics.js';
import type { RealServerStatus, ServiceStatus, StatusSnapshot } from '../../src/daemon/status.js';
import { fixtureSnapshot } from './status-fixture.js';

type Event =
  | { kind: 'up'; service: string; rs: string; up: boolean }
  | { kind: 'result'; service: string; rs: string; result: string; n: number }
  | { kind: 'forget'; service: string; rs: string };

const FAMILIES = [
  'lvsd_health_up', 'lvsd_health_results_total', 'lvsd_ipvs_real_server_packets_total', 'lvsd_ipvs_real_server_bytes_total',
  'lvsd_ipvs_real_server_connections_total', 'lvsd_ipvs_real_server_active_connections', 'lvsd_ipvs_real_server_inactive_connections',
  'lvsd_ipvs_real_server_weight', 'lvsd_real_server_drained',
];

/** The families as prom-client's Gauge and Counter kept them (the code before metrics-families.ts). */
function reference(events: Event[], snapshot: StatusSnapshot): Registry {
  const registers = [new Registry()];
  const up = new Gauge({ name: 'lvsd_health_up', help: 'Whether the real server is healthy (1) or not (0)', labelNames: ['service', 'real_server'], registers });
  const counts = new Map<string, { labels: Record<string, string>; n: number }>();
  const seen = new Map<string, Set<string>>();
  new Counter({
    name: 'lvsd_health_results_total', help: 'Health probe results', labelNames: ['service', 'real_server', 'result'], registers,
    collect() { this.reset(); for (const e of counts.values()) this.inc(e.labels, e.n); },
  });
  for (const e of events) {
    const rsKey = `${e.service}\0${e.rs}`;
    if (e.kind === 'up') up.set({ service: e.service, real_server: e.rs }, e.up ? 1 : 0);
    else if (e.kind === 'forget') {
      up.remove({ service: e.service, real_server: e.rs });
      for (const r of seen.get(rsKey) ?? []) counts.delete(`${rsKey}\0${r}`);
      seen.delete(rsKey);
    } else {
      const key = `${rsKey}\0${e.result}`;
      const had = counts.get(key);
      if (had) had.n += e.n;
      else {
        (seen.get(rsKey) ?? seen.set(rsKey, new Set()).get(rsKey)!).add(e.result);
        counts.set(key, { labels: { service: e.service, real_server: e.rs, result: e.result }, n: e.n });
      }
    }
  }
  const svc = (s: ServiceStatus) => s.group?.name ?? s.name;
  const rsl = (r: RealServerStatus) => r.sharedId ?? r.id;
  for (const [unit, inKey, outKey] of [['packets', 'inpkts', 'outpkts'], ['bytes', 'inbytes', 'outbytes']] as const) {
    new Counter({
      name: `lvsd_ipvs_real_server_${unit}_total`, help: `${unit === 'packets' ? 'Packets' : 'Bytes'} through the real server, by direction`,
      labelNames: ['service', 'real_server', 'direction'], registers,
      collect() {
        this.reset();
        for (const s of snapshot.services) {
          for (const r of s.realServers) {
            if (!r.stats) continue;
            this.inc({ service: svc(s), real_server: rsl(r), direction: 'in' }, r.stats[inKey]);
            this.inc({ service: svc(s), real_server: rsl(r), direction: 'out' }, r.stats[outKey]);
          }
        }
      },
    });
  }
  new Counter({
    name: 'lvsd_ipvs_real_server_connections_total', help: 'Connections the kernel scheduled to the real server', labelNames: ['service', 'real_server'], registers,
    collect() {
      this.reset();
      for (const s of snapshot.services) for (const r of s.realServers) if (r.stats) this.inc({ service: svc(s), real_server: rsl(r) }, r.stats.conns);
    },
  });
  const gauge = (name: string, help: string, value: (r: RealServerStatus) => number | null, combine: (a: number, b: number) => number) => new Gauge({
    name, help, labelNames: ['service', 'real_server'], registers,
    collect() {
      this.reset();
      const out = new Map<string, [Record<string, string>, number]>();
      for (const s of snapshot.services) {
        for (const r of s.realServers) {
          const v = value(r);
          if (v === null) continue;
          const labels = { service: svc(s), real_server: rsl(r) };
          const k = Object.values(labels).join('\0');
          const e = out.get(k);
          if (e) e[1] = combine(e[1], v);
          else out.set(k, [labels, v]);
        }
      }
      for (const [l, v] of out.values()) this.set(l, v);
    },
  });
  gauge('lvsd_ipvs_real_server_active_connections', 'Active connections to the real server (a group: summed over its members)', (r) => r.activeConns, (a, b) => a + b);
  gauge('lvsd_ipvs_real_server_inactive_connections', 'Inactive connections to the real server (a group: summed over its members)', (r) => r.inactiveConns, (a, b) => a + b);
  gauge('lvsd_ipvs_real_server_weight', 'The real server\'s weight in the kernel (a group: the lowest over its members)', (r) => r.weight.kernel, Math.min);
  gauge('lvsd_real_server_drained', 'Whether the operator drained the real server (1) or not (0)', (r) => (r.drained ? 1 : 0), Math.max);
  return registers[0]!;
}

/** The text of one family (HELP, TYPE, samples) in an exposition. */
function family(text: string, name: string): string {
  return text.split('\n\n').find((block) => block.startsWith(`# HELP ${name} `))?.trimEnd() ?? `(no ${name})`;
}

const service = fc.constantFrom('web', 'api', 'g1');
const rs = fc.constantFrom('10.0.0.1:80', '10.0.0.2:80', '[2001:db8::3]:443', '10.0.0.4:8080');
const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('up' as const), service, rs, up: fc.boolean() }),
  fc.record({ kind: fc.constant('result' as const), service, rs, result: fc.constantFrom('up', 'down', 'timeout'), n: fc.integer({ min: 1, max: 1e6 }) }),
  fc.record({ kind: fc.constant('forget' as const), service, rs }),
);
const count = fc.integer({ min: 0, max: 2 ** 40 });
const realServer: fc.Arbitrary<RealServerStatus> = fc.record({
  id: rs, shared: fc.boolean(), stats: fc.option(fc.record({ conns: count, inpkts: count, outpkts: count, inbytes: count, outbytes: count })),
  active: fc.option(count), inactive: fc.option(count), weight: fc.option(fc.integer({ min: 0, max: 65535 })), drained: fc.boolean(),
}).map((r) => {
  const base = structuredClone(fixtureSnapshot().services[0]!.realServers[0]!);
  return {
    ...base, id: r.id, ...(r.shared ? { sharedId: r.id } : {}), activeConns: r.active, inactiveConns: r.inactive, drained: r.drained,
    weight: { ...base.weight, kernel: r.weight },
    stats: r.stats ? { ...r.stats, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 } : null,
  };
});
const services = fc.array(fc.record({ name: service, member: fc.boolean(), realServers: fc.array(realServer, { maxLength: 4 }) }), { maxLength: 6 })
  .map((list) => list.map((s, i): ServiceStatus => ({
    ...structuredClone(fixtureSnapshot().services[0]!), name: `${s.name}${i}`,
    ...(s.member ? { group: { name: s.name, index: i, size: list.length } } : {}), realServers: s.realServers,
  })));

test('per-real-server families made at scrape time write what prom-client\'s Gauge and Counter wrote for the same events and snapshot', async () => {
  await fc.assert(fc.asyncProperty(fc.array(event, { maxLength: 40 }), services, async (events, list) => {
    const snapshot = { ...fixtureSnapshot(), services: list };
    const m = createMetrics({ processMetrics: false });
    for (const e of events) {
      if (e.kind === 'up') m.healthUp(e.service, e.rs, e.up);
      else if (e.kind === 'forget') m.forgetRealServer(e.service, e.rs);
      else m.healthResult(e.service, e.rs, e.result, e.n);
    }
    m.setSnapshotSource(() => snapshot);
    const ref = reference(events, snapshot);
    for (let scrape = 0; scrape < 2; scrape++) {
      const [ours, theirs] = [await m.registry.metrics(), await ref.metrics()];
      for (const name of FAMILIES) assert.equal(family(ours, name), family(theirs, name), name);
    }
  }), { numRuns: 300 });
});

test('a scrape of 10,000 real servers leaves no series in the heap (prom-client\'s Gauge and Counter held ~13 MiB until the next)', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const loaded = (servicesCount: number) => {
    const m = createMetrics({ processMetrics: false });
    const snapshot = fixtureSnapshot();
    const web = snapshot.services[0]!;
    const template = web.realServers[0]!;
    snapshot.services = Array.from({ length: servicesCount }, (_, s) => ({
      ...web, name: `s${s}`,
      realServers: Array.from({ length: 100 }, (_, r): RealServerStatus => ({
        ...template, id: `10.${s}.0.${r}:80`,
        stats: { conns: r, inpkts: r, outpkts: r, inbytes: r, outbytes: r, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 },
      })),
    }));
    for (const s of snapshot.services) {
      for (const r of s.realServers) {
        m.healthUp(s.name, r.id, true);
        m.healthResult(s.name, r.id, 'up', 3);
      }
    }
    m.setSnapshotSource(() => snapshot);
    return m;
  };
  await loaded(1).registry.metrics(); // the code of a scrape compiled before the measure
  const m = loaded(100);
  const used = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
  const before = used();
  const scrape = async () => (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('lvsd_ipvs_real_server_packets_total{')).length;
  assert.equal(await scrape(), 20_000);
  await new Promise((resolve) => setImmediate(resolve)); // the text off the stack
  const after = used();
  assert.ok(after - before < 1 << 20, `the heap grew by ${((after - before) / 1048576).toFixed(1)} MiB after a scrape`);
});
