/**
 * The types of a running VRRP instance that other modules see (the worker's messages, status): counters,
 * transitions, hooks, snapshots (built by instanceSnapshot(), pure); and sameWire(), which says whether a reload
 * can keep an instance's socket.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { DropReason } from './packet.js';
import { effectivePriority } from './machine-formulas.js';
import type { VrrpState, VrrpStateName } from './machine-types.js';
import type { TrackedStatus } from './trackers.js';

export interface InstanceCounters {
  advertsSent: number;
  advertsReceived: number;
  invalid: Partial<Record<DropReason | 'foreign_peer', number>>;
  transitions: number;
  /** Valid adverts whose address list differed from ours (every one; the log line is once per peer and list). */
  addressMismatches: number;
  /** Receive and send failures the socket reported (it keeps reading). */
  socketErrors: number;
  /** Sockets replaced because one stopped reading. */
  socketReopens: number;
}

export interface InstanceTransition {
  instance: string;
  from: VrrpStateName;
  to: VrrpStateName;
  reason: string;
  at: number;
}

export interface InstanceHooks {
  /** Every transition, after the actions it implies were started. */
  onTransition?(t: InstanceTransition): void;
  /** `count` adverts (1 when absent) went out: one per send by this thread, a batch read from the advert clock. */
  onAdvertSent?(instance: string, count?: number): void;
  onAdvertReceived?(instance: string): void;
  onInvalid?(instance: string, reason: string): void;
  /** The master heard (address or priority) changed: status should not wait for the next periodic snapshot. */
  onMasterChange?(instance: string): void;
  /** Netlink notifications were lost on `socket` ('links') and are being re-read (the manager's, not an instance's). */
  onNetlinkOverrun?(socket: string): void;
}

export interface InstanceSnapshot {
  name: string;
  interface: string;
  vrid: number;
  family: 'ipv4' | 'ipv6';
  version: 2 | 3;
  /** VRRPv2 adverts sent and heard too (RFC 5798 8.4). */
  v2Compat: boolean;
  /** Accept_Mode: false = packets to the VIPs are dropped unless IPVS forwards them (not for the owner). */
  acceptMode: boolean;
  state: VrrpStateName;
  priority: { configured: number; effective: number };
  since: number;
  master: { address: string; advertInterval: number; priority: number } | null;
  vips: string[];
  syncGroup: string | null;
  trackInterfaces: Array<{ name: string; up: boolean; weight: number }>;
  /** Tracked scripts, files and processes. */
  tracks: TrackedStatus[];
  counters: InstanceCounters;
  /** Send-time lateness of adverts (ms): the last 256 samples, for the jitter benchmark. */
  advertLateness: number[];
  /** It may not become master yet: the daemon's first reconcile of its IPVS table has not finished. */
  waitingForTable: boolean;
}

/** Do two configs of an instance speak the same on the wire (same socket, same VIPs)? Else it must be replaced. */
export function sameWire(a: VrrpInstanceConfig, b: VrrpInstanceConfig): boolean {
  const wire = (c: VrrpInstanceConfig) => JSON.stringify([c.name, c.interface, c.vrid, c.family, c.version, c.unicast ?? null, c.addresses]);
  return wire(a) === wire(b);
}

/** What an instance's snapshot is made of, besides its config. */
export interface SnapshotParts {
  machine: VrrpState;
  since: number;
  source: string;
  lastMaster: InstanceSnapshot['master'];
  trackUp: ReadonlyMap<string, boolean>;
  tracks: TrackedStatus[];
  counters: InstanceCounters;
  lateness: readonly number[];
  vips: string[];
}

/** The snapshot status and metrics read (copies: the instance goes on changing its own). Pure. */
export function instanceSnapshot(cfg: VrrpInstanceConfig, p: SnapshotParts): InstanceSnapshot {
  const priority = effectivePriority(p.machine);
  return {
    name: cfg.name,
    interface: cfg.interface,
    vrid: cfg.vrid,
    family: cfg.family,
    version: cfg.version,
    v2Compat: cfg.v2Compat,
    acceptMode: cfg.acceptMode || cfg.priority === 255,
    state: p.machine.current,
    priority: { configured: cfg.priority, effective: priority },
    since: p.since,
    master: p.machine.current === 'master' ? { address: p.source, advertInterval: cfg.advertInterval, priority } : p.lastMaster,
    vips: p.vips,
    syncGroup: cfg.syncGroup ?? null,
    trackInterfaces: cfg.trackInterfaces.map((t) => ({ name: t.name, up: p.trackUp.get(t.name) ?? true, weight: t.weight })),
    tracks: p.tracks,
    counters: { ...p.counters, invalid: { ...p.counters.invalid }, addressMismatches: p.machine.addressMismatches },
    advertLateness: [...p.lateness],
    waitingForTable: p.machine.waitingForTable,
  };
}
