import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import fc from 'fast-check';
import { canonicalAddress } from '../../src/net/address.js';
import { isLvsdError } from '../../src/errors.js';
import type { DestSpec, ServiceKey, ServiceSpec } from '../../src/ipvs/types.js';
import { decodeDest, decodeService, decodeStats, encodeDest, encodeService, encodeServiceKey } from '../../src/ipvs/codec.js';
import { commandMessage, dumpDestsMessage, getInfoMessage } from '../../src/ipvs/messages.js';
import { decodeDaemon, decodeInfo, decodeTimeouts, encodeDaemon, encodeTimeouts } from '../../src/ipvs/system.js';
import { parseAttrs } from '../../src/ipvs/nlattr-read.js';

// The golden bytes below are written by hand from linux/ip_vs.h and assume a little-endian host (x86, arm64).
const LE = endianness() === 'LE';
const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');
/** The payload of a nested attribute as encodeX returns it (skip the 4-byte attribute header). */
const inner = (nested: Buffer) => nested.subarray(4, nested.readUInt16LE(0));

const FAMILY_ID = 0x1c;

const webService: ServiceSpec = {
  key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 80 },
  scheduler: 'wrr',
  flags: 0x1,
  timeout: 300,
  netmask: 0xffffff00,
  pe: '',
};

describe('ipvs codec: golden bytes from linux/ip_vs.h', { skip: !LE && 'little-endian golden bytes' }, () => {
  it('NEW_SERVICE tcp 192.0.2.10:80 wrr persistent 300 s netmask 255.255.255.0', () => {
    const expected = hex(`
      68000000 1c00 0500 01000000 00000000   # nlmsghdr: len 104, type IPVS, REQUEST|ACK, seq 1, port 0
      01 01 0000                             # genl: IPVS_CMD_NEW_SERVICE, version 1
      5400 0100                              # IPVS_CMD_ATTR_SERVICE, 84 bytes
        0600 0100 0200 0000                  # AF = AF_INET (host u16) + pad
        0600 0200 0600 0000                  # PROTOCOL = 6 (host u16) + pad
        1400 0300 c000020a 00000000 00000000 00000000  # ADDR, 16 bytes, IPv4 first
        0600 0400 0050 0000                  # PORT = 80 big-endian + pad
        0800 0600 77727200                   # SCHED_NAME "wrr\\0"
        0c00 0700 01000000 ffffffff          # FLAGS {flags PERSISTENT, mask ~0}
        0800 0800 2c010000                   # TIMEOUT 300
        0800 0900 ffffff00                   # NETMASK 255.255.255.0 in network order
    `);
    assert.deepEqual(commandMessage(FAMILY_ID, 1, { cmd: 'new-service', service: webService }), expected);
  });

  it('NEW_DEST [2001:db8::1]:8080 dr weight 0 in tcp [2001:db8::100]:80', () => {
    const key: ServiceKey = { kind: 'addr', family: 'ipv6', protocol: 'tcp', address: '2001:db8::100', port: 80 };
    const dest: DestSpec = {
      family: 'ipv6', address: '2001:db8::1', port: 8080, forwarding: 'dr', weight: 0,
      upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
    };
    const expected = hex(`
      a4000000 1c00 0500 07000000 00000000   # nlmsghdr: len 164, seq 7
      05 01 0000                             # IPVS_CMD_NEW_DEST
      3000 0100                              # IPVS_CMD_ATTR_SERVICE, 48 bytes: identity only
        0600 0100 0a00 0000                  # AF_INET6
        0600 0200 0600 0000                  # tcp
        1400 0300 20010db8 00000000 00000000 00000100  # 2001:db8::100
        0600 0400 0050 0000                  # port 80
      6000 0200                              # IPVS_CMD_ATTR_DEST, 96 bytes
        1400 0100 20010db8 00000000 00000000 00000001  # ADDR 2001:db8::1
        0600 0200 1f90 0000                  # PORT 8080 big-endian
        0600 0b00 0a00 0000                  # ADDR_FAMILY AF_INET6
        0800 0300 03000000                   # FWD_METHOD DROUTE
        0800 0400 00000000                   # WEIGHT 0
        0800 0500 00000000                   # U_THRESH
        0800 0600 00000000                   # L_THRESH
        0500 0d00 00 000000                  # TUN_TYPE ipip (u8) + pad
        0600 0e00 0000 0000                  # TUN_PORT 0
        0600 0f00 0000 0000                  # TUN_FLAGS 0
    `);
    assert.deepEqual(commandMessage(FAMILY_ID, 7, { cmd: 'new-dest', service: key, dest }), expected);
  });

  it('GET_DEST dump of fwmark service 7 (IPv4), and GET_INFO without NLM_F_ACK', () => {
    assert.deepEqual(dumpDestsMessage(FAMILY_ID, 3, { kind: 'fwmark', family: 'ipv4', fwmark: 7 }), hex(`
      28000000 1c00 0103 03000000 00000000   # len 40, REQUEST|DUMP (0x301), seq 3
      08 01 0000                             # IPVS_CMD_GET_DEST
      1400 0100                              # IPVS_CMD_ATTR_SERVICE, 20 bytes
        0600 0100 0200 0000                  # AF_INET
        0800 0500 07000000                   # FWMARK 7
    `));
    assert.deepEqual(getInfoMessage(FAMILY_ID, 4), hex('14000000 1c00 0100 04000000 00000000 0f 01 0000'));
  });

  it('a fwmark service carries FWMARK and never PROTOCOL, ADDR or PORT', () => {
    const attrs = parseAttrs(inner(encodeServiceKey({ kind: 'fwmark', family: 'ipv4', fwmark: 7 })), 't');
    assert.deepEqual([...attrs.keys()], [1, 5]);
    assert.deepEqual(attrs.get(5), hex('07000000'));
  });

  it('an addr service never carries FWMARK', () => {
    assert.equal(parseAttrs(inner(encodeService(webService)), 't').has(5), false);
  });

  it('an IPv6 netmask is the prefix length as a host-order u32', () => {
    const v6: ServiceSpec = { ...webService, key: { kind: 'addr', family: 'ipv6', protocol: 'udp', address: '2001:db8::53', port: 53 }, netmask: 64 };
    assert.deepEqual(parseAttrs(inner(encodeService(v6)), 't').get(9), hex('40000000'));
  });

  it('DEL_SERVICE sends only the identity; the persistence engine goes out when set', () => {
    const del = commandMessage(FAMILY_ID, 2, { cmd: 'del-service', key: webService.key });
    assert.equal(del.length, 16 + 4 + 4 + 44);
    const withPe = parseAttrs(inner(encodeService({ ...webService, pe: 'sip' })), 't');
    assert.deepEqual(withPe.get(11), Buffer.from('sip\0'));
  });
});

describe('ipvs codec: decoding what the kernel dumps', { skip: !LE && 'little-endian golden bytes' }, () => {
  /** A service as ip_vs_genl_fill_service() writes it: udp 198.51.100.1:53, FLAGS with mask ~0, netmask /32. */
  function kernelService(sched: string, flags: number, extra: Buffer[] = []): Buffer {
    const name = Buffer.from(`${sched}\0`);
    const pad = Buffer.alloc((4 - (name.length % 4)) % 4);
    const nameAttr = Buffer.concat([Buffer.from([4 + name.length, 0, 6, 0]), name, pad]);
    const f = Buffer.alloc(8);
    f.writeUInt32LE(flags, 0);
    f.writeUInt32LE(0xffffffff, 4);
    return Buffer.concat([
      hex('0600 0100 0200 0000 0600 0200 1100 0000'),
      hex('1400 0300 c6336401 00000000 00000000 00000000'),
      hex('0600 0400 0035 0000'),
      nameAttr,
      Buffer.concat([hex('0c00 0700'), f]),
      hex('0800 0800 00000000'),
      hex('0800 0900 ffffffff'),
      ...extra,
    ]);
  }
  const stats32 = hex(`
    5c00 0a00                                # IPVS_SVC_ATTR_STATS (92 bytes)
      0800 0100 05000000                     # conns 5
      0800 0200 06000000                     # inpkts 6
      0800 0300 07000000                     # outpkts 7
      0c00 0400 00e40b54 02000000            # inbytes 10,000,000,000 (u64)
      0c00 0500 01000000 00000000            # outbytes 1
      0800 0600 01000000
      0800 0700 02000000
      0800 0800 03000000
      0800 0900 04000000
      0800 0a00 05000000
  `);
  const stats64 = hex(`
    7c00 0c00                                # IPVS_SVC_ATTR_STATS64 (124 bytes)
      0c00 0100 00000000 01000000            # conns 2^32: only 64-bit stats can say so
      0c00 0200 06000000 00000000
      0c00 0300 07000000 00000000
      0c00 0400 00e40b54 02000000
      0c00 0500 01000000 00000000
      0c00 0600 01000000 00000000
      0c00 0700 02000000 00000000
      0c00 0800 03000000 00000000
      0c00 0900 04000000 00000000
      0c00 0a00 05000000 00000000
  `);

  it('strips HASHED from the flags and reads the service identity', () => {
    const s = decodeService(kernelService('rr', 0x2 | 0x4));
    assert.deepEqual(s, {
      key: { kind: 'addr', family: 'ipv4', protocol: 'udp', address: '198.51.100.1', port: 53 },
      scheduler: 'rr', flags: 0x4, timeout: 0, netmask: 0xffffffff, pe: '',
    });
  });

  it('prefers the 64-bit counters and falls back to the 32-bit ones', () => {
    assert.equal(decodeService(kernelService('rr', 2, [stats32, stats64])).stats?.conns, 1n << 32n);
    const only32 = decodeService(kernelService('rr', 2, [stats32])).stats;
    assert.equal(only32?.conns, 5n);
    assert.equal(only32?.inbytes, 10_000_000_000n);
    assert.equal(only32?.outbps, 5n);
    assert.equal(decodeStats(inner(stats64)).inbytes, 10_000_000_000n);
  });

  it('leaves the statistics out when told (the reconciler\'s reads keep no counters)', () => {
    const s = decodeService(kernelService('rr', 2, [stats32, stats64]), false);
    assert.equal(s.stats, undefined);
    assert.equal('stats' in s, false);
    assert.equal(s.scheduler, 'rr');
    const dest = (withStats: boolean) => decodeDest(Buffer.concat([hex(`
      1400 0100 0a00010b 00000000 00000000 00000000
      0600 0200 1f90 0000
      0800 0300 00000000
      0800 0400 05000000
      0800 0500 00000000
      0800 0600 00000000
    `), stats64]), 'ipv4', withStats); // STATS64 is attribute 12 in a service and in a real server
    assert.equal(dest(true).stats?.conns, 1n << 32n);
    const bare = dest(false);
    assert.equal('stats' in bare, false);
    assert.equal(bare.weight, 5);
  });

  it('reads a destination without ADDR_FAMILY (kernel < 3.18) in the service family', () => {
    const d = decodeDest(hex(`
      1400 0100 0a00010b 00000000 00000000 00000000
      0600 0200 1f90 0000
      0800 0300 00000000
      0800 0400 05000000
      0800 0500 00000000
      0800 0600 00000000
      0800 0700 03000000
    `), 'ipv4');
    assert.equal(d.address, '10.0.1.11');
    assert.equal(d.forwarding, 'nat');
    assert.equal(d.weight, 5);
    assert.equal(d.activeConns, 3);
    assert.equal(d.tunnelType, 'ipip');
  });

  it('decodes info, timeouts and a sync daemon', () => {
    assert.deepEqual(decodeInfo(parseAttrs(hex('0800 0100 01020100 0800 0200 00100000'), 't')), { version: '1.2.1', connTableSize: 4096 });
    assert.deepEqual(decodeTimeouts(parseAttrs(hex('0800 0400 84030000 0800 0500 78000000 0800 0600 2c010000'), 't')), { tcp: 900, tcpFin: 120, udp: 300 });
    const d = { state: 'backup' as const, interface: 'eth1', syncId: 9, maxLength: 1472, group: '239.1.2.3', port: 8848, ttl: 2 };
    assert.deepEqual(decodeDaemon(inner(encodeDaemon(d))), d);
    assert.deepEqual(encodeTimeouts({ tcp: 0, tcpFin: 30, udp: 0 }), [hex('0800 0500 1e000000')]);
  });
});

describe('ipvs codec: malformed input is refused with LVSD_IPVS_PROTOCOL', () => {
  const isProtocol = (e: unknown) => isLvsdError(e, 'LVSD_IPVS_PROTOCOL');

  it('a short attribute', () => {
    assert.throws(() => decodeService(hex('0600 0100 02')), isProtocol);
    assert.throws(() => decodeService(hex('0200 0100')), isProtocol);
  });

  it('an unknown address family, protocol or forwarding method', () => {
    assert.throws(() => decodeService(hex('0600 0100 0700 0000 0800 0500 01000000')), (e) => isProtocol(e) && /unknown address family 7/.test((e as Error).message));
    assert.throws(() => decodeDest(hex('1400 0100 0a00010b 00000000 00000000 00000000 0600 0200 0050 0000 0600 0b00 1f00 0000'), 'ipv4'), isProtocol);
  });

  it('a missing mandatory attribute, with its name', () => {
    assert.throws(() => decodeService(hex('0600 0100 0200 0000 0800 0500 01000000')), (e) => isProtocol(e) && /IPVS service: FLAGS is missing/.test((e as Error).message));
  });

  it('random bytes never crash a decoder with anything but LVSD_IPVS_PROTOCOL', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const decode of [(b: Buffer) => decodeService(b), (b: Buffer) => decodeDest(b, 'ipv6'), (b: Buffer) => decodeDaemon(b), (b: Buffer) => decodeStats(b)]) {
          try {
            decode(Buffer.from(bytes));
          } catch (e) {
            if (!isProtocol(e)) throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// ---- properties ----------------------------------------------------------------------------------------

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6().map((a) => canonicalAddress(a)!);
const port = fc.integer({ min: 0, max: 65535 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const serviceKey: fc.Arbitrary<ServiceKey> = fc.oneof(
  fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv4' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const, 'sctp' as const), address: ipv4, port }),
  fc.record({ kind: fc.constant('addr' as const), family: fc.constant('ipv6' as const), protocol: fc.constantFrom('tcp' as const, 'udp' as const, 'sctp' as const), address: ipv6, port }),
  fc.record({ kind: fc.constant('fwmark' as const), family: fc.constantFrom('ipv4' as const, 'ipv6' as const), fwmark: fc.integer({ min: 1, max: 0xffffffff }) }),
);

const serviceSpec: fc.Arbitrary<ServiceSpec> = serviceKey.chain((key) =>
  fc.record({
    key: fc.constant(key),
    scheduler: fc.constantFrom('rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'),
    flags: fc.subarray([0x1, 0x4, 0x8, 0x10, 0x20]).map((bits) => bits.reduce((a, b) => a | b, 0)),
    timeout: u32,
    netmask: key.family === 'ipv4' ? u32 : fc.integer({ min: 1, max: 128 }),
    pe: fc.constantFrom('', 'sip'),
  }),
);

const destSpec: fc.Arbitrary<DestSpec> = fc.oneof(
  fc.record({ family: fc.constant('ipv4' as const), address: ipv4 }),
  fc.record({ family: fc.constant('ipv6' as const), address: ipv6 }),
).chain(({ family, address }) =>
  fc.record({
    family: fc.constant(family),
    address: fc.constant(address),
    port,
    forwarding: fc.constantFrom('nat' as const, 'dr' as const, 'tunnel' as const, 'local' as const, 'bypass' as const),
    weight: fc.integer({ min: 0, max: 0x7fffffff }),
    upperThreshold: u32,
    lowerThreshold: u32,
    tunnelType: fc.constantFrom('ipip' as const, 'gue' as const, 'gre' as const),
    tunnelPort: port,
    tunnelFlags: fc.integer({ min: 0, max: 3 }),
  }),
);

/** fast-check builds null-prototype records; compare as plain objects. */
const plain = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('ipvs codec: decode(encode(x)) == x', () => {
  it('for every valid service', () => {
    fc.assert(fc.property(serviceSpec, (s) => {
      assert.deepEqual(decodeService(inner(encodeService(s))), plain(s));
    }), { numRuns: 1000 });
  });

  it('for every valid destination', () => {
    fc.assert(fc.property(destSpec, fc.constantFrom('ipv4' as const, 'ipv6' as const), (d, svcFamily) => {
      assert.deepEqual(decodeDest(inner(encodeDest(d)), svcFamily), { ...plain(d), activeConns: 0, inactiveConns: 0, persistentConns: 0 });
    }), { numRuns: 1000 });
  });
});
