/**
 * The programs lvsd starts outside the checks go through src/spawn-child.ts too (the clone that copies
 * nothing of the daemon, when the addon is there), not node's fork: the Accept_Mode filter's nft, its
 * rules on stdin, and the one-time unshare probe of the exec checks' isolation. Each through both ways
 * (the clone, node's spawn): nft gets its rules whole and then the end of its stdin; an nft that exits
 * without reading them is judged by its exit, never an EPIPE that takes the daemon down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLvsdError } from '../../src/errors.js';
import { execIsolation, setExecIsolation } from '../../src/health/checkers/exec.js';
import { acceptFilterScript, setAcceptFilter } from '../../src/net/index.js';
import { nativeAvailable } from '../../src/net/native.js';
import { loadSpawn, setSpawn, setSpawnKind, type SpawnOptions } from '../../src/spawn-child.js';

const kinds = (['native', 'node'] as const).filter((k) => k === 'node' || nativeAvailable());

/** The spawn of `kind`, wrapped to note every program started through it. */
async function recording(kind: 'native' | 'node') {
  setSpawnKind(kind);
  const real = await loadSpawn();
  const calls: Array<{ file: string; args: readonly string[]; options: SpawnOptions }> = [];
  setSpawn((file, args, options) => {
    calls.push({ file, args, options });
    return real(file, args, options);
  });
  return calls;
}

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-spawn-callers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An executable shell script. */
function script(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

for (const kind of kinds) {
  test(`nft through spawn-child (${kind}): its rules whole on stdin, then the end of it`, async (t) => {
    const dir = scratch(t);
    const got = join(dir, 'rules');
    const nft = script(dir, 'nft', `[ "$1 $2" = "-f -" ] || exit 9\ncat > ${got}\necho done >> ${got}.end`);
    const calls = await recording(kind);
    try {
      const vips = Array.from({ length: 3000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`); // rules past a pipe's 64 KiB
      await setAcceptFilter(vips, nft);
      assert.equal(readFileSync(got, 'utf8'), acceptFilterScript(vips));
      assert.equal(readFileSync(`${got}.end`, 'utf8'), 'done\n', 'nft saw its stdin end');
      assert.deepEqual(calls.map((c) => [c.file, c.args, c.options.stdin]), [[nft, ['-f', '-'], 'pipe']]);
    } finally {
      setSpawnKind(undefined);
    }
  });

  test(`an nft that exits without reading its rules (${kind}): judged by its exit, the EPIPE handled`, async (t) => {
    const dir = scratch(t);
    const big = Array.from({ length: 20_000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.2`); // more than the pipe holds
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('uncaughtException', onUnhandled);
    setSpawnKind(kind);
    try {
      await setAcceptFilter(big, script(dir, 'nft-ok', 'exit 0'));
      await assert.rejects(setAcceptFilter(big, script(dir, 'nft-no', 'echo "no thanks" >&2; exit 1')),
        (e: unknown) => isLvsdError(e, 'LVSD_FIREWALL') && /refused the rules: no thanks/.test(e.message));
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('uncaughtException', onUnhandled);
      setSpawnKind(undefined);
    }
    assert.deepEqual(unhandled, []);
  });

  test(`nft missing (${kind}): LVSD_FIREWALL naming the fix; removing none succeeds`, async () => {
    setSpawnKind(kind);
    try {
      await assert.rejects(setAcceptFilter(['192.0.2.1'], '/nonexistent/nft'), (e: unknown) => isLvsdError(e, 'LVSD_FIREWALL') && /not installed/.test(e.message));
      await setAcceptFilter([], '/nonexistent/nft');
    } finally {
      setSpawnKind(undefined);
    }
  });

  test(`the exec checks' unshare probe through spawn-child (${kind})`, { skip: process.getuid?.() !== 0 && 'not root' }, async () => {
    const calls = await recording(kind);
    setExecIsolation(undefined);
    try {
      assert.equal(await execIsolation(), 'pidns', 'unshare makes PID namespaces here');
      assert.deepEqual(calls.map((c) => [c.file, c.args.at(-1), c.options.stdin ?? 'ignore']), [['unshare', 'true', 'ignore']]);
    } finally {
      setExecIsolation(undefined);
      setSpawnKind(undefined);
    }
  });
}
