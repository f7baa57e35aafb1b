/**
 * src/fork-priority.ts: the main thread runs a spawn call at SCHED_RR 1 and is ordinary again right after;
 * the child runs ordinary scheduling (reset-on-fork); a main thread already real-time and a worker thread
 * are left as they are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { spawnRaised } from '../../src/fork-priority.js';
import { loadNative } from '../../src/net/native.js';

const policy = (file = '/proc/thread-self/sched'): number => Number(/^policy\s*:\s*(\d+)/m.exec(readFileSync(file, 'utf8'))?.[1]);

test('the main thread is SCHED_RR during the spawn call only; the child is ordinary', { skip: process.getuid?.() !== 0 && 'not root (CAP_SYS_NICE)' }, () => {
  assert.equal(policy(), 0);
  let during = -1;
  const child = spawnRaised(() => {
    during = policy();
    return spawnSync('/bin/cat', ['/proc/self/sched'], { encoding: 'utf8' });
  });
  assert.equal(during, 2, 'SCHED_RR while spawning');
  assert.equal(policy(), 0, 'ordinary again');
  assert.equal(Number(/^policy\s*:\s*(\d+)/m.exec(child.stdout)?.[1]), 0, 'the child runs SCHED_OTHER');
  assert.throws(() => spawnRaised(() => { throw new Error('spawn failed'); }), /spawn failed/);
  assert.equal(policy(), 0, 'ordinary again after a spawn that threw');
});

test('a main thread the operator runs SCHED_RR (chrt) is left SCHED_RR', { skip: process.getuid?.() !== 0 && 'not root (CAP_SYS_NICE)' }, (t) => {
  const native = loadNative();
  native.vrrpRealtime(5);
  t.after(() => native.threadForkPriority?.(false));
  assert.equal(policy(), 2);
  spawnRaised(() => spawnSync('/bin/true'));
  assert.equal(policy(), 2, 'still SCHED_RR');
});

test('off the main thread the spawn runs as it is', async () => {
  const url = new URL('../../src/fork-priority.js', import.meta.url).href;
  const w = new Worker(`import(${JSON.stringify(url)}).then(({ spawnRaised }) => {
    const { readFileSync } = require('node:fs');
    const p = () => Number(/^policy\\s*:\\s*(\\d+)/m.exec(readFileSync('/proc/thread-self/sched', 'utf8'))[1]);
    require('node:worker_threads').parentPort.postMessage(spawnRaised(p));
  });`, { eval: true });
  const seen = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await w.terminate();
  assert.equal(seen, 0);
});
