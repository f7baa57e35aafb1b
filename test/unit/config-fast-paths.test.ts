/**
 * The config's per-real-server fast paths (a cold apply builds every real server once) give what the general
 * forms give: ipv4Value and parseIPv4 agree, hostAddress of a dotted quad answers as the general path does,
 * and a real server without a declared check gets buildHealthCheck's object.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalAddress, ipv4Value, parseIPv4 } from '../../src/net/address.js';
import { hostAddress, unusableHostAddress, zoneProblem } from '../../src/config/limits.js';
import { buildHealthCheck, noHealthCheck } from '../../src/config/normalise-health.js';

const octet = fc.integer({ min: 0, max: 255 });
/** Text near a dotted quad: the edges (0, 255, multicast), leading zeros, signs, zones, IPv6. */
const nearQuad = fc.oneof(
  fc.tuple(octet, octet, octet, octet).map((p) => p.join('.')),
  fc.tuple(fc.constantFrom(0, 223, 224, 239, 240, 255), octet, octet, octet).map((p) => p.join('.')),
  fc.array(fc.oneof(fc.integer({ min: 0, max: 999 }).map(String), fc.constantFrom('00', '01', '', '-1', '+1', ' 1', 'a', '256', '1e1')), { minLength: 1, maxLength: 6 }).map((p) => p.join('.')),
  fc.constantFrom('0.0.0.0', '255.255.255.255', '1.2.3.4%eth0', '::1', '::ffff:224.0.0.1', 'fe80::1%eth0', '2001:DB8::1', 'ff02::1'),
  fc.string({ maxLength: 16 }),
);

/** hostAddress as it was before its dotted-quad path: zone, canonical text, then usability. */
function referenceHostAddress(text: string): { address: string } | { error: string } {
  const zone = zoneProblem(text);
  if (zone !== undefined) return { error: zone };
  const address = canonicalAddress(text);
  if (address === undefined) return { error: 'not an address' };
  const unusable = unusableHostAddress(address);
  return unusable !== undefined ? { error: unusable } : { address };
}

describe('config fast paths', () => {
  it('ipv4Value is parseIPv4 as one number, -1 where parseIPv4 says no', () => {
    fc.assert(
      fc.property(nearQuad, (text) => {
        const parts = parseIPv4(text);
        assert.equal(ipv4Value(text), parts ? ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0 : -1, text);
      }),
      { numRuns: 5000 },
    );
  });

  it('hostAddress answers as zone + canonical text + usability does', () => {
    fc.assert(
      fc.property(nearQuad, (text) => {
        const got = hostAddress(text);
        const want = referenceHostAddress(text);
        if ('address' in want) assert.deepEqual(got, want, text);
        else assert.ok('error' in got, `${text}: ${JSON.stringify(got)}`);
        if ('error' in want && want.error !== 'not an address') assert.deepEqual(got, want, text);
      }),
      { numRuns: 5000 },
    );
  });

  it('a real server that declares no check gets buildHealthCheck\'s object, field for field and in order', () => {
    const target = fc.record({
      address: fc.oneof(fc.tuple(octet, octet, octet, octet).map((p) => p.join('.')), fc.constant('2001:db8::1')),
      port: fc.integer({ min: 0, max: 65535 }),
      family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
    });
    fc.assert(
      fc.property(target, (t) => {
        const reports: string[] = [];
        const built = buildHealthCheck(undefined, t, { execUser: 'nobody' } as never, (m) => reports.push(m));
        assert.deepEqual(noHealthCheck(t), built);
        assert.deepEqual(Object.keys(noHealthCheck(t)), Object.keys(built));
        assert.deepEqual(reports, []);
      }),
      { numRuns: 500 },
    );
  });
});
