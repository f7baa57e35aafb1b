/** The gratuitous ARP frame, byte for byte against RFC 826 / RFC 5227 layout. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { buildGratuitousArp, formatMac, parseMac } from '../../src/net/garp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('a gratuitous ARP request is a broadcast frame with sender = target = the address and a zero target MAC', () => {
  const frame = buildGratuitousArp('02:00:5e:10:00:01', '192.0.2.10');
  assert.deepEqual(
    frame,
    hex(`
      ffffffffffff 02005e100001 0806
      0001 0800 06 04 0001
      02005e100001 c000020a
      000000000000 c000020a`),
  );
});

test('the reply form carries opcode 2 and the sender MAC as target MAC too', () => {
  const frame = buildGratuitousArp('02-00-5E-10-00-01', '10.1.2.3', 'reply');
  assert.deepEqual(
    frame,
    hex(`
      ffffffffffff 02005e100001 0806
      0001 0800 06 04 0002
      02005e100001 0a010203
      02005e100001 0a010203`),
  );
});

test('a MAC given as bytes gives the same frame as its text', () => {
  assert.deepEqual(buildGratuitousArp(hex('02005e100001'), '192.0.2.10'), buildGratuitousArp('02:00:5e:10:00:01', '192.0.2.10'));
});

test('bad input is refused rather than sent', () => {
  assert.throws(() => buildGratuitousArp('02:00:5e:10:00', '192.0.2.10'), TypeError);
  assert.throws(() => buildGratuitousArp('02:00:5e:10:00:zz', '192.0.2.10'), TypeError);
  assert.throws(() => buildGratuitousArp('02:00:5e:10:00:01', '2001:db8::1'), TypeError);
  assert.throws(() => buildGratuitousArp('02:00:5e:10:00:01', 'not-an-ip'), TypeError);
  assert.throws(() => buildGratuitousArp('02:00:5e:10:00:01', '192.0.2.10', 'garp' as never), TypeError);
});

test('every frame is 42 bytes with the MAC and address where a receiver reads them', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.ipV4(), (mac, ip) => {
      const frame = buildGratuitousArp(formatMac(mac), ip);
      assert.equal(frame.length, 42);
      assert.deepEqual(frame.subarray(6, 12), Buffer.from(mac));
      assert.deepEqual(frame.subarray(22, 28), Buffer.from(mac));
      const dotted = (o: number) => [...frame.subarray(o, o + 4)].join('.');
      assert.equal(dotted(28), ip);
      assert.equal(dotted(38), ip);
      assert.deepEqual(parseMac(formatMac(mac)), Buffer.from(mac));
    }),
  );
});
