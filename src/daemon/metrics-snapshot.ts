/**
 * The metrics read from the latest status snapshot at scrape time: the kernel's counters and weights per
 * service and real server, ECMP (BIRD, sessions, what is announced), VRRP socket and track figures, the
 * health loop. A group's members are one series: labelled by the group's name and the real server's shared
 * id, their values summed (counters, connections), or the worst kept (presence, weight): a group of 1,000
 * members costs as many series as one service.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { scrapeTimeFamily } from './metrics-families.js';
import type { RealServerStatus, ServiceStatus, StatusSnapshot, StatsStatus } from './status.js';

type StatKey = keyof StatsStatus;
const DIRECTED: Array<[string, string, StatKey, StatKey]> = [
  ['packets', 'Packets', 'inpkts', 'outpkts'],
  ['bytes', 'Bytes', 'inbytes', 'outbytes'],
];

/** Registers them in `registers`; `source` is the latest snapshot (undefined: no data yet, no series). */
export function registerSnapshotMetrics(registers: Registry[], source: () => StatusSnapshot | undefined): void {
  const services = () => source()?.services ?? [];
  // ECMP (docs/ecmp.md): BIRD, its sessions and what is announced, from the snapshot; no series without ecmp
  const ecmp = () => source()?.ecmp ?? undefined;
  new Gauge({
    name: 'lvsd_bgp_session_up', help: 'BGP session with the peer established (1) or not (0)', labelNames: ['peer'], registers,
    collect() { this.reset(); for (const p of ecmp()?.peers ?? []) this.set({ peer: p.address }, p.bgp === 'Established' ? 1 : 0); },
  });
  new Gauge({
    name: 'lvsd_bfd_session_up', help: 'BFD session with the peer up (1) or not (0); no series for peers without BFD', labelNames: ['peer'], registers,
    collect() { this.reset(); for (const p of ecmp()?.peers ?? []) if (p.bfd !== 'off') this.set({ peer: p.address }, p.bfd === 'Up' ? 1 : 0); },
  });
  new Gauge({
    name: 'lvsd_vip_announced', help: 'Service address announced over BGP by this director (1) or withdrawn (0)', labelNames: ['vip'], registers,
    collect() { this.reset(); for (const v of ecmp()?.vips ?? []) this.set({ vip: v.prefix }, v.announced ? 1 : 0); },
  });
  new Gauge({
    name: 'lvsd_bgp_daemon_up', help: 'The BIRD lvsd runs for ecmp is running (1) or not (0)', registers,
    collect() { this.reset(); const e = ecmp(); if (e) this.set(e.daemon.running ? 1 : 0); },
  });
  new Counter({
    name: 'lvsd_bgp_daemon_restarts_total', help: 'Restarts of BIRD after it exited or could not start', registers,
    collect() { this.reset(); const e = ecmp(); if (e) this.inc(e.daemon.restarts); },
  });
  new Gauge({
    name: 'lvsd_director_drained', help: 'lvsd drain --director in force (1) or not (0)', registers,
    collect() { this.reset(); const e = ecmp(); if (e) this.set(e.drained ? 1 : 0); },
  });
  const svcLabel = (s: ServiceStatus) => s.group?.name ?? s.name;
  const rsLabel = (r: RealServerStatus) => r.sharedId ?? r.id;
  const combined = (pairs: Iterable<[Record<string, string>, number]>, combine: (a: number, b: number) => number) => {
    const out = new Map<string, [Record<string, string>, number]>();
    for (const [labels, v] of pairs) {
      const k = Object.values(labels).join('\0');
      const e = out.get(k);
      if (e) e[1] = combine(e[1], v);
      else out.set(k, [labels, v]);
    }
    return out.values();
  };
  new Gauge({
    name: 'lvsd_ipvs_service_present', help: 'Whether the kernel holds the declared service (1) or not (0); a group: every member', labelNames: ['service'], registers,
    collect() {
      this.reset();
      for (const [l, v] of combined(services().map((s) => [{ service: svcLabel(s) }, s.kernel === 'present' ? 1 : 0]), Math.min)) this.set(l, v);
    },
  });
  new Counter({
    name: 'lvsd_ipvs_service_connections_total', help: 'Connections the kernel scheduled for the service', labelNames: ['service'], registers,
    collect() { this.reset(); for (const s of services()) if (s.stats) this.inc({ service: svcLabel(s) }, s.stats.conns); },
  });
  new Gauge({
    name: 'lvsd_ipvs_service_connections_per_second', help: 'The kernel\'s estimate of new connections per second', labelNames: ['service'], registers,
    collect() {
      this.reset();
      for (const [l, v] of combined(services().filter((s) => s.stats).map((s) => [{ service: svcLabel(s) }, s.stats!.cps]), (a, b) => a + b)) this.set(l, v);
    },
  });
  for (const [unit, word, inKey, outKey] of DIRECTED) {
    new Counter({
      name: `lvsd_ipvs_service_${unit}_total`, help: `${word} through the service, by direction`, labelNames: ['service', 'direction'], registers,
      collect() {
        this.reset();
        for (const s of services()) {
          if (!s.stats) continue;
          this.inc({ service: svcLabel(s), direction: 'in' }, s.stats[inKey]);
          this.inc({ service: svcLabel(s), direction: 'out' }, s.stats[outKey]);
        }
      },
    });
    scrapeTimeFamily(registers, `lvsd_ipvs_real_server_${unit}_total`, `${word} through the real server, by direction`, 'counter', (put) => {
      for (const s of services()) {
        for (const r of s.realServers) {
          if (!r.stats) continue;
          put({ service: svcLabel(s), real_server: rsLabel(r), direction: 'in' }, r.stats[inKey]);
          put({ service: svcLabel(s), real_server: rsLabel(r), direction: 'out' }, r.stats[outKey]);
        }
      }
    });
  }
  // per real server: made at scrape time and dropped after (metrics-families.ts)
  scrapeTimeFamily(registers, 'lvsd_ipvs_real_server_connections_total', 'Connections the kernel scheduled to the real server', 'counter', (put) => {
    for (const s of services()) for (const r of s.realServers) if (r.stats) put({ service: svcLabel(s), real_server: rsLabel(r) }, r.stats.conns);
  });
  const rsGauge = (name: string, help: string, value: (r: RealServerStatus) => number | null, combine: (a: number, b: number) => number) =>
    scrapeTimeFamily(registers, name, help, 'gauge', (put) => {
      const pairs: Array<[Record<string, string>, number]> = [];
      for (const s of services()) {
        for (const r of s.realServers) {
          const v = value(r);
          if (v !== null) pairs.push([{ service: svcLabel(s), real_server: rsLabel(r) }, v]);
        }
      }
      for (const [l, v] of combined(pairs, combine)) put(l, v);
    }, true);
  const sum = (a: number, b: number) => a + b;
  rsGauge('lvsd_ipvs_real_server_active_connections', 'Active connections to the real server (a group: summed over its members)', (r) => r.activeConns, sum);
  rsGauge('lvsd_ipvs_real_server_inactive_connections', 'Inactive connections to the real server (a group: summed over its members)', (r) => r.inactiveConns, sum);
  rsGauge('lvsd_ipvs_real_server_weight', 'The real server\'s weight in the kernel (a group: the lowest over its members)', (r) => r.weight.kernel, Math.min);
  rsGauge('lvsd_real_server_drained', 'Whether the operator drained the real server (1) or not (0)', (r) => (r.drained ? 1 : 0), Math.max);
  new Counter({
    name: 'lvsd_vrrp_address_mismatches_total', help: 'Valid adverts whose VIP list differs from ours', labelNames: ['instance'], registers,
    collect() { this.reset(); for (const v of source()?.vrrp ?? []) this.inc({ instance: v.name }, v.addressMismatches); },
  });
  new Counter({
    name: 'lvsd_vrrp_socket_errors_total', help: 'Errors the VRRP socket reported (it went on reading)', labelNames: ['instance'], registers,
    collect() { this.reset(); for (const v of source()?.vrrp ?? []) this.inc({ instance: v.name }, v.socket?.errors ?? 0); },
  });
  new Counter({
    name: 'lvsd_vrrp_socket_reopens_total', help: 'VRRP sockets replaced because one stopped reading', labelNames: ['instance'], registers,
    collect() { this.reset(); for (const v of source()?.vrrp ?? []) this.inc({ instance: v.name }, v.socket?.reopens ?? 0); },
  });
  new Gauge({
    name: 'lvsd_vrrp_track_up', help: 'Tracked script, file or process of a VRRP instance: 1 up (file: readable), 0 down',
    labelNames: ['instance', 'kind', 'name'], registers,
    collect() { this.reset(); for (const v of source()?.vrrp ?? []) for (const t of v.tracks ?? []) this.set({ instance: v.name, kind: t.kind, name: t.name }, t.up ? 1 : 0); },
  });
  new Gauge({
    name: 'lvsd_vrrp_track_priority_delta', help: 'What a tracked script, file or process adds to the VRRP priority now (fault: -255)',
    labelNames: ['instance', 'kind', 'name'], registers,
    collect() {
      this.reset();
      for (const v of source()?.vrrp ?? []) for (const t of v.tracks ?? []) this.set({ instance: v.name, kind: t.kind, name: t.name }, t.effect === 'fault' ? -255 : t.effect);
    },
  });
  new Gauge({
    name: 'lvsd_health_loop_lag_seconds', help: 'Seconds since the health checker loop last ticked', registers,
    collect() { this.reset(); const h = source()?.health; if (h && h.lagMs !== null) this.set(h.lagMs / 1000); },
  });
  new Gauge({
    name: 'lvsd_health_loop_alive', help: 'Whether the health checker loop ticks on time (1) or looks hung (0)', registers,
    collect() { this.reset(); const h = source()?.health; if (h) this.set(h.alive ? 1 : 0); },
  });
  new Gauge({
    name: 'lvsd_health_probes_in_flight', help: 'Health probes running now', registers,
    collect() { this.reset(); const h = source()?.health; if (h) this.set(h.probesInFlight); },
  });
}
