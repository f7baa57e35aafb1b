/**
 * Values lvsd cannot honour are refused at `lvsd check` with the JSON pointer: durations beyond what a
 * Node timer or the kernel can hold (issue #10 item 3), numbers that would wrap on their way to the kernel
 * (item 4), CR/LF in what goes into an HTTP request (item 10), paths that are relative, climb with "..",
 * or do not fit sun_path (item 12), addresses that name no single host or carry a zone (item 15), and
 * names with control characters (item 16).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblems, parseConfig } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';
import { assertProblem, parse, problemsOf, svc } from './config-fixtures.js';

const vi = (extra: Record<string, unknown> = {}) => ({ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1/24'], ...extra });
const hc = (extra: Record<string, unknown>) => svc({ healthCheck: { type: 'http', ...extra } });

test('timer durations are at most 2^31-1 ms, whether written as a string or a number', () => {
  const tooLong = /^must be at most 596h31m23\.647s \(the longest timer Node can arm, 2\^31-1 ms\)$/;
  assertProblem(problemsOf({ ipvs: { driftInterval: '99999999999999999999h' } }), '/ipvs/driftInterval', tooLong);
  assertProblem(problemsOf({ ipvs: { driftInterval: 1e300 } }), '/ipvs/driftInterval', tooLong);
  const p = problemsOf({ services: [
    svc({ slowStart: '597h', healthCheck: { type: 'tcp', interval: 1e300, timeout: 1e300 } }),
    svc({ name: 't', port: 81, realServers: [{ address: '10.0.0.2', healthCheck: { type: 'tcp', interval: '600h', timeout: '1s' } }] }),
  ] });
  assertProblem(p, '/services/0/slowStart', tooLong);
  assertProblem(p, '/services/0/healthCheck/interval', tooLong);
  assertProblem(p, '/services/0/healthCheck/timeout', tooLong);
  assertProblem(p, '/services/1/realServers/0/healthCheck/interval', tooLong);
  const v = problemsOf({ vrrp: [vi({ preemptDelay: 2147484, garp: { interval: '1000h', refresh: 1e20 } })] });
  assertProblem(v, '/vrrp/0/preemptDelay', tooLong);
  assertProblem(v, '/vrrp/0/garp/interval', tooLong);
  assertProblem(v, '/vrrp/0/garp/refresh', tooLong);
  assertProblem(problemsOf({ vrrp: [vi({ advertInterval: 1e300 })] }), '/vrrp/0/advertInterval', /must be from 10ms to 40\.95s/);
  // a duration too long to count at all is refused by the schema
  assertProblem(problemsOf({ ipvs: { driftInterval: `${'9'.repeat(400)}s` } }), '/ipvs/driftInterval', /too long to count/);
});

test('the longest allowed durations are accepted', () => {
  const c = parse({
    ipvs: { driftInterval: 2147483.647, timeouts: { tcp: 2147483, tcpFin: '596h31m23s', udp: 1 } },
    services: [svc({ slowStart: '596h', persistence: { timeout: 4294967 }, healthCheck: { type: 'tcp', interval: 2147483.647, timeout: '596h31m23s' } })],
    vrrp: [vi({ preemptDelay: '596h31m23.647s', garp: { interval: 2147483, refresh: 2147483 } })],
  });
  assert.equal(c.ipvs.driftInterval, 2147483.647);
  assert.equal(c.services[0]!.spec.timeout, 4294967);
});

test('IPVS timeouts and persistence stay below what the kernel multiplies by HZ without wrapping', () => {
  const p = problemsOf({ ipvs: { timeouts: { tcp: 4294967396, tcpFin: '596h31m24s', udp: 1e308 } } });
  assertProblem(p, '/ipvs/timeouts/tcp', /^must be at most 596h31m23s \(2147483 s: the kernel refuses more than INT_MAX jiffies\)$/);
  assertProblem(p, '/ipvs/timeouts/tcpFin', /at most 596h31m23s/);
  assertProblem(p, '/ipvs/timeouts/udp', /at most 596h31m23s/);
  const q = problemsOf({ services: [
    svc({ persistence: { timeout: 4294967297 } }),
    svc({ name: 't', port: 81, persistence: { timeout: 1e308 } }),
    svc({ name: 'u', port: 82, persistence: { timeout: 4294968 } }),
  ] });
  for (const i of [0, 1, 2]) {
    assertProblem(q, `/services/${i}/persistence/timeout`, /^must be at most 1193h2m47s \(4294967 s: the kernel keeps it in 32-bit jiffies and would wrap it\)$/);
  }
});

test('numbers that would not fit their kernel or wire field are refused with the pointer', () => {
  const p = problemsOf({
    services: [
      svc({ port: 65536, realServers: [{ address: '10.0.0.1', port: 1e308, weight: 65536, upperThreshold: 4294967296, lowerThreshold: -1 }] }),
      { name: 'm', fwmark: 4294967296 },
      { name: 'n', fwmark: 1e308 },
      svc({ name: 'q', port: 83, quorum: { minUp: 1.5 }, healthCheck: { type: 'tcp', rise: 1001, fall: 1e308, port: 65536 } }),
    ],
    vrrp: [vi({ vrid: 256, priority: 1e308, trackInterfaces: [{ name: 'eth1', weight: 255 }], garp: { count: 101 } })],
    connectionSync: { instance: 'V', interface: 'eth0', syncId: 256, port: 65536, ttl: 256, maxLength: 65536 },
    health: { maxConcurrent: 1e308, execOutputLimit: 4294967296 },
  });
  for (const [pointer, message] of [
    ['/services/0/port', /^must be an integer from 0 to 65535$/],
    ['/services/0/realServers/0/port', /^must be an integer from 0 to 65535$/],
    ['/services/0/realServers/0/weight', /^must be an integer from 0 to 65535$/],
    ['/services/0/realServers/0/upperThreshold', /^must be an integer from 0 to 4294967295$/],
    ['/services/0/realServers/0/lowerThreshold', /^must be an integer from 0 to 4294967295$/],
    ['/services/1/fwmark', /^must be an integer from 1 to 4294967295$/],
    ['/services/2/fwmark', /^must be an integer from 1 to 4294967295$/],
    ['/services/3/quorum/minUp', /^must be an integer >= 1$/],
    ['/services/3/healthCheck/rise', /^must be an integer from 1 to 1000$/],
    ['/services/3/healthCheck/fall', /^must be an integer from 1 to 1000$/],
    ['/services/3/healthCheck/port', /^must be an integer from 1 to 65535$/],
    ['/vrrp/0/vrid', /^must be an integer from 1 to 255$/],
    ['/vrrp/0/priority', /^must be an integer from 1 to 255$/],
    ['/vrrp/0/trackInterfaces/0/weight', /^must be an integer from -254 to 254$/],
    ['/vrrp/0/garp/count', /^must be an integer from 0 to 100$/],
    ['/connectionSync/syncId', /^must be an integer from 0 to 255$/],
    ['/connectionSync/port', /^must be an integer from 1 to 65535$/],
    ['/connectionSync/ttl', /^must be an integer from 1 to 255$/],
    ['/connectionSync/maxLength', /^must be an integer from 1 to 65535$/],
    ['/health/maxConcurrent', /^must be an integer from 1 to 65536$/],
    ['/health/execOutputLimit', /^must be an integer from 0 to 16777216$/],
  ] as const) assertProblem(p, pointer, message);
});

test('CR, LF and other control characters in an HTTP check\'s path, host or server name are refused at check', () => {
  const p = problemsOf({ services: [
    hc({ path: '/health\r\nX-Injected: 1' }),
    svc({ name: 't', port: 81, healthCheck: { type: 'http', host: 'a.example\r\nX-Injected: 1' } }),
    svc({ name: 'u', port: 82, healthCheck: { type: 'https', serverName: 'a.example\n' } }),
    svc({ name: 'v', port: 83, healthCheck: { type: 'http', path: '/a b', host: 'a example' } }),
    svc({ name: 'w', port: 84, healthCheck: { type: 'http', path: '/caf\u00e9' } }),
  ] });
  assertProblem(p, '/services/0/healthCheck/path', /^"\/health\\r\\nX-Injected: 1" has a space, control or non-ASCII character: percent-encode it/);
  assertProblem(p, '/services/1/healthCheck/host', /^must not contain control characters/);
  assertProblem(p, '/services/2/healthCheck/serverName', /^must not contain control characters/);
  assertProblem(p, '/services/3/healthCheck/path', /"\/a b" has a space/);
  assertProblem(p, '/services/3/healthCheck/host', /"a example" has a space/);
  assertProblem(p, '/services/4/healthCheck/path', /non-ASCII character: percent-encode it/);
  // the same keys without them are fine
  parse({ services: [hc({ path: '/health?x=%0D%0A', host: 'a.example:8080', method: 'HEAD' })] });
});

test('stateFile must be an absolute path without . or .. steps; the control socket must fit sun_path', () => {
  for (const [stateFile, why] of [
    ['state.json', /must be an absolute path/],
    ['../../etc/passwd', /must be an absolute path/],
    ['/var/lib/lvsd/../../../etc/shadow', /has a "\." or "\.\." step/],
    ['/var/lib/lvsd/./state.json', /has a "\." or "\.\." step/],
    ['/var/lib//lvsd/state.json', /has an empty step/],
    ['/var/lib/lvsd/', /ends with \//],
    ['/var/lib/lvsd/state\n.json', /^must not contain control characters/],
  ] as const) assertProblem(problemsOf({ ipvs: { stateFile } }), '/ipvs/stateFile', why);
  const long = `/run/${'s'.repeat(103)}`; // 108 bytes: Node binds it, cut to 108 with no room for the NUL
  assert.equal(Buffer.byteLength(long), 108);
  assertProblem(problemsOf({ control: { socket: long } }), '/control/socket',
    /^is 108 bytes long; a Unix socket path holds at most 107/);
  assertProblem(problemsOf({ control: { socket: `/run/${'\u00e9'.repeat(52)}` } }), '/control/socket', /is 109 bytes long/);
  assertProblem(problemsOf({ control: { socket: '/run/../tmp/lvsd.sock' } }), '/control/socket', /"\." or "\.\." step/);
  assert.equal(parse({ control: { socket: long.slice(0, 107) }, ipvs: { stateFile: '/var/lib/lvsd/state.json' } }).control.socket.length, 107);
});

test('multicast, broadcast and unspecified addresses are refused as service addresses, real servers and VIPs', () => {
  const p = problemsOf({ services: [
    svc({ address: '224.0.0.18' }),
    svc({ name: 'b', address: '255.255.255.255', port: 81 }),
    svc({ name: 'c', address: '0.0.0.0', port: 82 }),
    { name: 'd', protocol: 'tcp', address: '::', port: 83, realServers: [{ address: 'ff02::1' }, { address: '::' }] },
    svc({ name: 'e', port: 84, realServers: [{ address: '239.1.2.3' }, { address: '0.0.0.0' }, { address: '255.255.255.255' }],
      sorryServer: { address: '224.0.0.1' }, healthCheck: { type: 'tcp', address: '255.255.255.255' } }),
  ] });
  assertProblem(p, '/services/0/address', /^224\.0\.0\.18 is a multicast address, not a host$/);
  assertProblem(p, '/services/1/address', /^255\.255\.255\.255 is the broadcast address, not a host$/);
  assertProblem(p, '/services/2/address', /^0\.0\.0\.0 is the unspecified address, not a host$/);
  assertProblem(p, '/services/3/address', /^:: is the unspecified address/);
  assertProblem(p, '/services/3/realServers/0/address', /^ff02::1 is a multicast address/);
  assertProblem(p, '/services/3/realServers/1/address', /^:: is the unspecified address/);
  assertProblem(p, '/services/4/realServers/0/address', /multicast/);
  assertProblem(p, '/services/4/realServers/1/address', /unspecified/);
  assertProblem(p, '/services/4/realServers/2/address', /broadcast/);
  assertProblem(p, '/services/4/sorryServer/address', /multicast/);
  assertProblem(p, '/services/4/healthCheck/address', /broadcast/);
  const v = problemsOf({ vrrp: [
    vi({ addresses: ['224.0.0.18', '192.0.2.255/24', '192.0.2.7/30', '0.0.0.0/8'], unicast: { source: '0.0.0.0', peers: ['255.255.255.255'] } }),
    { name: 'W', interface: 'eth0', vrid: 2, addresses: ['ff02::12', '::/64'] },
  ] });
  assertProblem(v, '/vrrp/0/addresses/0', /multicast/);
  assertProblem(v, '/vrrp/0/addresses/1', /^192\.0\.2\.255 is the broadcast address of its \/24 subnet, not a host$/);
  assertProblem(v, '/vrrp/0/addresses/2', /^192\.0\.2\.7 is the broadcast address of its \/30 subnet/);
  assertProblem(v, '/vrrp/0/addresses/3', /unspecified/);
  assertProblem(v, '/vrrp/0/unicast/source', /unspecified/);
  assertProblem(v, '/vrrp/0/unicast/peers/0', /broadcast/);
  assertProblem(v, '/vrrp/1/addresses/0', /multicast/);
  assertProblem(v, '/vrrp/1/addresses/1', /unspecified/);
  const m = problemsOf({ services: [svc({ realServers: [{ address: '::ffff:224.0.0.1', forwarding: 'tunnel' }, { address: '::ffff:0.0.0.0', forwarding: 'tunnel' }] })] });
  assertProblem(m, '/services/0/realServers/0/address', /^::ffff:e000:1 is IPv4-mapped: 224\.0\.0\.1 is a multicast address/);
  assertProblem(m, '/services/0/realServers/1/address', /IPv4-mapped: 0\.0\.0\.0 is the unspecified address/);
  // /31 and /32 have no broadcast address; the last address of a larger real-server subnet is not known
  parse({ vrrp: [vi({ addresses: ['192.0.2.255/31', '198.51.100.255/32'] })], services: [svc({ realServers: [{ address: '10.0.0.255' }] })] });
});

test('an address with a zone is refused, never silently dropped', () => {
  const zone = /^"fe80::1%eth0" has a zone \(%eth0\); lvsd does not carry zones/;
  const p = problemsOf({
    services: [{ name: 's', protocol: 'tcp', address: 'fe80::1%eth0', port: 80, realServers: [{ address: 'fe80::1%eth0' }],
      healthCheck: { type: 'tcp', address: 'fe80::1%eth0' } }],
    vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['fe80::1%eth0'], unicast: { source: 'fe80::1%eth0', peers: ['fe80::2'] } }],
    metrics: { listen: '[fe80::1%eth0]:9650' },
  });
  for (const pointer of ['/services/0/address', '/services/0/realServers/0/address', '/services/0/healthCheck/address',
    '/vrrp/0/addresses/0', '/vrrp/0/unicast/source', '/metrics/listen']) assertProblem(p, pointer, zone);
  // a link-local VIP on the instance's interface needs no zone
  assert.equal(parse({ vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['fe80::1', '2001:db8::1/64'] }] }).vrrp[0]!.addresses[0]!.address, 'fe80::1');
});

test('names with newlines, ANSI escapes or other control characters are refused with the pointer', () => {
  const bad = /^must not contain control characters/;
  const p = problemsOf({
    services: [svc({ name: 'web\nc.json: /services/0: forged problem' }), svc({ name: '\u001b[31mred', port: 81 }), svc({ name: 'x\u0085y', port: 82 })],
    vrrp: [vi({ name: 'V\r', interface: 'eth0\u001b', trackInterfaces: [{ name: 'e\t1' }] })],
    syncGroups: [{ name: 'G\u2028', instances: ['V\u0000'] }],
    connectionSync: { instance: 'V\n', interface: 'eth\n1', syncId: 1 },
    control: { group: 'lvsd\n' },
    health: { execUser: 'nobody\n' },
  });
  for (const pointer of ['/services/0/name', '/services/1/name', '/services/2/name', '/vrrp/0/name', '/vrrp/0/interface',
    '/vrrp/0/trackInterfaces/0/name', '/syncGroups/0/name', '/syncGroups/0/instances/0', '/connectionSync/instance',
    '/connectionSync/interface', '/control/group', '/health/execUser']) assertProblem(p, pointer, bad);
});

test('a problem that quotes input prints as one line: control characters are escaped', () => {
  try {
    parseConfig([{ file: 'c.json', text: JSON.stringify({ services: [svc({ address: '1.2.3.4\nc.json: /services/9: forged', 'k\u001b[2J': 1 })] }) }]);
    assert.fail('should throw');
  } catch (e) {
    assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'));
    const text = formatProblems(e.details as never);
    assert.equal(text.split('\n').length, 2, text);
    assert.match(text, /"1\.2\.3\.4\\nc\.json: \/services\/9: forged" is not an IP address/);
    assert.match(text, /unknown key "k\\x1b\[2J"/);
    assert.doesNotMatch(e.message, /\u001b|forged\n/);
  }
});

test('a body pattern the linear-time matcher cannot run is refused at check with the pointer and the position', () => {
  const p = problemsOf({ services: [
    hc({ expectBody: '(a)\\1' }),
    svc({ name: 't', port: 81, healthCheck: { type: 'http', expectBody: 'ok(?=!)' } }),
    svc({ name: 'u', port: 82, healthCheck: { type: 'http', expectBody: '(' } }),
    svc({ name: 'v', port: 83, healthCheck: { type: 'http', expectBody: 'x{5000}' } }),
  ] });
  assertProblem(p, '/services/0/healthCheck/expectBody',
    /^is not a pattern lvsd can match in linear time: backreferences \(\\1 \.\.\.\) cannot be matched in linear time \(at character 4; see docs\/health\.md\)$/);
  assertProblem(p, '/services/1/healthCheck/expectBody', /lookahead and lookbehind .* \(at character 3;/);
  assertProblem(p, '/services/2/healthCheck/expectBody', /^is not a valid regular expression: Unterminated group$/);
  assertProblem(p, '/services/3/healthCheck/expectBody', /a count above 1000/);
  // the hostile pattern of the issue is fine: the matcher runs it in linear time
  assert.equal((parse({ services: [hc({ expectBody: '^(a+)+$' })] }).services[0]!.realServers[0]!.healthCheck as { expectBody?: string }).expectBody, '^(a+)+$');
});
