/** Service groups (`members`): expansion, validation with pointers, families as keepalived, limits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serviceId } from '../../src/table/index.js';
import { assertProblem, parse, problemsOf } from './config-fixtures.js';

const group = (extra: Record<string, unknown> = {}) => ({
  name: 'web', protocol: 'tcp', scheduler: 'rr',
  members: [{ address: '192.0.2.1', port: 80 }, { address: '192.0.2.10', lastAddress: '192.0.2.12', port: 80 }, { fwmark: 7 }],
  realServers: [{ address: '10.0.0.1', weight: 3, healthCheck: { type: 'tcp', port: 80 } }, { address: '10.0.0.2', port: 8080 }],
  ...extra,
});

test('a service with members is one IPVS service per member, ranges expanded, every member with the same real servers', () => {
  const c = parse({ services: [{ protocol: 'tcp', address: '192.0.2.100', port: 443, realServers: [{ address: '10.0.0.9' }] }, group()] });
  assert.deepEqual(c.services.map((s) => s.name), [
    'tcp/192.0.2.100:443', 'web[tcp/192.0.2.1:80]', 'web[tcp/192.0.2.10:80]', 'web[tcp/192.0.2.11:80]', 'web[tcp/192.0.2.12:80]', 'web[fwmark/ipv4/7]',
  ]);
  const members = c.services.slice(1);
  assert.deepEqual(members.map((s) => s.group), [0, 1, 2, 3, 4].map((index) => ({ name: 'web', index, size: 5 })));
  assert.equal(c.services[0]!.group, undefined);
  for (const m of members) {
    assert.equal(m.spec.scheduler, 'rr');
    // NAT: a real server without a port takes the member's (the fwmark member's is 0); with one, its own
    assert.deepEqual(m.realServers.map((r) => [r.spec.address, r.spec.port, r.spec.weight]),
      [['10.0.0.1', m.spec.key.kind === 'addr' ? 80 : 0, 3], ['10.0.0.2', 8080, 1]]);
    // one probe target per real server for the whole group
    assert.deepEqual(m.realServers.map((r) => [r.shared, r.healthCheck.port]), [[{ id: '10.0.0.1:80', port: 80 }, 80], [{ id: '10.0.0.2:8080', port: 8080 }, 8080]]);
  }
});

test('existing configs are unchanged: a service without members has no group and no shared id', () => {
  const c = parse({ services: [{ protocol: 'tcp', address: '192.0.2.100', port: 443, realServers: [{ address: '10.0.0.9' }] }] });
  assert.equal(c.services[0]!.group, undefined);
  assert.equal(c.services[0]!.realServers[0]!.shared, undefined);
});

test('a member that is also another service or another group\'s member is refused at the member', () => {
  const p = problemsOf({ services: [
    group(),
    { name: 'other', protocol: 'tcp', members: [{ address: '192.0.2.20', port: 80 }, { address: '192.0.2.11', port: 80 }], realServers: [{ address: '10.0.0.3' }] },
    { protocol: 'tcp', address: '192.0.2.12', port: 80, realServers: [{ address: '10.0.0.3' }] },
    { fwmark: 7, realServers: [{ address: '10.0.0.3' }] },
  ] });
  assertProblem(p, '/services/1/members/1', /duplicate service tcp\/192\.0\.2\.11:80 \(also \/services\/0\/members\/1\)/);
  assertProblem(p, '/services/2', /duplicate service tcp\/192\.0\.2\.12:80 \(also \/services\/0\/members\/1\)/);
  assertProblem(p, '/services/3', /duplicate service fwmark\/ipv4\/7 \(also \/services\/0\/members\/2\)/);
  assert.equal(p.length, 3);
});

test('the group needs a name, which no other service may take; address/port/fwmark go on the members', () => {
  const p = problemsOf({ services: [
    { ...group(), name: undefined },
    { ...group({ name: 'x', members: [{ address: '192.0.2.50', port: 80 }] }), address: '192.0.2.60', port: 80 },
    { name: 'x', protocol: 'tcp', address: '192.0.2.70', port: 80, realServers: [{ address: '10.0.0.1' }] },
  ] });
  assertProblem(p, '/services/0', /needs a "name"/);
  assertProblem(p, '/services/1/address', /takes "address" from each member/);
  assertProblem(p, '/services/1/port', /takes "port" from each member/);
  assertProblem(p, '/services/2', /duplicate service name "x"/);
});

test('member shapes: a fwmark member has no address or port; an address member needs the protocol; ranges count up the last octet / 16 bits', () => {
  const p = problemsOf({ services: [{
    name: 'g', members: [
      { fwmark: 3, port: 80 },
      { port: 80 },
      { address: '192.0.2.9', lastAddress: '192.0.2.5', port: 80 },
      { address: '192.0.2.9', lastAddress: '192.0.3.10', port: 80 },
      { address: '192.0.2.9', lastAddress: '2001:db8::1', port: 80 },
    ],
    realServers: [{ address: '10.0.0.1', port: 80 }],
  }] });
  assertProblem(p, '/services/0/members/0/port', /a fwmark member has no port/);
  assertProblem(p, '/services/0/members/1', /an address \(and port\) or a fwmark/);
  assertProblem(p, '/services/0', /missing required key "protocol"/);
  assertProblem(p, '/services/0/members/2/lastAddress', /is not 192\.0\.2\.9 or after it/);
  assertProblem(p, '/services/0/members/3/lastAddress', /is not 192\.0\.2\.9 or after it in the same \/24/);
  assertProblem(p, '/services/0/members/4/lastAddress', /is ipv6 but the range starts at the ipv4 address/);
  const v6 = parse({ services: [{ name: 'g6', protocol: 'udp', members: [{ address: '2001:db8::fffe', lastAddress: '2001:db8::ffff', port: 53 }], realServers: [{ address: '2001:db8:1::1' }] }] });
  assert.deepEqual(v6.services.map((s) => serviceId(s.spec.key)), ['udp/[2001:db8::fffe]:53', 'udp/[2001:db8::ffff]:53']);
});

test('families as keepalived: one family unless every real and sorry server is tunnelled; fwmark members take the group\'s family or say theirs', () => {
  const mixed = { name: 'm', protocol: 'tcp', members: [{ address: '192.0.2.1', port: 80 }, { address: '2001:db8::1', port: 80 }, { fwmark: 4 }] };
  const p = problemsOf({ services: [{ ...mixed, realServers: [{ address: '10.0.0.1' }] }] });
  assertProblem(p, '/services/0/members/1', /is ipv6 but member 0 is ipv4: a group mixes IPv4 and IPv6 only when every real and sorry server uses tunnel forwarding/);
  const q = problemsOf({ services: [{ ...mixed, forwarding: 'tunnel', realServers: [{ address: '10.0.0.1' }] }] });
  assertProblem(q, '/services/0/members/2', /needs a "family": the group has IPv4 and IPv6 members/);
  assert.equal(q.length, 1);
  const ok = parse({ services: [{ ...mixed, members: [...mixed.members.slice(0, 2), { fwmark: 4, family: 'ipv6' }], forwarding: 'tunnel', realServers: [{ address: '10.0.0.1' }] }] });
  assert.deepEqual(ok.services.map((s) => s.spec.key.family), ['ipv4', 'ipv6', 'ipv6']);
  // fwmark only: the real servers' family, as keepalived infers it
  const fw = parse({ services: [{ name: 'f', members: [{ fwmark: 1 }, { fwmark: 2 }], realServers: [{ address: '2001:db8:1::1' }] }] });
  assert.deepEqual(fw.services.map((s) => serviceId(s.spec.key)), ['fwmark/ipv6/1', 'fwmark/ipv6/2']);
  const r = problemsOf({ services: [{ name: 'f', members: [{ fwmark: 1 }], family: 'ipv4', realServers: [{ address: '2001:db8:1::1' }] }] });
  assertProblem(r, '/services/0/realServers/0/address', /is ipv6 but the service is ipv4/);
});

test('a real server probed once for the group needs one port: its own, the members\' common one, or its check\'s', () => {
  const base = { name: 'p', protocol: 'tcp', members: [{ address: '192.0.2.1', port: 80 }, { address: '192.0.2.2', port: 443 }] };
  const p = problemsOf({ services: [{ ...base, realServers: [{ address: '10.0.0.1', healthCheck: { type: 'tcp' } }] }] });
  assertProblem(p, '/services/0/realServers/0', /different ports \(80, 443\) and the real server has none: give it a "port", or its healthCheck one/);
  assert.equal(p.length, 1);
  const c = parse({ services: [{ ...base, realServers: [{ address: '10.0.0.1', healthCheck: { type: 'tcp', port: 8443 } }, { address: '10.0.0.2', healthCheck: { type: 'ping' } }] }] });
  assert.deepEqual(c.services.map((s) => s.realServers.map((r) => `${r.spec.port}/${r.shared!.port}`)), [['80/8443', '80/0'], ['443/8443', '443/0']]);
});

test('limits: a group expands to at most 1,024 IPVS services and 65,536 destinations', () => {
  const ranges = Array.from({ length: 5 }, (_, i) => ({ address: `192.0.${i}.1`, lastAddress: `192.0.${i}.254`, port: 80 }));
  const p = problemsOf({ services: [{ name: 'big', protocol: 'tcp', members: ranges, realServers: [{ address: '10.0.0.1' }] }] });
  assertProblem(p, '/services/0/members', /expands to 1270 IPVS services, more than the 1024 a group may have/);
  const servers = Array.from({ length: 100 }, (_, i) => ({ address: `10.0.${i >> 8}.${(i & 255) + 1}` }));
  const q = problemsOf({ services: [{ name: 'wide', protocol: 'tcp', members: ranges.slice(0, 3), realServers: [...servers, ...servers.map((s) => ({ address: s.address.replace('10.0.', '10.1.') })), ...servers.map((s) => ({ address: s.address.replace('10.0.', '10.2.') }))] }] });
  assertProblem(q, '/services/0/members', /puts 762 x 300 = 228600 destinations in the kernel, more than the 65536/);
  assert.equal(parse({ services: [{ name: 'ok', protocol: 'tcp', members: ranges.slice(0, 4), realServers: [{ address: '10.0.0.1' }] }] }).services.length, 1016);
});
