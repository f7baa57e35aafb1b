/**
 * The VRRP thread's SCHED_RR (src/vrrp/realtime.ts): one sched_setscheduler of the calling thread through
 * the addon, so only that thread changes policy and no process is started for it; and how the VRRP thread
 * and the advert clock are asked to run from the environment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { nativeAvailable } from '../../src/net/index.js';
import { clockLockFromEnv, realtimePriorityFromEnv } from '../../src/vrrp/realtime.js';

/** The policy field (41st) of /proc/self/task/TID/stat: 0 SCHED_OTHER, 2 SCHED_RR (| 0x40000000 reset-on-fork is not shown). */
function policy(tid: number | 'self'): number {
  const stat = readFileSync(tid === 'self' ? '/proc/thread-self/stat' : `/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built' : process.getuid?.() !== 0 ? 'needs CAP_SYS_NICE (root)' : false;

test('makeThreadRealtime puts the calling thread alone in SCHED_RR, synchronously', { skip }, async () => {
  const url = new URL('../../src/vrrp/realtime.js', import.meta.url).href;
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    import(${JSON.stringify(url)}).then(({ makeThreadRealtime }) => {
      const rt = makeThreadRealtime(7);
      const stat = readFileSync('/proc/thread-self/stat', 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentPort.postMessage({ rt, policy: Number(f[38]), priority: Number(f[37]) });
      setTimeout(() => {}, 200);
    });
  `, { eval: true });
  const got = await new Promise<{ rt: { ok: boolean; tid?: number; priority?: number }; policy: number; priority: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  assert.equal(got.rt.ok, true, JSON.stringify(got.rt));
  assert.equal(got.rt.priority, 7);
  assert.equal(got.policy, 2, 'SCHED_RR');
  assert.equal(policy(got.rt.tid!), 2, 'the thread id it returned is that thread');
  assert.equal(policy('self'), 0, 'the main thread keeps the ordinary policy');
  await worker.terminate();
});

test('LVSD_VRRP_RT_PRIORITY: 10 by default and for anything that is not 0..99', () => {
  assert.equal(realtimePriorityFromEnv({}), 10);
  assert.equal(realtimePriorityFromEnv({ LVSD_VRRP_RT_PRIORITY: '' }), 10);
  assert.equal(realtimePriorityFromEnv({ LVSD_VRRP_RT_PRIORITY: '0' }), 0);
  assert.equal(realtimePriorityFromEnv({ LVSD_VRRP_RT_PRIORITY: '42' }), 42);
  for (const bad of ['100', '-1', '2.5', 'high']) assert.equal(realtimePriorityFromEnv({ LVSD_VRRP_RT_PRIORITY: bad }), 10, bad);
});

test('LVSD_VRRP_CLOCK_LOCK: the advert clock locks what it runs on unless told 0, off, false or no', () => {
  assert.equal(clockLockFromEnv({}), true);
  for (const on of ['', '1', 'yes', 'on']) assert.equal(clockLockFromEnv({ LVSD_VRRP_CLOCK_LOCK: on }), true, on);
  for (const off of ['0', 'off', 'false', 'no', ' OFF ', 'No']) assert.equal(clockLockFromEnv({ LVSD_VRRP_CLOCK_LOCK: off }), false, off);
});
