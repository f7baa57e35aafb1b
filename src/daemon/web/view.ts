/**
 * What the status page receives (GET /state.json): a projection of the status snapshot that keeps only
 * what the page shows. It leaves out what a metrics scrape does not reveal and the page does not need:
 * the config path, the pid, why a reload was refused (file names and values from the config), probe
 * failure reasons, drains' times, the sync daemons. What it shows beyond the metrics is public on the
 * wire anyway: VIPs, priorities and the master's address are in every VRRP advertisement, a service's
 * address is where its clients connect (docs/status.md, "The status page").
 *
 * Pure. Real servers are compact arrays (the bulk of the document at 1,000 services): see RsRow.
 */
import type { LoadOutcome, LoadResult, StatusSnapshot } from '../status.js';
import type { HistoryDelta } from './history.js';
import type { PageEvent } from './events.js';

export const PAGE_STATE_VERSION = 1 as const;

/**
 * One real server: [id, health, weight configured, weight effective, drained, active conns, inactive conns,
 * conns/s, bytes/s]. health: 'up' | 'down' | 'unknown'; drained 0 | 1; connection figures null when the
 * kernel does not hold the real server.
 */
export type RsRow = [string, string, number, number, 0 | 1, number | null, number | null, number | null, number | null];

export interface PageService {
  name: string;
  /** The group the service is one member of (its members share real servers and checks); null when none. */
  group: string | null;
  key: string;
  scheduler: string;
  forwarding: string | null;
  /** Whether the kernel holds the service. */
  present: boolean;
  sorry: boolean;
  /** Connections/s and bytes/s (both directions); null when missing from the kernel. */
  cps: number | null;
  bps: number | null;
  rs: RsRow[];
}

export interface PageVrrp {
  name: string;
  interface: string;
  vrid: number;
  state: string;
  priority: { configured: number; effective: number };
  since: string;
  master: { address: string; priority: number } | null;
  vips: string[];
  syncGroup: string | null;
}

/**
 * Active-active ECMP: whether BIRD runs, the director drain, each BGP session and each address announced or
 * not (with why). What the routers learn anyway; BIRD's error text and pid stay on the control socket.
 */
export interface PageEcmp {
  bird: { running: boolean; restarts: number };
  drained: boolean;
  peers: Array<{ address: string; as: number; bgp: string; bfd: string }>;
  vips: Array<{ prefix: string; announced: boolean; reason: string | null }>;
}

export interface PageState {
  v: typeof PAGE_STATE_VERSION;
  generatedAt: string;
  node: string;
  version: string;
  uptimeSeconds: number;
  /**
   * The last load or reload: when, and its outcome: ok; refused or failed (the previous config stays);
   * partial (the new config is in force, some IPVS operations are being retried).
   */
  load: { kind: 'load' | 'reload'; at: string; ok: boolean; result: LoadOutcome } | null;
  /** Failed IPVS operations lvsd is retrying (0 when none). */
  ipvs: { state: 'ok' | 'repairing'; failedOps: number };
  healthLoop: { alive: boolean; lagMs: number | null };
  vrrp: PageVrrp[];
  /** Null when the director has no `ecmp` section. */
  ecmp: PageEcmp | null;
  services: PageService[];
  /** Newest first. */
  events: PageEvent[];
  /** Sparkline buckets the page does not have yet (absent when none). */
  history?: HistoryDelta;
  /** How often the daemon samples: the page polls at this period. */
  sampleMs: number;
}

export function pageState(s: StatusSnapshot, extra: { events: PageEvent[]; history: HistoryDelta | undefined; sampleMs: number }): PageState {
  return {
    v: PAGE_STATE_VERSION,
    generatedAt: s.generatedAt,
    node: s.node,
    version: s.version,
    uptimeSeconds: s.uptimeSeconds,
    load: s.lastLoad && { kind: s.lastLoad.kind, at: s.lastLoad.at, ok: s.lastLoad.ok, result: loadOutcome(s.lastLoad) },
    ipvs: { state: s.ipvs.state, failedOps: s.ipvs.failedOps },
    healthLoop: { alive: s.health.alive, lagMs: s.health.lagMs },
    vrrp: s.vrrp.map((v) => ({
      name: v.name,
      interface: v.interface,
      vrid: v.vrid,
      state: v.state,
      priority: { configured: v.priority.configured, effective: v.priority.effective },
      since: v.since,
      master: v.master && { address: v.master.address, priority: v.master.priority },
      vips: [...v.vips],
      syncGroup: v.syncGroup,
    })),
    ecmp: s.ecmp ? {
      bird: { running: s.ecmp.daemon.running, restarts: s.ecmp.daemon.restarts },
      drained: s.ecmp.drained,
      peers: s.ecmp.peers.map((p) => ({ address: p.address, as: p.as, bgp: p.bgp, bfd: p.bfd })),
      vips: s.ecmp.vips.map((v) => ({ prefix: v.prefix, announced: v.announced, reason: v.reason })),
    } : null,
    services: s.services.map((svc) => ({
      name: svc.name,
      group: svc.group?.name ?? null,
      key: svc.key,
      scheduler: svc.scheduler,
      forwarding: svc.forwarding,
      present: svc.kernel === 'present',
      sorry: svc.sorryServerActive,
      cps: svc.stats ? svc.stats.cps : null,
      bps: svc.stats ? svc.stats.inbps + svc.stats.outbps : null,
      rs: svc.realServers.map((r): RsRow => [
        r.id, r.health.state, r.weight.configured, r.weight.effective, r.drained ? 1 : 0,
        r.activeConns, r.inactiveConns, r.stats ? r.stats.cps : null, r.stats ? r.stats.inbps + r.stats.outbps : null,
      ]),
    })),
    events: extra.events,
    ...(extra.history && { history: extra.history }),
    sampleMs: extra.sampleMs,
  };
}

/** A load's outcome; snapshots from before `result` existed say only ok or not (refused). */
export function loadOutcome(l: LoadResult): LoadOutcome {
  return l.result ?? (l.ok ? 'ok' : 'refused');
}

/** The history sample of a snapshot: each service's rates (0 when missing from the kernel). */
export function rateSamples(s: StatusSnapshot): Array<{ name: string; cps: number; bps: number }> {
  return s.services.map((svc) => ({
    name: svc.name,
    cps: svc.stats?.cps ?? 0,
    bps: svc.stats ? svc.stats.inbps + svc.stats.outbps : 0,
  }));
}
