/**
 * The exec checker with real scripts: exit codes, dynamic weights, the real server's address and port as the
 * last arguments, no shell unless asked, an unprivileged user when run as root, a timeout that kills
 * everything the check started (as root: its PID namespace, so setsid and double forks do not escape),
 * nothing left running after a check, and bounded output.
 *
 * Leftovers are found by a unique marker in their command line, searched in /proc: pids a check writes
 * from inside its PID namespace mean nothing outside it.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExecCheck } from '../../src/config/types.js';
import { probe } from '../../src/health/index.js';
import { execArgv, execIsolation, setExecIsolation } from '../../src/health/checkers/exec.js';

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
/** A `sleep` duration nobody else uses: the marker that finds the process in /proc. */
function marker(): string {
  return `${3000 + randomInt(1000)}.${randomInt(1_000_000)}`;
}
/** Host pids of running processes (zombies run nothing) whose command line contains `text`. */
function running(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${name}/stat`, 'utf8'))) continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(text)) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
async function appear(text: string, n: number): Promise<void> {
  for (let i = 0; i < 250 && running(text).length < n; i++) await new Promise((r) => setTimeout(r, 20));
}
async function gone(...texts: string[]): Promise<string[]> {
  for (let i = 0; i < 250; i++) {
    if (texts.every((t) => running(t).length === 0)) return [];
    await new Promise((r) => setTimeout(r, 20));
  }
  return texts.filter((t) => running(t).length > 0);
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
  test('a hanging check times out and everything it started is killed', async () => {
    const m = marker();
    const hang = script('hang.sh', `sleep ${m} &\nwait`);
    const r = await probe(check([hang], { timeout: 0.5 }), target);
    assert.equal(r.ok, false);
    assert.equal(r.reason, 'timeout after 500ms');
    assert.deepEqual(await gone(m), []);
  });

  test('a check that exits leaving a background process behind does not leak it', async () => {
    const m = marker();
    const left = script('left.sh', `sleep ${m} >/dev/null 2>&1 &\nexit 0`);
    const r = await probe(check([left]), target);
    assert.equal(r.ok, true);
    assert.deepEqual(await gone(m), [], 'the background sleep survived the check');
  });

  const root = process.getuid?.() === 0;
  test('as root, a check whose children call setsid, double-fork or whose program itself calls setsid leaves nothing after its timeout',
    { skip: !root && 'not root: exec checks are contained by a process group only' }, async () => {
      assert.equal(await execIsolation(), 'pidns', 'unshare makes PID namespaces here');
      const [a, b, c, e] = [marker(), marker(), marker(), marker()];
      // a: its own session in the background; b: a daemonised grandchild (double fork + setsid);
      // c: `setsid -f` (forks, new session); then the program itself leaves the group (exec setsid)
      const escape = script('escape.sh', [
        `setsid sleep ${a} </dev/null >/dev/null 2>&1 &`,
        `(setsid sh -c 'sleep ${b}' </dev/null >/dev/null 2>&1 &)`,
        `setsid -f sleep ${c} </dev/null >/dev/null 2>&1`,
        `exec setsid sleep ${e}`,
      ].join('\n'));
      const started = probe(check([escape], { timeout: 1 }), target);
      await appear(a, 1);
      const r = await started;
      assert.equal(r.reason, 'timeout after 1000ms');
      assert.deepEqual(await gone(a, b, c, e), [], 'an escaped process survived the timeout');
    });

  test('without a PID namespace (not root, or no unshare), a child that calls setsid escapes: the reason for one',
    { skip: !root && 'not root' }, async () => {
      setExecIsolation('pgroup');
      const a = marker();
      try {
        const r = await probe(check([script('escape2.sh', `setsid sleep ${a} </dev/null >/dev/null 2>&1 &\nsleep 30`)], { timeout: 0.5 }), target);
        assert.equal(r.reason, 'timeout after 500ms');
        await new Promise((res) => setTimeout(res, 200));
        assert.equal(running(a).length, 1, 'the process-group kill alone misses a new session');
      } finally {
        for (const pid of running(a)) process.kill(pid, 'SIGKILL');
        setExecIsolation(undefined);
      }
    });

  test('output is captured up to execOutputLimit', async () => {
    const noisy = script('noisy.sh', 'i=0; while [ $i -lt 2000 ]; do echo 0123456789abcdef; i=$((i+1)); done; exit 1');
    const r = await probe(check([noisy]), target, undefined, { execOutputLimit: 100 });
    assert.equal(r.reason, 'exit 1');
    assert.ok(r.output !== undefined && r.output.length <= 100 && r.output.startsWith('0123456789abcdef\n'));
  });
});
