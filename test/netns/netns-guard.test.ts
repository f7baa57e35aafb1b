/**
 * One lvsd per network namespace (src/daemon/netns-guard.ts), with real `lvsd run` daemons in real
 * namespaces: a second daemon in the same namespace is refused whatever its control socket, naming the
 * running one; daemons in two namespaces both run; a daemon killed with SIGKILL leaves nothing that
 * blocks the next start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = netnsSkipReason();

function runArgs(dir: string, name: string): string[] {
  return [process.execPath, MAIN, 'run', '--config', join(dir, 'empty.json'), '--socket', join(dir, `${name}.sock`),
    '--state-file', join(dir, name, 'state.json'), '--log-level', 'info'];
}

/** Resolves with the daemon's pid once it logs daemon.started; rejects if it exits first. */
function started(child: ChildProcess, ms = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no daemon.started within ${ms} ms`)), ms);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const m = JSON.parse(line) as { event?: string; pid?: number };
        if (m.event === 'daemon.started') {
          clearTimeout(timer);
          resolve(m.pid!);
        }
      } catch { /* not JSON */ }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the daemon exited (${code}) before starting: ${stderr}`));
    });
  });
}

test('one lvsd per network namespace, whatever its socket; another namespace is free; kill -9 leaves no stale lock', { skip, timeout: 120_000 }, async (t) => {
  const lab = new NetnsLab();
  t.after(() => lab.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-guard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'empty.json'), '{}\n');
  const a = lab.namespace('a');
  const b = lab.namespace('b');

  const first = lab.spawn(a, runArgs(dir, 'first'));
  const firstPid = await started(first);

  const second = lab.execResult(a, runArgs(dir, 'second'));
  assert.equal(second.status, 4, second.stderr);
  assert.equal(second.stderr.trim(),
    `lvsd: another lvsd (pid ${firstPid}, control socket ${join(dir, 'first.sock')}) is running in this network namespace; ` +
    'two would both take the VIPs and program IPVS: stop it first');
  assert.equal(second.stdout.includes('daemon.started'), false);

  const other = lab.spawn(b, runArgs(dir, 'other'));
  await started(other); // another namespace: runs beside the first

  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const again = lab.spawn(a, runArgs(dir, 'first')); // same socket path: its file is stale too
  await started(again);
});
