import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblems, parseConfig } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';
import { assertProblem, problemsOf, svc } from './config-fixtures.js';

const vi = (extra: Record<string, unknown> = {}) => ({ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1/24'], ...extra });

test('a schema problem leaves its item out of the semantic checks, which still run on the rest', () => {
  const p = problemsOf({
    services: [svc({ port: 'x' }), svc({ name: 'b', port: 81, schedulerFlags: ['sh-port'] }), svc({ name: 'b', port: 82 })],
    vrrp: [{ name: 'V', interface: 'eth0', vrid: 0, addresses: ['192.0.2.1'] }],
    syncGroups: [{ name: 'G', instances: ['V', 'W'] }],
    connectionSync: { instance: 'V', interface: 'eth1', syncId: 1 },
  });
  assert.deepEqual(p.map((x) => x.pointer), [
    '/services/0/port', '/vrrp/0/vrid',
    '/services/1/schedulerFlags/0', '/services/2', '/syncGroups/0/instances/1',
  ]);
});

test('schema problems are plain: wrong type, range, enum, missing and unknown keys', () => {
  const p = problemsOf({ services: [svc({
    port: 70000, scheduler: 'wrrr', onePacket: 'yes',
    realServers: [{ address: '10.0.0.1', weight: -1 }, { port: 80 }, { address: '10.0.0.3', wieght: 2 }],
  })] });
  assertProblem(p, '/services/0/port', /^must be an integer from 0 to 65535$/);
  assertProblem(p, '/services/0/scheduler', /must be one of "rr", "wrr".*"mh".*\(did you mean "wrr"\?\)/);
  assertProblem(p, '/services/0/onePacket', /^must be true or false$/);
  assertProblem(p, '/services/0/realServers/0/weight', /^must be an integer from 0 to 65535$/);
  assertProblem(p, '/services/0/realServers/1', /^missing required key "address"$/);
  assertProblem(p, '/services/0/realServers/2/wieght', /^unknown key "wieght" \(did you mean "weight"\?\)$/);
});

test('an unknown key suggests the closest known one, or lists the known keys', () => {
  assertProblem(problemsOf({ services: [svc({ scheduller: 'rr' })] }), '/services/0/scheduller', /unknown key "scheduller" \(did you mean "scheduler"\?\)/);
  assertProblem(problemsOf({ zzz: 1 }), '/zzz', /unknown key "zzz" \(known keys: .*services.*vrrp/);
});

test('bad addresses and durations are refused with the reason', () => {
  const p = problemsOf({ services: [svc({ address: '192.0.2.300', slowStart: '5x', realServers: [{ address: 'db1' }] })] });
  assertProblem(p, '/services/0/address', /"192.0.2.300" is not an IP address/);
  assertProblem(p, '/services/0/slowStart', /unknown unit "x"/);
  assertProblem(p, '/services/0/realServers/0/address', /"db1" is not an IP address/);
  assertProblem(problemsOf({ ipvs: { driftInterval: '30' } }), '/ipvs/driftInterval', /no unit/);
});

test('the error is LVSD_CONFIG_INVALID with every problem as {file, pointer, message}, one per line in the message', () => {
  try {
    parseConfig([{ file: 'services.json', text: JSON.stringify({ services: [svc({ port: -1 }), svc({ name: 't', port: 'x' })] }) }]);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'));
    assert.deepEqual(e.details, [
      { file: 'services.json', pointer: '/services/0/port', message: 'must be an integer from 0 to 65535' },
      { file: 'services.json', pointer: '/services/1/port', message: 'must be an integer from 0 to 65535' },
    ]);
    assert.match(e.message, /services.json: \/services\/0\/port: must be an integer from 0 to 65535\nservices.json: \/services\/1\/port/);
    assert.equal(formatProblems(e.details as never).split('\n').length, 2);
  }
});

test('duplicate service names and keys name the earlier one', () => {
  const p = problemsOf({ services: [
    { name: 'a', protocol: 'udp', address: '2001:db8::53', port: 53 },
    { name: 'a', protocol: 'udp', address: '2001:DB8:0::53', port: 53 },
    { name: 'm1', fwmark: 7 }, { name: 'm2', fwmark: 7, family: 'ipv4' }, { name: 'm3', fwmark: 7, family: 'ipv6' },
  ] }, 'services.json');
  assertProblem(p, '/services/1', /^duplicate service name "a" \(also \/services\/0\)$/);
  assertProblem(p, '/services/1', /^duplicate service udp\/\[2001:db8::53\]:53 \(also \/services\/0\)$/);
  assertProblem(p, '/services/3', /^duplicate service fwmark\/ipv4\/7 \(also \/services\/2\)$/);
  assert.equal(p.filter((x) => x.pointer === '/services/4').length, 0);
});

test('real server rules: duplicates, families, DR ports, thresholds', () => {
  const p = problemsOf({ services: [svc({ forwarding: 'dr', realServers: [
    { address: '10.0.0.1' }, { address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 8080 },
    { address: '2001:db8::1' }, { address: '2001:db8::2', forwarding: 'tunnel' },
    { address: '10.0.0.3', upperThreshold: 10, lowerThreshold: 20 }, { address: '10.0.0.4', lowerThreshold: 5 },
    { address: '10.0.0.5', tunnel: { type: 'gre' } },
  ] })] });
  assertProblem(p, '/services/0/realServers/1', /duplicate real server 10.0.0.1:80 \(also \/services\/0\/realServers\/0\)/);
  assertProblem(p, '/services/0/realServers/2/port', /dr forwarding cannot change the port/);
  assertProblem(p, '/services/0/realServers/3/address', /ipv6 but the service is ipv4; mixing families needs tunnel forwarding/);
  assert.ok(!p.some((x) => x.pointer.startsWith('/services/0/realServers/4')), 'a tunnel may cross families');
  assertProblem(p, '/services/0/realServers/5/lowerThreshold', /must not be above upperThreshold \(20 > 10\)/);
  assertProblem(p, '/services/0/realServers/6/lowerThreshold', /needs an upperThreshold/);
  assertProblem(p, '/services/0/realServers/7/tunnel', /applies only to tunnel forwarding/);
});

test('NAT real servers may remap ports', () => {
  assert.doesNotThrow(() => parseConfig([{ file: 'c.json', text: JSON.stringify({ services: [svc({ realServers: [{ address: '10.0.0.1', port: 8080 }] })] }) }]));
});

test('service key rules: fwmark excludes address/port/protocol, an address service needs all three, port 0 needs persistence', () => {
  const p = problemsOf({ services: [
    { name: 'a', fwmark: 1, address: '192.0.2.1', port: 80, protocol: 'tcp' },
    { name: 'b', address: '192.0.2.1' },
    { name: 'c', protocol: 'tcp', address: '192.0.2.1', port: 0 },
    { name: 'd', protocol: 'tcp', address: '192.0.2.2', port: 1, family: 'ipv6' },
  ] });
  for (const k of ['address', 'port', 'protocol']) assertProblem(p, `/services/0/${k}`, /a fwmark service has no/);
  assertProblem(p, '/services/1', /missing required key "protocol"/);
  assertProblem(p, '/services/1', /missing required key "port"/);
  assertProblem(p, '/services/2/port', /port 0 \(all ports\) needs persistence/);
  assertProblem(p, '/services/3/family', /is ipv6 but the address 192.0.2.2 is ipv4/);
});

test('scheduler flags must belong to the scheduler; one-packet and sip are UDP only', () => {
  const p = problemsOf({ services: [svc({
    scheduler: 'mh', schedulerFlags: ['sh-port'], onePacket: true, persistence: { engine: 'sip' },
  })] });
  assertProblem(p, '/services/0/schedulerFlags/0', /"sh-port" is a flag of the sh scheduler, not mh/);
  assertProblem(p, '/services/0/onePacket', /UDP only/);
  assertProblem(p, '/services/0/persistence/engine', /needs a udp \(or fwmark\) service, not tcp/);
  assertProblem(problemsOf({ services: [svc({ scheduler: 'rr', schedulerFlags: ['mh-port'] })] }), '/services/0/schedulerFlags/0', /not rr/);
});

test('persistence netmask and timeout rules', () => {
  const nm = (netmask: unknown, address = '192.0.2.1') =>
    problemsOf({ services: [svc({ address, realServers: [], persistence: { netmask } })] });
  assertProblem(nm('255.0.255.0'), '/services/0/persistence/netmask', /not a contiguous netmask/);
  assertProblem(nm('0.0.0.0'), '/services/0/persistence/netmask', /keeps no bits/);
  assertProblem(nm('255.255.255.256'), '/services/0/persistence/netmask', /not a dotted IPv4 netmask/);
  assertProblem(nm(33), '/services/0/persistence/netmask', /from 1 to 32/);
  assertProblem(nm(129, '2001:db8::1'), '/services/0/persistence/netmask', /from 1 to 128/);
  assertProblem(nm('255.255.255.0', '2001:db8::1'), '/services/0/persistence/netmask', /prefix length/);
  assertProblem(problemsOf({ services: [svc({ persistence: { timeout: '1.5s' } })] }), '/services/0/persistence/timeout', /whole number of seconds/);
  assertProblem(problemsOf({ ipvs: { timeouts: { tcp: '250ms' } } }), '/ipvs/timeouts/tcp', /whole number of seconds/);
});

test('tunnel rules: gue needs a port, only gue has one, remcsum needs gue', () => {
  const p = problemsOf({ services: [svc({ forwarding: 'tunnel', realServers: [
    { address: '10.0.0.1', tunnel: { type: 'gue' } },
    { address: '10.0.0.2', tunnel: { type: 'ipip', port: 5555 } },
    { address: '10.0.0.3', tunnel: { type: 'gre', checksum: 'remcsum' } },
    { address: '10.0.0.4', tunnel: { type: 'ipip', checksum: 'csum' } },
    { address: '10.0.0.5', tunnel: { type: 'gre', checksum: 'csum' } },
  ] })] });
  assertProblem(p, '/services/0/realServers/0/tunnel', /gue tunnel needs "port"/);
  assertProblem(p, '/services/0/realServers/1/tunnel/port', /only gue tunnels have a port/);
  assertProblem(p, '/services/0/realServers/2/tunnel/checksum', /remcsum needs a gue tunnel/);
  assertProblem(p, '/services/0/realServers/3/tunnel/checksum', /ipip tunnels carry no checksum/);
  assert.ok(!p.some((x) => x.pointer.startsWith('/services/0/realServers/4')), 'gre with csum is fine');
  assertProblem(problemsOf({ services: [svc({ tunnel: { type: 'gre' } })] }), '/services/0/tunnel', /no server of this service uses tunnel/);
});

test('sorry server and quorum rules', () => {
  const p = problemsOf({ services: [svc({ sorryServer: { address: '10.0.0.1' }, quorum: { minUp: 2 } })] });
  assertProblem(p, '/services/0/sorryServer', /is also a real server/);
  assertProblem(p, '/services/0/quorum/minUp', /is 2 but the service has only 1 real server$/);
});

test('health check rules: keys per type, timeout within interval, regex, digest, required keys, a port to probe', () => {
  const p = problemsOf({ services: [
    svc({ healthCheck: { type: 'http', query: 'x', interval: '1s', timeout: '2s', expectBody: '(', expectDigest: 'a'.repeat(64) } }),
    svc({ name: 't', port: 81, healthCheck: { type: 'dns' }, realServers: [{ address: '10.0.0.1', healthCheck: { type: 'exec', serverName: 'x' } }] }),
    { name: 'm', fwmark: 1, healthCheck: { type: 'tcp' }, realServers: [{ address: '10.0.0.1' }] },
  ] });
  assertProblem(p, '/services/0/healthCheck/query', /"query" applies to dns checks, not http/);
  assertProblem(p, '/services/0/healthCheck/timeout', /must not be longer than the interval \(2s > 1s\)/);
  assertProblem(p, '/services/0/healthCheck/expectBody', /not a valid regular expression/);
  assertProblem(p, '/services/0/healthCheck/expectDigest', /not both/);
  assertProblem(p, '/services/1/healthCheck', /a dns check needs "query"/);
  assertProblem(p, '/services/1/realServers/0/healthCheck/serverName', /applies to https checks, not exec/);
  assertProblem(p, '/services/1/realServers/0/healthCheck', /an exec check needs "command"/);
  assertProblem(p, '/services/2/realServers/0', /tcp health check has no port to probe/);
});

test('smtp and udp check rules: hex payloads, a reply pattern needs a reply, lengths in order, a HELO name without spaces', () => {
  const p = problemsOf({ services: [
    svc({ healthCheck: { type: 'udp', payload: 'abc', expectReply: 'zz', requireReply: false } }),
    svc({ name: 'u2', port: 81, healthCheck: { type: 'udp', minReplyLength: 10, maxReplyLength: 2, heloName: 'x' } }),
    svc({ name: 's', port: 25, healthCheck: { type: 'smtp', heloName: 'two words' } }),
  ] });
  assertProblem(p, '/services/0/healthCheck/payload', /must be hex digit pairs/);
  assertProblem(p, '/services/0/healthCheck/expectReply', /must be hex digit pairs, x for a digit/);
  assertProblem(p, '/services/1/healthCheck/minReplyLength', /is more than maxReplyLength \(10 > 2\)/);
  assertProblem(p, '/services/1/healthCheck/heloName', /applies to smtp checks, not udp/);
  assertProblem(p, '/services/2/healthCheck/heloName', /must be a host name/);
  const q = problemsOf({ services: [svc({ healthCheck: { type: 'udp', expectReply: 'ff', requireReply: false } })] });
  assertProblem(q, '/services/0/healthCheck/requireReply', /is false but expectReply needs a reply/);
});

test('health check schema errors: the digest must be 64 hex digits', () => {
  assertProblem(problemsOf({ services: [svc({ healthCheck: { type: 'https', expectDigest: 'xyz' } })] }),
    '/services/0/healthCheck/expectDigest', /sha256 digest/);
});

test('VRRP rules: families, versions, intervals, uniqueness', () => {
  const p = problemsOf({ vrrp: [
    vi({ addresses: ['192.0.2.1/24', '2001:db8::1/64'] }),
    vi({ name: 'V2', vrid: 2, version: 2, advertInterval: '1.5s', addresses: ['2001:db8::2'] }),
    vi({ name: 'V3', vrid: 3, advertInterval: '15ms' }),
    vi({ name: 'V4', vrid: 4, advertInterval: '41s', addresses: ['192.0.2.2/33', 'x'] }),
    vi({ vrid: 1, interface: 'eth0' }),
    vi({ name: 'V6', vrid: 6, unicast: { source: '2001:db8::1', peers: ['10.0.0.2'] }, trackInterfaces: [{ name: 'a' }, { name: 'a' }] }),
    vi({ name: 'V7', vrid: 7, addresses: ['192.0.2.1', '192.0.2.1/24'] }),
  ] });
  assertProblem(p, '/vrrp/0/addresses/1', /one instance carries one family: use two instances in a sync group/);
  assertProblem(p, '/vrrp/1/version', /version 2 is IPv4 only/);
  assertProblem(p, '/vrrp/1/advertInterval', /whole seconds from 1s to 255s \(got 1.5s\)/);
  assertProblem(p, '/vrrp/2/advertInterval', /centiseconds/);
  assertProblem(p, '/vrrp/3/advertInterval', /from 10ms to 40.95s/);
  assertProblem(p, '/vrrp/3/addresses/0', /prefix length "33" must be from 1 to 32/);
  assertProblem(p, '/vrrp/3/addresses/1', /"x" is not an IP address/);
  assertProblem(p, '/vrrp/4/name', /duplicate VRRP instance name "V" \(also \/vrrp\/0\)/);
  assertProblem(p, '/vrrp/4/vrid', /vrid 1 on eth0 \(ipv4\) is already used by "V"/);
  assertProblem(p, '/vrrp/5/unicast/source', /is ipv6 but the instance is ipv4/);
  assertProblem(p, '/vrrp/5/trackInterfaces/1', /tracks "a" twice/);
  assertProblem(p, '/vrrp/6/addresses/1', /duplicate address 192.0.2.1/);
  assertProblem(problemsOf({ vrrp: [vi({ vrid: 0, priority: 256 })] }), '/vrrp/0/vrid', /from 1 to 255/);
});

test('an address belongs to one VRRP instance only', () => {
  assertProblem(problemsOf({ vrrp: [vi(), vi({ name: 'W', vrid: 2, addresses: ['192.0.2.9/24', '192.0.2.1/24'] })] }),
    '/vrrp/1/addresses/1', /192.0.2.1 is also an address of instance "V" \(\/vrrp\/0\)/);
});

test('the same vrid on one interface is fine for the other family', () => {
  assert.doesNotThrow(() => parseConfig([{ file: 'c.json', text: JSON.stringify({ vrrp: [vi(), vi({ name: 'W', addresses: ['2001:db8::1/64'] })] }) }]));
});

test('sync group rules: members exist and belong to one group only', () => {
  const p = problemsOf({
    vrrp: [vi(), vi({ name: 'W', vrid: 2 })],
    syncGroups: [{ name: 'G', instances: ['V', 'X'] }, { name: 'H', instances: ['V', 'W', 'W'] }, { name: 'G', instances: ['W'] }],
  });
  assertProblem(p, '/syncGroups/0/instances/1', /no VRRP instance is named "X"/);
  assertProblem(p, '/syncGroups/1/instances/0', /already in sync group "G"/);
  assertProblem(p, '/syncGroups/1/instances/2', /lists "W" twice/);
  assertProblem(p, '/syncGroups/2/name', /duplicate sync group name "G"/);
  assertProblem(problemsOf({ syncGroups: [{ name: 'G', instances: [] }] }), '/syncGroups/0/instances', /must not be empty/);
});

test('metrics listen and connection sync rules', () => {
  assertProblem(problemsOf({ metrics: { listen: '::1:9650' } }), '/metrics/listen', /IPv6 address in brackets/);
  assertProblem(problemsOf({ metrics: { listen: ':9650' } }), '/metrics/listen', /no host/);
  assertProblem(problemsOf({ metrics: { listen: '127.0.0.1:70000' } }), '/metrics/listen', /port 70000/);
  assertProblem(problemsOf({ metrics: { listen: '[10.0.0.1]:80' } }), '/metrics/listen', /not an IPv6 address/);
  const p = problemsOf({ connectionSync: { instance: 'X', interface: 'eth1', syncId: 1, group: '10.0.0.1' } });
  assertProblem(p, '/connectionSync/instance', /no VRRP instance is named "X"/);
  assertProblem(p, '/connectionSync/group', /not a multicast address/);
  assertProblem(problemsOf({ control: { socket: 'lvsd.sock' } }), '/control/socket', /absolute path/);
});

test('bad JSON is LVSD_CONFIG_UNREADABLE with file, line and column', () => {
  const text = '{\n  "services": [\n    { "name": "x", }\n  ]\n}\n';
  assert.throws(() => parseConfig([{ file: 'svc.json', text }]), (e) => {
    assert.ok(isLvsdError(e, 'LVSD_CONFIG_UNREADABLE'));
    assert.match(e.message, /^svc.json:3:20: not valid JSON/);
    assert.deepEqual({ ...(e.details as object), reason: undefined }, { file: 'svc.json', line: 3, column: 20, reason: undefined });
    return true;
  });
  assert.throws(() => parseConfig([{ file: 'cut.json', text: '{\n"a": [' }]),
    (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE') && /^cut.json:2:7:/.test(e.message));
});

test('pathologically nested bad JSON is still LVSD_CONFIG_UNREADABLE', () => {
  assert.throws(() => parseConfig([{ file: 'deep.json', text: '['.repeat(200_000) }]), (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE'));
});

test('a document that is not an object is refused', () => {
  assertProblem(problemsOf([]), '', /must be an object/);
});

test('a tcp check\'s close: reset is kept (RST, no TIME_WAIT), fin is the default; on another type it is refused at its pointer', () => {
  const config = parseConfig([{ file: 'c.json', text: JSON.stringify({ services: [
    svc({ healthCheck: { type: 'tcp', close: 'reset' } }),
    svc({ name: 'f', port: 81, healthCheck: { type: 'tcp', close: 'fin' } }),
  ] }) }]);
  const closeOf = (i: number) => (config.services[i]!.realServers[0]!.healthCheck as { close?: string }).close;
  assert.equal(closeOf(0), 'reset');
  assert.equal(closeOf(1), undefined);
  const p = problemsOf({ services: [svc({ healthCheck: { type: 'http', close: 'reset' } })] });
  assertProblem(p, '/services/0/healthCheck/close', /"close" applies to tcp checks, not http/);
});
