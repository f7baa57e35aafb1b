/**
 * No value wraps on its way to the kernel: for every numeric attribute the IPVS codec encodes, a value that
 * fits its field goes out and comes back unchanged, and one that does not (not an integer, negative, above
 * the field's maximum, NaN, infinite) is refused with LvsdError LVSD_IPVS_ENCODE naming the attribute.
 * Before: `>>> 0` sent a persistence timeout of 4294967297 s as 1 s, and 1e308 as 0.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isLvsdError } from '../../src/errors.js';
import type { DestSpec, ServiceKey, ServiceSpec, SyncDaemon, Timeouts } from '../../src/ipvs/types.js';
import { decodeDest, decodeService, encodeDest, encodeService, encodeServiceKey } from '../../src/ipvs/codec.js';
import { commandMessage } from '../../src/ipvs/messages.js';
import { decodeDaemon, decodeTimeouts, encodeDaemon, encodeTimeouts } from '../../src/ipvs/system.js';
import { parseAttrs } from '../../src/ipvs/nlattr-read.js';

const inner = (nested: Buffer) => nested.subarray(4, nested.readUInt16LE(0));

const MAX = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, int: 0x7fffffff } as const;
type Field = keyof typeof MAX;

const addrKey: ServiceKey = { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 80 };
const v6Key: ServiceKey = { kind: 'addr', family: 'ipv6', protocol: 'udp', address: '2001:db8::10', port: 53 };
const service = (over: Partial<ServiceSpec>): ServiceSpec => ({ key: addrKey, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', ...over });
const dest = (over: Partial<DestSpec>): DestSpec => ({
  family: 'ipv4', address: '198.51.100.1', port: 80, forwarding: 'dr', weight: 1, upperThreshold: 0, lowerThreshold: 0,
  tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0, ...over,
});
const daemon = (over: Partial<SyncDaemon>): SyncDaemon => ({ state: 'master', interface: 'eth0', syncId: 1, ...over });
const timeouts = (over: Partial<Timeouts>): Timeouts => ({ tcp: 0, tcpFin: 0, udp: 0, ...over });

interface Case {
  attribute: string;
  field: Field;
  /** The smallest value the codec's round trip covers (flags exclude the kernel-internal HASHED bit). */
  min?: number;
  mask?: number;
  /** Encode with `v` in the attribute, decode, and return the value read back. */
  roundTrip(v: number): number;
}

const CASES: Case[] = [
  { attribute: 'IPVS_SVC_ATTR_PORT', field: 'u16', roundTrip: (v) => (decodeService(inner(encodeService(service({ key: { ...addrKey, port: v } })))).key as { port: number }).port },
  { attribute: 'IPVS_SVC_ATTR_FWMARK', field: 'u32', roundTrip: (v) => (decodeService(inner(encodeService(service({ key: { kind: 'fwmark', family: 'ipv4', fwmark: v } })))).key as { fwmark: number }).fwmark },
  { attribute: 'IPVS_SVC_ATTR_TIMEOUT', field: 'u32', roundTrip: (v) => decodeService(inner(encodeService(service({ timeout: v })))).timeout },
  { attribute: 'IPVS_SVC_ATTR_NETMASK', field: 'u32', roundTrip: (v) => decodeService(inner(encodeService(service({ netmask: v })))).netmask },
  { attribute: 'IPVS_SVC_ATTR_NETMASK', field: 'u32', roundTrip: (v) => decodeService(inner(encodeService(service({ key: v6Key, netmask: v })))).netmask },
  { attribute: 'IPVS_SVC_ATTR_FLAGS', field: 'u32', mask: ~0x2 >>> 0, roundTrip: (v) => decodeService(inner(encodeService(service({ flags: v })))).flags },
  { attribute: 'IPVS_DEST_ATTR_PORT', field: 'u16', roundTrip: (v) => decodeDest(inner(encodeDest(dest({ port: v }))), 'ipv4').port },
  { attribute: 'IPVS_DEST_ATTR_WEIGHT', field: 'int', roundTrip: (v) => decodeDest(inner(encodeDest(dest({ weight: v }))), 'ipv4').weight },
  { attribute: 'IPVS_DEST_ATTR_U_THRESH', field: 'u32', roundTrip: (v) => decodeDest(inner(encodeDest(dest({ upperThreshold: v }))), 'ipv4').upperThreshold },
  { attribute: 'IPVS_DEST_ATTR_L_THRESH', field: 'u32', roundTrip: (v) => decodeDest(inner(encodeDest(dest({ lowerThreshold: v }))), 'ipv4').lowerThreshold },
  { attribute: 'IPVS_DEST_ATTR_TUN_PORT', field: 'u16', roundTrip: (v) => decodeDest(inner(encodeDest(dest({ tunnelPort: v }))), 'ipv4').tunnelPort },
  { attribute: 'IPVS_DEST_ATTR_TUN_FLAGS', field: 'u16', roundTrip: (v) => decodeDest(inner(encodeDest(dest({ tunnelFlags: v }))), 'ipv4').tunnelFlags },
  { attribute: 'IPVS_DAEMON_ATTR_SYNC_ID', field: 'u32', roundTrip: (v) => decodeDaemon(inner(encodeDaemon(daemon({ syncId: v })))).syncId },
  { attribute: 'IPVS_DAEMON_ATTR_SYNC_MAXLEN', field: 'u16', roundTrip: (v) => decodeDaemon(inner(encodeDaemon(daemon({ maxLength: v })))).maxLength! },
  { attribute: 'IPVS_DAEMON_ATTR_MCAST_PORT', field: 'u16', roundTrip: (v) => decodeDaemon(inner(encodeDaemon(daemon({ port: v })))).port! },
  { attribute: 'IPVS_DAEMON_ATTR_MCAST_TTL', field: 'u8', roundTrip: (v) => decodeDaemon(inner(encodeDaemon(daemon({ ttl: v })))).ttl! },
  { attribute: 'IPVS_CMD_ATTR_TIMEOUT_TCP', field: 'u32', roundTrip: (v) => decodeTimeouts(parseAttrs(Buffer.concat(encodeTimeouts(timeouts({ tcp: v }))), 't')).tcp },
  { attribute: 'IPVS_CMD_ATTR_TIMEOUT_TCP_FIN', field: 'u32', roundTrip: (v) => decodeTimeouts(parseAttrs(Buffer.concat(encodeTimeouts(timeouts({ tcpFin: v }))), 't')).tcpFin },
  { attribute: 'IPVS_CMD_ATTR_TIMEOUT_UDP', field: 'u32', roundTrip: (v) => decodeTimeouts(parseAttrs(Buffer.concat(encodeTimeouts(timeouts({ udp: v }))), 't')).udp },
];

/** The other encoders of the same values: the service key alone, and whole change messages (the writer path). */
const ALSO: Array<{ attribute: string; field: Field; encode(v: number): unknown }> = [
  { attribute: 'IPVS_SVC_ATTR_PORT', field: 'u16', encode: (v) => encodeServiceKey({ ...addrKey, port: v }) },
  { attribute: 'IPVS_SVC_ATTR_FWMARK', field: 'u32', encode: (v) => encodeServiceKey({ kind: 'fwmark', family: 'ipv6', fwmark: v }) },
  { attribute: 'IPVS_DEST_ATTR_WEIGHT', field: 'int', encode: (v) => commandMessage(0x1c, 1, { cmd: 'new-dest', service: addrKey, dest: dest({ weight: v }) }) },
  { attribute: 'IPVS_DEST_ATTR_PORT', field: 'u16', encode: (v) => commandMessage(0x1c, 1, { cmd: 'set-dest', service: addrKey, dest: dest({ port: v }) }) },
  { attribute: 'IPVS_SVC_ATTR_TIMEOUT', field: 'u32', encode: (v) => commandMessage(0x1c, 1, { cmd: 'new-service', service: service({ timeout: v }) }) },
];

const inRange = (field: Field, mask = 0xffffffff) => fc.integer({ min: 0, max: MAX[field] }).map((v) => (v & mask) >>> 0);

const outOfRange = (field: Field) => fc.oneof(
  fc.integer({ min: MAX[field] + 1, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e308, max: 1e308 }).filter((d) => !Number.isInteger(d)),
  fc.constantFrom(NaN, Infinity, -Infinity, 1e308, 2 ** 32 + 1, 4294967396, 2 ** 64, MAX[field] + 1, MAX[field] + 0.5),
);

const refused = (attribute: string) => (e: unknown) => {
  assert.ok(isLvsdError(e, 'LVSD_IPVS_ENCODE'), `expected LVSD_IPVS_ENCODE, got ${String(e)}`);
  assert.equal((e.details as { attribute: string }).attribute, attribute);
  assert.match(e.message, new RegExp(attribute));
  return true;
};

describe('ipvs encoder: every numeric attribute fits its field or is refused', () => {
  for (const c of CASES) {
    it(`${c.attribute} (${c.field}): in range round-trips, out of range throws`, () => {
      fc.assert(fc.property(inRange(c.field, c.mask), (v) => assert.equal(c.roundTrip(v), v)), { numRuns: 300 });
      for (const edge of [0, 1, MAX[c.field]]) assert.equal(c.roundTrip((edge & (c.mask ?? 0xffffffff)) >>> 0), (edge & (c.mask ?? 0xffffffff)) >>> 0);
      fc.assert(fc.property(outOfRange(c.field), (v) => {
        assert.throws(() => c.roundTrip(v), refused(c.attribute));
      }), { numRuns: 300 });
    });
  }

  for (const c of ALSO) {
    it(`${c.attribute} through ${c.encode.toString().includes('commandMessage') ? 'a change message' : 'the service key'}: out of range throws`, () => {
      fc.assert(fc.property(outOfRange(c.field), (v) => {
        assert.throws(() => c.encode(v), refused(c.attribute));
      }), { numRuns: 300 });
    });
  }

  it('the persistence timeout of the report, 4294967297 s, is refused rather than sent as 1 s', () => {
    assert.throws(() => encodeService(service({ timeout: 4294967297 })), refused('IPVS_SVC_ATTR_TIMEOUT'));
    assert.throws(() => encodeTimeouts(timeouts({ tcp: 4294967396 })), refused('IPVS_CMD_ATTR_TIMEOUT_TCP'));
    assert.throws(() => encodeTimeouts(timeouts({ udp: 1e308 })), refused('IPVS_CMD_ATTR_TIMEOUT_UDP'));
  });
});
