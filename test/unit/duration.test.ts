import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkDuration, formatDuration, parseDuration } from '../../src/config/duration.js';
import { isLvsdError } from '../../src/errors.js';

test('numbers are seconds, fractions allowed', () => {
  assert.equal(parseDuration(2), 2);
  assert.equal(parseDuration(0.25), 0.25);
  assert.equal(parseDuration(0), 0);
});

test('strings take ms, s, m and h units, combined largest first', () => {
  assert.equal(parseDuration('250ms'), 0.25);
  assert.equal(parseDuration('2s'), 2);
  assert.equal(parseDuration('5m'), 300);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('1.5s'), 1.5);
  assert.equal(parseDuration('1m30s'), 90);
  assert.equal(parseDuration('1h2m3s4ms'), 3723.004);
  assert.equal(parseDuration('300ms'), 0.3);
  assert.equal(parseDuration(' 2s '), 2);
});

test('bad durations are refused with the reason', () => {
  const reason = (v: unknown) => {
    const r = checkDuration(v);
    assert.equal(r.ok, false, `${JSON.stringify(v)} should be refused`);
    return r.ok ? '' : r.reason;
  };
  assert.match(reason('5'), /no unit/);
  assert.match(reason('5x'), /unknown unit "x"/);
  assert.match(reason('5 sec'), /not a duration/);
  assert.match(reason('-1s'), /negative/);
  assert.match(reason(-1), /negative/);
  assert.match(reason('30s1m'), /largest first/);
  assert.match(reason('1s1s'), /largest first/);
  assert.match(reason(''), /empty/);
  assert.match(reason(Number.NaN), /finite/);
  assert.match(reason(true), /number of seconds or a string/);
});

test('parseDuration throws LVSD_CONFIG_INVALID on a bad duration', () => {
  assert.throws(() => parseDuration('soon'), (e) => isLvsdError(e, 'LVSD_CONFIG_INVALID') && /soon/.test(e.message));
});

test('formatDuration writes what parseDuration reads back', () => {
  assert.equal(formatDuration(90), '1m30s');
  assert.equal(formatDuration(0.25), '250ms');
  assert.equal(formatDuration(1.5), '1.5s');
  fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 3600 * 1000 }), (ms) => {
    assert.equal(parseDuration(formatDuration(ms / 1000)), ms / 1000);
  }));
});
