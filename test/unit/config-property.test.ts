import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseConfig, renderConfig, type Config } from '../../src/config/index.js';
import { jsonErrorAt } from '../../src/config/json-position.js';
import { buildConfig, checkDocument } from '../../src/config/parse.js';
import { ServiceMemo } from '../../src/config/service-memo.js';
import { example } from './config-fixtures.js';

const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** Drops undefined values so the document is what a person would write. */
const clean = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const duration = (maxSeconds: number) => fc.oneof(
  fc.integer({ min: 1, max: maxSeconds }),
  fc.integer({ min: 1, max: maxSeconds }).map((s) => `${s}s`),
  fc.integer({ min: 1, max: maxSeconds * 1000 }).map((ms) => `${ms}ms`),
);

const wholeSeconds = fc.oneof(
  fc.integer({ min: 1, max: 3600 }),
  fc.integer({ min: 1, max: 3600 }).map((s) => `${s}s`),
  fc.integer({ min: 1, max: 60 }).map((m) => `${m}m`),
);

const healthCheck = fc.record({
  type: fc.constantFrom('tcp', 'http', 'https', 'dns', 'exec', 'agent', 'smtp', 'udp', 'ping', 'none'),
  interval: fc.integer({ min: 2, max: 60 }),
  timeout: maybe(fc.integer({ min: 1, max: 2 })),
  rise: maybe(fc.integer({ min: 1, max: 10 })),
  fall: maybe(fc.integer({ min: 1, max: 10 })),
  port: fc.integer({ min: 1, max: 65535 }),
  path: fc.constantFrom('/', '/healthz'),
  verify: fc.boolean(),
  query: fc.constantFrom('example.com', 'a.example.'),
  expectBody: maybe(fc.constantFrom('ok', '^healthy$', 'a|b')),
}).map((h) => {
  const base = clean({ type: h.type, interval: h.interval, timeout: h.timeout, rise: h.rise, fall: h.fall, port: h.port });
  switch (h.type) {
    case 'http': return clean({ ...base, path: h.path, expectBody: h.expectBody });
    case 'https': return clean({ ...base, path: h.path, verify: h.verify });
    case 'dns': return { ...base, query: h.query };
    case 'exec': return { ...base, command: ['/bin/check', '--quiet'] };
    case 'smtp': return h.verify ? { ...base, heloName: 'lb.example.net' } : base;
    case 'udp': return h.verify ? { ...base, payload: '0a ff', expectReply: '0x' } : { ...base, requireReply: true, maxReplyLength: 255 };
    default: return base;
  }
});

const tunnel = fc.oneof(
  fc.record({ type: fc.constant('gue'), port: fc.integer({ min: 1, max: 65535 }), checksum: fc.constantFrom('none', 'csum', 'remcsum') }),
  fc.record({ type: fc.constant('gre'), checksum: fc.constantFrom('none', 'csum') }),
  fc.record({ type: fc.constant('ipip'), checksum: fc.constant('none') }),
);

const realServer = (i: number, j: number, v6: boolean) => fc.record({
  forwarding: maybe(fc.constantFrom('nat', 'dr', 'tunnel')),
  port: maybe(fc.integer({ min: 1, max: 65535 })),
  weight: maybe(fc.integer({ min: 0, max: 65535 })),
  thresholds: maybe(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 1000 }))),
  tunnel,
  healthCheck: maybe(healthCheck),
}).map((r) => {
  const forwarding = r.forwarding;
  return clean({
    address: v6 ? `2001:db8:${i + 1}::${j + 1}` : `10.${i}.${j >> 8}.${(j & 255) + 1}`,
    forwarding,
    port: forwarding === 'nat' ? r.port : undefined,
    weight: r.weight,
    ...(r.thresholds && { lowerThreshold: Math.min(...r.thresholds), upperThreshold: Math.max(...r.thresholds, 1) }),
    tunnel: forwarding === 'tunnel' ? r.tunnel : undefined,
    healthCheck: r.healthCheck,
  });
});

const service = (i: number) => fc.record({
  kind: fc.constantFrom('addr', 'fwmark'),
  v6: fc.boolean(),
  protocol: fc.constantFrom('tcp', 'udp', 'sctp'),
  scheduler: fc.constantFrom(...SCHEDULERS),
  flags: fc.subarray(['fallback', 'port']),
  persistence: maybe(fc.record({ timeout: maybe(wholeSeconds), prefix: maybe(fc.integer({ min: 1, max: 32 })) })),
  onePacket: fc.boolean(),
  forwarding: fc.constantFrom('nat', 'dr'),
  healthCheck: maybe(healthCheck),
  extras: fc.record({
    onFailure: maybe(fc.constantFrom('inhibit', 'remove')),
    slowStart: maybe(duration(120)),
    initialState: maybe(fc.constantFrom('up', 'down')),
  }),
  sorry: fc.boolean(),
  quorum: fc.boolean(),
  count: fc.integer({ min: 0, max: 4 }),
}).chain((s) => fc.tuple(...Array.from({ length: s.count }, (_, j) => realServer(i, j, s.v6))).map((rss) => {
  const v6 = s.v6;
  const key = s.kind === 'fwmark'
    ? { fwmark: i + 1, family: v6 ? 'ipv6' : 'ipv4' }
    : { protocol: s.protocol, address: v6 ? `2001:db8::${i + 1}` : `192.0.2.${i + 1}`, port: 1000 + i };
  const flagged = s.scheduler === 'sh' || s.scheduler === 'mh';
  const udpish = s.kind === 'fwmark' || s.protocol === 'udp';
  // Health checks need a port to probe: fwmark real servers without one get the check's own port (always set here).
  return clean({
    name: `svc-${i}`,
    ...key,
    scheduler: s.scheduler,
    schedulerFlags: flagged && s.flags.length > 0 ? s.flags.map((f) => `${s.scheduler}-${f}`) : undefined,
    persistence: s.persistence && clean({ timeout: s.persistence.timeout, netmask: v6 ? (s.persistence.prefix ?? 16) * 4 : s.persistence.prefix }),
    onePacket: udpish ? s.onePacket : undefined,
    forwarding: s.forwarding,
    healthCheck: s.healthCheck,
    realServers: rss,
    ...clean(s.extras),
    sorryServer: s.sorry ? { address: v6 ? `2001:db8:ffff::${i + 1}` : `10.255.0.${i + 1}` } : undefined,
    quorum: s.quorum && rss.length > 0 ? { minUp: rss.length } : undefined,
  });
}));

const instance = (i: number) => fc.record({
  v6: fc.boolean(),
  version: fc.constantFrom(2, 3),
  interval: fc.integer({ min: 1, max: 4095 }),
  priority: maybe(fc.integer({ min: 1, max: 255 })),
  prefix: fc.integer({ min: 1, max: 32 }), // a v4 prefix that would make the address its subnet's broadcast becomes 32
  unicast: fc.boolean(),
  preempt: maybe(fc.boolean()),
}).map((v) => {
  const v6 = v.v6 && v.version === 3;
  return clean({
    name: `VI_${i}`,
    interface: `eth${i % 3}`,
    vrid: i + 1,
    priority: v.priority,
    version: v.version,
    advertInterval: v.version === 2 ? Math.max(1, v.interval % 256) : `${v.interval * 10}ms`,
    preempt: v.preempt,
    addresses: v6 ? [`2001:db8:a::${i + 1}/${v.prefix * 4}`] : [`192.0.2.${i + 1}/${v.prefix > 30 || ((i + 1) & (2 ** (32 - v.prefix) - 1)) !== 2 ** (32 - v.prefix) - 1 ? v.prefix : 32}`, `198.51.100.${i + 1}`],
    unicast: v.unicast ? { source: v6 ? '2001:db8:b::1' : '10.9.0.1', peers: [v6 ? '2001:db8:b::2' : '10.9.0.2'] } : undefined,
  });
});

const config = fc.record({
  services: fc.integer({ min: 0, max: 5 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => service(i)))),
  vrrp: fc.integer({ min: 0, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => instance(i)))),
  grouped: fc.boolean(),
  metrics: fc.boolean(),
}).map((c) => clean({
  services: c.services,
  vrrp: c.vrrp,
  syncGroups: c.grouped && c.vrrp.length >= 2 ? [{ name: 'G', instances: c.vrrp.slice(0, 2).map((v) => v['name']) }] : undefined,
  metrics: c.metrics ? { listen: '[::1]:9650' } : undefined,
  connectionSync: c.vrrp.length > 0 ? { instance: 'VI_0', interface: 'eth1', syncId: 1 } : undefined,
}));

const roundTrip = (c: Config) => parseConfig([{ file: c.files[0]!, text: JSON.stringify(renderConfig(c)) }]);

test('any generated valid config normalises, and its rendering re-validates to the same Config', () => {
  fc.assert(fc.property(config, (doc) => {
    const c = parseConfig([{ file: 'gen.json', text: JSON.stringify(doc) }]);
    assert.deepEqual(roundTrip(c), c);
  }), { numRuns: 300 });
});

test('the shipped examples survive render and re-parse unchanged', () => {
  for (const name of ['services.json', 'vrrp.json', 'full.json']) {
    const c = parseConfig([example(name)]);
    assert.deepEqual(roundTrip(c), c, name);
  }
});

test('the JSON error locator agrees with JSON.parse', () => {
  fc.assert(fc.property(fc.json(), fc.nat(), (text, cut) => {
    assert.equal(jsonErrorAt(text).offset, text.length, 'valid JSON has no error before its end');
    const prefix = text.slice(0, cut % Math.max(1, text.length));
    let valid = true;
    try { JSON.parse(prefix); } catch { valid = false; }
    if (!valid) assert.ok(jsonErrorAt(prefix).offset <= prefix.length);
  }));
});

/** The outcome of a build: the Config, or the error's code and problems. */
function outcomeOf(build: () => Config): unknown {
  try {
    return { config: build() };
  } catch (e) {
    const err = e as { code?: string; details?: unknown; message?: string };
    return { code: err.code, details: err.details, message: err.message };
  }
}

test('a build that reuses the previous builds\' services (ServiceMemo) gives what a fresh build gives, problems included', () => {
  const step = fc.tuple(config, fc.nat(), fc.constantFrom('replace', 'duplicate', 'drop', 'health'));
  fc.assert(fc.property(config, fc.array(step, { minLength: 1, maxLength: 4 }), (first, steps) => {
    const memo = new ServiceMemo();
    let doc = first as Record<string, unknown> & { services?: unknown[] };
    const docs = [doc];
    for (const [other, at, how] of steps) {
      const services = [...(doc.services ?? [])];
      const theirs = (other as { services?: unknown[] }).services ?? [];
      const k = services.length > 0 ? at % services.length : 0;
      if (how === 'replace' && theirs.length > 0) services[k] = theirs[at % theirs.length];
      if (how === 'duplicate' && services.length > 0) services.push(services[k]);
      if (how === 'drop' && services.length > 0) services.splice(k, 1);
      doc = { ...doc, services, ...(how === 'health' && { health: { execUser: `user${at % 3}` } }) };
      docs.push(doc);
    }
    for (const d of docs) {
      // two files, so items move between places too
      const half = Math.floor((d.services ?? []).length / 2);
      const files = [
        { file: 'a.json', data: { ...d, services: (d.services ?? []).slice(0, half) } },
        { file: 'b.json', data: { services: (d.services ?? []).slice(half) } },
      ];
      const checked = files.map((f) => checkDocument(f));
      assert.deepEqual(outcomeOf(() => buildConfig(checked, memo)), outcomeOf(() => buildConfig(files.map((f) => checkDocument(f)))));
      // it keeps what the latest build saw, and no more
      assert.equal(memo.size, memo.reused + memo.built);
    }
  }), { numRuns: 150 });
});
