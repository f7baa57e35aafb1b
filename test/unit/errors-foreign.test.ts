/**
 * asLvsdError (src/errors.ts): only the codes lvsd defines (CODES, one list) are taken as lvsd's. An error
 * whose code merely starts with `LVSD_`, or has none of ours, is reported as LVSD_INTERNAL with its stack
 * (exit 70, the stack printed for the bug report), on this thread and across the VRRP worker's port
 * (errorParts there, asLvsdError here). Before: any `LVSD_*` code was trusted (an unknown one reached the
 * CLI's exit table as undefined), and an error with no code of ours was dressed as LVSD_NATIVE_UNAVAILABLE.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LvsdError, asLvsdError, errorParts, isErrorCode, type LvsdErrorCode } from '../../src/errors.js';
import { describeError, exitStatusOf } from '../../src/cli/exit.js';
import { loadRecord } from '../../src/daemon/load-record.js';
import { passFailure } from '../../src/reconcile/repair.js';

const OURS: LvsdErrorCode[] = ['LVSD_CONFIG_INVALID', 'LVSD_IPVS_KERNEL', 'LVSD_NATIVE_UNAVAILABLE', 'LVSD_FIREWALL', 'LVSD_INTERNAL'];

function foreign(message: string, code?: string): Error {
  const e = new Error(message);
  if (code !== undefined) Object.assign(e, { code });
  return e;
}

test('a code lvsd does not define, LVSD_ prefix or not: internal, its stack kept and printed, exit 70', () => {
  for (const code of ['LVSD_NOT_OURS', 'LVSD_', 'ENOENT', 'ERR_INVALID_ARG_TYPE', undefined]) {
    const e = foreign('boom', code);
    for (const crossed of [e, errorParts(e)]) {
      const r = asLvsdError(crossed, 'cannot start the VRRP instances: ');
      assert.equal(r.code, 'LVSD_INTERNAL', String(code));
      assert.equal(r.message, 'cannot start the VRRP instances: internal error: boom');
      assert.equal((r.details as { stack?: string }).stack, e.stack, 'the stack where it was thrown');
      assert.equal((r.details as { code?: string }).code, code);
      assert.equal(exitStatusOf(r), 70);
      const said = describeError(r);
      assert.match(said, /^lvsd: cannot start the VRRP instances: internal error: boom\n  Error: boom\n {6}at /);
    }
  }
  // a TypeError (a bug) is no missing addon
  assert.equal(asLvsdError(new TypeError('x is not a function')).code, 'LVSD_INTERNAL');
});

test('each code lvsd defines is kept, with its details, across a port or not; an LvsdError is itself', () => {
  for (const code of OURS) {
    const e = Object.assign(new Error('said'), { code, details: { n: 1 } });
    for (const crossed of [e, errorParts(e)]) {
      const r = asLvsdError(crossed, 'p: ');
      assert.deepEqual([r.code, r.message, r.details], [code, 'p: said', { n: 1 }]);
    }
    const own = new LvsdError(code, 'own');
    assert.equal(asLvsdError(own), own);
    assert.deepEqual([asLvsdError(own, 'p: ').code, asLvsdError(own, 'p: ').message], [code, 'p: own']);
  }
});

test('any string code: ours exactly when the one list has it', () => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.constantFrom(...OURS), fc.string().map((s) => `LVSD_${s}`)), (code) => {
    const r = asLvsdError(foreign('m', code));
    assert.equal(r.code, isErrorCode(code) ? code : 'LVSD_INTERNAL');
  }), { numRuns: 2000 });
});

test('status and the repair record name only lvsd\'s codes', () => {
  const at = new Date(0);
  assert.equal(loadRecord('reload', 'failed', foreign('x', 'LVSD_MADE_UP'), at).code, undefined);
  assert.equal(loadRecord('reload', 'failed', foreign('x', 'LVSD_IPVS_KERNEL'), at).code, 'LVSD_IPVS_KERNEL');
  assert.equal(passFailure('dump', foreign('x', 'LVSD_MADE_UP'), 0).code, null);
  assert.equal(passFailure('dump', foreign('x', 'LVSD_IPVS_KERNEL'), 0).code, 'LVSD_IPVS_KERNEL');
});
