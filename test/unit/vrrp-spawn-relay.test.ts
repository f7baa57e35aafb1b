/**
 * The VRRP thread's track scripts and notify commands, started by the other end of a message port
 * (src/vrrp/spawn-relay.ts on the thread's side, spawn-host.ts on the main thread's), as the daemon wires
 * them (worker.ts, port.ts), here over a real MessageChannel with real processes: the same environment,
 * arguments, user, exit-code reading, timeout and log lines as a spawn in the thread; a notify failing to
 * start is logged; a stop that detaches a running notify; the thread going away kills its running scripts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { NotifyRunner } from '../../src/vrrp/notify.js';
import { SpawnRelay, type SpawnReply, type SpawnRequest } from '../../src/vrrp/spawn-relay.js';
import { SpawnHost } from '../../src/vrrp/spawn-host.js';
import { captureLog } from './log-capture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A relay and a host at the two ends of a MessageChannel; `requests` counts what crossed to the host. */
function wired(t: { after(fn: () => void): void }) {
  const { port1, port2 } = new MessageChannel();
  const requests: SpawnRequest[] = [];
  const relay = new SpawnRelay((m) => port1.postMessage(m));
  const host = new SpawnHost((m) => port2.postMessage(m));
  port1.on('message', (m: SpawnReply) => relay.receive(m));
  port2.on('message', (m: SpawnRequest) => { requests.push(m); host.handle(m); });
  t.after(() => { host.close(); port1.close(); port2.close(); });
  return { relay, host, requests };
}

function dir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'lvsd-relay-'));
  chmodSync(d, 0o777);
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function logged(lines: Array<Record<string, unknown>>, event: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 500; i++) {
    const l = lines.find((x) => x.event === event || x.event === 'vrrp.notify_failed');
    if (l) return l;
    await sleep(20);
  }
  throw new Error(`no ${event} logged`);
}

test('a notify command through the relay: documented environment, cwd /, arguments, exit code and output logged', async (t) => {
  const { relay, requests } = wired(t);
  const d = dir(t);
  const out = join(d, 'out');
  const script = join(d, 'notify.sh');
  writeFileSync(script, `#!/bin/sh\n{ echo "args: $*"; echo "cwd: $(pwd)"; echo "user: $(id -un)"; env | sort; } > ${out}\necho said-this\nexit 3\n`);
  chmodSync(script, 0o755);
  process.env.LVSD_TEST_SECRET = 'leaked';
  t.after(() => delete process.env.LVSD_TEST_SECRET);
  const { log, lines } = captureLog();
  const runner = new NotifyRunner(log, relay.spawnNotify);
  runner.run([script, 'extra'], { kind: 'master', instance: 'VI_1', priority: 150 });
  const line = await logged(lines, 'vrrp.notify');
  assert.deepEqual({ event: line.event, instance: line.instance, kind: line.kind, command: line.command, exitCode: line.exitCode, output: line.output },
    { event: 'vrrp.notify', instance: 'VI_1', kind: 'master', command: script, exitCode: 3, output: 'said-this\n' });
  assert.equal(requests[0]?.type, 'spawn-notify', 'the other end started it');
  const text = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(text[0], 'args: extra master VI_1 150');
  assert.equal(text[1], 'cwd: /');
  const env = text.slice(3).filter((l) => !/^(PWD|OLDPWD|SHLVL|_)=/.test(l));
  assert.deepEqual(env, ['LVSD_INSTANCE=VI_1', 'LVSD_PRIORITY=150', 'LVSD_STATE=master', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  await runner.settle(100);
});

test('notify through the relay: started in transition order, as notify.user; a spawn that fails or an unknown user is logged', { skip: process.getuid?.() !== 0 && 'not root' }, async (t) => {
  const { relay, requests } = wired(t);
  const d = dir(t);
  const out = join(d, 'out');
  const script = join(d, 'notify.sh');
  writeFileSync(script, `#!/bin/sh\necho "$1 $(id -un)" >> ${out}\n`);
  chmodSync(script, 0o755);
  const { log, lines } = captureLog();
  const runner = new NotifyRunner(log, relay.spawnNotify);
  for (const kind of ['backup', 'master', 'fault'] as const) runner.run([script], { kind, instance: 'VI_1', priority: 100, user: 'nobody' });
  await runner.settle(10_000);
  // started in order, not awaited one by one (as when the thread spawned them): they may end in any order
  assert.deepEqual(requests.map((r) => r.type === 'spawn-notify' && r.ctx.kind), ['backup', 'master', 'fault']);
  assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').sort(), ['backup nobody', 'fault nobody', 'master nobody']);
  assert.equal(lines.filter((l) => l.event === 'vrrp.notify' && l.exitCode === 0).length, 3);
  lines.length = 0;
  runner.run([script], { kind: 'backup', instance: 'VI_1', priority: 100, user: 'no-such-user-lvsd' });
  const failed = await logged(lines, 'vrrp.notify_failed');
  assert.equal(failed.err, 'unknown user no-such-user-lvsd');
  lines.length = 0;
  runner.run([join(d, 'missing')], { kind: 'master', instance: 'VI_1', priority: 100 });
  assert.match(String((await logged(lines, 'vrrp.notify_failed')).err), /ENOENT/);
  await runner.settle(100);
});

test('a stop detaches a notify command still running: logged with its pid, left to finish', async (t) => {
  const { relay } = wired(t);
  const d = dir(t);
  const done = join(d, 'done');
  const { log, lines } = captureLog();
  const runner = new NotifyRunner(log, relay.spawnNotify);
  runner.run(['/bin/sh', '-c', `sleep 0.5; touch ${done}`], { kind: 'stop', instance: 'VI_1', priority: 0 });
  await sleep(200);
  await runner.settle(50);
  const detached = lines.find((l) => l.event === 'vrrp.notify_detached');
  assert.ok(detached && typeof detached.pid === 'number', 'logged with the pid');
  for (let i = 0; i < 100 && !existsSync(done); i++) await sleep(20);
  assert.ok(existsSync(done), 'it ran to its end');
});

test('a track script through the relay: exit codes, output and the timeout as the exec checker reads them', async (t) => {
  const { relay, requests } = wired(t);
  const opts = { shell: false, user: undefined, dynamicWeight: false, bare: true };
  const ok = await relay.runScript({ ...opts, command: ['/bin/true'], timeout: 5 }, { address: '', port: 0 });
  assert.equal(ok.ok, true);
  assert.equal(ok.reason, 'exit 0');
  const down = await relay.runScript({ ...opts, command: ['/bin/sh', '-c', 'echo nope; exit 3'], timeout: 5 }, { address: '', port: 0 });
  assert.deepEqual([down.ok, down.reason, down.output], [false, 'exit 3', 'nope']);
  const slow = await relay.runScript({ ...opts, command: ['/bin/sleep', '5'], timeout: 0.2 }, { address: '', port: 0 });
  assert.deepEqual([slow.ok, slow.reason], [false, 'timeout after 200ms']);
  const missing = await relay.runScript({ ...opts, command: ['/no/such/script'], timeout: 5 }, { address: '', port: 0 });
  assert.equal(missing.ok, false);
  assert.match(missing.reason, /ENOENT/);
  assert.equal(requests.filter((r) => r.type === 'spawn-script').length, 4);
});

test('the thread going away: its running track script is killed and nothing is answered', async (t) => {
  const { relay, host } = wired(t);
  const token = `${31 + (process.pid % 1000) / 1000}`; // sleep's argument names this test's process (a PID namespace hides its pid)
  const running = (): boolean => readdirSync('/proc').some((p) => {
    try { return /^\d+$/.test(p) && readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${token}\0`; } catch { return false; }
  });
  let answered = false;
  void relay.runScript({ shell: false, user: undefined, dynamicWeight: false, bare: true, command: ['sleep', token], timeout: 60 },
    { address: '', port: 0 }).then(() => (answered = true));
  for (let i = 0; i < 250 && !running(); i++) await sleep(20);
  assert.ok(running(), 'the script runs');
  host.close();
  for (let i = 0; i < 100 && running(); i++) await sleep(20);
  assert.equal(running(), false, 'the script was killed');
  await sleep(100);
  assert.equal(answered, false);
});
