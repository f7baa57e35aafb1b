/** A fixed status snapshot shared by the status rendering tests. */
import type { StatusSnapshot } from '../../src/daemon/status.js';

export function fixtureSnapshot(): StatusSnapshot {
  return {
    schemaVersion: 1,
    generatedAt: '2026-11-25T12:00:00.000Z',
    node: 'lb1.example.net',
    version: '0.1.0',
    pid: 4242,
    startedAt: '2026-11-22T09:30:00.000Z',
    uptimeSeconds: 268200,
    configPath: '/etc/lvsd/lvsd.json',
    lastLoad: { kind: 'reload', at: '2026-11-25T11:58:00.000Z', ok: true },
    vrrp: [
      {
        name: 'vi_web', interface: 'eth0', vrid: 51, family: 'ipv4', version: 3, state: 'master',
        priority: { configured: 150, effective: 150 }, since: '2026-11-25T10:00:00.000Z',
        master: { address: '192.0.2.2', advertInterval: 1, priority: 150 },
        vips: ['192.0.2.10/24'], syncGroup: null, trackInterfaces: [{ name: 'eth1', up: true, weight: -50 }],
        transitions: 3, adverts: { sent: 7200, received: 12, invalid: 0 }, addressMismatches: 0,
      },
      {
        name: 'vi_dns6', interface: 'eth0', vrid: 52, family: 'ipv6', version: 3, state: 'backup',
        priority: { configured: 100, effective: 50 }, since: '2026-11-25T11:55:00.000Z',
        master: { address: 'fe80::1', advertInterval: 1, priority: 200 },
        vips: ['2001:db8::53/64'], syncGroup: 'sg1', trackInterfaces: [{ name: 'eth2', up: false, weight: -50 }],
        transitions: 1, adverts: { sent: 0, received: 300, invalid: 2 }, addressMismatches: 5,
      },
    ],
    health: { alive: true, lastTickAt: '2026-11-25T11:59:59.800Z', lagMs: 200, probesInFlight: 3 },
    services: [
      {
        name: 'web', key: 'tcp/192.0.2.10:80', family: 'ipv4', scheduler: 'wlc', flags: ['persistent'],
        persistence: { timeout: 300, netmask: '255.255.255.255', pe: null }, forwarding: 'dr', kernel: 'present',
        stats: {
          conns: 1234567, inpkts: 1, outpkts: 1, inbytes: 1, outbytes: 1, cps: 1200, inpps: 1, outpps: 0,
          inbps: 3_400_000, outbps: 950,
        },
        sorryServerActive: false,
        realServers: [
          {
            address: '10.0.1.11', port: 8080, id: '10.0.1.11:8080', forwarding: 'dr',
            weight: { configured: 100, effective: 100, kernel: 100 },
            health: { state: 'up', check: 'http', lastResult: 'HTTP 200', latencyMs: 1.25, since: '2026-11-25T09:00:00.000Z' },
            drained: false, activeConns: 1500, inactiveConns: 20, stats: null,
          },
          {
            address: '10.0.1.12', port: 8080, id: '10.0.1.12:8080', forwarding: 'dr',
            weight: { configured: 100, effective: 0, kernel: 0 },
            health: { state: 'down', check: 'http', lastResult: 'connect ECONNREFUSED', latencyMs: null, since: '2026-11-25T11:55:00.000Z' },
            drained: true, activeConns: 0, inactiveConns: 3, stats: null,
          },
        ],
      },
      {
        name: 'dns6', key: 'udp/[2001:db8::53]:53', family: 'ipv6', scheduler: 'sh', flags: ['sh-port'],
        persistence: null, forwarding: 'nat', kernel: 'missing', stats: null, sorryServerActive: false,
        realServers: [
          {
            address: '2001:db8:0:1234:5678:9abc:def0:1', port: 53, id: '[2001:db8:0:1234:5678:9abc:def0:1]:53', forwarding: 'nat',
            weight: { configured: 10, effective: 10, kernel: null },
            health: { state: 'unknown', check: 'dns', lastResult: null, latencyMs: null, since: null },
            drained: false, activeConns: null, inactiveConns: null, stats: null,
          },
        ],
      },
    ],
    drains: [{ service: 'tcp/192.0.2.10:80', realServer: '10.0.1.12:8080', since: '2026-11-25T11:50:00.000Z' }],
    connectionSync: [{ state: 'master', interface: 'eth1', syncId: 9 }],
    ipvs: { state: 'ok', failedOps: 0, failures: [], repair: null, lastReconcile: null },
    connectionSyncProblem: null,
  };
}
