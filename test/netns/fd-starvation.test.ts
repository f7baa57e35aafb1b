/**
 * A director short of file descriptors must not take a healthy real server out (issue #10, item 5).
 * `lvsd run` (over the in-memory IPVS model, everything else real) in its own network namespace under
 * `prlimit --nofile=64:120` (raised to 120 at start), a healthy real server (another process) checked by TCP every 250 ms:
 * - 200 idle connections to the control socket: the daemon keeps at most 32, so the probes keep their
 *   descriptors, the real server keeps weight 7 and `lvsd status` still answers;
 * - the daemon's descriptors all used up for 3 s, each probe opening a socket of its own
 *   (`LVSD_TCP_REUSE=0`, and what any probe gets when no spare socket is left): every probe fails with
 *   EMFILE, which is the director's failure, not the server's: weight 7 throughout, an error line, probing
 *   resumes after;
 * - the same with the default: the spare socket of the last check (its server closed first) needs no new
 *   descriptor, so the checks go on connecting through the shortage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonLog } from './daemon-log.js';
import { NetnsLab, netnsSkipReason } from './netns.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DAEMON = fileURLToPath(new URL('./fixtures/model-daemon.js', import.meta.url));
const LAB = fileURLToPath(new URL('./fixtures/daemon-lab.js', import.meta.url));
const skip = netnsSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row { id: string; health: { state: string }; weight: { kernel: number | null } }

/** `lvsd status --json`: the real server's row, or the failure. */
function status(socket: string): Promise<Row | Error> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'status', '--json', '--socket', socket], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return resolve(new Error(`lvsd status failed: ${err.message} ${stderr}`));
      const snap = JSON.parse(stdout) as { services: Array<{ realServers: Row[] }> };
      resolve(snap.services[0]!.realServers[0]!);
    });
  });
}

function setup(t: { after(fn: () => void): void }) {
  const lab = new NetnsLab();
  t.after(() => lab.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-fd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'services.json');
  writeFileSync(config, JSON.stringify({
    services: [{
      name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: '250ms', timeout: '250ms', rise: 1, fall: 1 },
      realServers: [{ address: '127.0.0.1', port: 8080, weight: 7 }],
    }],
  }));
  const ns = lab.namespace('d');
  const socket = join(dir, 'lvsd.sock');
  return { lab, ns, dir, config, socket };
}

async function start(s: ReturnType<typeof setup>, env: string[] = []): Promise<DaemonLog & { accepted(): Promise<number> }> {
  const backend = s.lab.spawnJson(s.ns, LAB);
  await backend.call('listen', { host: '127.0.0.1', port: 8080, kind: 'agent', reply: 'up' });
  // started with a soft limit of 64: the daemon runs with the hard limit, 120
  const argv = ['prlimit', '--nofile=64:120', process.execPath, DAEMON, s.config, s.socket, join(s.dir, 'state.json')];
  const d = Object.assign(new DaemonLog(s.lab.spawn(s.ns, env.length > 0 ? ['env', ...env, ...argv] : argv)), {
    accepted: async () => Number(await backend.call('accepted', { host: '127.0.0.1', port: 8080 })),
  });
  await d.waitForEvent('daemon.started');
  const limits = await d.waitForEvent('daemon.limits');
  assert.deepEqual([limits.nofileSoft, limits.nofileHard], [120, 120]);
  assert.equal(limits.level, 'warn', 'below 1024: a warning');
  for (let i = 0; ; i++) {
    const r = await status(s.socket);
    if (!(r instanceof Error) && r.weight.kernel === 7) break;
    if (i > 50) throw new Error(`the real server never came up: ${JSON.stringify(r)}`);
    await sleep(200);
  }
  return d;
}

const downs = (d: DaemonLog) => d.lines.filter((l) => l.event === 'health.change' && l.to === 'down');

test('200 idle control connections under a 120-descriptor limit: the healthy server keeps weight 7, status answers',
  { skip, timeout: 120_000 }, async (t) => {
    const s = setup(t);
    const d = await start(s);
    const idle: Socket[] = [];
    t.after(() => { for (const c of idle) c.destroy(); });
    for (let i = 0; i < 200; i++) {
      const c = connect({ path: s.socket });
      c.on('error', () => undefined);
      idle.push(c);
    }
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      const r = await status(s.socket);
      assert.ok(!(r instanceof Error), String(r));
      assert.equal(r.health.state, 'up');
      assert.equal(r.weight.kernel, 7);
    }
    assert.deepEqual(downs(d), [], 'no probe took the server down');
    assert.equal(d.lines.filter((l) => l.event === 'health.local_failure').length, 0, 'the probes never ran short');
  });

test('every descriptor used up for 3 s: probes fail with EMFILE, counted as the director\'s, the server stays at weight 7',
  { skip, timeout: 120_000 }, async (t) => {
    const s = setup(t);
    const d = await start(s, ['LVSD_TCP_REUSE=0']); // each probe opens a socket: no spare one to fall back on
    d.child.kill('SIGUSR2');
    const full = await d.waitForEvent('hog.full');
    assert.ok(Number(full.held) > 0);
    await d.waitForEvent('hog.released', 10_000);
    const local = await d.waitForEvent('health.local_failure');
    assert.equal(local.errno, 'EMFILE');
    assert.equal(local.level, 'error');
    await sleep(1000); // probing resumes
    const r = await status(s.socket);
    assert.ok(!(r instanceof Error), String(r));
    assert.deepEqual([r.health.state, r.weight.kernel], ['up', 7]);
    assert.deepEqual(downs(d), [], 'the server was never taken out');
  });

test('every descriptor used up for 3 s, spare sockets on (the default): the checks go on connecting, no local failure, weight 7',
  { skip, timeout: 120_000 }, async (t) => {
    const s = setup(t);
    const d = await start(s);
    d.child.kill('SIGUSR2');
    await d.waitForEvent('hog.full');
    const before = await d.accepted();
    await d.waitForEvent('hog.released', 10_000);
    const during = (await d.accepted()) - before;
    // 3 s at one check every 250 ms: ~12 connections the server accepted while the daemon had no descriptor to spare
    assert.ok(during >= 4, `the server accepted ${during} checks during the shortage`);
    await sleep(1000);
    assert.equal(d.lines.filter((l) => l.event === 'health.local_failure').length, 0, 'no probe ran short of a descriptor');
    const r = await status(s.socket);
    assert.ok(!(r instanceof Error), String(r));
    assert.deepEqual([r.health.state, r.weight.kernel], ['up', 7]);
    assert.deepEqual(downs(d), [], 'the server was never taken out');
  });
