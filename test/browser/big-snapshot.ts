/** Synthetic status snapshots of any size, for the status page's scale tests and measurements. */
import type { RealServerStatus, ServiceStatus, StatusSnapshot, StatsStatus } from '../../src/daemon/status.js';

function stats(cps: number, bps: number): StatsStatus {
  return { conns: cps * 1000, inpkts: cps * 20, outpkts: cps * 18, inbytes: bps * 500, outbytes: bps * 400, cps, inpps: cps * 10, outpps: cps * 9, inbps: bps, outbps: Math.round(bps / 4) };
}

export interface BigOptions {
  services: number;
  realServers: number;
  /** Moves the rates (and nothing else) from one snapshot to the next. */
  tick?: number;
  /** Real servers marked down: "service index/real server index". */
  down?: Set<string>;
  drained?: Set<string>;
  vrrpState?: 'master' | 'backup';
  nowMs?: number;
  reloadRefused?: boolean;
  /** The first `size` services are the members of one group named `name`. */
  group?: { name: string; size: number };
  /** An active-active director: no VRRP, this ECMP block instead. */
  ecmp?: NonNullable<StatusSnapshot['ecmp']>;
}

export function bigSnapshot(o: BigOptions): StatusSnapshot {
  const now = o.nowMs ?? Date.now();
  const tick = o.tick ?? 0;
  const iso = (ms: number) => new Date(ms).toISOString();
  const services: ServiceStatus[] = [];
  for (let i = 0; i < o.services; i++) {
    const a = `10.${(i >> 8) & 255}.${i & 255}`;
    const realServers: RealServerStatus[] = [];
    let cps = 0;
    let bps = 0;
    for (let j = 0; j < o.realServers; j++) {
      const down = o.down?.has(`${i}/${j}`) ?? false;
      const drained = o.drained?.has(`${i}/${j}`) ?? false;
      const rcps = down ? 0 : 5 + ((i * 7 + j * 3 + tick) % 40);
      const rbps = rcps * 12_000;
      cps += rcps;
      bps += rbps;
      realServers.push({
        address: `${a}.${10 + j}`, port: 8080, id: `${a}.${10 + j}:8080`, forwarding: 'nat',
        weight: { configured: 100, effective: down || drained ? 0 : 100, kernel: down || drained ? 0 : 100 },
        health: { state: down ? 'down' : 'up', check: 'http', lastResult: down ? 'connect ECONNREFUSED' : 'ok', latencyMs: 2, since: iso(now - 60_000) },
        drained, activeConns: down ? 0 : rcps * 3, inactiveConns: rcps * 10, stats: stats(rcps, rbps),
      });
    }
    services.push({
      name: `svc-${String(i).padStart(4, '0')}`, key: `tcp/192.0.${(i >> 8) & 255}.${i & 255}:80`, family: 'ipv4', scheduler: 'wlc',
      flags: [], persistence: null, forwarding: 'nat', kernel: 'present', stats: stats(cps, bps), sorryServerActive: false, realServers,
      ...(o.group && i < o.group.size && { group: { name: o.group.name, index: i, size: o.group.size } }),
    });
  }
  const state = o.vrrpState ?? 'master';
  return {
    schemaVersion: 1, generatedAt: iso(now), node: 'lb1.example.net', version: '0.1.0', pid: 4242,
    startedAt: iso(now - 3_600_000), uptimeSeconds: 3600, configPath: '/etc/lvsd/secret-path.json',
    lastLoad: o.reloadRefused
      ? { kind: 'reload', at: iso(now - 5000), ok: false, result: 'refused', code: 'LVSD_CONFIG_INVALID', error: 'services.json: /services/3/port: SECRET-DETAIL', problems: [{ file: '/etc/lvsd/services.json', pointer: '/services/3/port', message: 'SECRET-DETAIL' }] }
      : { kind: 'load', at: iso(now - 3_600_000), ok: true, result: 'ok' },
    ...(o.ecmp && { ecmp: o.ecmp }),
    vrrp: o.ecmp ? [] : [{
      name: 'VI_WEB', interface: 'eth0', vrid: 80, family: 'ipv4', version: 3, state,
      priority: { configured: 150, effective: 150 }, since: iso(now - 600_000),
      master: state === 'master' ? null : { address: '10.80.0.2', advertInterval: 1, priority: 200 },
      vips: ['10.80.0.100/24'], syncGroup: null, trackInterfaces: [], transitions: 1,
      adverts: { sent: 600, received: 0, invalid: 0 }, addressMismatches: 0,
    }],
    health: { alive: true, lastTickAt: iso(now - 100), lagMs: 100, probesInFlight: 4 },
    services, drains: [], connectionSync: [],
    ipvs: { state: 'ok', failedOps: 0, failures: [], repair: null, lastReconcile: null },
  };
}

/** An ECMP director with one session down and one of two addresses withdrawn (for the page's tests). */
export function ecmpBlock(): NonNullable<StatusSnapshot['ecmp']> {
  const at = new Date(0).toISOString();
  return {
    daemon: { running: true, pid: 777, restarts: 2, startedAt: at, lastError: 'BIRD killed by SIGKILL: SECRET-BIRD-LINE', nextStartAt: null },
    drained: false, drainedSince: null, stopping: false, problems: [],
    peers: [
      { address: '10.9.1.1', as: 65000, bgp: 'Established', bfd: 'Up', detail: '', since: at },
      { address: '10.9.2.1', as: 65000, bgp: 'Active', bfd: 'Down', detail: 'Socket: Connection refused', since: at },
    ],
    vips: [
      { address: '192.0.0.0', prefix: '192.0.0.0/32', announced: true, reason: null },
      { address: '192.0.0.1', prefix: '192.0.0.1/32', announced: false, reason: 'svc-0001: 0 real servers up, quorum 1' },
    ],
  };
}
