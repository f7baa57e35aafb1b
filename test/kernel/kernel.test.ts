/**
 * Runs the kernel tests (dist/test/kernel/inside/*.test.js) in ONE boot of the kernel-test VM (or
 * directly on a host with IPVS) and reports each inside test as a subtest here, so `npm test` fails,
 * with the inside diagnostics, when one fails. Skips when no kernel with IPVS can be had; a VM that
 * fails to boot is a failure. LVSD_SKIP_KERNEL=1 skips; LVSD_REQUIRE_KERNEL=1 turns the skip into a failure.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { guestClockFast, kernelSupport, repoRoot, runDirect, runInVm, runKernelSuite, vmSupport } from './vm.js';
import { buildInitramfs } from '../../src/vm/initramfs.js';
import { findBusybox, findKernel, type KernelChoice } from '../../src/vm/modules.js';
import { describeFailure, parseTap, type TapNode } from './init/tap.js';
import { buildDeb } from '../../packaging/build-deb.js';

const insideDir = join(dirname(fileURLToPath(import.meta.url)), 'inside');
// TCG is slow and the host is shared: a busy 2-core box took 13.5 min for six files
const timeoutMs = Number(process.env.LVSD_KERNEL_TIMEOUT_S ?? 2700) * 1000;
/** one inside file may take this long before it is killed, so a hang costs one file, not the suite */
const fileTimeoutS = Number(process.env.LVSD_KERNEL_FILE_TIMEOUT_S ?? 900);

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** The inside test's own duration, from its TAP diagnostics. */
function insideMs(node: TapNode): string {
  const m = /^duration_ms:\s*([\d.]+)/m.exec(node.yaml);
  return m ? `${Number(m[1]).toFixed(0)} ms inside` : '';
}

async function report(t: TestContext, node: TapNode): Promise<void> {
  const options = node.skip !== undefined ? { skip: node.skip || true } : node.todo !== undefined ? { todo: node.todo || true } : {};
  await t.test(node.name, options, async (sub) => {
    if (insideMs(node)) sub.diagnostic(insideMs(node));
    for (const child of node.children) await report(sub, child);
    if (!node.ok && node.children.every((c) => c.ok)) assert.fail(describeFailure(node));
  });
}

/** Bash that runs each inside file on its own (TAP, log and exit status per file into $LVSD_VM_OUT). */
function suiteScript(paths: readonly string[]): string {
  const lines = ['set -u', 'failed=0', 'printf "harness-env:%s\\n" "$LVSD_HARNESS_CHECK"', 'export NODE_OPTIONS="${NODE_OPTIONS:-} --enable-source-maps"'];
  paths.forEach((p, i) => {
    lines.push(
      `echo "=== ${p}"`,
      `timeout --kill-after=10 ${fileTimeoutS} node --test-reporter=tap --test-reporter-destination="$LVSD_VM_OUT/${i}.tap" ` +
        `--test-reporter=spec --test-reporter-destination=stdout '${p}' 2>&1 | tee "$LVSD_VM_OUT/${i}.log"`,
      `rc=\${PIPESTATUS[0]}; echo "$rc" > "$LVSD_VM_OUT/${i}.rc"; [ "$rc" = 0 ] || failed=$((failed + 1))`,
    );
  });
  // the number of failed files comes back as the exit status: checked against the .rc files
  lines.push('exit $failed');
  return lines.join('\n') + '\n';
}

/**
 * inside/package.test.js installs the Debian package: build it here, on the host, before the boot (the VM
 * sees the shared out dir). Uncompressed: xz would cost ~40 s here and more to unpack under TCG.
 */
function packageForVm(files: readonly string[], outDir: string, t: TestContext): Record<string, string> {
  if (!files.some((f) => f.startsWith('package.'))) return {};
  const started = Date.now();
  try {
    const deb = buildDeb({ out: join(outDir, 'deb'), runtime: 'bundled', compress: 'none' });
    t.diagnostic(`built ${deb} for inside/package.test.js in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { LVSD_TEST_DEB: deb };
  } catch (e) {
    return { LVSD_TEST_DEB_ERROR: (e as Error).message };
  }
}

test('kernel tests inside a VM with IPVS (test/kernel/inside)', { timeout: timeoutMs + 60_000 }, async (t) => {
  if (process.env.LVSD_SKIP_KERNEL) return t.skip('LVSD_SKIP_KERNEL is set');
  const only = process.env.LVSD_KERNEL_ONLY; // a substring of the file names to run, for working on one
  const files = existsSync(insideDir)
    ? readdirSync(insideDir).filter((f) => f.endsWith('.test.js') && (!only || f.includes(only))).sort()
    : [];
  if (files.length === 0) return t.skip(`no kernel tests in ${insideDir}`);
  const support = kernelSupport();
  if (!support.ok) {
    if (process.env.LVSD_REQUIRE_KERNEL) assert.fail(`no kernel with IPVS (LVSD_REQUIRE_KERNEL is set): ${support.reason}`);
    return t.skip(`no kernel with IPVS: ${support.reason}`);
  }

  const repo = repoRoot();
  const outDir = mkdtempSync(join(tmpdir(), 'lvsd-kernel-tests-'));
  const paths = files.map((f) => relative(repo, join(insideDir, f)));
  const check = `it's "quoted" $HOME \\ end`; // comes back verbatim: the environment reaches the script intact
  const env: Record<string, string> = { LVSD_HARNESS_CHECK: check, ...packageForVm(files, outDir, t) };
  const r = await runKernelSuite({ script: suiteScript(paths), timeoutMs, outDir, env });
  t.diagnostic(
    `${r.mode}: ${files.length} file(s), total ${(r.durationMs / 1000).toFixed(1)} s` +
      (r.bootMs !== undefined ? `, boot to script ${(r.bootMs / 1000).toFixed(1)} s (guest clock: ${((r.guestBootMs ?? 0) / 1000).toFixed(1)} s)` : '') +
      (r.fastClockBoots ? `, ${r.fastClockBoots} boot(s) given up: the guest clock ran fast` : '') +
      (r.logFile ? `, console log ${r.logFile}` : ''),
  );
  if (r.bootFailure) assert.fail(`the VM failed before the tests ran: ${r.bootFailure}\n${tail(r.console)}`);
  if (r.timedOut) assert.fail(`kernel tests timed out after ${timeoutMs / 1000} s\n${tail(r.console)}`);

  let failedFiles = 0;
  for (const [i, path] of paths.entries()) {
    const read = (ext: string): string | undefined => {
      const f = join(outDir, `${i}.${ext}`);
      return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
    };
    await t.test(path, async (sub) => {
      const rc = read('rc')?.trim();
      const tap = read('tap');
      const roots = tap !== undefined ? parseTap(tap) : [];
      for (const node of roots) await report(sub, node);
      if (rc === undefined) assert.fail(`${path} never finished (the run stopped before it)`);
      if (rc === '124' || rc === '137') {
        assert.fail(`${path} was killed after ${fileTimeoutS} s (LVSD_KERNEL_FILE_TIMEOUT_S)\n${tail(read('log') ?? '', 30)}`);
      }
      if (rc !== '0' && roots.every((n) => n.ok)) {
        assert.fail(`${path} exited ${rc} without a failed test (crashed outside a test?)\n${tail(read('log') ?? '', 30)}`);
      }
    }).catch(() => undefined);
    if (read('rc')?.trim() !== '0') failedFiles++;
  }
  assert.equal(r.exitCode, failedFiles, 'the exit status of the run should count the failed files');
  const out = r.output.split('\n');
  assert.equal(out[0], `harness-env:${check}`, 'the script output starts with what it printed first');
  assert.deepEqual(out.filter((l) => l.startsWith('=== ')), paths.map((p) => `=== ${p}`));
  if (failedFiles === 0) rmSync(outDir, { recursive: true, force: true });
  else t.diagnostic(`per-file TAP and logs, and the VM console (vm-console.log), kept in ${outDir}`);
});

test('the TAP of node --test is read back as nested tests with their diagnostics', () => {
  const tap = [
    'TAP version 13',
    '# hello from a.test.js',
    '# Subtest: adds a service',
    'ok 1 - adds a service',
    '  ---',
    '  duration_ms: 12.5',
    "  location: '/repo/dist/test/kernel/inside/a.test.js:5:1'",
    '  ...',
    '# Subtest: group',
    '    # Subtest: removes it \\# really',
    '    not ok 1 - removes it \\# really',
    '      ---',
    '      duration_ms: 3',
    "      location: '/repo/dist/test/kernel/inside/a.test.js:9:3'",
    '      error: |-',
    '        Expected values to be strictly equal:',
    '        1 !== 2',
    '      stack: |-',
    '        TestContext.<anonymous> (file:///repo/a.test.js:9:10)',
    '      ...',
    '    # Subtest: needs keepalived',
    '    ok 2 - needs keepalived # SKIP not installed',
    '    1..2',
    'not ok 2 - group',
    '  ---',
    "  location: '/repo/dist/test/kernel/inside/a.test.js:8:1'",
    '  ...',
    '# about to crash',
    '# Subtest: /repo/dist/test/kernel/inside/b.test.js',
    'not ok 3 - /repo/dist/test/kernel/inside/b.test.js',
    '  ---',
    "  location: '/repo/dist/test/kernel/inside/b.test.js:1:1'",
    '  exitCode: 3',
    "  error: 'test failed'",
    '  ...',
    '1..3',
    '# tests 4',
    '# pass 1',
  ].join('\n');
  const roots = parseTap(tap);
  assert.deepEqual(roots.map((n) => [n.name, n.ok]), [
    ['adds a service', true],
    ['group', false],
    ['/repo/dist/test/kernel/inside/b.test.js', false],
  ]);
  assert.deepEqual(roots[0]!.comments, ['hello from a.test.js']);
  const group = roots[1]!;
  assert.deepEqual(
    group.children.map((c) => [c.name, c.ok, c.skip]),
    [['removes it # really', false, undefined], ['needs keepalived', true, 'not installed']],
  );
  const failed = describeFailure(group.children[0]!);
  assert.match(failed, /1 !== 2/);
  assert.match(failed, /a\.test\.js:9:10/);
  assert.doesNotMatch(failed, /duration_ms/);
  const crashed = roots[2]!;
  assert.equal(crashed.children.length, 0);
  assert.match(describeFailure(crashed), /about to crash/);
  assert.match(describeFailure(crashed), /exitCode: 3/);
});

const vm = vmSupport();
const noVm = vm.ok ? undefined : vm.reason;

test('the initramfs holds init, a static busybox and the 9p/overlay modules (listed by busybox cpio)', { skip: noVm }, () => {
  const busybox = findBusybox() as string;
  const archive = buildInitramfs(findKernel() as KernelChoice, busybox);
  const names = execFileSync(busybox, ['cpio', '-t'], { input: readFileSync(archive), encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] })
    .split('\n')
    .filter(Boolean);
  for (const want of ['init', 'bin/busybox', 'dev/console', 'lvsd/stage2', 'lvsd/modules/9p.ko', 'lvsd/modules/overlay.ko', 'lvsd/modules/virtio_pci.ko']) {
    assert.ok(names.includes(want), `${want} missing from ${archive}`);
  }
  // the archive is cached: a second build returns the same file without rewriting it
  assert.equal(buildInitramfs(findKernel() as KernelChoice, busybox), archive);
});

test('a VM that runs out of time is killed and reported as timed out, not as a result', { skip: noVm }, async () => {
  const started = Date.now();
  const r = await runInVm({ script: 'sleep 600', timeoutMs: 1500 });
  assert.equal(r.timedOut, true);
  assert.equal(r.exitCode, 124);
  assert.ok(r.bootFailure, 'a run that never reached the script says so');
  assert.ok(Date.now() - started < 10_000, `killed promptly (took ${Date.now() - started} ms)`);
});

test('a guest whose clock runs fast (its TSC calibrated 20 times too low) is not used: the run is a boot failure that says so', { skip: noVm }, async () => {
  // tsc_early_khz stands for a calibration that went wrong under load (seen: guest uptime 9,541 s after
  // 636 s); the refinement rejects a value more than 1 % off and tsc=reliable keeps it
  const r = await runInVm({ script: 'echo ran', timeoutMs: 300_000, kernelArgs: ['tsc_early_khz=100000'], clockBoots: 1 });
  assert.equal(r.exitCode, 125, r.console.slice(-2000));
  assert.match(r.bootFailure ?? '', /the guest clock ran [\d.]+ x fast in each of 1 boots/);
  assert.equal(r.fastClockBoots, 1);
  assert.doesNotMatch(r.output, /ran/, 'the script of a boot given up reaches no one');
});

test('the guest clock is judged against the host time since qemu started', () => {
  assert.equal(guestClockFast(4.3, 5000), undefined); // a right clock: uptime less than the host time
  assert.equal(guestClockFast(6.9, 5000), undefined); // within the 2 s slack
  assert.equal(guestClockFast(1084.4, 120_900)! > 8.9, true); // the boot seen at load 20: 9 x fast
  assert.equal(guestClockFast(NaN, 5000), undefined);
});

test('runDirect runs the script from the repository root and hands back its status, output and files', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'lvsd-direct-test-'));
  try {
    const r = await runDirect({
      script: 'pwd; echo "$GREETING"; echo oops >&2; echo 42 > "$LVSD_VM_OUT/answer"; exit 3',
      timeoutMs: 30_000,
      outDir,
      env: { GREETING: "it's here" },
    });
    assert.equal(r.exitCode, 3);
    assert.equal(r.timedOut, false);
    assert.deepEqual(r.output.split('\n').sort(), [repoRoot(), "it's here", 'oops'].sort());
    assert.equal(readFileSync(join(outDir, 'answer'), 'utf8'), '42\n');
    const slow = await runDirect({ script: 'sleep 30', timeoutMs: 300 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.exitCode, 124);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
});
