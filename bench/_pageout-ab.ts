/**
 * The page-out's A/B in the kernel-test VM (src/daemon/page-out.ts; #11's RSS row): starts of lvsd at 10,000 TCP
 * checks as the health bench makes them (bench/health.ts: lvsd alone, one round, the sink closing at accept),
 * alternated with and without the page-out, all in ONE boot, each recorded by bench/_pageout-record.ts
 * (the VM's vmstat and memory, lvsd's faults and RSS, every 2 s). Not run by run.js (its name starts with _).
 *
 *   node dist/bench/_pageout-ab.js [--order on,off,off,on] [--window S] [--node-dir DIR]
 *
 * Each start runs lvsd on a copy of node of its own (DIR/<n>/node, made here on the host's disk and read over
 * 9p in the VM, as a director reads it from its disk): one start's page cache is not the next's. lvsd's logs,
 * the recordings and the bench's JSON go to the result directory printed at the start. The host's load is
 * fed to the VM every 5 s and recorded with each sample.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInVm } from '../src/vm/runner.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
};
const ORDER = arg('order', 'on,off,off,on').split(',').filter(Boolean);
const WINDOW_S = Number(arg('window', '300'));
const NODE_DIR = arg('node-dir', '/var/tmp/lvsd-pageout-node');

const outDir = mkdtempSync(join(tmpdir(), 'lvsd-pageout-ab-'));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const lines = ['set -u', 'echo "pageout-ab: $(date -u +%T) VM up"'];
ORDER.forEach((mode, i) => {
  const tag = `${i + 1}-${mode}`;
  const node = join(NODE_DIR, String(i + 1), 'node');
  mkdirSync(join(NODE_DIR, String(i + 1)), { recursive: true });
  if (!existsSync(node)) copyFileSync(process.execPath, node);
  const env = [
    'LVSD_BENCH_HEALTH_TOOLS=lvsd', 'LVSD_BENCH_HEALTH_ROUNDS=1', 'LVSD_BENCH_HEALTH_VARIANTS=close', `LVSD_BENCH_HEALTH_WINDOW_S=${WINDOW_S}`,
    'LVSD_BENCH_HEALTH_IDLE_S=5', `LVSD_BENCH_HEALTH_NODE=${node}`, `LVSD_BENCH_LVSD_ENV="LVSD_PAGEOUT=${mode === 'on' ? 1 : 0}"`,
    `LVSD_BENCH_HEALTH_DIR='$LVSD_VM_OUT/h-${tag}'`,
  ].join(' ');
  lines.push(
    `echo "pageout-ab: $(date -u +%T) start ${tag}"`,
    `node dist/bench/_pageout-record.js "$LVSD_VM_OUT/rec-${tag}.jsonl" hb-lvsd 2000 & rec=$!`,
    `${env} node dist/bench/health.js --json > "$LVSD_VM_OUT/health-${tag}.json" 2> "$LVSD_VM_OUT/health-${tag}.err"; echo "pageout-ab: $(date -u +%T) ${tag} exit $?"`,
    'kill -TERM $rec; wait $rec',
  );
});
lines.push('echo "pageout-ab: $(date -u +%T) done"', '');
const feed = () => { try { writeFileSync(join(outDir, 'host-load'), `${load()}\n`); } catch { /* over */ } };
feed();
const timer = setInterval(feed, 5000);
process.stdout.write(`pageout A/B: ${ORDER.join(', ')}, window ${WINDOW_S} s; results in ${outDir}; host load ${load()}\n`);
const r = await runInVm({
  script: lines.join('\n'), timeoutMs: Number(arg('timeout', '3600')) * 1000, outDir, memoryMb: 2048,
  env: { LVSD_BENCH_HOST_LOAD: load() }, onLine: (l) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`),
}).finally(() => clearInterval(timer));
process.stdout.write(`pageout A/B: exit ${r.exitCode}, ${(r.durationMs / 1000).toFixed(0)} s, host load ${load()}; results in ${outDir}\n`);
