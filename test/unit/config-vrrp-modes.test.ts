/** VRRP acceptMode and v2Compat in the config: defaults, where they apply, the refusals that name the place. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, parse, problemsOf } from './config-fixtures.js';

const vi = (extra: Record<string, unknown> = {}) => ({ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1'], ...extra });

test('acceptMode defaults to true; v2Compat to false; both are taken as given', () => {
  const [d] = parse({ vrrp: [vi()] }).vrrp;
  assert.deepEqual([d!.acceptMode, d!.v2Compat], [true, false]);
  const [s] = parse({ vrrp: [vi({ acceptMode: false, v2Compat: true, advertInterval: '2s' })] }).vrrp;
  assert.deepEqual([s!.acceptMode, s!.v2Compat, s!.version, s!.advertInterval], [false, true, 3, 2]);
});

test('v2Compat is refused on a version 2 instance, on IPv6, and with an interval VRRPv2 cannot carry', () => {
  assertProblem(problemsOf({ vrrp: [vi({ version: 2, v2Compat: true })] }), '/vrrp/0/v2Compat', /version 3 instance among VRRPv2 routers/);
  assertProblem(problemsOf({ vrrp: [vi({ addresses: ['2001:db8::1'], v2Compat: true })] }), '/vrrp/0/v2Compat', /IPv4 only/);
  assertProblem(problemsOf({ vrrp: [vi({ advertInterval: '100ms', v2Compat: true })] }), '/vrrp/0/advertInterval', /whole seconds from 1s to 255s \(got 100ms\)/);
  assertProblem(problemsOf({ vrrp: [vi({ acceptMode: 'no' })] }), '/vrrp/0/acceptMode', /must be true or false/);
});

test('lvsd export keepalived: acceptMode false is no_accept; v2Compat is refused (keepalived has no mixed mode)', async () => {
  const { keepalivedConf } = await import('../../src/lab/keepalived-conf.js');
  const text = keepalivedConf(parse({ vrrp: [vi({ acceptMode: false })] }), { routerId: 'r' });
  assert.match(text, /^ {2}no_accept$/m);
  assert.doesNotMatch(keepalivedConf(parse({ vrrp: [vi()] }), { routerId: 'r' }), /no_accept/);
  assert.throws(() => keepalivedConf(parse({ vrrp: [vi({ v2Compat: true })] }), { routerId: 'r' }), /V: v2Compat \(keepalived has no mixed/);
});
