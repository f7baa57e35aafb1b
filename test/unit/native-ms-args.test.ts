/**
 * The addon refuses a time or duration it cannot scale to nanoseconds at the N-API boundary (native/src/
 * util.c lvsd_arg_ms): a RangeError naming the argument and the value for NaN, ±Infinity, a negative or a
 * value past its range, a TypeError naming it for a non-number. Before: the advert clock computed
 * `(int64_t)(dueMs * 1e6)` on whatever it was given (undefined behaviour for Infinity or 1e300; an
 * Infinity interval or lateMs passed its `>= 1` / `>= 0` checks), and the TCP prober read NaN and Infinity
 * as 0 and 2^32 + 5 as 5, in silence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNative, nativeAvailable } from '../../src/net/native.js';

const skip = !nativeAvailable() && 'addon not built';
const LOOPBACK = Buffer.from([127, 0, 0, 1]);

function refused(f: () => unknown, name: string, value: string): void {
  assert.throws(f, (e: Error) => {
    assert.ok(e instanceof RangeError, `${name} ${value}: a RangeError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.match(e.message, new RegExp(`^${name} must be a finite number of milliseconds from [-0-9e.+]+ to [0-9e.+]+, not ${value.replace(/[+.]/g, '\\$&')}$`));
    return true;
  });
}

const bad: Array<[number, string]> = [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], [-1, '-1'], [1e300, '1.0000000000000001e+300']];

test('the TCP prober: timeoutMs, intervalMs, firstInMs, inMs', { skip }, () => {
  const native = loadNative();
  const h = native.tcpProberOpen(() => undefined, 1);
  try {
    for (const [v, said] of [...bad, [2 ** 32, '4294967296'] as [number, string]]) {
      refused(() => native.tcpProbe(h, LOOPBACK, 9, v), 'timeoutMs', said);
      refused(() => native.tcpWatch(h, 1, LOOPBACK, 9, v, 1000, 0, 1, 1, false, -1, 0), 'intervalMs', said);
      refused(() => native.tcpWatch(h, 1, LOOPBACK, 9, 1000, v, 0, 1, 1, false, -1, 0), 'timeoutMs', said);
      refused(() => native.tcpWatch(h, 1, LOOPBACK, 9, 1000, 1000, v, 1, 1, false, -1, 0), 'firstInMs', said);
    }
    refused(() => native.tcpWatch(h, 1, LOOPBACK, 9, 0, 1000, 0, 1, 1, false, -1, 0), 'intervalMs', '0');
    assert.throws(() => native.tcpProbe(h, LOOPBACK, 9, '5' as unknown as number), (e: Error) => e instanceof TypeError && /^timeoutMs must be a number/.test(e.message));
    // a watch made with good values takes its next turn only at a good time
    native.tcpWatch(h, 1, LOOPBACK, 9, 60_000, 1000, 60_000, 1, 1, false, -1, 0);
    for (const [v, said] of bad) refused(() => native.tcpWatchNext(h, 1, v), 'inMs', said);
    native.tcpWatchNext(h, 1, 60_000.7); // a fraction is dropped, as before
    assert.ok(native.tcpProbe(h, LOOPBACK, 9, 1000.5) >= 0);
  } finally {
    native.tcpProberClose(h);
  }
});

test('the advert clock: intervalMs, dueMs (NaN: keep the phase), lateMs', { skip: skip || (process.getuid?.() !== 0 && 'a VRRP socket needs root') }, () => {
  const native = loadNative();
  const h = native.vrrpOpen(4, 'lo', false, () => undefined);
  const schedule = (interval: number, due: number, late: number) =>
    native.vrrpAdvertSchedule!(h, [Buffer.from([0x31, 1, 100, 1])], [Buffer.from([224, 0, 0, 18])], null, interval, due, late, () => undefined);
  try {
    for (const [v, said] of bad) {
      refused(() => schedule(v, NaN, 0), 'intervalMs', said);
      if (!Number.isNaN(v)) refused(() => schedule(1000, v, 0), 'dueMs', said);
      refused(() => schedule(1000, NaN, v), 'lateMs', said);
    }
    refused(() => schedule(0.5, NaN, 0), 'intervalMs', '0.5');
    assert.throws(() => schedule(1000, 'soon' as unknown as number, 0), (e: Error) => e instanceof TypeError && /^dueMs must be a number/.test(e.message));
    // NaN is "keep the phase", not refused: what stops it is that this process runs no advert clock
    assert.throws(() => schedule(1000, NaN, 0), (e: Error & { errno?: number }) => !(e instanceof RangeError) && !(e instanceof TypeError));
  } finally {
    native.vrrpClose(h);
  }
});
