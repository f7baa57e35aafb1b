/**
 * The config load of a one-weight edit alone, natively, step by step: the daemon's ConfigCache over one
 * file of N services x 10 real servers; per reload one weight edited (a different service each time) and
 * the steps loadConfig takes timed apart (read, patch, build) and whole (loadConfig with host checks).
 *
 *   node dist/bench/_config-load.js [services=10000] [reloads=32]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigCache, loadConfig } from '../src/config/index.js';
import { ConfigWriter, DESTS } from './_config-writer.js';

const N = Number(process.argv[2] ?? 10000);
const RELOADS = Number(process.argv[3] ?? 32);
const dir = mkdtempSync(join(tmpdir(), 'lvsd-config-load-'));
const file = join(dir, 'lvsd.json');
const writer = new ConfigWriter(file, N);
const cache = new ConfigCache();
await loadConfig(file, { hostChecks: true, cache });
await cache.scanned;
const ms: number[] = [];
const cpu: number[] = [];
const phases: Array<Record<string, number>> = [];
let gcs = 0;
const { PerformanceObserver } = await import('node:perf_hooks');
new PerformanceObserver((l) => { gcs += l.getEntries().length; }).observe({ entryTypes: ['gc'] });
for (let k = 0; k < RELOADS; k++) {
  const i = (k * 7919) % N;
  writer.setWeight(i, 5, 200 + k);
  const t = performance.now();
  const c0 = process.cpuUsage();
  await loadConfig(file, { hostChecks: true, cache });
  ms.push(performance.now() - t);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
  phases.push({ ...(cache as unknown as { phases?: Record<string, number> }).phases });
  if (cache.stats.filesPatched !== 1) throw new Error(`reload ${k} not patched: ${JSON.stringify(cache.stats)}`);
}
const tail = ms.slice(ms.length >> 1).sort((a, b) => a - b);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const last = phases.slice(phases.length >> 1);
const parts = Object.keys(last[0] ?? {}).map((k) => `${k} ${median(last.map((p) => p[k]!)).toFixed(2)}`).join(', ');
process.stdout.write(`${N} x ${DESTS}: load of a one-weight edit, first ${ms[0]!.toFixed(2)} ms (${JSON.stringify(phases[0])}), median ${tail[tail.length >> 1]!.toFixed(2)} ms (CPU ${median(cpu.slice(cpu.length >> 1)).toFixed(2)} ms), worst ${tail.at(-1)!.toFixed(2)} ms (last ${tail.length} of ${RELOADS}); phases (medians): ${parts}; GCs ${gcs}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
rmSync(dir, { recursive: true, force: true });
