/**
 * runProgram's timeout (src/spawn-child.ts): SIGTERM to the program's process group, then SIGKILL once the
 * grace has passed, logged `program.timeout` then `program.killed`. A script that traps SIGTERM, and the
 * child it started that ignores it too, are both gone when runProgram answers (before: SIGTERM to the
 * script alone; a script that ignored it, and its children, lived on and runProgram never answered).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { nativeAvailable } from '../../src/net/native.js';
import { runProgram, setSpawnKind } from '../../src/spawn-child.js';
import { captureLog } from './log-capture.js';

const kinds = (['native', 'node'] as const).filter((k) => k === 'node' || nativeAvailable());
const env = { PATH: '/usr/bin:/bin' };

/** Whether `pid` is gone (or a zombie nobody has reaped yet: it runs nothing), waited for up to 10 s. */
async function gone(pid: number): Promise<boolean> {
  const dead = () => {
    try {
      return !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return true;
    }
  };
  for (const end = Date.now() + 10_000; !dead() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  return dead();
}

test('a script that traps SIGTERM, and the child it started: SIGKILL to the group after the grace, both gone, logged', { timeout: 60_000 }, async () => {
  for (const kind of kinds) {
    setSpawnKind(kind);
    // the child inherits the ignored SIGTERM; the script waits for it, so only SIGKILL ends either
    const script = 'trap "" TERM; sleep 600 & echo $!; wait; wait; echo "not reached"';
    // the case is set up only once sh has run its `trap` before the SIGTERM: its child's pid on stdout says
    // so (echoed after the trap; a SIGTERM before the trap ends sh first). On a loaded host sh may not get
    // there within 300 ms: then the same run with a longer timeout
    let run: { r: Awaited<ReturnType<typeof runProgram>>; lines: ReturnType<typeof captureLog>['lines'] } | undefined;
    for (const timeoutMs of [300, 3_000, 15_000]) {
      const { log, lines } = captureLog();
      const r = await runProgram('sh', ['-c', script], { env, timeoutMs, graceMs: 200, log });
      run = { r, lines };
      if (/^\d+$/m.test(r.stdout)) break;
    }
    setSpawnKind(undefined);
    const { r, lines } = run!;
    assert.equal(r.timedOut, true, kind);
    assert.equal(r.killed, true, `${kind}: killed after the grace`);
    assert.deepEqual([r.code, r.signal], [null, 'SIGKILL'], kind);
    const grandchild = Number(r.stdout.trim());
    assert.ok(grandchild > 0, `${kind}: the script said its child's pid (${JSON.stringify(r.stdout)})`);
    assert.ok(await gone(grandchild), `${kind}: the script's child (pid ${grandchild}) was killed with it`);
    assert.deepEqual(lines.map((l) => l.event), ['program.timeout', 'program.killed'], kind);
    assert.equal(lines[1]!.program, 'sh', kind);
    assert.equal(lines[1]!.level, 40, kind);
  }
});

test('a program that ends on SIGTERM is not sent SIGKILL: timed out, not killed, one log line', async () => {
  for (const kind of kinds) {
    setSpawnKind(kind);
    const { log, lines } = captureLog();
    const r = await runProgram('sleep', ['600'], { env, timeoutMs: 200, graceMs: 60_000, log });
    setSpawnKind(undefined);
    assert.deepEqual([r.timedOut, r.killed, r.code, r.signal], [true, false, null, 'SIGTERM'], kind);
    assert.deepEqual(lines.map((l) => l.event), ['program.timeout'], kind);
  }
});

test('a program that ends in time: neither signal, nothing logged', async () => {
  const { log, lines } = captureLog();
  const r = await runProgram('sh', ['-c', 'echo ok'], { env, timeoutMs: 10_000, log });
  assert.deepEqual([r.timedOut, r.killed, r.code, r.stdout], [false, false, 0, 'ok\n']);
  assert.deepEqual(lines, []);
});
