/**
 * `lvsd status --fresh` asks the daemon for a whole read of the kernel's table, which at 100,000 real
 * servers takes seconds natively and more on a loaded or emulated host: the CLI waits for it (up to two
 * minutes) instead of giving up after the kept view's 10 s and reading the kernel a second time itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlServer } from '../../src/daemon/control-server.js';
import { silentLogger } from '../../src/log.js';
import { fixtureSnapshot } from './status-fixture.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('status --fresh waits for a whole read that takes longer than the kept view\'s 10 s', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-fresh-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const asked: boolean[] = [];
  const server = await startControlServer({
    path,
    log: silentLogger,
    handlers: {
      status: async (q) => {
        asked.push(q?.fresh === true);
        await new Promise((r) => setTimeout(r, 11_000));
        return fixtureSnapshot();
      },
      reload: () => ({ ok: false, error: 'not here' }),
      drain: () => ({ ok: true, changed: false }),
      undrain: () => ({ ok: true, changed: false }),
    },
  });
  t.after(() => server.close());
  const r = await run(['status', '--fresh', '--json', '--socket', path]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { node: string }).node, fixtureSnapshot().node);
  assert.deepEqual(asked, [true]);
});
