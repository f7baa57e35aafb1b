/**
 * Run by health-memory.test.ts with `node --allow-natives-syntax`: a config of 20 services x 100 real
 * servers with TCP checks loaded by the real loader, a HealthScheduler over it whose (fake) addon watches
 * make every real server rise and then one in four fall, and the reconciler's kept view of the table. Prints
 * how many hidden classes (V8 maps) each kind of per-real-server record uses, as JSON.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { HealthScheduler } from '../../src/health/index.js';
import { FakeWatcher } from './fake-tcp-watcher.js';
import { KeptView } from '../../src/reconcile/view.js';
import type { DestSpec } from '../../src/table/index.js';

const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

/** How many distinct hidden classes among these objects (stops counting at 50). */
function classes(objects: Iterable<object>): number {
  const seen: object[] = [];
  for (const o of objects) {
    if (!seen.some((r) => sameMap(r, o))) seen.push(o);
    if (seen.length >= 50) break;
  }
  return seen.length;
}

const dir = mkdtempSync(join(tmpdir(), 'lvsd-classes-'));
const file = join(dir, 'lvsd.json');
writeFileSync(file, JSON.stringify({
  services: Array.from({ length: 20 }, (_, s) => ({
    name: `s${s}`, protocol: 'tcp', address: `10.92.0.${s + 1}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
    healthCheck: { type: 'tcp', interval: '10s', timeout: '1s', rise: 1, fall: 1 },
    realServers: Array.from({ length: 100 }, (_, r) => ({ address: `10.93.${s}.${r + 1}`, port: 8080, weight: 3 })),
  })),
}));
const config = await loadConfig(file);
const watcher = new FakeWatcher();
const lists = new Map<string, DestSpec[]>();
const h = new HealthScheduler({ services: config.services, health: config.health }, { watcher, onChange: (name, dests) => lists.set(name, dests) });
h.start();
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
watcher.riseAll();
await settle();
let i = 0;
for (const [id, { o, cb }] of [...watcher.watches]) if (i++ % 4 === 0) cb(111, 0, o.fall, id);
await settle();
const jobs = [...(h as unknown as { jobs: Map<string, { target: object; services: readonly string[]; key: string }> }).jobs.values()];
const specs = new Set<object>(config.services.flatMap((s) => s.realServers.map((rs) => rs.spec)));
const view = new KeptView();
view.replaceAll(config.services.map((s) => ({ service: s.spec, dests: [...(lists.get(s.name) ?? [])].map((d) => ({ ...d, activeConns: 1, inactiveConns: 0, persistentConns: 0 })) })));
const viewDests = config.services.flatMap((s) => view.entry(s.spec.key.kind === 'addr' ? `tcp/${s.spec.key.address}:80` : '')?.dests ?? []);
process.stdout.write(`${JSON.stringify({
  realServers: jobs.length,
  shared: {
    // the arrays of users: one per distinct set (a service's real servers share one), not one per probe
    servicesArrays: new Set(jobs.map((j) => j.services)).size,
    // a probe's target outside groups is the destination object itself
    targetsNotSpecs: jobs.filter((j) => !specs.has(j.target)).length,
    longestKey: Math.max(...jobs.map((j) => j.key.length)),
  },
  listed: [...lists.values()].reduce((n, l) => n + l.length, 0),
  viewed: viewDests.length,
  classes: {
    healthJob: classes(jobs),
    healthList: classes([...lists.values()].flat()),
    statusList: classes(h.serviceStatuses(config.services.map((s) => s.name)).flatMap((s) => s.dests)),
    configCheck: classes(config.services.flatMap((s) => s.realServers.map((rs) => rs.healthCheck))),
    configDest: classes(config.services.flatMap((s) => s.realServers.map((rs) => rs.spec))),
    keptView: classes(viewDests),
  },
})}\n`);
await h.stop();
