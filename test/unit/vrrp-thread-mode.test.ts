/**
 * LVSD_VRRP_THREAD (src/vrrp/thread-mode.ts): where `lvsd run` runs the VRRP protocol. `worker` and `main`
 * are taken as given; unset or empty is the default; anything else runs the default and is said (the
 * daemon logs vrrp.thread_mode_invalid), never silently taken for one of the two.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_VRRP_THREAD, vrrpThreadMode, vrrpThreadProblem } from '../../src/vrrp/thread-mode.js';

test('worker and main are taken as given, with no problem to say', () => {
  for (const mode of ['worker', 'main'] as const) {
    assert.equal(vrrpThreadMode({ LVSD_VRRP_THREAD: mode }), mode);
    assert.equal(vrrpThreadProblem({ LVSD_VRRP_THREAD: mode }), undefined);
  }
});

test('unset or empty: the default, silently', () => {
  for (const env of [{}, { LVSD_VRRP_THREAD: '' }]) {
    assert.equal(vrrpThreadMode(env), DEFAULT_VRRP_THREAD);
    assert.equal(vrrpThreadProblem(env), undefined);
  }
});

test('anything else: the default, and a problem naming the variable and the value', () => {
  for (const v of ['Main', 'inline', 'thread', ' worker', '1']) {
    assert.equal(vrrpThreadMode({ LVSD_VRRP_THREAD: v }), DEFAULT_VRRP_THREAD);
    const problem = vrrpThreadProblem({ LVSD_VRRP_THREAD: v });
    assert.ok(problem?.includes('LVSD_VRRP_THREAD') && problem.includes(JSON.stringify(v)), String(problem));
  }
});
