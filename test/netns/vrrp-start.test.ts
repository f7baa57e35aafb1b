/**
 * `lvsd run` starts its VRRP side (worker thread, or LVSD_VRRP_THREAD=main its manager on the main thread) first (issue #11, fast start: the Master_Down timer runs while the rest
 * of the daemon loads and the table is programmed). A start that fails after that must not leave the
 * worker running: lvsd exits with the error and holds no VIP afterwards. (On a loaded host the instance
 * may become master before the failure, 100 ms adverts here: then it releases the VIP as it stops.)
 * Real `lvsd run` in a real namespace; the failure is a metrics listener on an address the director does
 * not have (EADDRNOTAVAIL), which fails after the worker was started, on any kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VrrpLab, LVSD_MAIN } from './fixtures/vrrp-lab.js';
import { netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const VIP = '10.61.0.100';
/** The bundle's launcher (packaging/bundle.ts): it starts the VRRP thread at exec (src/vrrp/early-thread.ts). */
const BUNDLE = fileURLToPath(new URL('../../bundle/lvsd.cjs', import.meta.url));
const noBundle = !existsSync(BUNDLE) && 'no dist/bundle: run npm run build';

/** `env(1)` with the VRRP side pinned (LVSD_VRRP_THREAD), before node's argv: it execs node, the pid stays. */
const pinned = (mode: 'worker' | 'main') => ['env', `LVSD_VRRP_THREAD=${mode}`];

for (const [entry, main, mode] of [
  ['dist/src', LVSD_MAIN, 'worker'], ['the bundle, its VRRP thread started at exec', BUNDLE, 'worker'], ['the bundle, VRRP on its main thread', BUNDLE, 'main'],
] as const) {
test(`a start that fails after the VRRP side started stops it: lvsd exits with the error and holds no VIP (${entry})`, { skip: skip || (main === BUNDLE && noBundle) }, async () => {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const addrs = vlab.watchAddresses(d1);
    await addrs.ready();
    const config = vlab.file('lvsd.json', JSON.stringify({
      control: { socket: `${vlab.dir}/d1.sock` },
      // 100 ms adverts: Master_Down_Interval 0.36 s, so a worker left running would take the VIP at once
      vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '100ms', addresses: [`${VIP}/24`] }],
      metrics: { listen: '192.0.2.1:9650' },
    }));
    const child = vlab.spawn(d1, [...pinned(mode), process.execPath, main, 'run', '--config', config, '--state-file', `${vlab.dir}/state.json`, '--log-level', 'info']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lvsd still running 30 s after a failed start:\n${out.slice(-3000)}`)), 30_000);
      child.once('exit', (c) => (clearTimeout(timer), resolve(c)));
    }).finally(() => child.kill('SIGKILL'));
    assert.notEqual(code, 0, out);
    assert.match(out, /192\.0\.2\.1:9650/, 'the error names the listener');
    assert.ok(out.includes('"event":"vrrp.transition"'), `the VRRP side had started:\n${out.slice(-3000)}`);
    assert.ok(out.includes(`"event":"vrrp.thread","mode":"${mode}"`), `VRRP ran in the ${mode} thread:\n${out.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 1000)); // a worker left behind would hold the VIP by now
    assert.equal(vlab.holds(d1, VIP), false, 'no VIP after the failed start');
    const added = addrs.items.filter((e) => e.address === VIP && e.added).length;
    const removed = addrs.items.filter((e) => e.address === VIP && !e.added).length;
    assert.equal(added, removed, 'a VIP taken before the failure was released');
  } finally {
    vlab.cleanup();
  }
});
}

test('the bundled lvsd run takes the VRRP thread started at exec and becomes master with it', { skip: skip || noBundle }, async () => {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const lvsd = vlab.lvsd(d1, {
      vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '100ms', addresses: [`${VIP}/24`] }],
    }, 'd1', { main: BUNDLE, env: { LVSD_VRRP_THREAD: 'worker' } });
    await lvsd.transition('VI_1', 'master', 30_000);
    assert.deepEqual(lvsd.events('vrrp.worker_boot').map((e) => e.early), [true], 'one VRRP thread, the one started at exec');
    assert.equal(vlab.holds(d1, VIP), true);
  } finally {
    vlab.cleanup();
  }
});

test('the bundled lvsd run with VRRP on its main thread starts no thread for it, adopts the socket opened at exec and becomes master', { skip: skip || noBundle }, async () => {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const lvsd = vlab.lvsd(d1, {
      vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '100ms', addresses: [`${VIP}/24`] }],
    }, 'd1', { main: BUNDLE, env: { LVSD_VRRP_THREAD: 'main' } });
    await lvsd.transition('VI_1', 'master', 30_000);
    assert.equal(lvsd.vrrpThread, 'main');
    assert.deepEqual(lvsd.events('vrrp.worker_boot'), [], 'no VRRP worker thread');
    assert.deepEqual(lvsd.events('vrrp.realtime'), [], 'the main thread is not made real-time');
    assert.equal(lvsd.events('vrrp.early_socket').length, 1, `the socket opened at exec was adopted:\n${lvsd.raw.slice(-3000)}`);
    assert.equal(vlab.holds(d1, VIP), true);
  } finally {
    vlab.cleanup();
  }
});


test('a VRRP thread that cannot start: lvsd exits with an error naming it, and never holds the VIP', { skip: skip || noBundle }, async () => {
  const vlab = new VrrpLab();
  const copy = mkdtempSync(join(tmpdir(), 'lvsd-broken-worker-'));
  try {
    // the bundle as installed, its VRRP thread's file broken (both the thread started at exec and its replacement fail)
    const root = join(dirname(BUNDLE), '..', '..');
    for (const part of ['package.json', 'schemas', join('dist', 'bundle'), join('native', 'build')]) {
      cpSync(join(root, part), join(copy, part), { recursive: true, dereference: true });
    }
    writeFileSync(join(copy, 'dist', 'bundle', 'worker.cjs'), "throw new Error('injected: this VRRP thread cannot start');\n");
    const d1 = vlab.node('d1');
    const addrs = vlab.watchAddresses(d1);
    await addrs.ready();
    const config = vlab.file('lvsd.json', JSON.stringify({
      control: { socket: `${vlab.dir}/d1.sock` },
      vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '100ms', addresses: [`${VIP}/24`] }],
    }));
    const child = vlab.spawn(d1, [...pinned('worker'), process.execPath, join(copy, 'dist', 'bundle', 'lvsd.cjs'), 'run', '--config', config, '--state-file', `${vlab.dir}/state.json`]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lvsd still running 30 s after its VRRP thread failed:\n${out.slice(-3000)}`)), 30_000);
      child.once('exit', (c) => (clearTimeout(timer), resolve(c)));
    }).finally(() => child.kill('SIGKILL'));
    assert.notEqual(code, 0, out);
    assert.match(out, /^lvsd: cannot start the VRRP instances: the VRRP worker thread failed: injected: this VRRP thread cannot start$/m,
      `one line saying what failed and why:\n${out.slice(-3000)}`);
    assert.ok(!out.includes('"event":"daemon.started"'), 'the daemon never ran without its VRRP side');
    assert.deepEqual(addrs.items.filter((e) => e.address === VIP), [], 'no VIP');
  } finally {
    vlab.cleanup();
    rmSync(copy, { recursive: true, force: true });
  }
});
