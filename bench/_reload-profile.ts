/**
 * Where the daemon's reload of a one-weight edit spends its CPU, natively: the daemon over the in-memory
 * IPVS model (as bench/_reload-native.ts), 20 reloads to warm, then a CPU profile (inspector, 50 us
 * sampling) of the next ones only, so the start is not in it. Prints the functions by self time and by
 * inclusive time, as ms per reload; `PROF_OUT=FILE` writes the profile (for a tree: chrome devtools).
 * The model's own work (BatchIndex, keyText, applyBatch) and the bench's writer (setWeight) are in it:
 * read around them. Not a bench row.
 *
 *   node dist/bench/_reload-profile.js [services=2000] [reloads=300]
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { Daemon } from '../src/daemon/daemon.js';
import { createMetrics } from '../src/daemon/metrics.js';
import { ModelClient } from '../test/unit/reconcile-model.js';
import { ConfigWriter } from './_config-writer.js';

const N = Number(process.argv[2] ?? 2000);
const RELOADS = Number(process.argv[3] ?? 300);
const dir = mkdtempSync(join(tmpdir(), 'lvsd-reload-prof-'));
const file = join(dir, 'lvsd.json');
const writer = new ConfigWriter(file, N);
const sys = join(dir, 'sys');
mkdirSync(sys);
writeFileSync(join(sys, 'expire_nodest_conn'), '1\n');
writeFileSync(join(sys, 'expire_quiescent_template'), '1\n');
const log = pino({ level: 'info' }, { write: () => undefined });
const kernel = new ModelClient();
const d = await Daemon.start({ configPath: file, log, stateFile: join(dir, 'state.json'), ipvs: async () => kernel, ipvsSysctlDir: sys, metrics: createMetrics({ processMetrics: false }) });
for (let k = 0; k < 20; k++) { writer.setWeight((k * 7919) % N, 5, 200 + k); await d.reload('control'); }
const s = new Session();
s.connect();
await s.post('Profiler.enable');
await s.post('Profiler.setSamplingInterval', { interval: 50 });
await s.post('Profiler.start');
const t0 = performance.now();
for (let k = 20; k < 20 + RELOADS; k++) {
  writer.setWeight((k * 7919) % N, 5, 200 + (k % 500));
  const r = await d.reload('control');
  if (!r.ok) throw new Error('reload failed');
}
const wall = performance.now() - t0;
const { profile } = await s.post('Profiler.stop');
process.stdout.write(`${RELOADS} reloads: ${(wall / RELOADS).toFixed(2)} ms each (profiled); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
const self = new Map<string, number>();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const counts = new Map<number, number>();
for (const id of profile.samples ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
const total = profile.samples?.length ?? 1;
for (const n of profile.nodes) {
  const c = counts.get(n.id) ?? 0;
  const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
  self.set(k, (self.get(k) ?? 0) + c);
}
// inclusive per function (counted once per sample)
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const incl = new Map<string, number>();
for (const [id, c] of counts) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const n = byId.get(cur)!;
    const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + c);
  }
}
const per = (c: number) => `${((c / total) * wall / RELOADS).toFixed(3)} ms`;
process.stdout.write('self:\n');
for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) process.stdout.write(`  ${per(c)} ${k}\n`);
process.stdout.write('inclusive:\n');
for (const [k, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 70)) process.stdout.write(`  ${per(c)} ${k}\n`);
if (process.env.PROF_OUT) writeFileSync(process.env.PROF_OUT, JSON.stringify(profile));
await d.stop();
rmSync(dir, { recursive: true, force: true });
