/**
 * `npm test`: every test file under dist/test with `node --test`, the kernel suite beside them.
 *
 * The kernel suite (test/kernel/suite.ts: one VM boot, ~10 min under TCG) starts here first and runs in
 * this process while `node --test` runs the host's files one after another; dist/test/kernel/kernel.test.js
 * comes last and reports the suite's record (LVSD_KERNEL_RUN_DIR) as it would have reported a run of its
 * own. So one TAP stream, one closing summary, the same tests; the wall time is about the longer of the
 * two instead of their sum. LVSD_KERNEL_BESIDE=0 runs them one after the other (kernel.test.js boots the VM
 * itself, as `node --test dist/test/kernel/kernel.test.js` always does).
 *
 * Arguments: the directories (or files) to take *.test.js from, default dist/test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { RECORD_FILE, runSuite, writeRecord } from './kernel/suite.js';

const KERNEL = join('dist', 'test', 'kernel', 'kernel.test.js');

function testFiles(root: string): string[] {
  if (statSync(root).isFile()) return [root];
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.js') && !f.split(sep).includes('inside'))
    .map((f) => join(root, f));
}

/** Sorted as `find | sort` did, but the kernel suite's reporter last: it waits for the VM. */
export function order(files: readonly string[]): string[] {
  const sorted = [...new Set(files)].sort();
  const kernel = sorted.filter((f) => f.endsWith(`kernel${sep}kernel.test.js`));
  return [...sorted.filter((f) => !kernel.includes(f)), ...kernel];
}

async function main(): Promise<number> {
  const roots = process.argv.slice(2);
  const files = order((roots.length > 0 ? roots : [join('dist', 'test')]).flatMap(testFiles).map((f) => relative('.', f)));
  const beside = process.env.LVSD_KERNEL_BESIDE !== '0' && files.includes(KERNEL);
  const env = { ...process.env };
  let runDir: string | undefined;
  let kernelRun: Promise<void> | undefined;
  if (beside) {
    runDir = mkdtempSync(join(tmpdir(), 'lvsd-kernel-run-'));
    env.LVSD_KERNEL_RUN_DIR = runDir;
  }
  const child = spawn(process.execPath, ['--test', '--test-timeout=3000000', ...files], { stdio: 'inherit', env });
  if (runDir) {
    const dir = runDir;
    kernelRun = runSuite(join(dir, 'out')).then((record) => writeRecord(dir, record));
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => child.kill(sig));
  const code = await new Promise<number>((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 128 : 1))));
  // kernel.test.js read the record, or node --test ended without it: either way the VM is done with (a VM
  // still running is killed as this process exits: src/vm/runner.ts). out/ is gone when every kernel test
  // passed, else kept for its logs (kernel.test.js names it).
  void kernelRun;
  if (runDir) {
    rmSync(join(runDir, RECORD_FILE), { force: true });
    try {
      rmdirSync(runDir);
    } catch {
      // out/ kept
    }
  }
  return code;
}

process.exitCode = await main();
process.exit();
