/**
 * The addon's signalWatch (native/src/signal_watch.c): a worker thread hears a process signal on its own
 * event loop, while the main thread is blocked and cannot (what lets the VRRP thread hand over on SIGTERM
 * without waiting for the main thread: src/vrrp/worker.ts, test/netns/vrrp-stop-first.test.ts). Closed, it
 * hears nothing more; it never keeps the thread alive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { constants } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { nativeAvailable } from '../../src/net/native.js';
import { packageRoot } from '../../src/package-root.js';

const skip = !nativeAvailable() && 'addon not built';
const ADDON = join(packageRoot(), 'native', 'build', 'Release', 'lvsd_native.node');
const SIGNUM = constants.signals.SIGUSR2;

/** A worker watching SIGNUM: each signal heard is counted in flag[0] and notified; `close` closes the watch. */
function watcher(flag: Int32Array): Worker {
  return new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const native = require(workerData.addon);
    const flag = new Int32Array(workerData.buffer);
    const h = native.signalWatch(workerData.signum, (n) => {
      if (n === workerData.signum) Atomics.add(flag, 0, 1);
      Atomics.notify(flag, 0);
    });
    parentPort.on('message', (m) => { if (m === 'close') { native.signalWatchClose(h); native.signalWatchClose(h); parentPort.postMessage('closed'); } });
    parentPort.postMessage('ready');
  `, { eval: true, workerData: { addon: ADDON, buffer: flag.buffer, signum: SIGNUM } });
}

test('a worker hears a signal while the main thread is blocked; closed, it hears no more', { skip }, async () => {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const onMain = () => undefined;
  process.on('SIGUSR2', onMain); // the main thread's own watch: the signal never takes the process down
  const w = watcher(flag);
  try {
    await once(w, 'message');
    process.kill(process.pid, 'SIGUSR2');
    // blocked here: only the worker's loop can count it (a deadline, so a miss fails instead of hanging). The
    // main thread runs no turn of its loop from the kill to the wait, so a count already there when the wait
    // begins ('not-equal': the worker was quicker) was made without it just the same
    const waited = Atomics.wait(flag, 0, 0, 20_000);
    assert.ok(waited === 'ok' || waited === 'not-equal', `the worker heard the signal while the main thread was blocked (${waited})`);
    assert.equal(Atomics.load(flag, 0), 1);
    w.postMessage('close');
    await once(w, 'message');
    let mainHeard = 0;
    const heard = new Promise<void>((resolve) => process.once('SIGUSR2', () => { mainHeard++; resolve(); }));
    process.kill(process.pid, 'SIGUSR2');
    await heard; // the main thread's watch heard this one: the worker's, closed, did not
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(mainHeard, 1);
    assert.equal(Atomics.load(flag, 0), 1, 'nothing after the close');
  } finally {
    process.off('SIGUSR2', onMain);
    await w.terminate();
  }
});

test('the watch does not keep a thread alive: a worker with only a watch ends by itself', { skip }, async () => {
  const w = new Worker(`require(${JSON.stringify(ADDON)}).signalWatch(${SIGNUM}, () => {});`, { eval: true });
  const [code] = await once(w, 'exit') as [number];
  assert.equal(code, 0);
});

test('bad arguments are refused', { skip }, async () => {
  const { loadNative } = await import('../../src/net/native.js');
  const native = loadNative();
  assert.throws(() => native.signalWatch!(constants.signals.SIGKILL, () => undefined), RangeError);
  assert.throws(() => native.signalWatch!(0, () => undefined), RangeError);
  assert.throws(() => native.signalWatch!(SIGNUM, 'x' as unknown as () => void), TypeError);
  assert.throws(() => native.signalWatchClose!({}), TypeError);
});
