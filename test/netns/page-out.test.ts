/**
 * `lvsd run` gives back the pages of node's binary only its start touched (src/daemon/page-out.ts), and
 * goes on working: a daemon over the in-memory IPVS model with TCP checks against a server in its own
 * namespace. By default (MADV_DONTNEED: the pages leave lvsd's page tables, not the page cache, so it works
 * on a node binary other processes map too: this test's own), after the first page-out its mapped-file RSS
 * is far lower, its checks still reach the server and its control socket still answers; with
 * LVSD_PAGEOUT=0 nothing is given back. And no page-out while the daemon is busy (its real servers changing
 * state).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonLog } from './daemon-log.js';
import { JsonChild, NetnsLab, netnsSkipReason } from './netns.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DAEMON = fileURLToPath(new URL('./fixtures/model-daemon.js', import.meta.url));
const skip = netnsSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PORT = 18_080;

/** A TCP server on 127.0.0.1:PORT in the namespace that counts the connections it accepted ({n} on "count"). */
const SERVER = `
const net = require('node:net');
let n = 0;
net.createServer((s) => { n++; s.on('error', () => {}); s.end(); }).listen(${PORT}, '127.0.0.1', () => process.stdout.write(JSON.stringify({ ready: true }) + '\\n'));
require('node:readline').createInterface({ input: process.stdin }).on('line', () => process.stdout.write(JSON.stringify({ n }) + '\\n'));
`;

function rssKb(pid: number): { file: number; anon: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { file: kb('RssFile'), anon: kb('RssAnon') };
}

async function accepted(server: JsonChild): Promise<number> {
  server.child.stdin!.write('count\n');
  return Number((await server.next((m) => 'n' in m, 5000)).n);
}

function status(ns: string, socket: string): Promise<{ services: Array<{ realServers: Array<{ health?: { state?: string } }> }> }> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, process.execPath, MAIN, 'status', '--json', '--socket', socket], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`lvsd status failed: ${err.message} ${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}

/** The services file both tests run: one TCP-checked real server on this namespace's loopback, down after `fall` failures. */
function oneService(fall: number): string {
  return JSON.stringify({
    services: [{
      name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: '1s', timeout: '1s', rise: 1, fall },
      realServers: [{ address: '127.0.0.1', port: PORT, weight: 1 }],
    }],
  });
}

async function start(t: { after(fn: () => void): void }, lab: NetnsLab, label: string, env: string[]) {
  const dir = mkdtempSync(join(tmpdir(), `lvsd-pageout-${label}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // this test's node: its pages are mapped by other processes too (the test, the server)
  const node = process.execPath;
  const config = join(dir, 'services.json');
  writeFileSync(config, oneService(2));
  const ns = lab.namespace(label);
  const server = new JsonChild(lab.spawn(ns, [process.execPath, '-e', SERVER]));
  t.after(() => void server.stop());
  await server.next((m) => m.ready === true, 10_000);
  const socket = join(dir, 'lvsd.sock');
  const d = new DaemonLog(lab.spawn(ns, ['env', 'LOG_LEVEL=debug', ...env, node, DAEMON, config, socket, join(dir, 'state.json')]));
  t.after(() => d.child.kill('SIGTERM'));
  await d.waitForEvent('daemon.started');
  return { ns, d, server, socket, pid: d.child.pid! };
}

test('lvsd run by default unmaps what its start touched of node\'s binary (a node other processes run too), keeps probing and answering; with LVSD_PAGEOUT=0 it does not', { skip, timeout: 150_000 }, async (t) => {
  const lab = new NetnsLab('lvpo');
  t.after(() => lab.cleanup());
  // both at once: the page-out comes ~20 s after the start
  const [on, off] = await Promise.all([start(t, lab, 'on', []), start(t, lab, 'off', ['LVSD_PAGEOUT=0'])]);
  const before = { on: rssKb(on.pid), off: rssKb(off.pid) };
  assert.ok(before.on.file > 20_000, `${before.on.file} KiB of mapped files before`);

  // the page-out waits until the start has been quiet 30 s; on a loaded host its 1 s budget may cut it into parts
  const line = await on.d.waitFor((l) => l.event === 'daemon.paged_out' && l.cut === false, 'daemon.paged_out (whole)', 90_000);
  assert.deepEqual([line.why, line.refused], ['start', 0]);
  assert.ok(Number(line.kept) >= 1, `${line.kept} mappings kept for their private pages (node's RELRO at least)`);
  const after = rssKb(on.pid);
  assert.ok(after.file < before.on.file - 10_000, `mapped files ${before.on.file} -> ${after.file} KiB: over 10 MiB given back`);

  // the daemon works on: its checks reach the server, its control socket answers with the server up
  const n0 = await accepted(on.server);
  await sleep(3500);
  const n1 = await accepted(on.server);
  assert.ok(n1 - n0 >= 2, `${n1 - n0} probes in 3.5 s after the page-out`);
  const snap = await status(on.ns, on.socket);
  assert.equal(snap.services[0]!.realServers[0]!.health?.state, 'up');

  // LVSD_PAGEOUT=0: off, said once, and by now (past the first page-out's time) nothing given back
  assert.ok(off.d.lines.some((l) => l.event === 'daemon.page_out_off'), 'the log says the page-out is off');
  assert.ok(!off.d.lines.some((l) => l.event === 'daemon.paged_out'));
  const offAfter = rssKb(off.pid);
  assert.ok(offAfter.file > before.off.file - 2_000, `mapped files ${before.off.file} -> ${offAfter.file} KiB with LVSD_PAGEOUT=0`);
  assert.equal((await status(off.ns, off.socket)).services[0]!.realServers[0]!.health?.state, 'up');
  assert.ok(!on.d.lines.some((l) => l.event === 'daemon.page_out_failed'));
});

/** A TCP server that, while flapping, closes its port and opens it again every FLAP_MS ("steady" on stdin: stays open). */
const FLAP_MS = 2500;
const FLAPPING = `
const net = require('node:net');
let server, flapping = true;
const open = () => { server = net.createServer((s) => { s.on('error', () => {}); s.end(); }); server.listen(${PORT}, '127.0.0.1'); };
open();
const flap = setInterval(() => { if (server.listening) server.close(); else open(); }, ${FLAP_MS});
process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
require('node:readline').createInterface({ input: process.stdin }).on('line', () => {
  clearInterval(flap);
  if (!server.listening) open();
  process.stdout.write(JSON.stringify({ steady: true }) + '\\n');
});
`;

test('lvsd run does not page out while its real servers keep changing state (busy), says so once, and pages out once they are steady', { skip, timeout: 200_000 }, async (t) => {
  const lab = new NetnsLab('lvpb');
  t.after(() => lab.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-pageout-busy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'services.json');
  writeFileSync(config, oneService(1));
  const ns = lab.namespace('busy');
  const server = new JsonChild(lab.spawn(ns, [process.execPath, '-e', FLAPPING]));
  t.after(() => void server.stop());
  await server.next((m) => m.ready === true, 10_000);
  const d = new DaemonLog(lab.spawn(ns, ['env', 'LOG_LEVEL=debug', process.execPath, DAEMON, config, join(dir, 'lvsd.sock'), join(dir, 'state.json')]));
  t.after(() => d.child.kill('SIGTERM'));
  await d.waitForEvent('daemon.started');
  const t0 = Date.now();
  // past the first page-out's time (20 s) and the quiet it needs (30 s): the server still flapping
  const waiting = await d.waitFor((l) => l.event === 'daemon.page_out_waiting', 'daemon.page_out_waiting', 40_000);
  assert.equal(waiting.reason, 'busy');
  await sleep(Math.max(0, 45_000 - (Date.now() - t0)));
  const changes = d.lines.filter((l) => l.event === 'health.change').length;
  assert.ok(changes >= 10, `${changes} health changes while flapping`);
  assert.ok(!d.lines.some((l) => l.event === 'daemon.paged_out'), 'no page-out while the real server changes state');
  // steady: a page-out within the quiet it needs
  server.child.stdin!.write('steady\n');
  await server.next((m) => m.steady === true, 5000);
  const steadyAt = Date.now();
  const line = await d.waitForEvent('daemon.paged_out', 60_000);
  assert.ok(Date.now() - steadyAt >= 25_000, `paged out ${Date.now() - steadyAt} ms after the server went steady (30 s quiet wanted)`);
  assert.equal(line.why, 'start');
  assert.equal(d.lines.filter((l) => l.event === 'daemon.page_out_waiting').length, 1, 'the wait said once');
  assert.ok(!d.lines.some((l) => l.event === 'daemon.page_out_stopped' || l.event === 'daemon.page_out_failed'));
});
