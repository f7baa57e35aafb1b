/**
 * A notify or quorum command past its deadline (src/hook-command.ts), with real processes: its process group
 * gets SIGTERM, then SIGKILL after the grace, so a command that traps SIGTERM, and what it started, are gone;
 * one that handles SIGTERM ends on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnHook, superviseHook } from '../../src/hook-command.js';

interface Ended { code: number | null; signal: NodeJS.Signals | null; output: string; afterMs: number }

async function runHook(script: string, deadline: { termAfterMs: number; graceMs: number }): Promise<Ended> {
  const started = Date.now();
  const child = await spawnHook(['/bin/sh', '-c', script], [], {}, undefined);
  return new Promise((resolve, reject) => {
    superviseHook(child, (code, signal, output) => resolve({ code, signal, output, afterMs: Date.now() - started }), reject, deadline);
  });
}

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-hook-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a command that traps SIGTERM, and the child it started, are killed by SIGKILL after the grace', async (t) => {
  const pidFile = join(scratch(t), 'child.pid');
  const ended = await runHook(`trap '' TERM; sleep 300 & echo $! > ${pidFile}; echo started; wait; wait`, { termAfterMs: 300, graceMs: 400 });
  assert.equal(ended.signal, 'SIGKILL', `ended by SIGKILL (got code ${ended.code}, signal ${ended.signal})`);
  assert.match(ended.output, /started/);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(await gone(pid), `its background child ${pid} is gone too`);
});

test('a command that exited leaving a child holding its output: the child is ended by the SIGTERM, the command reported', async (t) => {
  const pidFile = join(scratch(t), 'child.pid');
  const ended = await runHook(`sleep 300 & echo $! > ${pidFile}; exit 0`, { termAfterMs: 300, graceMs: 60_000 });
  assert.equal(ended.code, 0, 'the command itself exited 0');
  assert.ok(ended.afterMs < 30_000, `reported once its leftover child was ended (${ended.afterMs} ms), not after the grace`);
  assert.ok(await gone(Number(readFileSync(pidFile, 'utf8'))), 'the leftover child is gone');
});

test('a command that handles SIGTERM ends on it, before any SIGKILL', async () => {
  const ended = await runHook(`trap 'echo bye; exit 3' TERM; echo started; while :; do sleep 0.05; done`, { termAfterMs: 300, graceMs: 60_000 });
  assert.equal(ended.code, 3, `its TERM handler's exit (got code ${ended.code}, signal ${ended.signal})`);
  assert.match(ended.output, /started[\s\S]*bye/);
});
