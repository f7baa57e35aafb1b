/**
 * The VRRP thread the bundle's launcher starts at exec (src/vrrp/early-thread.ts): the daemon takes that
 * very thread when it was started on the same file with the same log level and still runs; otherwise the
 * early one is ended and the daemon starts its own, as without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startEarlyVrrpThread, takeEarlyVrrpThread } from '../../src/vrrp/early-thread.js';

const dir = mkdtempSync(join(tmpdir(), 'lvsd-early-thread-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
// answers with its workerData, so a test knows which thread it talks to and with what it was started
const echo = join(dir, 'echo.cjs');
writeFileSync(echo, "const { parentPort, workerData } = require('node:worker_threads'); parentPort.on('message', () => parentPort.postMessage(workerData));");
const broken = join(dir, 'broken.cjs');
writeFileSync(broken, "throw new Error('cannot start');");

const exited = (w: Worker): Promise<number> => new Promise((r) => w.once('exit', r));
const ask = (w: Worker): Promise<unknown> => new Promise((r) => { w.once('message', r); w.postMessage('?'); });

test('the thread started at exec is the one taken, once, and answers as one started then', async () => {
  startEarlyVrrpThread(echo, 'debug');
  const w = takeEarlyVrrpThread(echo, 'debug');
  assert.ok(w, 'taken');
  assert.equal(takeEarlyVrrpThread(echo, 'debug'), undefined, 'only once');
  assert.deepEqual(await ask(w), { logLevel: 'debug' });
  await w.terminate();
});

test('a thread started with another log level or file is ended, not taken', async () => {
  startEarlyVrrpThread(echo, 'info');
  const w = (globalThis as Record<symbol, { worker: Worker }>)[Symbol.for('lvsd.vrrp.earlyThread')]!.worker;
  const gone = exited(w);
  assert.equal(takeEarlyVrrpThread(echo, 'debug'), undefined);
  await gone;
  startEarlyVrrpThread(echo, 'info');
  const w2 = (globalThis as Record<symbol, { worker: Worker }>)[Symbol.for('lvsd.vrrp.earlyThread')]!.worker;
  const gone2 = exited(w2);
  assert.equal(takeEarlyVrrpThread(join(dir, 'other.cjs'), 'info'), undefined);
  await gone2;
});

test('a thread that failed before it was taken is not taken, and its error does not escape', async () => {
  startEarlyVrrpThread(broken, 'info');
  const w = (globalThis as Record<symbol, { worker: Worker }>)[Symbol.for('lvsd.vrrp.earlyThread')]!.worker;
  w.ref(); // an early thread does not keep the process alive: this test waits for it to die
  await exited(w);
  assert.equal(takeEarlyVrrpThread(broken, 'info'), undefined);
});

test('with nothing started at exec there is nothing to take', () => {
  assert.equal(takeEarlyVrrpThread(echo, 'info'), undefined);
});
