/** lvsd export keepalived, then import: the same config for everything both tools can say. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type Config } from '../../src/config/index.js';
import { importKeepalived, memoryFiles } from '../../src/import/index.js';
import { keepalivedConf } from '../../src/lab/keepalived-conf.js';

const original = {
  ipvs: { timeouts: { tcp: '15m', tcpFin: '2m', udp: '5m' } },
  services: [
    { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', persistence: { timeout: '5m', netmask: '255.255.255.0' },
      onFailure: 'inhibit', sorryServer: { address: '10.0.9.9', port: 80 }, quorum: { minUp: 2, up: ['/usr/local/bin/q', 'up'], down: ['/usr/local/bin/q', 'down'], user: 'nobody' },
      realServers: [
        { address: '10.0.1.11', port: 8080, weight: 100, healthCheck: { type: 'http', path: '/health', expectStatus: [200, 204], host: 'www', interval: 3, timeout: 1, rise: 1, fall: 3 } },
        { address: '10.0.1.12', port: 8080, weight: 100, upperThreshold: 1000, lowerThreshold: 800, healthCheck: { type: 'tcp', port: 81, interval: 3, timeout: 2, rise: 1, fall: 1 } },
        { address: '10.0.1.13', port: 80, weight: 100, forwarding: 'tunnel', notify: { up: ['/usr/local/bin/rs', 'up'], down: ['/usr/local/bin/rs-down'], user: 'nobody' } },
        { address: '10.0.1.15', port: 8080, weight: 100, healthCheck: { type: 'ping', interval: 3, timeout: 1, rise: 1, fall: 2 } },
        { address: '10.0.1.14', port: 8080, weight: 100, healthCheck: { type: 'smtp', port: 25, heloName: 'lb1.example.net', interval: 3, timeout: 2, rise: 1, fall: 2 } },
      ] },
    { protocol: 'udp', address: '2001:db8::53', port: 53, scheduler: 'mh', schedulerFlags: ['mh-port'], onePacket: true, forwarding: 'dr', onFailure: 'remove', initialState: 'up',
      realServers: [
        { address: '2001:db8:1::1', healthCheck: { type: 'dns', query: 'example.org', queryType: 'AAAA', interval: 10, rise: 1, fall: 2 } },
        { address: '2001:db8:1::2', healthCheck: { type: 'udp', payload: '0a0b', expectReply: '0ax1', maxReplyLength: 512, interval: 10, rise: 1, fall: 2 } },
      ] },
    { fwmark: 7, scheduler: 'sh', schedulerFlags: ['sh-fallback'], forwarding: 'dr', persistence: {},
      realServers: [{ address: '10.0.2.1', healthCheck: { type: 'exec', command: ['/usr/local/bin/chk'], user: 'nobody', interval: 5, timeout: 4, rise: 1, fall: 1 } }] },
  ],
  vrrp: [
    { name: 'VI_1', interface: 'eth0', vrid: 51, priority: 150, version: 2, advertInterval: 1, preempt: false, addresses: ['192.0.2.1/24', '192.0.2.2'],
      unicast: { source: '10.0.0.1', peers: ['10.0.0.2'] }, trackInterfaces: [{ name: 'eth1', weight: -20 }, { name: 'eth2' }],
      notify: { master: ['/usr/local/bin/notify', 'master'], user: 'nobody' }, garp: { count: 3, interval: '100ms' },
      trackScripts: [{ name: 'chk', command: ['/usr/local/bin/chk', 'nginx'], interval: 2, timeout: 1, weight: -30, rise: 2, fall: 3, user: 'nobody', initFail: true },
        { name: 'up', command: ['/bin/true'], weight: 10, reverse: true, user: 'nobody' }],
      trackFiles: [{ path: '/run/lvs-weight', weight: -5 }, { path: '/run/lvs-fault', weight: 0, reverse: true }],
      trackProcesses: [{ name: 'haproxy', args: ['-f', '/etc/haproxy/haproxy.cfg'], weight: 0, quorum: 1, quorumMax: 2, delay: 0.5 }, { name: 'sshd', weight: -20, reverse: true }] },
    { name: 'VI_6', interface: 'eth0', vrid: 52, version: 3, advertInterval: 0.5, preemptDelay: 8, addresses: ['2001:db8::1/64'], garp: { count: 3, interval: '100ms', refresh: 60 } },
  ],
  syncGroups: [{ name: 'G', instances: ['VI_1', 'VI_6'] }],
  connectionSync: { instance: 'VI_1', interface: 'eth1', syncId: 9 },
};

/** The parts of a Config both tools express (not: file names, origins, lvsd-only defaults). */
function comparable(c: Config): unknown {
  return JSON.parse(JSON.stringify({ ...c, files: undefined, control: undefined, health: undefined }, (k, v: unknown) => (k === 'origin' ? undefined : v)));
}

test('export keepalived then import gives back an equivalent config', () => {
  const config = parseConfig([{ file: 'lvsd.json', text: JSON.stringify(original) }]);
  const text = keepalivedConf(config, { routerId: 'd1' });
  const r = importKeepalived('/k/keepalived.conf', memoryFiles({ '/k/keepalived.conf': text }));
  assert.deepEqual(r.problems.filter((p) => p.severity === 'error'), []);
  const back = parseConfig([{ file: 'lvsd.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(comparable(back), comparable(config));
});

test('the shipped examples (services with a GUE tunnel, VRRP with unicast and tracking) round-trip too', async () => {
  const { readFileSync } = await import('node:fs');
  const { ROOT } = await import('./config-fixtures.js');
  for (const name of ['services.json', 'vrrp.json']) {
    const config = parseConfig([{ file: name, text: readFileSync(`${ROOT}examples/${name}`, 'utf8') }]);
    const r = importKeepalived('/k/keepalived.conf', memoryFiles({ '/k/keepalived.conf': keepalivedConf(config, { routerId: 'd1' }) }));
    assert.deepEqual(r.problems.filter((p) => p.severity === 'error'), [], name);
    const back = parseConfig([{ file: name, text: JSON.stringify(r.config) }]);
    assert.deepEqual(comparable(back), comparable(config), name);
  }
});

test('lvsd export keepalived: the file on stdout, exit 0; what keepalived cannot say is refused with the reason, exit 1', async () => {
  const { spawnSync } = await import('node:child_process');
  const { ROOT } = await import('./config-fixtures.js');
  const cli = `${ROOT}dist/src/cli/main.js`;
  const ok = spawnSync(process.execPath, [cli, 'export', 'keepalived', '-c', `${ROOT}examples/services.json`, '--router-id', 'd1'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^global_defs \{\n  router_id d1\n/);
  assert.match(ok.stdout, /virtual_server 192\.0\.2\.10 80 \{/);
  const refused = spawnSync(process.execPath, [cli, 'export', 'keepalived', '-c', `${ROOT}examples/full.json`], { encoding: 'utf8' });
  assert.equal(refused.status, 1);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /cannot translate service web: slow start/);
});

test('a UDP check without a payload is not exported: keepalived would send random bytes instead of an empty datagram', () => {
  const config = parseConfig([{ file: 'lvsd.json', text: JSON.stringify({ services: [{ protocol: 'udp', address: '192.0.2.10', port: 53,
    realServers: [{ address: '10.0.0.1', healthCheck: { type: 'udp' } }] }] }) }]);
  assert.throws(() => keepalivedConf(config, { routerId: 'd1' }), /a UDP check with an empty payload \(keepalived sends random bytes instead\)/);
});

test('a service group round-trips as a virtual_server_group (ranges, fwmarks with their family, shared real servers)', () => {
  const grouped = {
    services: [
      { protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.1' }] },
      { name: 'web', protocol: 'tcp', scheduler: 'rr', onFailure: 'remove', initialState: 'up',
        members: [{ address: '192.0.2.20', lastAddress: '192.0.2.22', port: 80 }, { address: '192.0.2.30', port: 8080 }, { fwmark: 9 }],
        realServers: [
          { address: '10.0.3.1', port: 80, weight: 5, healthCheck: { type: 'tcp', interval: 2, timeout: 1, rise: 1, fall: 2 } },
          { address: '10.0.3.2', port: 80, weight: 5, healthCheck: { type: 'http', path: '/', interval: 2, timeout: 1, rise: 1, fall: 2 } },
        ] },
      { name: 'v6', protocol: 'udp', forwarding: 'dr', scheduler: 'sh', initialState: 'up', onFailure: 'remove',
        members: [{ address: '2001:db8::20', lastAddress: '2001:db8::2f', port: 53 }, { fwmark: 10, family: 'ipv6' }],
        realServers: [{ address: '2001:db8:1::1', healthCheck: { type: 'ping', interval: 2, timeout: 1, rise: 1, fall: 2 } }] },
    ],
  };
  const config = parseConfig([{ file: 'lvsd.json', text: JSON.stringify(grouped) }]);
  assert.equal(config.services.length, 1 + 5 + 17);
  const text = keepalivedConf(config, { routerId: 'd1' });
  assert.match(text, /virtual_server_group web \{\n {2}192\.0\.2\.20-22 80\n {2}192\.0\.2\.30 8080\n {2}fwmark 9\n\}\nvirtual_server group web \{/);
  assert.match(text, /virtual_server_group v6 \{\n {2}2001:db8::20-2f 53\n {2}fwmark 10 inet6\n\}/);
  const r = importKeepalived('/k/keepalived.conf', memoryFiles({ '/k/keepalived.conf': text }));
  assert.deepEqual(r.problems.filter((p) => p.severity === 'error'), []);
  assert.deepEqual(r.problems.filter((p) => /virtual_server|group/.test(p.keyword)), []);
  const back = parseConfig([{ file: 'lvsd.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(comparable(back), comparable(config));
});
