/**
 * lvsd's own IPv6 text check (src/net/address.ts isIPv6, written so that reading a config does not load
 * node:net) answers as node's net.isIPv6 does: on addresses of every shape, on near misses, and on random
 * strings over the characters that matter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 as nodeIsIPv6 } from 'node:net';
import fc from 'fast-check';
import { isIPv6 } from '../../src/net/address.js';

const cases = [
  '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '1:2:3:4:5:6::8', '1::3:4:5:6:7:8',
  '2001:db8::53', '2001:DB8:0:0:8:800:200C:417A', 'fe80::1%eth0', 'fe80::1%', 'fe80::1%eth0:1', 'fe80::1%a%b', 'fe80::1%e_0',
  '::ffff:192.0.2.1', '::192.0.2.1', '1:2:3:4:5:6:192.0.2.1', '1:2:3:4:5:6:7:192.0.2.1', '1::6:192.0.2.1', '::ffff:192.0.2.01',
  '::ffff:256.0.2.1', '192.0.2.1::', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::', ':1::', '1:::2', '12345::', 'g::', '1:2:3:4:5:6:7',
  '', ':', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '1:2:3:4::5:6:7:8', '::ffff:1.2.3', 'a:b:c:d:e:f:0:1%', '0::0',
];

test('the same answer as node:net on addresses of every shape and their near misses', () => {
  for (const c of cases) assert.equal(isIPv6(c), nodeIsIPv6(c), JSON.stringify(c));
});

test('the same answer as node:net on random strings of hex digits, colons, dots, zones', () => {
  const chars = fc.constantFrom(...'0123456789abcdefABCDEF::::...%gz-_'.split(''));
  fc.assert(fc.property(fc.string({ unit: chars, maxLength: 45 }), (s) => isIPv6(s) === nodeIsIPv6(s)), { numRuns: 20_000 });
});

test('the same answer as node:net on generated addresses, whole and with a part changed', () => {
  const group = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'.split('')), minLength: 0, maxLength: 5 });
  const quad = fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((q) => q.join('.'));
  const address = fc.tuple(fc.array(group, { minLength: 0, maxLength: 9 }), fc.nat(10), fc.boolean(), quad, fc.option(fc.constantFrom('eth0', 'lo', '1', '', 'a:b', 'x y')))
    .map(([groups, cut, v4, q, zone]) => {
      const parts = v4 ? [...groups, q] : groups;
      const text = cut < parts.length ? `${parts.slice(0, cut).join(':')}::${parts.slice(cut).join(':')}` : parts.join(':');
      return zone === null ? text : `${text}%${zone}`;
    });
  fc.assert(fc.property(address, (s) => isIPv6(s) === nodeIsIPv6(s)), { numRuns: 20_000 });
});
