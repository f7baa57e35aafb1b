/**
 * The encoders' fast paths (hand IPv4 parser, one-buffer attribute writer, shared service keys) give the
 * same answers and bytes as the straightforward forms they replaced.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import { addressToBytes, canonicalAddress, familyOf } from '../../src/net/address.js';
import { encodeDest, encodeServiceKey } from '../../src/ipvs/codec.js';
import * as C from '../../src/ipvs/constants.js';
import { AttrWriter, attr, be16, genlmsg, nest, nlmsg, u16, u32, u8 } from '../../src/ipvs/nlattr.js';
import { commandMessage, commandParts, QUIET_FLAGS, writeCommand } from '../../src/ipvs/messages.js';
import type { DestSpec, IpvsCommand, ServiceKey, ServiceSpec } from '../../src/ipvs/types.js';

const octet = fc.integer({ min: 0, max: 255 });
const quad = fc.tuple(octet, octet, octet, octet).map((p) => p.join('.'));
/** Text near a dotted quad: leading zeros, too many or few parts, big numbers, signs, spaces, IPv6. */
const nearQuad = fc.oneof(
  quad,
  fc.array(fc.oneof(fc.integer({ min: 0, max: 999 }).map(String), fc.constantFrom('00', '01', '007', '', '-1', '+1', ' 1', '1 ', 'a', '256', '1e1')), { minLength: 1, maxLength: 6 }).map((p) => p.join('.')),
  fc.string({ maxLength: 16 }),
  fc.constantFrom('::1', '::ffff:192.0.2.1', '1.2.3.4.', '.1.2.3.4', '1..2.3', '0.0.0.0', '255.255.255.255', '192.0.2.01'),
);

describe('IPv4 text: the hand parser agrees with node:net isIPv4', () => {
  it('familyOf says ipv4 exactly when isIPv4 does, and the bytes are the parts', () => {
    fc.assert(
      fc.property(nearQuad, (text) => {
        assert.equal(familyOf(text) === 'ipv4', isIPv4(text), text);
        if (isIPv4(text)) {
          assert.deepEqual([...addressToBytes(text)], text.split('.').map(Number));
          assert.equal(canonicalAddress(text), text);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('an IPv6 address with an embedded IPv4 tail still encodes', () => {
    assert.deepEqual([...addressToBytes('::ffff:192.0.2.1')], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
    assert.throws(() => addressToBytes('192.0.2.256'), /not an IP address/);
  });
});

/** The destination attribute built one Buffer per attribute, as before the writer. */
function referenceDest(d: DestSpec): Buffer {
  const a16 = Buffer.alloc(16);
  addressToBytes(d.address).copy(a16);
  const tun = { ipip: C.IP_VS_CONN_F_TUNNEL_TYPE_IPIP, gue: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE, gre: C.IP_VS_CONN_F_TUNNEL_TYPE_GRE }[d.tunnelType];
  const fwd = { nat: C.IP_VS_CONN_F_MASQ, local: C.IP_VS_CONN_F_LOCALNODE, tunnel: C.IP_VS_CONN_F_TUNNEL, dr: C.IP_VS_CONN_F_DROUTE, bypass: C.IP_VS_CONN_F_BYPASS }[d.forwarding];
  return nest(C.IPVS_CMD_ATTR_DEST, [
    attr(C.IPVS_DEST_ATTR_ADDR, a16), be16(C.IPVS_DEST_ATTR_PORT, d.port, 'IPVS_DEST_ATTR_PORT'), u16(C.IPVS_DEST_ATTR_ADDR_FAMILY, d.family === 'ipv4' ? 2 : 10, 'IPVS_DEST_ATTR_ADDR_FAMILY'),
    u32(C.IPVS_DEST_ATTR_FWD_METHOD, fwd, 'IPVS_DEST_ATTR_FWD_METHOD'), u32(C.IPVS_DEST_ATTR_WEIGHT, d.weight, 'IPVS_DEST_ATTR_WEIGHT'), u32(C.IPVS_DEST_ATTR_U_THRESH, d.upperThreshold, 'IPVS_DEST_ATTR_U_THRESH'),
    u32(C.IPVS_DEST_ATTR_L_THRESH, d.lowerThreshold, 'IPVS_DEST_ATTR_L_THRESH'), u8(C.IPVS_DEST_ATTR_TUN_TYPE, tun, 'IPVS_DEST_ATTR_TUN_TYPE'), be16(C.IPVS_DEST_ATTR_TUN_PORT, d.tunnelPort, 'IPVS_DEST_ATTR_TUN_PORT'),
    u16(C.IPVS_DEST_ATTR_TUN_FLAGS, d.tunnelFlags, 'IPVS_DEST_ATTR_TUN_FLAGS'),
  ]);
}

const ipv6 = fc.ipV6().map((a) => canonicalAddress(a)!);
const dest: fc.Arbitrary<DestSpec> = fc.record({
  family: fc.constant('ipv4' as const), address: quad, port: fc.integer({ min: 0, max: 65535 }),
  forwarding: fc.constantFrom('nat' as const, 'dr' as const, 'tunnel' as const, 'local' as const, 'bypass' as const),
  weight: fc.integer({ min: 0, max: 65535 }), upperThreshold: fc.nat(), lowerThreshold: fc.nat(),
  tunnelType: fc.constantFrom('ipip' as const, 'gue' as const, 'gre' as const), tunnelPort: fc.integer({ min: 0, max: 65535 }),
  tunnelFlags: fc.integer({ min: 0, max: 7 }),
}).chain((d) => fc.oneof(fc.constant(d), ipv6.map((address) => ({ ...d, family: 'ipv6' as const, address }))));

describe('one-buffer encoders: the same bytes as attribute by attribute', () => {
  it('encodeDest', () => {
    fc.assert(fc.property(dest, (d) => assert.deepEqual(encodeDest(d), referenceDest(d))), { numRuns: 2000 });
  });

  it('encodeServiceKey, and the same key object gives the same bytes again', () => {
    const key: ServiceKey = { kind: 'addr', family: 'ipv6', protocol: 'sctp', address: '2001:db8::10', port: 443 };
    const a16 = addressToBytes('2001:db8::10');
    const expected = nest(C.IPVS_CMD_ATTR_SERVICE, [u16(C.IPVS_SVC_ATTR_AF, 10, 'IPVS_SVC_ATTR_AF'), u16(C.IPVS_SVC_ATTR_PROTOCOL, C.IPPROTO_SCTP, 'IPVS_SVC_ATTR_PROTOCOL'), attr(C.IPVS_SVC_ATTR_ADDR, a16), be16(C.IPVS_SVC_ATTR_PORT, 443, 'IPVS_SVC_ATTR_PORT')]);
    assert.deepEqual(encodeServiceKey(key), expected);
    assert.deepEqual(encodeServiceKey(key), expected);
    assert.deepEqual(encodeServiceKey({ ...key, port: 80 }), nest(C.IPVS_CMD_ATTR_SERVICE, [u16(C.IPVS_SVC_ATTR_AF, 10, 'IPVS_SVC_ATTR_AF'), u16(C.IPVS_SVC_ATTR_PROTOCOL, C.IPPROTO_SCTP, 'IPVS_SVC_ATTR_PROTOCOL'), attr(C.IPVS_SVC_ATTR_ADDR, a16), be16(C.IPVS_SVC_ATTR_PORT, 80, 'IPVS_SVC_ATTR_PORT')]));
    const mark: ServiceKey = { kind: 'fwmark', family: 'ipv4', fwmark: 0xfffffffe };
    assert.deepEqual(encodeServiceKey(mark), nest(C.IPVS_CMD_ATTR_SERVICE, [u16(C.IPVS_SVC_ATTR_AF, 2, 'IPVS_SVC_ATTR_AF'), u32(C.IPVS_SVC_ATTR_FWMARK, 0xfffffffe, 'IPVS_SVC_ATTR_FWMARK')]));
  });

  it('genlmsg writes the headers and attributes in one buffer', () => {
    const attrs = [u32(1, 5, 'one'), u16(2, 7, 'two')];
    assert.deepEqual(genlmsg(0x1c, 5, 42, 3, 1, attrs), nlmsg(0x1c, 5, 42, Buffer.concat([Buffer.of(3, 1, 0, 0), ...attrs])));
  });

  it('a new-dest/set-dest message is the same as the one assembled from commandParts', () => {
    const key = fc.oneof(
      fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv4' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const), address: quad, port: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ kind: fc.constant('fwmark' as const), family: fc.constantFrom('ipv4' as const, 'ipv6' as const), fwmark: fc.integer({ min: 1, max: 0xffffffff }) }),
    );
    fc.assert(
      fc.property(key, dest, fc.constantFrom('new-dest' as const, 'set-dest' as const), fc.integer({ min: 1, max: 0xffffffff }), (service, d, cmd, seq) => {
        const command = { cmd, service, dest: d };
        const parts = commandParts(command);
        assert.deepEqual(commandMessage(0x1c, seq, command, QUIET_FLAGS), genlmsg(0x1c, QUIET_FLAGS, seq, parts.cmd, C.IPVS_GENL_VERSION, parts.attrs));
      }),
      { numRuns: 1000 },
    );
  });

  it('writeCommand writes commandMessage\'s bytes for every kind of change, one message after another in one buffer', () => {
    const key = fc.oneof(
      fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv4' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const, 'sctp' as const), address: quad, port: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv6' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const), address: ipv6, port: fc.integer({ min: 0, max: 65535 }) }),
      fc.record({ kind: fc.constant('fwmark' as const), family: fc.constantFrom('ipv4' as const, 'ipv6' as const), fwmark: fc.integer({ min: 1, max: 0xffffffff }) }),
    );
    const service: fc.Arbitrary<ServiceSpec> = fc.record({
      key, scheduler: fc.constantFrom('rr', 'wrr', 'mh', 'lblcr', 'x'), flags: fc.nat(), timeout: fc.nat(), netmask: fc.nat(),
      pe: fc.constantFrom('', 'sip', 'ab'),
    });
    const command: fc.Arbitrary<IpvsCommand> = fc.oneof(
      service.map((s) => ({ cmd: 'new-service' as const, service: s })),
      service.map((s) => ({ cmd: 'set-service' as const, service: s })),
      key.map((k) => ({ cmd: 'del-service' as const, key: k })),
      fc.tuple(key, dest, fc.constantFrom('new-dest' as const, 'set-dest' as const, 'del-dest' as const)).map(([k, d, cmd]) => ({ cmd, service: k, dest: d })),
      fc.record({ tcp: fc.nat(), tcpFin: fc.nat(), udp: fc.nat() }).map((timeouts) => ({ cmd: 'set-timeouts' as const, timeouts })),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(command, fc.integer({ min: 1, max: 0xffffffff })), { minLength: 1, maxLength: 8 }), (cmds) => {
        const w = new AttrWriter(8192);
        const expected: Buffer[] = [];
        for (const [c, seq] of cmds) {
          writeCommand(w, 0x1c, seq, c, QUIET_FLAGS);
          expected.push(commandMessage(0x1c, seq, c, QUIET_FLAGS));
        }
        assert.deepEqual(w.done(), Buffer.concat(expected));
      }),
      { numRuns: 2000 },
    );
  });
});

