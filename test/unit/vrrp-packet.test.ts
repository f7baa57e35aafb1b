import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytesToAddress } from '../../src/net/address.js';
import { decodeAdvert, encodeAdvert, type Advert, type DecodeContext } from '../../src/vrrp/packet.js';
import { internetChecksum } from '../../src/vrrp/checksum.js';

/**
 * Golden packets captured from keepalived 2.2.7 (run in a network namespace, advertisements read off the
 * veth peer with an AF_PACKET socket): IP payload bytes, with the IP header facts beside them.
 */
const GOLDEN = {
  v2ipv4: {
    hex: '213364020001f5fec0000264c00002650000000000000000',
    ctx: { family: 'ipv4', source: '192.0.2.1', destination: '224.0.0.18', ttl: 255 },
    advert: {
      version: 2, family: 'ipv4', vrid: 51, priority: 100, advertInterval: 1,
      addresses: ['192.0.2.100', '192.0.2.101'], source: '192.0.2.1', destination: '224.0.0.18',
    },
  },
  v3ipv4: {
    hex: '313496010064d36ec0000266',
    ctx: { family: 'ipv4', source: '192.0.2.1', destination: '224.0.0.18', ttl: 255 },
    advert: {
      version: 3, family: 'ipv4', vrid: 52, priority: 150, maxAdvertInterval: 100,
      addresses: ['192.0.2.102'], source: '192.0.2.1', destination: '224.0.0.18',
    },
  },
  v3ipv6: {
    hex: '3135c8020064a130fe80000000000000000000000001005320010db8000000000000000000000053',
    ctx: { family: 'ipv6', source: 'fe80::44d9:bbff:fed6:3a74', destination: 'ff02::12', ttl: 255 },
    advert: {
      version: 3, family: 'ipv6', vrid: 53, priority: 200, maxAdvertInterval: 100,
      addresses: ['fe80::1:53', '2001:db8::53'], source: 'fe80::44d9:bbff:fed6:3a74', destination: 'ff02::12',
    },
  },
} as const satisfies Record<string, { hex: string; ctx: DecodeContext; advert: Advert }>;

for (const [name, g] of Object.entries(GOLDEN)) {
  test(`${name}: keepalived's packet decodes to the advert it announced`, () => {
    const r = decodeAdvert(Buffer.from(g.hex, 'hex'), g.ctx);
    assert.deepEqual(r, { ok: true, advert: g.advert });
  });
  test(`${name}: our encoding is byte-identical to keepalived's`, () => {
    assert.equal(encodeAdvert(g.advert as Advert).toString('hex'), g.hex);
  });
}

// ---- generators ----------------------------------------------------------------------------------------

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => bytesToAddress('ipv4', b));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => bytesToAddress('ipv6', b));
const common = {
  vrid: fc.integer({ min: 1, max: 255 }),
  priority: fc.integer({ min: 0, max: 255 }),
};
const advertV2: fc.Arbitrary<Advert> = fc.record({
  version: fc.constant(2 as const), family: fc.constant('ipv4' as const), ...common,
  advertInterval: fc.integer({ min: 1, max: 255 }),
  addresses: fc.array(ipv4, { minLength: 1, maxLength: 20 }), source: ipv4, destination: ipv4,
});
const advertV3v4: fc.Arbitrary<Advert> = fc.record({
  version: fc.constant(3 as const), family: fc.constant('ipv4' as const), ...common,
  maxAdvertInterval: fc.integer({ min: 1, max: 4095 }),
  addresses: fc.array(ipv4, { minLength: 1, maxLength: 20 }), source: ipv4, destination: ipv4,
});
const advertV3v6: fc.Arbitrary<Advert> = fc.record({
  version: fc.constant(3 as const), family: fc.constant('ipv6' as const), ...common,
  maxAdvertInterval: fc.integer({ min: 1, max: 4095 }),
  addresses: fc.array(ipv6, { minLength: 1, maxLength: 20 }), source: ipv6, destination: ipv6,
});
const anyAdvert = fc.oneof(advertV2, advertV3v4, advertV3v6);

const ctxOf = (a: Advert): DecodeContext => ({ family: a.family, source: a.source, destination: a.destination, ttl: 255 });

test('decode(encode(advert)) is the advert, both versions, both families', () => {
  fc.assert(fc.property(anyAdvert, (a) => {
    assert.deepEqual(decodeAdvert(encodeAdvert(a), ctxOf(a)), { ok: true, advert: { ...a } }); // fast-check records have a null prototype
  }), { numRuns: 500 });
});

test('any byte string decodes to a drop reason or an advert, never an exception', () => {
  const ctx = fc.oneof(
    fc.record({ family: fc.constant('ipv4' as const), source: ipv4, destination: ipv4, ttl: fc.constantFrom(255, 64) }),
    fc.record({ family: fc.constant('ipv6' as const), source: ipv6, destination: ipv6, ttl: fc.constantFrom(255, 1) }),
  );
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), ctx, (bytes, c) => {
    const r = decodeAdvert(bytes, c);
    assert.equal(typeof r.ok, 'boolean');
  }), { numRuns: 2000 });
});

test('a valid packet with header bytes mutated never throws (versions, counts and types are probed)', () => {
  fc.assert(fc.property(anyAdvert, fc.nat(7), fc.integer({ min: 0, max: 255 }), (a, at, value) => {
    const bytes = encodeAdvert(a);
    bytes[at] = value;
    decodeAdvert(bytes, ctxOf(a));
    decodeAdvert(bytes.subarray(0, bytes.length - 1), ctxOf(a));
  }), { numRuns: 1000 });
});

test('every single bit flip of a valid packet is dropped (the checksum or an earlier check catches it)', () => {
  fc.assert(fc.property(anyAdvert, fc.nat(), (a, n) => {
    const bytes = encodeAdvert(a);
    const bit = n % (bytes.length * 8);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    const r = decodeAdvert(bytes, ctxOf(a));
    assert.equal(r.ok, false, `bit ${bit} flipped yet accepted`);
  }), { numRuns: 1000 });
});

test('a v3 packet replayed with another source address fails the checksum (the pseudo-header counts)', () => {
  const g = GOLDEN.v3ipv4;
  assert.deepEqual(decodeAdvert(Buffer.from(g.hex, 'hex'), { ...g.ctx, source: '192.0.2.9' }), { ok: false, reason: 'checksum' });
  // v2 has no pseudo-header: the same replay is accepted, with the source as the IP layer says.
  const v2 = GOLDEN.v2ipv4;
  const r = decodeAdvert(Buffer.from(v2.hex, 'hex'), { ...v2.ctx, source: '192.0.2.9' });
  assert.equal(r.ok && r.advert.source, '192.0.2.9');
});

// ---- each drop reason ----------------------------------------------------------------------------------

/** Re-encode with a fixed checksum after editing header bytes, so the check under test is the one that fires. */
function edited(a: Advert, edit: (b: Buffer) => void, withChecksum = true): Buffer {
  const b = encodeAdvert(a);
  edit(b);
  if (withChecksum) {
    b.writeUInt16BE(0, 6);
    let init = 0;
    if (a.version === 3) {
      const ph = Buffer.alloc(12);
      Buffer.from(a.source.split('.').map(Number)).copy(ph, 0);
      Buffer.from(a.destination.split('.').map(Number)).copy(ph, 4);
      ph[9] = 112;
      ph.writeUInt16BE(b.length, 10);
      init = ~internetChecksum(ph) & 0xffff;
    }
    b.writeUInt16BE(internetChecksum(b, init), 6);
  }
  return b;
}

const v3 = GOLDEN.v3ipv4.advert as Advert;
const v2 = GOLDEN.v2ipv4.advert as Advert;
const reason = (b: Uint8Array, ctx: DecodeContext) => {
  const r = decodeAdvert(b, ctx);
  return r.ok ? 'ok' : r.reason;
};

test('drop reasons name what is wrong with the packet', () => {
  const c3 = ctxOf(v3), c2 = ctxOf(v2);
  assert.equal(reason(encodeAdvert(v3), { ...c3, ttl: 254 }), 'ttl');
  assert.equal(reason(encodeAdvert(v3).subarray(0, 7), c3), 'length');
  assert.equal(reason(encodeAdvert(v3).subarray(0, 11), c3), 'length');
  assert.equal(reason(Buffer.concat([encodeAdvert(v3), Buffer.alloc(4)]), c3), 'address_count');
  assert.equal(reason(edited(v3, (b) => { b[0] = 0x41; }), c3), 'version');
  assert.equal(reason(encodeAdvert(v3), { ...c3, expect: { version: 2 } }), 'version');
  assert.equal(reason(encodeAdvert(v2), { ...c2, expect: { version: 3 } }), 'version');
  assert.equal(reason(edited(v3, (b) => { b[0] = 0x32; }), c3), 'type');
  assert.equal(reason(edited(v3, (b) => { b[3] = 0; }), c3), 'address_count');
  assert.equal(reason(edited(v3, (b) => { b[2] = 1; }, false), c3), 'checksum');
  assert.equal(reason(encodeAdvert(v3), { ...c3, expect: { vrid: 7 } }), 'vrid');
  assert.equal(reason(edited(v3, (b) => { b[1] = 0; }), c3), 'vrid');
  assert.equal(reason(edited(v2, (b) => { b[4] = 1; }), c2), 'auth');
  assert.equal(reason(edited(v3, (b) => { b[4] = 0; b[5] = 0; }), c3), 'interval');
  assert.equal(reason(encodeAdvert(v2), { ...c2, expect: { advertInterval: 3 } }), 'interval_mismatch');
  assert.equal(reason(encodeAdvert(v2), { ...c2, expect: { version: 2, vrid: 51, advertInterval: 1 } }), 'ok');
});

test('a v2 packet over IPv6 is dropped as a version error', () => {
  const b = Buffer.from(GOLDEN.v2ipv4.hex, 'hex');
  assert.equal(reason(b, { family: 'ipv6', source: 'fe80::1', destination: 'ff02::12', ttl: 255 }), 'version');
});

test('v3 reserved bits are ignored on receipt', () => {
  const b = edited(v3, (x) => { x[4]! |= 0xf0; });
  assert.equal(reason(b, ctxOf(v3)), 'ok');
});

test('encode refuses values no packet can carry', () => {
  assert.throws(() => encodeAdvert({ ...v3, vrid: 0 } as Advert), RangeError);
  assert.throws(() => encodeAdvert({ ...v3, addresses: [] } as Advert), RangeError);
  assert.throws(() => encodeAdvert({ ...v3, maxAdvertInterval: 4096 } as Advert), RangeError);
  assert.throws(() => encodeAdvert({ ...v3, addresses: ['2001:db8::1'] } as Advert), TypeError);
  assert.throws(() => encodeAdvert({ ...v2, family: 'ipv6' } as unknown as Advert), RangeError);
});
