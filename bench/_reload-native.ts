/**
 * The daemon's reload of a one-weight edit, natively: the daemon over the in-memory IPVS model (no kernel),
 * metrics on, the config in one file of N services x 10 real servers; one weight edited (a different
 * service each time), then `daemon.reload()`. Prints per reload the wall time, the CPU time of the process,
 * the time the in-memory model took to apply the operations (`model`: a cost of the test kernel, which
 * indexes its whole table per batch, not of lvsd; `own` is the CPU time less it) and what `config.reloaded`
 * logged (load, event loop's worst), then the medians of the last half. The IPVS sysctls go to a directory
 * standing in for /proc/sys/net/ipv4/vs (the daemon's reload sets them as it does on a director).
 *
 *   node dist/bench/_reload-native.js [services=2000] [reloads=12]
 *   LVSD_BENCH_CHECKS=tcp   every real server has a TCP check (a scripted prober answers up; interval 60 s, initially up)
 *   LVSD_BENCH_UNCHANGED=1  also reload with nothing changed
 * With `node --cpu-prof` the profile covers the start as well: read the reloads' share in it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { Daemon } from '../src/daemon/daemon.js';
import { createMetrics } from '../src/daemon/metrics.js';
import type { Prober } from '../src/health/index.js';
import { ModelClient } from '../test/unit/reconcile-model.js';
import { ConfigWriter, DESTS } from './_config-writer.js';

const N = Number(process.argv[2] ?? 2000);
const RELOADS = Number(process.argv[3] ?? 12);
const checks = process.env.LVSD_BENCH_CHECKS === 'tcp';

const dir = mkdtempSync(join(tmpdir(), 'lvsd-reload-native-'));
const file = join(dir, 'lvsd.json');
// written without garbage of the file's size per edit (the writer's collections are not the daemon's)
const writer = new ConfigWriter(file, N, { checks });
const sysctlDir = join(dir, 'vs');
mkdirSync(sysctlDir);
for (const name of ['expire_nodest_conn', 'expire_quiescent_template']) writeFileSync(join(sysctlDir, name), '0\n');

const lines: Array<Record<string, unknown>> = [];
const log = pino({ level: 'info' }, { write: (l: string) => void ((l.includes('"config.reload') || l.includes('"daemon.reconcile')) && lines.push(JSON.parse(l) as Record<string, unknown>)) });
const prober: Prober = async () => ({ ok: true, latencyMs: 1, reason: 'ok' });
const kernel = new ModelClient();
let modelMs = 0;
const execute = kernel.execute.bind(kernel);
kernel.execute = async (commands) => {
  const t = performance.now();
  try {
    return await execute(commands);
  } finally {
    modelMs += performance.now() - t;
  }
};
const t0 = performance.now();
const d = await Daemon.start({
  configPath: file, log, stateFile: join(dir, 'state.json'), ipvs: async () => kernel, ipvsSysctlDir: sysctlDir, prober,
  metrics: createMetrics({ processMetrics: false }),
});
const startMs = performance.now() - t0;

interface Sample { wallMs: number; cpuMs: number; modelMs: number; ownMs: number; loadMs: number; readMs: number; parseMs: number; buildMs: number; hostMs: number; passMs: number; loopMaxMs: number; ok: boolean }
async function reload(): Promise<Sample> {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const m0 = modelMs;
  const r = await d.reload('control');
  const wallMs = performance.now() - w0;
  const c = process.cpuUsage(c0);
  const line = lines.filter((l) => l.event === 'config.reloaded').at(-1) ?? {};
  const pass = lines.filter((l) => l.event === 'daemon.reconcile' && l.reason === 'reload').at(-1) ?? {};
  lines.length = 0;
  const cpuMs = (c.user + c.system) / 1000;
  return { wallMs, cpuMs, modelMs: modelMs - m0, ownMs: cpuMs - (modelMs - m0), loadMs: Number(line.loadMs), readMs: Number(line.readMs), parseMs: Number(line.parseMs), buildMs: Number(line.buildMs), hostMs: Number(line.hostMs), passMs: Number(pass.ms), loopMaxMs: Number(line.loopDelayMaxMs), ok: r.ok };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};
const show = (what: string, samples: Sample[]): void => {
  const tail = samples.slice(samples.length >> 1);
  const f = (k: keyof Sample) => median(tail.map((s) => s[k] as number)).toFixed(1);
  process.stdout.write(`${what}: wall ${f('wallMs')} ms, CPU ${f('cpuMs')} ms (model ${f('modelMs')}, own ${f('ownMs')}), load ${f('loadMs')} ms (read ${f('readMs')}, parse ${f('parseMs')}, build ${f('buildMs')}, host checks ${f('hostMs')}), pass ${f('passMs')} ms, loop worst ${f('loopMaxMs')} ms (medians of the last ${tail.length})\n`);
};

process.stdout.write(`${N} x ${DESTS}${checks ? ', TCP checks' : ''}: started in ${Math.round(startMs)} ms; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
const edited: Sample[] = [];
for (let k = 0; k < RELOADS; k++) {
  const i = (k * 7919) % N;
  writer.setWeight(i, 5, 200 + k);
  const s = await reload();
  if (!s.ok) throw new Error(`reload ${k} failed`);
  edited.push(s);
  process.stdout.write(`  edit ${k}: wall ${s.wallMs.toFixed(1)} / CPU ${s.cpuMs.toFixed(1)} / model ${s.modelMs.toFixed(1)} / load ${s.loadMs} (read ${s.readMs}, parse ${s.parseMs}, build ${s.buildMs}) / pass ${s.passMs} / loop ${s.loopMaxMs} ms\n`);
}
show('one weight edited', edited);
if (process.env.LVSD_BENCH_UNCHANGED === '1') {
  const same: Sample[] = [];
  for (let k = 0; k < RELOADS; k++) same.push(await reload());
  show('nothing changed', same);
}
process.stdout.write(`load average after ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
await d.stop();
rmSync(dir, { recursive: true, force: true });
