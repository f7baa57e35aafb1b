import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, realServerOrigin, type Config, type HealthCheckConfig } from '../../src/config/index.js';
import { SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, type DestSpec } from '../../src/ipvs/types.js';
import { example } from './config-fixtures.js';

const F = 'services.json';
const none = (address: string, port: number): HealthCheckConfig =>
  ({ type: 'none', interval: 5, timeout: 2, rise: 2, fall: 3, address, port });
const dest = (d: Partial<DestSpec> & Pick<DestSpec, 'address' | 'port'>): DestSpec => ({
  family: 'ipv4', forwarding: 'nat', weight: 1, upperThreshold: 0, lowerThreshold: 0,
  tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0, ...d,
});
/** Where each real server was declared, in order: realServerOrigin says it (a real server keeps no origin of its own). */
const pointers: string[] = [];
const rs = (pointer: string, spec: DestSpec) => {
  pointers.push(pointer);
  return { spec, healthCheck: none(spec.address, spec.port) };
};
const serviceDefaults = { onFailure: 'inhibit', slowStart: 0, initialState: 'down' } as const;

const expected: Config = {
  files: [F],
  ipvs: { timeouts: { tcp: 900, tcpFin: 120, udp: 300 }, ownWholeTable: false, driftInterval: 30, stateFile: '/var/lib/lvsd/state.json', expireNodestConn: true, expireQuiescentTemplate: true },
  services: [
    {
      name: 'web',
      origin: { file: F, pointer: '/services/0' },
      spec: {
        key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 80 },
        scheduler: 'wrr', flags: SVC_F_PERSISTENT, timeout: 300, netmask: 0xffffff00, pe: '',
      },
      realServers: [
        rs('/services/0/realServers/0', dest({ address: '10.0.1.11', port: 8080, weight: 100 })),
        rs('/services/0/realServers/1', dest({ address: '10.0.1.12', port: 8080, weight: 50, upperThreshold: 1000, lowerThreshold: 800 })),
        rs('/services/0/realServers/2', dest({ address: '10.0.1.13', port: 80, forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 6080 })),
      ],
      ...serviceDefaults,
    },
    {
      name: 'dns',
      origin: { file: F, pointer: '/services/1' },
      spec: {
        key: { kind: 'addr', family: 'ipv6', protocol: 'udp', address: '2001:db8::53', port: 53 },
        scheduler: 'mh', flags: SVC_F_SCHED2 | SVC_F_ONEPACKET, timeout: 0, netmask: 128, pe: '',
      },
      realServers: [
        rs('/services/1/realServers/0', dest({ family: 'ipv6', address: '2001:db8:1::1', port: 53, forwarding: 'dr' })),
        rs('/services/1/realServers/1', dest({ family: 'ipv6', address: '2001:db8:1::2', port: 53, forwarding: 'dr' })),
      ],
      ...serviceDefaults,
    },
    {
      name: 'marked',
      origin: { file: F, pointer: '/services/2' },
      spec: {
        key: { kind: 'fwmark', family: 'ipv4', fwmark: 7 },
        scheduler: 'sh', flags: SVC_F_SCHED1, timeout: 0, netmask: 0xffffffff, pe: '',
      },
      realServers: [rs('/services/2/realServers/0', dest({ address: '10.0.2.1', port: 0, forwarding: 'dr' }))],
      ...serviceDefaults,
    },
  ],
  vrrp: [],
  syncGroups: [],
  control: { socket: '/run/lvsd/lvsd.sock' },
  health: { execUser: 'nobody', maxConcurrent: 1024, execOutputLimit: 4096 },
};

test('the issue 2 example normalises to exactly the expected Config', () => {
  const config = parseConfig([example(F)]);
  assert.deepEqual(config, expected);
  assert.deepEqual(config.services.flatMap((s) => s.realServers.map((_, i) => realServerOrigin(s, i))), pointers.map((pointer) => ({ file: F, pointer })));
});

test('every shipped example validates', () => {
  for (const name of ['services.json', 'vrrp.json', 'full.json']) {
    assert.doesNotThrow(() => parseConfig([example(name)]), name);
  }
});

test('examples/vrrp.json is a two-instance sync group', () => {
  const c = parseConfig([example('vrrp.json')]);
  assert.deepEqual(c.syncGroups, [{ name: 'G1', instances: ['VI_1', 'VI_GW'] }]);
  assert.deepEqual(c.vrrp.map((v) => [v.name, v.syncGroup]), [['VI_1', 'G1'], ['VI_GW', 'G1']]);
  assert.deepEqual(c.vrrp[0]!.addresses, [
    { family: 'ipv4', address: '192.0.2.10', prefixLength: 24 },
    { family: 'ipv4', address: '192.0.2.11', prefixLength: 24 },
  ]);
});

test('examples/full.json exercises health checks, VRRP, sync and the global sections', () => {
  const c = parseConfig([example('full.json')]);
  const web = c.services.find((s) => s.name === 'web')!;
  assert.deepEqual(web.realServers[0]!.healthCheck, {
    type: 'http', interval: 2, timeout: 1, rise: 2, fall: 3, address: '10.0.1.11', port: 8080,
    method: 'GET', path: '/healthz', host: 'www.example.com', expectStatus: [200, 204], expectBody: 'ok|healthy', verify: false,
  });
  assert.deepEqual(web.realServers[2]!.healthCheck, { type: 'tcp', interval: 3, timeout: 2, rise: 2, fall: 3, address: '10.0.1.13', port: 80 });
  assert.equal(web.realServers[2]!.spec.tunnelFlags, 2);
  assert.equal(web.slowStart, 30);
  assert.deepEqual(web.quorum, { minUp: 2 });
  assert.equal(web.sorryServer?.address, '10.0.9.1');
  const sip = c.services.find((s) => s.name === 'sip')!;
  assert.equal(sip.spec.pe, 'sip');
  assert.equal(sip.spec.netmask, 0xffffff00);
  assert.equal(sip.spec.timeout, 120);
  assert.equal(sip.realServers[0]!.spec.tunnelType, 'gre');
  assert.equal(sip.realServers[0]!.healthCheck.type === 'exec' && sip.realServers[0]!.healthCheck.user, 'lvsd-check');
  assert.equal(c.services.find((s) => s.name === 'marked6')!.spec.netmask, 64);
  assert.deepEqual(c.connectionSync, { instance: 'VI_4', interface: 'eth1', syncId: 1, port: 8848, ttl: 1, group: '224.0.0.81', maxLength: 1472 });
  assert.deepEqual(c.metrics, { listen: '127.0.0.1:9650', statusPage: true });
  assert.deepEqual(c.control, { socket: '/run/lvsd/lvsd.sock', group: 'lvsd' });
  assert.deepEqual(c.ipvs, { timeouts: { tcp: 900, tcpFin: 120, udp: 300 }, ownWholeTable: true, driftInterval: 60, stateFile: '/var/lib/lvsd/state.json', expireNodestConn: true, expireQuiescentTemplate: true });
  const v4 = c.vrrp.find((v) => v.name === 'VI_4')!;
  assert.deepEqual(v4.garp, { count: 5, interval: 0.2, refresh: 60 });
  assert.deepEqual(v4.trackInterfaces, [{ name: 'eth1', weight: -50 }, { name: 'eth2', weight: 0 }]);
  assert.deepEqual(v4.addresses[3], { family: 'ipv4', address: '192.0.2.40', prefixLength: 32 });
  const v6 = c.vrrp.find((v) => v.name === 'VI_6')!;
  assert.equal(v6.family, 'ipv6');
  assert.equal(v6.advertInterval, 0.5);
  assert.equal(v6.syncGroup, 'G1');
  assert.equal(c.vrrp.find((v) => v.name === 'VI_OLD')!.version, 2);
});
