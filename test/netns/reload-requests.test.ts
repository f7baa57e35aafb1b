/**
 * Which reload answers `lvsd reload` and SIGHUP (src/daemon/reload-queue.ts), with `lvsd run` over the
 * in-memory IPVS model in its own network namespace, its real control socket, file watcher and signals:
 * - an edit followed by `lvsd reload` while the file watcher waits out its quiet time is one reload, the
 *   explicit one, which reads the edit: the watcher's pending reload is dropped;
 * - requests made while a reload runs share one more reload, which read the files after them: each is
 *   answered with the config written before it, never with the running reload's older read;
 * - unless the files are unchanged since the running reload read them: then it answers them, no reload more;
 * - an edit the explicit reload read before the watcher told of it is not reloaded again by the watcher, nor
 *   is a write of the content in force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonLog, type LogLine } from './daemon-log.js';
import { NetnsLab, netnsSkipReason } from './netns.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DAEMON = fileURLToPath(new URL('./fixtures/model-daemon.js', import.meta.url));
const skip = netnsSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


function reloadLines(d: DaemonLog): LogLine[] {
  return d.lines.filter((l) => l.event === 'config.reloaded' || l.event === 'config.reload_refused' || l.event === 'config.reload_failed');
}

/** Written whole (a new file renamed over the old): a reload never reads half of it. */
function writeConfig(file: string, weight: number): void {
  writeFileSync(`${file}.new`, JSON.stringify({
    services: [{
      name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat',
      realServers: [{ address: '10.0.0.1', port: 8080, weight }],
    }],
  }));
  renameSync(`${file}.new`, file);
}

async function start(t: { after(fn: () => void): void }, env: string[]) {
  const lab = new NetnsLab();
  t.after(() => lab.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-reloadq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'services.json');
  writeConfig(config, 7);
  const socket = join(dir, 'lvsd.sock');
  const ns = lab.namespace('d');
  const d = new DaemonLog(lab.spawn(ns, ['env', ...env, process.execPath, DAEMON, config, socket, join(dir, 'state.json')]));
  t.after(() => d.child.kill('SIGTERM'));
  await d.waitFor((l) => l.event === 'daemon.started', 'daemon.started');
  return { d, config, socket };
}

/** POST /v1/reload from this process (no CLI start-up between the edit and the request). */
function postReload(socket: string): Promise<{ ok: boolean; applied?: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method: 'POST', path: '/v1/reload' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { ok: boolean; applied?: boolean }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The kernel weight of the one real server (`lvsd status --json`). */
function kernelWeight(socket: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, 'status', '--json', '--socket', socket], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`lvsd status failed: ${err.message} ${stderr}`));
      const snap = JSON.parse(stdout) as { services: Array<{ realServers: Array<{ weight: { kernel: number | null } }> }> };
      resolve(snap.services[0]!.realServers[0]!.weight.kernel);
    });
  });
}

test('an edit, then lvsd reload (POST /v1/reload) while the watcher waits out its quiet time: one reload, the explicit one, with the edit',
  { skip, timeout: 120_000 }, async (t) => {
    const QUIET = 5000;
    const { d, config, socket } = await start(t, ['LOG_LEVEL=debug', `WATCH_QUIET_MS=${QUIET}`]);
    const before = reloadLines(d).length;
    writeConfig(config, 8);
    await d.waitFor((l) => l.event === 'config.change_seen', 'the watcher seeing the edit');
    // what `lvsd reload` sends, from this process: it arrives well within the quiet time even on a loaded host
    assert.deepEqual(await postReload(socket), { ok: true, applied: true });
    assert.equal(await kernelWeight(socket), 8, 'the explicit reload read the edit');
    await sleep(QUIET + 2000); // the watcher's reload would have run by now
    const reloads = reloadLines(d).slice(before);
    assert.deepEqual(reloads.map((l) => [l.event, l.trigger]), [['config.reloaded', 'control']],
      'one reload: the watcher\'s pending one is covered by the explicit one');
    const covered = d.lines.find((l) => l.event === 'config.change_covered');
    assert.equal(covered?.by, 'control');
    assert.equal(d.lines.filter((l) => l.event === 'config.changed').length, 0, 'the watcher did not reload');
  });

test('an edit, then lvsd reload before the watcher tells of the edit: one reload, the explicit one; the watcher, waking after it, reloads nothing',
  { skip, timeout: 120_000 }, async (t) => {
    // the watcher tells of a write once it has been still for WATCH_SETTLE_MS (200 ms as shipped): `lvsd
    // reload` typed right after an edit reaches the daemon before that, reads the edit and ends first
    const { d, config, socket } = await start(t, ['WATCH_SETTLE_MS=3000', 'WATCH_QUIET_MS=300']);
    const before = reloadLines(d).length;
    writeConfig(config, 8);
    // a change time older than the read by more than the file system's clock tick (config/read-stamp.ts)
    await sleep(400);
    assert.deepEqual(await postReload(socket), { ok: true, applied: true });
    assert.equal(await kernelWeight(socket), 8, 'the explicit reload read the edit');
    await d.waitFor((l) => l.event === 'config.changed', 'the watcher waking on the edit');
    await sleep(2000); // a reload of the watcher's would have logged by now
    assert.deepEqual(reloadLines(d).slice(before).map((l) => [l.event, l.trigger]), [['config.reloaded', 'control']],
      'the edit was reloaded once');
    const covered = d.lines.find((l) => l.event === 'config.change_covered');
    assert.deepEqual([covered?.by, covered?.read], ['control', true]);
  });

test('the config file written again with the content in force (a deploy of the same file): the watcher reloads nothing',
  { skip, timeout: 120_000 }, async (t) => {
    // the same check covers an edit `lvsd reload` read within config/read-stamp.ts RACY_MS of the write (too
    // close to tell a later write by the file's status alone), as the bench's edit-then-reload does in the VM
    const { d, config } = await start(t, ['WATCH_QUIET_MS=300']);
    await d.waitForEvent('reload.warmed');
    writeConfig(config, 7); // a new file (another inode, a new change time), the same bytes
    const covered = await d.waitFor((l) => l.event === 'config.change_covered', 'the watcher on the write');
    assert.deepEqual([covered.by, covered.read], ['content', true]);
    await sleep(1500); // a reload of the watcher's would have logged by now
    assert.deepEqual(reloadLines(d), [], 'nothing reloaded');
  });

test('lvsd reload and SIGHUP while a reload runs: one more reload for all of them, which read the files after them',
  { skip, timeout: 120_000 }, async (t) => {
    // every batch of IPVS commands takes 4 s more: a reload that changes a weight runs for 4 s after reading the files;
    // the watcher's quiet time is longer than the test, so only the explicit requests reload
    const { d, config, socket } = await start(t, ['MODEL_EXECUTE_DELAY_MS=4000', 'WATCH_QUIET_MS=600000']);
    assert.equal(await kernelWeight(socket), 7);
    const before = reloadLines(d).length;
    writeConfig(config, 8);
    d.child.kill('SIGHUP');
    await d.waitFor((l) => l.event === 'config.sighup', 'the SIGHUP reload starting');
    // the SIGHUP reload has read (or is reading) weight 8 and applies it for 4 s: these come while it runs
    writeConfig(config, 9);
    const answers = await Promise.all([postReload(socket), postReload(socket), postReload(socket)]);
    assert.deepEqual(answers.map((a) => a.ok), [true, true, true]);
    assert.equal(await kernelWeight(socket), 9, 'each answer came from a reload that read the files after the request');
    d.child.kill('SIGHUP');
    await d.waitFor((l) => l.event === 'config.reloaded' && reloadLines(d).length - before >= 3, 'the last SIGHUP reload');
    const reloads = reloadLines(d).slice(before);
    assert.deepEqual(reloads.map((l) => [l.event, l.trigger]),
      [['config.reloaded', 'sighup'], ['config.reloaded', 'control'], ['config.reloaded', 'sighup']],
      'the three requests made while the first reload ran shared one reload');
    const shared = d.lines.find((l) => l.event === 'config.reload_shared');
    assert.deepEqual(shared?.triggers, ['control', 'control', 'control']);
  });

test('lvsd reload while a reload runs and the files are unchanged since it read them: the running reload answers, no reload more',
  { skip, timeout: 120_000 }, async (t) => {
    // as above: a reload that changes a weight runs for 4 s after reading the files; the watcher stays out of it
    const { d, config, socket } = await start(t, ['MODEL_EXECUTE_DELAY_MS=4000', 'WATCH_QUIET_MS=600000']);
    assert.equal(await kernelWeight(socket), 7);
    const before = reloadLines(d).length;
    writeConfig(config, 8);
    // a change time older than the read by more than the file system's clock tick (config/read-stamp.ts): a
    // later write could not hide behind it
    await sleep(500);
    d.child.kill('SIGHUP');
    await d.waitFor((l) => l.event === 'config.sighup', 'the SIGHUP reload starting');
    const answers = await Promise.all([postReload(socket), postReload(socket)]);
    assert.deepEqual(answers, [{ ok: true, applied: true }, { ok: true, applied: true }]);
    assert.equal(await kernelWeight(socket), 8);
    // a reload more (nothing to send to the kernel: no model delay) would have logged by now
    await sleep(2000);
    assert.deepEqual(reloadLines(d).slice(before).map((l) => [l.event, l.trigger]), [['config.reloaded', 'sighup']],
      'the two requests were answered by the running reload');
    const shared = d.lines.find((l) => l.event === 'config.reload_shared');
    assert.deepEqual([shared?.trigger, shared?.triggers, shared?.unchangedSince], ['sighup', ['control', 'control'], true]);
  });

test('after its start the daemon runs the reload path once itself (reload-warm.ts): the load of an edited file on a scratch config and one ping over its control socket, before any request; then a reload works as ever',
  { skip, timeout: 120_000 }, async (t) => {
    const { d, config, socket } = await start(t, ['WATCH_QUIET_MS=600000']);
    const warmed = await d.waitForEvent('reload.warmed');
    assert.equal(warmed.failed, undefined, JSON.stringify(warmed));
    for (const k of ['configMs', 'loadPathMs', 'controlMs']) assert.equal(typeof warmed[k], 'number', k);
    // after the start's ramp (no real server waiting for a first verdict: these have no check), not inside it
    assert.equal(warmed.after, 'settled', JSON.stringify(warmed));
    assert.equal(typeof warmed.waitedMs, 'number');
    const ping = d.lines.filter((l) => l.event === 'control.request');
    assert.deepEqual(ping.map((l) => [l.method, l.url, l.status]), [['POST', '/v1/ping', 200]], 'the warm\'s own request, the only one so far');
    assert.equal(reloadLines(d).length, 0, 'the warm switched nothing');
    writeConfig(config, 9);
    assert.deepEqual(await postReload(socket), { ok: true, applied: true });
    assert.equal(await kernelWeight(socket), 9);
  });
