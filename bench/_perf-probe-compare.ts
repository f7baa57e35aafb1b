/**
 * The health bench's per-probe perf figures of one run side by side (LVSD_BENCH_HEALTH_TRACE_ROUNDS=all leaves
 * DIR/perf-probe-TOOL-ROUND.json): per call, softirq and kernel symbol, each tool's median over its rounds
 * and the range, microseconds per probe, and lvsd minus keepalived.
 *
 *   node dist/bench/_perf-probe-compare.js DIR [symbols...]
 *
 * With LVSD_BENCH_LVSD_CLI_B the rounds of one tool are two builds: `--ab` compares lvsd's odd rounds (A)
 * with its even ones (B) instead.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PerfProbeFigures } from './_perf-probe.js';

/** what _perf-probe.ts wrote for one window (its folded stacks are not in the file) */
type Figures = Omit<PerfProbeFigures, 'folded'>;

const args = process.argv.slice(2);
const ab = args.includes('--ab');
const [dir, ...wanted] = args.filter((a) => a !== '--ab');
if (!dir) {
  process.stderr.write('usage: node dist/bench/_perf-probe-compare.js DIR [--ab] [symbols...]\n');
  process.exit(2);
}
const runs = readdirSync(dir).map((f) => /^perf-probe-(lvsd|keepalived)-(\d+)\.json$/.exec(f)).filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({ tool: m[1]!, round: Number(m[2]), f: JSON.parse(readFileSync(join(dir, m[0]), 'utf8')) as Figures }))
  .sort((a, b) => a.round - b.round);
const groups: Array<[string, Figures[]]> = ab
  ? [['lvsd A', runs.filter((r) => r.tool === 'lvsd' && r.round % 2 === 1).map((r) => r.f)], ['lvsd B', runs.filter((r) => r.tool === 'lvsd' && r.round % 2 === 0).map((r) => r.f)]]
  : [['lvsd', runs.filter((r) => r.tool === 'lvsd').map((r) => r.f)], ['keepalived', runs.filter((r) => r.tool === 'keepalived').map((r) => r.f)]];
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const cell = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
const line = (name: string, get: (f: Figures) => number) => {
  const [a, b] = groups.map(([, fs]) => fs.map(get));
  process.stdout.write(`${name.padEnd(44)} ${cell(a!).padStart(20)} ${cell(b!).padStart(20)} ${(median(a!) - median(b!)).toFixed(1).padStart(8)}\n`);
};
process.stdout.write(`${'us per probe (median, range)'.padEnd(44)} ${`${groups[0]![0]} x${groups[0]![1].length}`.padStart(20)} ${`${groups[1]![0]} x${groups[1]![1].length}`.padStart(20)} ${'diff'.padStart(8)}\n`);
line('samples of the thread', (f) => f.samples);
line('the thread, all', (f) => f.usPerProbe);
line('  user', (f) => f.userUs);
line('  kernel', (f) => f.kernelUs);
const keys = (get: (f: Figures) => Record<string, number>) => [...new Set(groups.flatMap(([, fs]) => fs.flatMap((f) => Object.keys(get(f)))))];
const byKey = (title: string, get: (f: Figures) => Record<string, number>, min: number) => {
  process.stdout.write(`${title}\n`);
  const ks = keys(get).map((k) => ({ k, m: Math.max(...groups.map(([, fs]) => median(fs.map((f) => get(f)[k] ?? 0)))) })).filter((x) => x.m >= min).sort((a, b) => b.m - a.m);
  for (const { k } of ks) line(`  ${k}`, (f) => get(f)[k] ?? 0);
};
byKey('by call', (f) => f.bySyscall, 1);
byKey('softirq inside', (f) => f.softirq, 0.5);
byKey('by call and softirq', (f) => f.bySyscallSoftirq, 1);
byKey('kernel inclusive', (f) => Object.fromEntries(f.inclusive.filter(([k]) => wanted.length === 0 || wanted.includes(k))), wanted.length ? 0 : 4);
byKey('kernel self', (f) => Object.fromEntries(f.self), 2);
