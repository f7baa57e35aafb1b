/**
 * Runs the benches: `npm run bench` (or `node dist/bench/run.js [name ...]`).
 *
 * Every bench here needs root and a kernel with IPVS, so they all run in ONE boot of the kernel-test VM
 * (or directly on a host that is root and has IPVS; LVSD_KERNEL_MODE=vm|direct forces one), one after the
 * other, each printing its own figures.
 *
 * With no name it runs the benches of issue #11's table (startup, health, ipvs: about 30-40 min under TCG)
 * and ends with one summary table of every row, lvsd against its reference, from that one run
 * (bench/_summary.ts). `all` runs every bench; names run those (the summary shows what they measured).
 * A bench listed below whose compiled file is missing is skipped with a note.
 *
 *   LVSD_BENCH_TIMEOUT_S   limit for the whole run (default 2400); what finished before it is summarised
 *   LVSD_BENCH_*           passed through to the benches (e.g. LVSD_BENCH_SERVICES=2000,10000)
 * The default run sets, unless given: LVSD_BENCH_LAYOUTS=file, LVSD_BENCH_CLI=0 (the daemon rows, not the
 * dry run and one-change apply), LVSD_BENCH_HEALTH_WINDOW_S=30 (the issue's 30 s), LVSD_BENCH_STARTUP_RUNS=5.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { formatSummary, readResults } from './_summary.js';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSupport, repoRoot, runDirect, runInVm, type RunOptions } from '../src/vm/runner.js';

/** Known benches, in the order they run. */
const KNOWN = ['startup', 'health', 'ipvs', 'vrrp-failover', 'failover-gap', 'ecmp-failover'];

/** The benches of issue #11's table: what `npm run bench` runs by default, shortest first (a run cut short keeps them). */
const SUMMARY = ['startup', 'health', 'ipvs'];

/** Knobs the default run sets when not given, to keep it within ~40 min under TCG. */
const SUMMARY_DEFAULTS: Record<string, string> = {
  LVSD_BENCH_LAYOUTS: 'file',
  LVSD_BENCH_CLI: '0',
  LVSD_BENCH_HEALTH_WINDOW_S: '30',
  LVSD_BENCH_STARTUP_RUNS: '5',
};

const here = dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  const found = readdirSync(here)
    .filter((f) => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_'))
    .map((f) => basename(f, '.js'));
  const others = found.filter((n) => !KNOWN.includes(n)).sort();
  return [...KNOWN.filter((n) => found.includes(n)), ...others];
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const all = available();
  const wanted = args.includes('all') ? all : args.length > 0 ? args : SUMMARY.filter((n) => all.includes(n));
  for (const n of KNOWN) if (!all.includes(n)) process.stdout.write(`bench ${n}: not built (no ${n}.js), skipped\n`);
  const unknown = wanted.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench: ${unknown.join(', ')} (available: ${all.join(', ')})\n`);
    return 2;
  }
  const names = wanted;
  if (names.length === 0) {
    process.stdout.write('no bench to run\n');
    return 0;
  }

  const support = kernelSupport();
  if (!support.ok) {
    process.stderr.write(`the benches need a kernel with IPVS: ${support.reason}\n`);
    return 3;
  }
  const root = repoRoot();
  // one script: each bench in turn, a banner before it, the exit status after; a failing one does not stop the rest
  const script = [
    'status=0',
    ...names.map((n) => {
      const file = relative(root, join(here, `${n}.js`));
      return `echo; echo "=== bench ${n} ==="; node ${shellQuote(file)} || { rc=$?; echo "bench ${n} failed (exit $rc)"; status=1; }`;
    }),
    'exit $status',
    '',
  ].join('\n');
  const outDir = mkdtempSync(join(tmpdir(), 'lvsd-bench-out-'));
  const env: Record<string, string> = {};
  if (args.length === 0) Object.assign(env, SUMMARY_DEFAULTS);
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('LVSD_BENCH_') && v !== undefined) env[k] = v;
  // inside the VM the load average is the VM's own: hand the benches the host's
  env.LVSD_BENCH_HOST_LOAD = loadavg().map((l) => l.toFixed(2)).join(' ');
  const opts: RunOptions = {
    script,
    timeoutMs: Number(process.env.LVSD_BENCH_TIMEOUT_S ?? 2400) * 1000,
    outDir,
    env,
    onLine: (line) => process.stdout.write(line + '\n'),
  };
  // the VM shares the host's cores: say how busy the host was, since every figure depends on it
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  const before = load();
  process.stdout.write(`host load average before: ${before}\n`);
  process.stdout.write(`running ${names.join(', ')} (${support.mode === 'vm' ? 'in the kernel-test VM' : 'on this host'}); results: ${outDir}\n`);
  // the host's load for the benches to read during the run ($LVSD_VM_OUT/host-load: the VM's own load average is not it)
  const feedLoad = () => { try { writeFileSync(join(outDir, 'host-load'), `${load()}\n`); } catch { /* the run is over */ } };
  feedLoad();
  const feed = setInterval(feedLoad, 5000);
  const r = await (support.mode === 'vm' ? runInVm(opts) : runDirect(opts)).finally(() => clearInterval(feed));
  rmSync(join(outDir, 'host-load'), { force: true });
  if (r.bootFailure) process.stderr.write(`the VM failed before the benches ran: ${r.bootFailure}\n`);
  if (r.timedOut) process.stderr.write(`the benches timed out after ${opts.timeoutMs / 1000} s (LVSD_BENCH_TIMEOUT_S)\n`);
  const after = load();
  process.stdout.write(`host load average after: ${after}\n`);
  process.stdout.write(`\nbench run: exit ${r.exitCode}, ${(r.durationMs / 1000).toFixed(1)} s${r.bootMs !== undefined ? ` (VM boot ${(r.bootMs / 1000).toFixed(1)} s)` : ''}\n`);
  if (names.some((n) => SUMMARY.includes(n))) {
    process.stdout.write(`\n=== summary: issue #11's table, measured in this run (${names.join(', ')}${r.timedOut ? '; TIMED OUT: rows not measured did not finish' : ''}; host load before ${before}, after ${after}) ===\n`);
    process.stdout.write(formatSummary(readResults(outDir)) + '\n');
  }
  if (r.exitCode === 0 && existsSync(outDir) && readdirSync(outDir).every((f) => f === 'vm-console.log')) rmSync(outDir, { recursive: true, force: true });
  return r.exitCode;
}

process.exitCode = await main();
