/** The unsolicited neighbour advertisement, byte for byte against RFC 4861 4.4. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { addressToBytes } from '../../src/net/address.js';
import { buildUnsolicitedNa, icmpv6Checksum } from '../../src/net/garp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('an unsolicited NA has type 136, Override set, Solicited clear, the target and its link-layer address option', () => {
  assert.deepEqual(
    buildUnsolicitedNa('02:00:5e:10:00:01', '2001:db8::10'),
    hex(`
      88 00 0000
      20000000
      20010db8000000000000000000000010
      02 01 02005e100001`),
  );
});

test('the Router flag is set only when asked', () => {
  const msg = buildUnsolicitedNa('02:00:5e:10:00:01', 'fd00::1', { router: true });
  assert.equal(msg[4], 0xa0);
  assert.equal(buildUnsolicitedNa('02:00:5e:10:00:01', 'fd00::1')[4], 0x20);
});

/** One's complement sum of the pseudo-header and message: 0xffff when the checksum is right (RFC 1071). */
function verifies(source: string, destination: string, msg: Buffer): boolean {
  const pseudo = Buffer.concat([addressToBytes(source), addressToBytes(destination), Buffer.from([0, 0, 0, msg.length, 0, 0, 0, 58])]);
  const all = Buffer.concat([pseudo, msg]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

test('with a source the checksum is filled in and verifies against the all-nodes pseudo-header', () => {
  const msg = buildUnsolicitedNa('02:00:5e:10:00:01', '2001:db8::10', { source: 'fe80::1' });
  assert.notEqual(msg.readUInt16BE(2), 0);
  assert.ok(verifies('fe80::1', 'ff02::1', msg));
  assert.equal(icmpv6Checksum('fe80::1', 'ff02::1', msg), msg.readUInt16BE(2));
});

test('checksums verify for any MAC, target and source', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.ipV6(), fc.ipV6(), (mac, target, source) => {
      const msg = buildUnsolicitedNa(mac, target, { source });
      assert.equal(msg.length, 32);
      assert.deepEqual(msg.subarray(8, 24), addressToBytes(target));
      assert.deepEqual(msg.subarray(26, 32), Buffer.from(mac));
      assert.ok(verifies(source, 'ff02::1', msg));
    }),
  );
});

test('an IPv4 target is refused', () => {
  assert.throws(() => buildUnsolicitedNa('02:00:5e:10:00:01', '192.0.2.1'), TypeError);
});
