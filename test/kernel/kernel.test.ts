/**
 * Runs the kernel tests (dist/test/kernel/inside/*.test.js) in ONE boot of the kernel-test VM (or
 * directly on a host with IPVS) and reports each inside test as a subtest here, so `npm test` fails,
 * with the inside diagnostics, when one fails. Skips when no kernel with IPVS can be had; a VM that
 * fails to boot is a failure. LVSD_SKIP_KERNEL=1 skips; LVSD_REQUIRE_KERNEL=1 turns the skip into a failure.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { guestClockFast, repoRoot, runDirect, runInVm, vmSupport } from './vm.js';
import { buildInitramfs } from '../../src/vm/initramfs.js';
import { findBusybox, findKernel, type KernelChoice } from '../../src/vm/modules.js';
import { describeFailure, parseTap, type TapNode } from './init/tap.js';
import { cpuBusy, fileTimeoutS, planLanes, runSuite, suiteScript, suiteTimeoutMs, waitRecord, type SuiteRecord } from './suite.js';

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

/**
 * The record of the kernel suite: the one `npm test` (test/run.ts) started before `node --test` and runs
 * beside it (LVSD_KERNEL_RUN_DIR), else a run made here and now.
 */
async function suiteRecord(): Promise<SuiteRecord> {
  const dir = process.env.LVSD_KERNEL_RUN_DIR;
  if (dir) return waitRecord(dir, suiteTimeoutMs() + 120_000);
  return runSuite(mkdtempSync(join(tmpdir(), 'lvsd-kernel-tests-')));
}

test('kernel tests inside a VM with IPVS (test/kernel/inside)', { timeout: suiteTimeoutMs() + 180_000 }, async (t) => {
  const rec = await suiteRecord();
  for (const d of rec.diagnostics) t.diagnostic(d);
  if (rec.error) assert.fail(rec.error);
  if (rec.skip) return t.skip(rec.skip);
  const r = rec.result!;
  const { outDir, paths, check } = rec;
  const read = (name: string): string | undefined => {
    const f = join(outDir, name);
    return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
  };
  const busy = cpuBusy(read('stat.start') ?? '', read('stat.end') ?? '');
  t.diagnostic(
    `${r.mode}: ${paths.length} file(s) in ${rec.lanes.length} lane(s), total ${(r.durationMs / 1000).toFixed(1)} s` +
      (r.bootMs !== undefined ? `, boot to script ${(r.bootMs / 1000).toFixed(1)} s (guest clock: ${((r.guestBootMs ?? 0) / 1000).toFixed(1)} s)` : '') +
      (busy !== undefined ? `, CPUs busy ${(busy * 100).toFixed(0)} %` : '') +
      (r.fastClockBoots ? `, ${r.fastClockBoots} boot(s) given up: the guest clock ran fast` : '') +
      (r.logFile ? `, console log ${r.logFile}` : ''),
  );
  if (r.bootFailure) assert.fail(`the VM failed before the tests ran: ${r.bootFailure}\n${r.consoleTail}`);
  if (r.timedOut) assert.fail(`kernel tests timed out after ${suiteTimeoutMs() / 1000} s\n${r.consoleTail}`);

  let failedFiles = 0;
  for (const [i, path] of paths.entries()) {
    const rc = read(`${i}.rc`)?.trim();
    const took = Number(read(`${i}.end`)) - Number(read(`${i}.start`));
    await t.test(path, async (sub) => {
      if (Number.isFinite(took)) sub.diagnostic(`${took.toFixed(1)} s (guest clock), lane ${rec.lanes.findIndex((l) => l.includes(path))}`);
      const tap = read(`${i}.tap`);
      const roots = tap !== undefined ? parseTap(tap) : [];
      for (const node of roots) await report(sub, node);
      if (rc === undefined) assert.fail(`${path} never finished (the run stopped before it)`);
      if (rc === '124' || rc === '137') {
        assert.fail(`${path} was killed after ${fileTimeoutS()} s (LVSD_KERNEL_FILE_TIMEOUT_S)\n${tail(read(`${i}.log`) ?? '', 30)}`);
      }
      if (rc !== '0' && roots.every((n) => n.ok)) {
        assert.fail(`${path} exited ${rc} without a failed test (crashed outside a test?)\n${tail(read(`${i}.log`) ?? '', 30)}`);
      }
    }).catch(() => undefined);
    if (rc !== '0') failedFiles++;
  }
  assert.equal(r.exitCode, failedFiles, 'the exit status of the run should count the failed files');
  const out = r.output.split('\n');
  assert.equal(out[0], `harness-env:${check}`, 'the script output starts with what it printed first');
  // each lane announces its files in its order; lanes interleave
  for (const lane of rec.lanes) {
    assert.deepEqual(out.filter((l) => l.startsWith('=== ') && !/ exit \d+$/.test(l) && lane.includes(l.slice(4))), lane.map((p) => `=== ${p}`));
  }
  if (failedFiles === 0) rmSync(outDir, { recursive: true, force: true });
  else t.diagnostic(`per-file TAP and logs, and the VM console (vm-console.log), kept in ${outDir}`);
});

test('inside files are split into a root-namespace lane and a lane of the files with namespaces of their own', () => {
  const files = ['a.test.js', 'lab1.test.js', 'b.test.js', 'e.test.js', 'lab2.test.js'];
  const own = { 'lab1.test.js': 'lab', 'lab2.test.js': 'lab', 'e.test.js': 'ecmp' };
  assert.deepEqual(planLanes(files, 2, own), [['a.test.js', 'b.test.js'], ['e.test.js', 'lab1.test.js', 'lab2.test.js']]);
  assert.deepEqual(planLanes(files, 1, own), [files], 'one lane: every file in turn');
  assert.deepEqual(planLanes(['a.test.js'], 2, own), [['a.test.js']], 'nothing namespaced: one lane');
  assert.deepEqual(planLanes(['lab1.test.js'], 2, own), [['lab1.test.js']], 'only namespaced: one lane');
  // the script runs both lanes in the background and counts failed files from both
  const script = suiteScript(['x/a.test.js', 'x/b.test.js'], [['x/a.test.js'], ['x/b.test.js']], 60);
  assert.match(script, /^lane0 & pid0=\$!$/m);
  assert.match(script, /^lane1 & pid1=\$!$/m);
  assert.match(script, /^wait \$pid1; failed=\$\(\(failed \+ \$\?\)\)$/m);
  assert.match(script, /\$LVSD_VM_OUT\/1\.tap/);
  assert.equal(cpuBusy('cpu 100 0 100 800 0 0 0 0 0 0', 'cpu 200 0 200 1400 0 0 0 0 0 0'), 0.25);
  assert.equal(cpuBusy('', 'cpu 1 2 3 4 5'), undefined);
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
