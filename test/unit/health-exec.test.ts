/**
 * The exec checker with real scripts: exit codes, dynamic weights, the real server's address and port as the
 * last arguments, no shell unless asked, an unprivileged user when run as root, a timeout that kills the whole
 * process group, nothing left running after a check, and bounded output.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExecCheck } from '../../src/config/types.js';
import { probe } from '../../src/health/index.js';
import { execArgv } from '../../src/health/checkers/exec.js';

let dir: string;
let scratch: string;
const target = { address: '10.0.1.11', port: 8080 };

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
function check(command: string[], over: Partial<ExecCheck> = {}): ExecCheck {
  return {
    interval: 5, timeout: 5, rise: 1, fall: 1, address: '10.0.1.11', port: 8080,
    type: 'exec', command, shell: false, dynamicWeight: false, ...over,
  };
}
/** Running (a zombie waiting for init to reap it is dead: it runs nothing). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}
async function gone(pids: number[]): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    if (pids.every((p) => !alive(p))) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
async function readPids(file: string): Promise<number[]> {
  for (let i = 0; i < 100; i++) {
    try {
      const pids = readFileSync(file, 'utf8').trim().split(/\s+/).map(Number).filter((n) => n > 0);
      if (pids.length >= 2) return pids;
    } catch {
      /* not written yet */
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no pids in ${file}`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvsd-health-exec-'));
  chmodSync(dir, 0o755); // the checks run as nobody when the tests run as root
  scratch = join(dir, 'scratch');
  mkdirSync(scratch);
  chmodSync(scratch, 0o777);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('exit codes', () => {
  test('exit 0 is up, exit 1 is down with the code as the reason', async () => {
    const up = await probe(check([script('up.sh', 'exit 0')]), target);
    assert.equal(up.ok, true);
    assert.equal(up.weight, undefined);
    const down = await probe(check([script('down.sh', 'echo backend gone; exit 1')]), target);
    assert.equal(down.ok, false);
    assert.equal(down.reason, 'exit 1');
    assert.equal(down.output, 'backend gone');
  });

  test('with dynamicWeight, exit 2..255 is up with weight code - 2; without it, down', async () => {
    const w50 = script('w50.sh', 'exit 52');
    const r = await probe(check([w50], { dynamicWeight: true }), target);
    assert.deepEqual([r.ok, r.weight], [true, 50]);
    const zero = await probe(check([script('w0.sh', 'exit 2')], { dynamicWeight: true }), target);
    assert.deepEqual([zero.ok, zero.weight], [true, 0]);
    const plain = await probe(check([w50]), target);
    assert.deepEqual([plain.ok, plain.reason], [false, 'exit 52']);
    const one = await probe(check([script('one.sh', 'exit 1')], { dynamicWeight: true }), target);
    assert.equal(one.ok, false);
  });

  test('a missing program is down with the spawn error', async () => {
    const r = await probe(check([join(dir, 'does-not-exist')]), target);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'spawn ENOENT');
  });
});

describe('arguments, shell and user', () => {
  test('the real server address and port come last; no shell interprets the argv', async () => {
    const r = await probe(check(['/bin/echo', '$HOME', '&&', 'false']), target);
    assert.equal(r.ok, true);
    assert.equal(r.output, '$HOME && false 10.0.1.11 8080');
    assert.deepEqual(execArgv({ command: ['/bin/check', '-v'], shell: false }, target), ['/bin/check', '-v', '10.0.1.11', '8080']);
  });

  test('shell: true runs through /bin/sh with address and port as $1 and $2', async () => {
    const r = await probe(check(['printf', "'%s|'", '"$HOME-"'], { shell: true }), target);
    assert.equal(r.ok, true, r.reason);
    assert.equal(r.output, '-|10.0.1.11|8080|');
  });

  test('as root the check runs as the configured unprivileged user', { skip: process.getuid?.() !== 0 && 'not root' }, async () => {
    const who = script('who.sh', 'id -un');
    assert.equal((await probe(check([who]), target, undefined, { execUser: 'nobody' })).output, 'nobody');
    assert.equal((await probe(check([who], { user: 'root' }), target, undefined, { execUser: 'nobody' })).output, 'root');
    const bad = await probe(check([who], { user: 'no-such-user-lvsd' }), target);
    assert.deepEqual([bad.ok, bad.reason], [false, 'unknown user no-such-user-lvsd']);
  });
});

describe('timeouts, leftovers and output', () => {
  test('a hanging check times out and its whole process group is killed', async () => {
    const pidFile = join(scratch, 'hang.pids');
    const hang = script('hang.sh', `sleep 300 &\necho $$ $! > ${pidFile}\nwait`);
    const r = await probe(check([hang], { timeout: 0.5 }), target);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'timeout after 500ms');
    const pids = await readPids(pidFile);
    assert.ok(await gone(pids), `still running: ${pids.filter(alive).join(' ')}`);
  });

  test('a check that exits leaving a background process behind does not leak it', async () => {
    const pidFile = join(scratch, 'left.pids');
    const left = script('left.sh', `sleep 300 >/dev/null 2>&1 &\necho $$ $! > ${pidFile}\nexit 0`);
    const r = await probe(check([left]), target);
    assert.equal(r.ok, true);
    assert.ok(await gone(await readPids(pidFile)), 'the background sleep survived the check');
  });

  test('output is captured up to execOutputLimit', async () => {
    const noisy = script('noisy.sh', 'i=0; while [ $i -lt 2000 ]; do echo 0123456789abcdef; i=$((i+1)); done; exit 1');
    const r = await probe(check([noisy]), target, undefined, { execOutputLimit: 100 });
    assert.equal(r.reason, 'exit 1');
    assert.ok(r.output !== undefined && r.output.length <= 100 && r.output.startsWith('0123456789abcdef\n'));
  });
});
