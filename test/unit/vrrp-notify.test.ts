/**
 * Notify commands as the VRRP instance runs them (src/vrrp/notify.ts, the same NotifyRunner the instance
 * uses), with a real script: they see the documented environment and nothing of the daemon's, cwd `/`,
 * their arguments, and the configured user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotifyRunner } from '../../src/vrrp/notify.js';
import { captureLog } from './log-capture.js';

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-notify-'));
  chmodSync(dir, 0o777); // written by nobody in the user test
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'out');
  const script = join(dir, 'notify.sh');
  writeFileSync(script, `#!/bin/sh\n{ echo "args: $*"; echo "cwd: $(pwd)"; echo "user: $(id -un)"; env | sort; } > ${out}\n`);
  chmodSync(script, 0o755);
  return { out, script };
}

async function ran(lines: Array<Record<string, unknown>>): Promise<Record<string, unknown>> {
  for (let i = 0; i < 250; i++) {
    const l = lines.find((x) => x.event === 'vrrp.notify' || x.event === 'vrrp.notify_failed');
    if (l) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('the notify command did not finish');
}

test('a notify command sees only the documented environment, cwd / and its arguments', async (t) => {
  const { out, script } = setup(t);
  process.env.LVSD_TEST_SECRET = 'leaked';
  t.after(() => delete process.env.LVSD_TEST_SECRET);
  const { log, lines } = captureLog();
  new NotifyRunner(log).run([script, 'extra'], { kind: 'master', instance: 'VI_1', priority: 150 });
  assert.equal((await ran(lines)).exitCode, 0);
  const text = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(text[0], 'args: extra master VI_1 150');
  assert.equal(text[1], 'cwd: /');
  // `env` lists what the script's shell exports: the documented four, plus PWD (and OLDPWD/SHLVL) the shell adds itself
  const env = text.slice(3).filter((l) => !/^(PWD|OLDPWD|SHLVL|_)=/.test(l));
  assert.deepEqual(env, [
    'LVSD_INSTANCE=VI_1', 'LVSD_PRIORITY=150', 'LVSD_STATE=master', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ]);
});

test('notify.user: the command runs as that user; an unknown one is logged, not run', { skip: process.getuid?.() !== 0 && 'not root' }, async (t) => {
  const { out, script } = setup(t);
  const { log, lines } = captureLog();
  const runner = new NotifyRunner(log);
  runner.run([script], { kind: 'backup', instance: 'VI_1', priority: 100, user: 'nobody' });
  assert.equal((await ran(lines)).exitCode, 0);
  assert.match(readFileSync(out, 'utf8'), /^user: nobody$/m);
  lines.length = 0;
  runner.run([script], { kind: 'backup', instance: 'VI_1', priority: 100, user: 'no-such-user-lvsd' });
  const failed = await ran(lines);
  assert.equal(failed.event, 'vrrp.notify_failed');
  assert.equal(failed.err, 'unknown user no-such-user-lvsd');
  await runner.settle(100);
});
