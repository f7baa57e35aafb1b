/**
 * `npm test`: every test file under dist/test, as `node --test` runs them, the kernel suite beside them.
 *
 * The kernel suite (test/kernel/suite.ts: one VM boot, ~10 min under TCG) starts here and runs in this
 * process while node:test runs the host's files one after another; dist/test/kernel/kernel.test.js
 * comes last (node:test's run() in the given order: `node --test` would sort it into the middle) and reports
 * the suite's record (LVSD_KERNEL_RUN_DIR) as it would have reported a run of its own. So one TAP stream,
 * one closing summary, the same tests; the wall time is about the longer of the
 * two instead of their sum. LVSD_KERNEL_BESIDE=0 runs them one after the other (kernel.test.js boots the VM
 * itself, as `node --test dist/test/kernel/kernel.test.js` always does).
 *
 * Arguments: the directories (or files) to take *.test.js from, default dist/test.
 */
import { mkdtempSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { RECORD_FILE, runSuite, writeRecord } from './kernel/suite.js';

const KERNEL = join('dist', 'test', 'kernel', 'kernel.test.js');

function testFiles(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js') && !f.split(sep).includes('inside'))
    .map((f) => join(root, f));
}

/** Sorted as `node --test` sorts, but the kernel suite's reporter last: it waits for the VM. */
export function order(files: readonly string[]): string[] {
  const sorted = [...new Set(files)].sort();
  const kernel = sorted.filter((f) => f.endsWith(`kernel${sep}kernel.test.js`));
  return [...sorted.filter((f) => !kernel.includes(f)), ...kernel];
}

async function main(): Promise<number> {
  const roots = process.argv.slice(2);
  const files = order((roots.length > 0 ? roots : [join('dist', 'test')]).flatMap(testFiles).map((f) => relative('.', f)));
  const beside = process.env.LVSD_KERNEL_BESIDE !== '0' && files.includes(KERNEL);
  let runDir: string | undefined;
  if (beside) {
    runDir = mkdtempSync(join(tmpdir(), 'lvsd-kernel-run-'));
    process.env.LVSD_KERNEL_RUN_DIR = runDir; // the test files' environment
  }
  // `node --test FILES` would sort the files (kernel.test.js would wait in the middle, the rest behind it):
  // run() keeps this order, one file at a time as the CLI does on 2 cores, and reports as the CLI does
  let failed = false;
  const stream = run({ files: files.map((f) => resolve(f)), concurrency: 1, timeout: 3_000_000 });
  stream.on('test:fail', () => {
    failed = true;
  });
  const done = new Promise<void>((resolveDone, reject) => {
    const out = process.stdout.isTTY ? stream.compose(new spec()) : stream.compose(tap);
    out.on('error', reject);
    out.on('end', resolveDone);
    out.pipe(process.stdout, { end: false });
  });
  if (runDir) {
    const dir = runDir;
    // after the first file has started: the package build at the start of the suite blocks this process
    setTimeout(() => void runSuite(join(dir, 'out')).then((record) => writeRecord(dir, record)), 2000);
  }
  await done;
  // kernel.test.js read the record, or the run ended without it: either way the VM is done with (a VM still
  // running is killed as this process exits: src/vm/runner.ts). out/ is gone when every kernel test passed,
  // else kept for its logs (kernel.test.js names it).
  if (runDir) {
    rmSync(join(runDir, RECORD_FILE), { force: true });
    for (const d of [join(runDir, 'out'), runDir]) {
      try {
        rmdirSync(d); // only when empty
      } catch {
        // out/ kept
      }
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
process.exit();
