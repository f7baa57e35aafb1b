/** The DNS message codec used by the dns check: round trips, golden bytes, and hostile input. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeMessage, DnsFormatError, encodeMessage, encodeQuery, QTYPES, sameName,
} from '../../src/health/checkers/dns-codec.js';
import { checkKey, Limiter, probeOffset } from '../../src/health/index.js';
import type { HealthCheckConfig } from '../../src/config/types.js';

describe('dns codec', () => {
  test('a query for www.example.org A has the RFC 1035 layout', () => {
    const q = encodeQuery(0x1234, 'www.example.org.', QTYPES.A);
    assert.equal(
      q.toString('hex'),
      '1234' + '0100' + '0001' + '0000' + '0000' + '0000' +
        '03' + Buffer.from('www').toString('hex') + '07' + Buffer.from('example').toString('hex') +
        '03' + Buffer.from('org').toString('hex') + '00' + '0001' + '0001',
    );
  });

  const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
  const name = fc.array(label, { minLength: 0, maxLength: 5 }).map((ls) => ls.join('.'));
  test('property: decode(encodeQuery(id, name, type)) gives back id, name and type', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), name, fc.constantFrom(...Object.values(QTYPES)), (id, n, type) => {
        const m = decodeMessage(encodeQuery(id, n, type));
        assert.equal(m.header.id, id);
        assert.equal(m.header.response, false);
        assert.equal(m.header.rd, true);
        assert.deepEqual(m.questions, [{ name: n, type, class: 1 }]);
      }),
    );
  });

  test('property: header flags survive encodeMessage/decodeMessage', () => {
    fc.assert(
      fc.property(
        fc.record({
          id: fc.integer({ min: 0, max: 0xffff }), response: fc.boolean(), opcode: fc.integer({ min: 0, max: 15 }),
          aa: fc.boolean(), tc: fc.boolean(), rd: fc.boolean(), ra: fc.boolean(), rcode: fc.integer({ min: 0, max: 15 }),
          qdcount: fc.constant(0), ancount: fc.integer({ min: 0, max: 9 }), nscount: fc.integer({ min: 0, max: 9 }), arcount: fc.integer({ min: 0, max: 9 }),
        }),
        (header) => assert.deepEqual(decodeMessage(encodeMessage({ header, questions: [] })).header, { ...header }),
      ),
    );
  });

  test('compressed names are followed; a pointer loop is an error, not a hang', () => {
    const head = Buffer.from('abcd81800002000000000000', 'hex');
    const first = Buffer.concat([Buffer.from([3]), Buffer.from('www'), Buffer.from([7]), Buffer.from('example'), Buffer.from([0]), Buffer.from('00010001', 'hex')]);
    const second = Buffer.concat([Buffer.from([3]), Buffer.from('api'), Buffer.from([0xc0, 12 + 4]), Buffer.from('001c0001', 'hex')]);
    const m = decodeMessage(Buffer.concat([head, first, second]));
    assert.deepEqual(m.questions.map((q) => q.name), ['www.example', 'api.example']);
    const loop = Buffer.concat([Buffer.from('abcd81800001000000000000', 'hex'), Buffer.from([0xc0, 12]), Buffer.from('00010001', 'hex')]);
    assert.throws(() => decodeMessage(loop), DnsFormatError);
  });

  test('property: arbitrary bytes decode or throw DnsFormatError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (e) {
          assert.ok(e instanceof DnsFormatError, String(e));
        }
      }),
    );
  });

  test('bad names are refused; names compare case-insensitively without the root dot', () => {
    assert.throws(() => encodeQuery(1, 'a..b', 1), DnsFormatError);
    assert.throws(() => encodeQuery(1, 'x'.repeat(64), 1), DnsFormatError);
    assert.ok(sameName('WWW.Example.', 'www.example'));
  });
});

describe('probe identity and limiter', () => {
  const tcp = (over: Partial<HealthCheckConfig> = {}) =>
    ({ type: 'tcp', interval: 5, timeout: 2, rise: 2, fall: 3, address: '10.0.0.1', port: 80, ...over }) as HealthCheckConfig;
  const t = { address: '10.0.0.1', port: 80 };
  test('the key ignores property order but not parameters or the real server', () => {
    const a = tcp();
    const b = JSON.parse(JSON.stringify({ port: 80, address: '10.0.0.1', fall: 3, rise: 2, timeout: 2, interval: 5, type: 'tcp' })) as HealthCheckConfig;
    assert.equal(checkKey(a, t), checkKey(b, t));
    assert.notEqual(checkKey(a, t), checkKey(tcp({ rise: 1 }), t));
    assert.notEqual(checkKey(a, t), checkKey(a, { ...t, port: 81 }));
  });

  test('property: two probes have one key exactly when their checks are equal field for field and their targets are the same', () => {
    // the identity as it was defined before keys carried a number for the parameters: every field's JSON,
    // sorted by name, undefined fields left out
    const stable = (v: unknown): string => {
      if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
      if (v !== null && typeof v === 'object') {
        return `{${Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => `${JSON.stringify(k)}:${stable(x)}`).join(',')}}`;
      }
      return JSON.stringify(v);
    };
    const reference = (c: HealthCheckConfig, t: { address: string; port: number }) => `${t.address} ${t.port} ${stable(c)}`;
    const small = <T>(...xs: T[]) => fc.constantFrom(...xs);
    const base = { interval: small(1, 5, 0.5), timeout: small(1, 2), rise: small(1, 2), fall: small(1, 3), address: small('10.0.0.1', '10.0.0.2', '2001:db8::1'), port: small(80, 81) };
    const check = fc.oneof(
      fc.record({ ...base, type: small('tcp' as const), close: small(undefined, 'reset' as const) }),
      fc.record({ ...base, type: small('ping' as const, 'none' as const) }),
      fc.record({ ...base, type: small('http' as const, 'https' as const), method: small('GET', 'HEAD'), path: small('/', '/a'), expectStatus: small([200], [200, 204]), verify: fc.boolean(), host: small(undefined, 'x') }),
      fc.record({ ...base, type: small('dns' as const), query: small('a.', 'b.'), queryType: small('A' as const, 'AAAA' as const), expectRcode: small([0]), transport: small('udp' as const, 'tcp' as const) }),
    ) as fc.Arbitrary<HealthCheckConfig>;
    const target = fc.record({ address: small('10.0.0.1', '10.0.0.2'), port: small(80, 81) });
    fc.assert(fc.property(check, target, check, target, (a, ta, b, tb) => {
      // the same check rebuilt with its fields in another order is the same probe
      const shuffled = Object.fromEntries(Object.entries(b).reverse()) as HealthCheckConfig;
      assert.equal(checkKey(a, ta) === checkKey(shuffled, tb), reference(a, ta) === reference(b, tb));
      assert.equal(checkKey(b, tb), checkKey(shuffled, tb));
    }), { numRuns: 2000 });
  });

  test('property: offsets are stable and inside the interval', () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 600_000 }), (key, interval) => {
      const o = probeOffset(key, interval);
      assert.ok(o >= 0 && o < interval);
      assert.equal(probeOffset(key, interval), o);
    }));
  });

  test('the limiter runs at most N at once, in order, and survives a throwing task', async () => {
    const lim = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const task = (i: number) => async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      order.push(i);
      if (i === 3) throw new Error('boom');
      return i;
    };
    const results = await Promise.allSettled([1, 2, 3, 4, 5, 6].map((i) => lim.run(task(i))));
    assert.equal(peak, 2);
    assert.deepEqual(order, [1, 2, 3, 4, 5, 6]);
    assert.equal(results[2]!.status, 'rejected');
    assert.equal(lim.active, 0);
  });
});
