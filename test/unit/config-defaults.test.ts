import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, svc } from './config-fixtures.js';

test('an empty config is valid and fills every global default', () => {
  assert.deepEqual(parse({}), {
    files: ['c.json'],
    ipvs: { ownWholeTable: false, driftInterval: 30, stateFile: '/var/lib/lvsd/state.json', expireNodestConn: true, expireQuiescentTemplate: true },
    services: [],
    vrrp: [],
    syncGroups: [],
    control: { socket: '/run/lvsd/lvsd.sock' },
    health: { execUser: 'nobody', maxConcurrent: 1024, execOutputLimit: 4096 },
  });
});

test('a "$schema" key is allowed and ignored', () => {
  assert.equal(parse({ $schema: '../schemas/lvsd.schema.json' }).services.length, 0);
});

test('service defaults: wlc, nat, weight 1, the service port, not persistent, inhibit, down, no slow start', () => {
  const s = parse({ services: [svc()] }).services[0]!;
  assert.deepEqual(s.spec, {
    key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.1', port: 80 },
    scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '',
  });
  assert.deepEqual(s.realServers[0]!.spec, {
    family: 'ipv4', address: '10.0.0.1', port: 80, forwarding: 'nat', weight: 1,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  });
  assert.equal(s.onFailure, 'inhibit');
  assert.equal(s.initialState, 'down');
  assert.equal(s.slowStart, 0);
  assert.equal(s.sorryServer, undefined);
  assert.equal(s.quorum, undefined);
  assert.deepEqual(s.realServers[0]!.healthCheck, { type: 'none', interval: 5, timeout: 2, rise: 2, fall: 3, address: '10.0.0.1', port: 80 });
});

test('an unnamed service is named by its key', () => {
  const s = parse({ services: [{ protocol: 'udp', address: '2001:DB8:0::53', port: 53 }] }).services[0]!;
  assert.equal(s.name, 'udp/[2001:db8::53]:53');
  assert.deepEqual(s.realServers, []);
});

test('persistence: {} means 300 s over the whole client address (IPv4 and IPv6)', () => {
  const v4 = parse({ services: [svc({ persistence: {} })] }).services[0]!.spec;
  assert.deepEqual([v4.flags, v4.timeout, v4.netmask], [1, 300, 0xffffffff]);
  const v6 = parse({ services: [svc({ address: '2001:db8::1', realServers: [], persistence: {} })] }).services[0]!.spec;
  assert.deepEqual([v6.flags, v6.timeout, v6.netmask], [1, 300, 128]);
});

test('an IPv4 netmask may be a prefix length', () => {
  assert.equal(parse({ services: [svc({ persistence: { netmask: 16 } })] }).services[0]!.spec.netmask, 0xffff0000);
});

test('a fwmark service defaults to ipv4 and its real servers to port 0', () => {
  const s = parse({ services: [{ name: 'm', fwmark: 1, realServers: [{ address: '10.0.0.1' }] }] }).services[0]!;
  assert.deepEqual(s.spec.key, { kind: 'fwmark', family: 'ipv4', fwmark: 1 });
  assert.equal(s.realServers[0]!.spec.port, 0);
});

test('a real server inherits the service forwarding and tunnel; its own replace them', () => {
  const s = parse({ services: [svc({
    forwarding: 'tunnel', tunnel: { type: 'gue', port: 6080, checksum: 'csum' },
    realServers: [{ address: '10.0.0.1' }, { address: '10.0.0.2', tunnel: { type: 'gre' } }, { address: '10.0.0.3', forwarding: 'dr' }],
  })] }).services[0]!;
  const t = s.realServers.map((r) => [r.spec.forwarding, r.spec.tunnelType, r.spec.tunnelPort, r.spec.tunnelFlags]);
  assert.deepEqual(t, [['tunnel', 'gue', 6080, 1], ['tunnel', 'gre', 0, 0], ['dr', 'ipip', 0, 0]]);
});

test('a sorry server defaults to the service port, forwarding and weight 1', () => {
  const s = parse({ services: [svc({ forwarding: 'dr', sorryServer: { address: '10.0.9.1' } })] }).services[0]!;
  assert.deepEqual(s.sorryServer, {
    family: 'ipv4', address: '10.0.9.1', port: 80, forwarding: 'dr', weight: 1,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  });
});

test('health check defaults per type; a real server check replaces the service check', () => {
  const check = (healthCheck: Record<string, unknown>) =>
    parse({ health: { execUser: 'probe' }, services: [svc({ healthCheck })] }).services[0]!.realServers[0]!.healthCheck;
  const base = { interval: 5, timeout: 2, rise: 2, fall: 3, address: '10.0.0.1', port: 80 };
  assert.deepEqual(check({ type: 'tcp' }), { type: 'tcp', ...base });
  assert.deepEqual(check({ type: 'http' }), { type: 'http', ...base, method: 'GET', path: '/', expectStatus: [200], verify: false });
  assert.deepEqual(check({ type: 'https', port: 443 }), { type: 'https', ...base, port: 443, method: 'GET', path: '/', expectStatus: [200], verify: false });
  assert.deepEqual(check({ type: 'dns', query: 'example.com' }),
    { type: 'dns', ...base, query: 'example.com', queryType: 'A', expectRcode: [0], transport: 'udp' });
  assert.deepEqual(check({ type: 'exec', command: ['/bin/true'] }),
    { type: 'exec', ...base, command: ['/bin/true'], shell: false, user: 'probe', dynamicWeight: false });
  assert.deepEqual(check({ type: 'agent' }), { type: 'agent', ...base });
  assert.deepEqual(check({ type: 'smtp', port: 25 }), { type: 'smtp', ...base, port: 25 });
  assert.deepEqual(check({ type: 'smtp', port: 25, heloName: 'lb1.example.net' }), { type: 'smtp', ...base, port: 25, heloName: 'lb1.example.net' });
  assert.deepEqual(check({ type: 'ping' }), { type: 'ping', ...base });
  assert.deepEqual(check({ type: 'udp' }), { type: 'udp', ...base, payload: '', requireReply: false, minReplyLength: 0, maxReplyLength: 65535 });
  assert.deepEqual(check({ type: 'udp', payload: '0A 1b', expectReply: 'Ff xX' }),
    { type: 'udp', ...base, payload: '0a1b', requireReply: true, expectReply: 'ffxx', minReplyLength: 0, maxReplyLength: 65535 });
  assert.deepEqual(check({ type: 'tcp', interval: '1s' }), { type: 'tcp', ...base, interval: 1, timeout: 1 });
  const s = parse({ services: [svc({
    healthCheck: { type: 'http', path: '/x' },
    realServers: [{ address: '10.0.0.1' }, { address: '10.0.0.2', healthCheck: { type: 'tcp', port: 22 } }],
  })] }).services[0]!;
  assert.equal(s.realServers[0]!.healthCheck.type, 'http');
  assert.deepEqual(s.realServers[1]!.healthCheck, { type: 'tcp', ...base, address: '10.0.0.2', port: 22 });
});

test('VRRP defaults: priority 100, version 3, 1 s adverts, preempt, 5 GARPs 200 ms apart, no refresh, Accept_Mode on', () => {
  const c = parse({ vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1', '192.0.2.2/24'] }] });
  assert.deepEqual(c.vrrp[0], {
    name: 'V', origin: { file: 'c.json', pointer: '/vrrp/0' }, interface: 'eth0', vrid: 1, priority: 100, version: 3,
    family: 'ipv4', advertInterval: 1, preempt: true, preemptDelay: 0, acceptMode: true, v2Compat: false,
    addresses: [{ family: 'ipv4', address: '192.0.2.1', prefixLength: 32 }, { family: 'ipv4', address: '192.0.2.2', prefixLength: 24 }],
    trackInterfaces: [], trackScripts: [], trackFiles: [], trackProcesses: [], garp: { count: 5, interval: 0.2, refresh: 0 }, notify: {},
  });
  const v6 = parse({ vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['2001:DB8::0:1'] }] }).vrrp[0]!;
  assert.deepEqual(v6.addresses, [{ family: 'ipv6', address: '2001:db8::1', prefixLength: 128 }]);
});

test('a config with only VRRP is valid', () => {
  const c = parse({ vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1'] }] });
  assert.equal(c.services.length, 0);
  assert.equal(c.vrrp.length, 1);
});

test('metrics listen is normalised; connection sync keeps only what is given', () => {
  assert.deepEqual(parse({ metrics: { listen: '[2001:DB8::1]:9650' } }).metrics, { listen: '[2001:db8::1]:9650', statusPage: false });
  assert.deepEqual(parse({ metrics: { listen: 'localhost:9650', statusPage: true } }).metrics, { listen: 'localhost:9650', statusPage: true });
  const c = parse({
    vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1'] }],
    connectionSync: { instance: 'V', interface: 'eth1', syncId: 3 },
  });
  assert.deepEqual(c.connectionSync, { instance: 'V', interface: 'eth1', syncId: 3 });
});

test('every scheduler is accepted', () => {
  for (const scheduler of ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos']) {
    assert.equal(parse({ services: [svc({ scheduler })] }).services[0]!.spec.scheduler, scheduler);
  }
});

test('scheduler flags set SCHED1 (fallback) and SCHED2 (port)', () => {
  const flags = (scheduler: string, schedulerFlags: string[]) =>
    parse({ services: [svc({ scheduler, schedulerFlags })] }).services[0]!.spec.flags;
  assert.equal(flags('sh', ['sh-fallback']), 0x08);
  assert.equal(flags('sh', ['sh-port']), 0x10);
  assert.equal(flags('mh', ['mh-fallback', 'mh-port']), 0x18);
});
