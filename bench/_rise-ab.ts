/**
 * The start ramp's A/B in the kernel-test VM (docs/benchmarks.md, 2026-12-06 "until every real server is
 * weighted"): starts of lvsd at 10,000 TCP checks, every real server down until its first check (rise 1),
 * as the health bench makes them (bench/health.ts: lvsd alone, one round, the sink closing at accept, 10 s
 * interval, the page-out off so the window does not wait for it), alternated between builds, all in ONE boot.
 * Each start's figures are the health bench's `ramp` (bench/_rise-measure.ts): the main thread's CPU from the
 * spawn until the last health pass, which the host's load moves far less than the wall time. Not run by run.js.
 *
 *   node dist/bench/_rise-ab.js [--order main,new,main,new] [--main DIR] [--prof LABEL]
 *
 * `main`: the build in DIR (default /var/tmp/lvsd-rise2-ab/main: package.json, dist/bundle, native/build/Release
 * copied from a build of main); `new`: this checkout's. `--prof new`: that build's last start again with
 * node's CPU profiler (its profile in the result directory; the profiler's sampling costs under TCG, so that
 * start is not one of the A/B's).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInVm } from '../src/vm/runner.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
};
const ORDER = arg('order', 'main,new,main,new').split(',').filter(Boolean);
const MAIN = arg('main', '/var/tmp/lvsd-rise2-ab/main');
const PROF = arg('prof', '');

const outDir = mkdtempSync(join(tmpdir(), 'lvsd-rise-ab-'));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const lines = ['set -u', 'echo "rise-ab: $(date -u +%T) VM up"'];
const starts = ORDER.map((b, i) => ({ build: b, tag: `${i + 1}-${b}`, prof: false }));
if (PROF) starts.push({ build: PROF, tag: `${starts.length + 1}-${PROF}-prof`, prof: true });
for (const { build, tag, prof } of starts) {
  const env = [
    'LVSD_BENCH_HEALTH_TOOLS=lvsd', 'LVSD_BENCH_HEALTH_ROUNDS=1', 'LVSD_BENCH_HEALTH_VARIANTS=close', 'LVSD_BENCH_HEALTH_WINDOW_S=5',
    'LVSD_BENCH_HEALTH_IDLE_S=3', 'LVSD_BENCH_LVSD_ENV="LVSD_PAGEOUT=0"', `LVSD_BENCH_HEALTH_DIR='$LVSD_VM_OUT/h-${tag}'`,
    ...(build === 'main' ? [`LVSD_BENCH_HEALTH_LVSD=${join(MAIN, 'dist', 'bundle', 'lvsd.cjs')}`] : []),
    ...(prof ? [`LVSD_BENCH_HEALTH_PROF='$LVSD_VM_OUT/prof-${tag}'`] : []),
  ].join(' ');
  lines.push(
    `echo "rise-ab: $(date -u +%T) start ${tag} host load $(cat "$LVSD_VM_OUT/host-load" 2>/dev/null)"`,
    `${env} node dist/bench/health.js > "$LVSD_VM_OUT/health-${tag}.txt" 2>&1; echo "rise-ab: $(date -u +%T) ${tag} exit $?"`,
    `grep -E 'ramp:|weighted in the kernel' "$LVSD_VM_OUT/health-${tag}.txt" | sed 's/^/rise-ab: ${tag} /'`,
  );
}
lines.push('echo "rise-ab: $(date -u +%T) done"', '');
const feed = () => { try { writeFileSync(join(outDir, 'host-load'), `${load()}\n`); } catch { /* over */ } };
feed();
const timer = setInterval(feed, 5000);
process.stdout.write(`rise A/B: ${starts.map((s) => s.tag).join(', ')}; results in ${outDir}; host load ${load()}\n`);
const r = await runInVm({
  script: lines.join('\n'), timeoutMs: Number(arg('timeout', '3600')) * 1000, outDir, memoryMb: 2048,
  env: { LVSD_BENCH_HOST_LOAD: load() }, onLine: (l) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`),
}).finally(() => clearInterval(timer));
process.stdout.write(`rise A/B: exit ${r.exitCode}, ${(r.durationMs / 1000).toFixed(0)} s, host load ${load()}; results in ${outDir}\n`);
