/**
 * The kernel suite as one run: which inside files run, in which lane, the bash that runs them in the VM
 * (or directly), and the record of that run that kernel.test.ts reports from.
 *
 * Lanes: the inside files share one kernel. A file that programs IPVS or links in the VM's root network
 * namespace (the default for a file not listed below) runs in the "root" lane, one after another. A file
 * whose whole topology lives in network namespaces of its own names them in NAMESPACED: files of one
 * namespace group share names and so run one after another too, but the groups run in a second lane beside
 * the root lane, inside the same VM, with LVSD_KERNEL_LANES=2. By default (1) every file runs in one lane,
 * in name order.
 *
 * `npm test` (test/run.ts) starts the run with the host's test files and runs it beside them: the VM is
 * busy for ~15 min on its own, so the host's tests go on meanwhile. kernel.test.ts then waits
 * for the record (LVSD_KERNEL_RUN_DIR) instead of booting a VM itself.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelSupport, repoRoot, runKernelSuite, type RunResult } from './vm.js';
import { buildDeb } from '../../packaging/build-deb.js';

export const insideDir = join(dirname(fileURLToPath(import.meta.url)), 'inside');

/**
 * Inside files whose namespaces are their own (nothing in the VM's root namespace: no `ipvsadm -C` there,
 * no root links), by the group of namespace names they use. A new file is in the root lane until it is
 * listed here.
 */
export const NAMESPACED: Readonly<Record<string, string>> = {
  'failover-dr.test.js': 'lab (lvs-*)',
  'failover-nat.test.js': 'lab (lvs-*)',
  'ecmp-lab.test.js': 'ecmp lab (lve-*)',
  'ecmp-flows.test.js': 'ecmp flows (ecmpf-*)',
  'accept-mode.test.js': 'accept (lvsdam-*)',
};

// TCG is slow and the host is shared: a busy 2-core box took 13.5 min for six files
export const suiteTimeoutMs = (): number => Number(process.env.LVSD_KERNEL_TIMEOUT_S ?? 2700) * 1000;
/** one inside file may take this long before it is killed, so a hang costs one file, not the suite */
export const fileTimeoutS = (): number => Number(process.env.LVSD_KERNEL_FILE_TIMEOUT_S ?? 900);

/** The inside files to run: every *.test.js, or those whose name contains LVSD_KERNEL_ONLY. */
export function insideFiles(only = process.env.LVSD_KERNEL_ONLY): string[] {
  return existsSync(insideDir)
    ? readdirSync(insideDir).filter((f) => f.endsWith('.test.js') && (!only || f.includes(only))).sort()
    : [];
}

/**
 * Files (names) into lanes: lane 0 the root-namespace files, lane 1 the namespaced groups one after another
 * (each group's files together). With one lane, or nothing namespaced, one lane in name order.
 */
export function planLanes(files: readonly string[], lanes: number, namespaced: Readonly<Record<string, string>> = NAMESPACED): string[][] {
  const own = files.filter((f) => namespaced[f] !== undefined);
  if (lanes <= 1 || own.length === 0 || own.length === files.length) return [[...files]];
  const groups = [...new Set(own.map((f) => namespaced[f]!))].sort();
  return [files.filter((f) => namespaced[f] === undefined), groups.flatMap((g) => own.filter((f) => namespaced[f] === g))];
}

/**
 * LVSD_KERNEL_LANES, default 1: a second lane doubles what the VM asks of the host's CPUs, and beside the
 * host's tests on a 2-core host (npm test) that slowed lane 0's timed waits past their bounds once (a
 * loaded host, load 15-20: daemon-ops' start wait of 60 s). Opt in where the host has cores to spare.
 */
export function laneCount(): number {
  const n = Number(process.env.LVSD_KERNEL_LANES ?? 1);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * Bash that runs each lane in the background and each file of a lane in turn; per file i (its index in
 * `paths`): TAP, log, exit status and guest-clock start/end times into $LVSD_VM_OUT. The exit status is
 * the number of failed files; /proc/stat at start and end gives the guest's CPU use.
 */
export function suiteScript(paths: readonly string[], lanes: readonly (readonly string[])[], fileTimeout: number): string {
  const lines = [
    'set -u',
    'printf "harness-env:%s\\n" "$LVSD_HARNESS_CHECK"',
    'export NODE_OPTIONS="${NODE_OPTIONS:-} --enable-source-maps"',
    'head -1 /proc/stat > "$LVSD_VM_OUT/stat.start"',
  ];
  lanes.forEach((lane, l) => {
    lines.push(`lane${l}() {`, '  local failed=0 rc');
    for (const p of lane) {
      const i = paths.indexOf(p);
      lines.push(
        `  echo "=== ${p}"`,
        `  date +%s.%N > "$LVSD_VM_OUT/${i}.start"`,
        `  timeout --kill-after=10 ${fileTimeout} node --test-reporter=tap --test-reporter-destination="$LVSD_VM_OUT/${i}.tap" ` +
          `--test-reporter=spec --test-reporter-destination=stdout '${p}' > "$LVSD_VM_OUT/${i}.log" 2>&1`,
        `  rc=$?; date +%s.%N > "$LVSD_VM_OUT/${i}.end"; echo "$rc" > "$LVSD_VM_OUT/${i}.rc"`,
        `  echo "=== ${p} exit $rc"; [ "$rc" = 0 ] || failed=$((failed + 1))`,
      );
    }
    lines.push('  return $failed', '}', `lane${l} & pid${l}=$!`);
  });
  lines.push('failed=0');
  lanes.forEach((_, l) => lines.push(`wait $pid${l}; failed=$((failed + $?))`));
  lines.push('head -1 /proc/stat > "$LVSD_VM_OUT/stat.end"', 'exit $failed');
  return lines.join('\n') + '\n';
}

/** Busy share of the guest's CPUs between two /proc/stat "cpu" lines (idle and iowait are not busy). */
export function cpuBusy(start: string, end: string): number | undefined {
  const nums = (l: string): number[] => l.trim().split(/\s+/).slice(1).map(Number);
  const a = nums(start);
  const b = nums(end);
  if (a.length < 5 || a.length !== b.length || [...a, ...b].some((n) => !Number.isFinite(n))) return undefined;
  const d = b.map((v, i) => v - a[i]!);
  const total = d.reduce((s, v) => s + v, 0);
  const idle = d[3]! + d[4]!;
  return total > 0 ? (total - idle) / total : undefined;
}

/** What kernel.test.ts reports from: the run's result, or why there was none. */
export interface SuiteRecord {
  files: string[];
  /** repository-relative paths of the files, in `files` order (per-file results are <outDir>/<index>.*) */
  paths: string[];
  lanes: string[][];
  outDir: string;
  check: string;
  /** set when the kernel tests skip (no kernel, LVSD_SKIP_KERNEL, no files) */
  skip?: string;
  /** set when the run could not be made: a failure */
  error?: string;
  diagnostics: string[];
  result?: Omit<RunResult, 'console'> & { consoleTail: string };
}

/**
 * inside/package.test.js installs the Debian package: build it here, on the host, before the boot (the VM
 * sees the shared out dir). Uncompressed: xz would cost ~40 s here and more to unpack under TCG.
 */
function packageForVm(files: readonly string[], outDir: string, say: (s: string) => void): Record<string, string> {
  if (!files.some((f) => f.startsWith('package.'))) return {};
  const started = Date.now();
  try {
    const deb = buildDeb({ out: join(outDir, 'deb'), runtime: 'bundled', compress: 'none' });
    say(`built ${deb} for inside/package.test.js in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { LVSD_TEST_DEB: deb };
  } catch (e) {
    return { LVSD_TEST_DEB_ERROR: (e as Error).message };
  }
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Runs the whole kernel suite into outDir (made if missing) and returns its record. Never rejects. */
export async function runSuite(outDir: string): Promise<SuiteRecord> {
  mkdirSync(outDir, { recursive: true });
  const files = insideFiles();
  const repo = repoRoot();
  const paths = files.map((f) => relative(repo, join(insideDir, f)));
  const lanes = planLanes(files, laneCount()).map((lane) => lane.map((f) => paths[files.indexOf(f)]!));
  const check = `it's "quoted" $HOME \\ end`; // comes back verbatim: the environment reaches the script intact
  const record: SuiteRecord = { files, paths, lanes, outDir, check, diagnostics: [] };
  if (process.env.LVSD_SKIP_KERNEL) return { ...record, skip: 'LVSD_SKIP_KERNEL is set' };
  if (files.length === 0) return { ...record, skip: `no kernel tests in ${insideDir}` };
  const support = kernelSupport();
  if (!support.ok) {
    if (process.env.LVSD_REQUIRE_KERNEL) return { ...record, error: `no kernel with IPVS (LVSD_REQUIRE_KERNEL is set): ${support.reason}` };
    return { ...record, skip: `no kernel with IPVS: ${support.reason}` };
  }
  try {
    const env: Record<string, string> = { LVSD_HARNESS_CHECK: check, ...packageForVm(files, outDir, (s) => record.diagnostics.push(s)) };
    const r = await runKernelSuite({ script: suiteScript(paths, lanes, fileTimeoutS()), timeoutMs: suiteTimeoutMs(), outDir, env, memoryMb: 3072 });
    const { console: text, ...rest } = r;
    record.result = { ...rest, consoleTail: tail(text) };
  } catch (e) {
    record.error = `the kernel suite could not be run: ${(e as Error).stack ?? e}`;
  }
  return record;
}

export const RECORD_FILE = 'suite.json';

/** Writes the record so that a reader never sees half of it. */
export function writeRecord(dir: string, record: SuiteRecord): void {
  const tmp = join(dir, `${RECORD_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(record));
  renameSync(tmp, join(dir, RECORD_FILE));
}

/** Waits for the record a background run (test/run.ts) writes into dir. */
export async function waitRecord(dir: string, timeoutMs: number): Promise<SuiteRecord> {
  const file = join(dir, RECORD_FILE);
  const until = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > until) throw new Error(`no kernel suite record in ${dir} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return JSON.parse(readFileSync(file, 'utf8')) as SuiteRecord;
}
