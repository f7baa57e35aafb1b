/**
 * The status snapshot: what `lvsd status --json` prints and what GET /v1/status on the control socket
 * returns. It is a versioned contract (docs/status.md documents it field by field): fields are only ever
 * added within schema version 1; renaming or removing one means version 2.
 *
 * JSON-safe by construction: no bigint (the kernel's 64-bit counters become numbers, exact up to 2^53,
 * about 9 PB), no undefined (absent values are null), times are ISO 8601 UTC strings, durations are
 * seconds or milliseconds as the field name says.
 *
 * The helpers below are pure: the daemon passes the clock in.
 */
import type { SyncState } from '../ipvs/types.js';
import { SVC_F_PERSISTENT, serviceFlagNames as flagNames, type Family, type Forwarding, type KernelEntry, type ServiceSpec, type Stats } from '../table/index.js';
import type { HealthCheckType } from '../config/types.js';
import type { EcmpStatus } from '../ecmp/index.js';

export type { EcmpStatus } from '../ecmp/index.js';
import type { IpvsApplyStatus } from '../reconcile/index.js';

export type { IpvsApplyStatus, IpvsFailureStatus } from '../reconcile/index.js';

export const STATUS_SCHEMA_VERSION = 1 as const;

export interface StatusSnapshot {
  schemaVersion: typeof STATUS_SCHEMA_VERSION;
  /** When this snapshot was taken. */
  generatedAt: string;
  /** The host name of the director. */
  node: string;
  /** lvsd's version. */
  version: string;
  pid: number;
  startedAt: string;
  /** Whole seconds since startedAt. */
  uptimeSeconds: number;
  /** The config file (or directory) the daemon was started with. */
  configPath: string;
  /** The most recent load or reload, successful or not; null before the first one finishes. */
  lastLoad: LoadResult | null;
  vrrp: VrrpInstanceStatus[];
  health: HealthLoopStatus;
  services: ServiceStatus[];
  drains: DrainStatus[];
  /** The kernel's connection-sync daemons running now (0, 1 or 2). */
  connectionSync: SyncDaemonStatus[];
  /** Whether lvsd's last changes reached the kernel: failed operations stay here until a repair applies them. */
  ipvs: IpvsApplyStatus;
  /** null when the sync daemons are as wanted; else the last failure, retried until they are. */
  connectionSyncProblem?: { op: string; message: string; since: string; attempts: number } | null;
  /** Active-active ECMP (docs/ecmp.md): BIRD, the BGP/BFD sessions and each address announced or not; null without `ecmp`. */
  ecmp?: EcmpStatus | null;
}

export interface ConfigProblem {
  file: string;
  /** JSON pointer within the file, '' for the whole file. */
  pointer: string;
  message: string;
}

export interface LoadResult {
  /** 'load' at start-up, 'reload' afterwards (SIGHUP, file change, POST /v1/reload). */
  kind: 'load' | 'reload';
  at: string;
  /** true only when the config is in force and the kernel took all of it (result 'ok'). */
  ok: boolean;
  /**
   * ok; refused (the config is invalid or unreadable) or failed (valid, but something could not take it:
   * IPVS unreachable, VRRP refused): the previous config stays in force; partial: the new config is in
   * force but the kernel refused or lost some IPVS operations, which lvsd retries (see `ipvs`).
   */
  result?: LoadOutcome;
  /** The error's stable code (LVSD_...), when not ok. */
  code?: string;
  /** What went wrong. Absent when ok. */
  error?: string;
  /** Every config problem found, when the refusal was a validation failure. */
  problems?: ConfigProblem[];
}

export type LoadOutcome = 'ok' | 'refused' | 'failed' | 'partial';

export type VrrpStateName = 'init' | 'backup' | 'master' | 'fault' | 'stopped';

export interface VrrpInstanceStatus {
  name: string;
  interface: string;
  vrid: number;
  family: Family;
  version: 2 | 3;
  /** Version 3 that also speaks VRRPv2 (RFC 5798 8.4); absent from daemons before it existed. */
  v2Compat?: boolean;
  /** Whether the master accepts packets addressed to the VIPs (false: dropped unless IPVS forwards them). */
  acceptMode?: boolean;
  state: VrrpStateName;
  /** Present (true) while the instance may not become master: the daemon's first reconcile has not finished. */
  waitingForTable?: boolean;
  /** effective = configured adjusted by tracked interfaces that are down. */
  priority: { configured: number; effective: number };
  /** When the instance entered its current state. */
  since: string;
  /** The master as last heard (null when none heard yet, or this node is master and heard no other). */
  master: { address: string; advertInterval: number; priority: number } | null;
  /** Virtual addresses as "address/prefix". */
  vips: string[];
  syncGroup: string | null;
  trackInterfaces: Array<{ name: string; up: boolean; weight: number }>;
  /**
   * Tracked scripts, files and processes: up (file: readable), the number read (file) or matching (process),
   * the weight, and the effect now: the priority delta, or 'fault'.
   */
  tracks?: Array<{ kind: 'script' | 'file' | 'process'; name: string; up: boolean; value?: number; weight: number; effect: number | 'fault'; detail?: string }>;
  /** State changes since the daemon started. */
  transitions: number;
  adverts: { sent: number; received: number; invalid: number };
  /** Valid adverts whose VIP list differs from ours (a peer reloaded before us?): counted, never a state change. */
  addressMismatches: number;
  /** Errors the VRRP socket reported (it kept reading) and sockets replaced because one stopped reading. */
  socket?: { errors: number; reopens: number };
}

export interface HealthLoopStatus {
  /** False when the checker loop has not ticked recently: a hung loop shows here. */
  alive: boolean;
  lastTickAt: string | null;
  /** Milliseconds since the last tick, at snapshot time (null before the first tick). */
  lagMs: number | null;
  probesInFlight: number;
}

/** The kernel's counters and rates as numbers. Rates are per second (bytes per second for *bps). */
export interface StatsStatus {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface ServiceStatus {
  /** The service's name in the config. */
  name: string;
  /** serviceId(): "tcp/192.0.2.10:80", "udp/[2001:db8::53]:53", "fwmark/ipv4/7". */
  key: string;
  family: Family;
  scheduler: string;
  /** Flag names: persistent, one-packet, and the scheduler's own (sh-fallback, sh-port, mh-fallback, mh-port). */
  flags: string[];
  /** null when the service is not persistent. */
  persistence: { timeout: number; netmask: string; pe: string | null } | null;
  /** The real servers' forwarding method, or 'mixed'. null when there are no real servers. */
  forwarding: Forwarding | 'mixed' | null;
  /** Whether the kernel holds the service now. */
  kernel: 'present' | 'missing';
  /** null when the kernel does not hold the service. */
  stats: StatsStatus | null;
  /** Whether the sorry server is in the kernel table in place of the real servers. */
  sorryServerActive: boolean;
  realServers: RealServerStatus[];
  /** Present when the service is one member of a group: the group's name, this member's place, the group's size. */
  group?: { name: string; index: number; size: number };
}

export type HealthStateName = 'up' | 'down' | 'unknown';

export interface RealServerStatus {
  address: string;
  port: number;
  /** destId(): "10.0.1.11:8080", "[2001:db8::11]:80". */
  id: string;
  /** In a group: the server's id across the members (drains, metrics, the probe's address:port). */
  sharedId?: string;
  forwarding: Forwarding;
  /** configured: from the config; effective: what lvsd wants now (0 when down or drained); kernel: what the kernel has (null when absent). */
  weight: { configured: number; effective: number; kernel: number | null };
  health: {
    state: HealthStateName;
    check: HealthCheckType;
    /** The last probe's outcome in words ("connect ECONNREFUSED", "HTTP 503", "ok"); null before the first probe. */
    lastResult: string | null;
    latencyMs: number | null;
    /** When the current state began. */
    since: string | null;
  };
  drained: boolean;
  /** null when the kernel does not hold the real server. */
  activeConns: number | null;
  inactiveConns: number | null;
  stats: StatsStatus | null;
}

export interface DrainStatus {
  /** Service key (serviceId). */
  service: string;
  /** Real server (destId). */
  realServer: string;
  since: string;
}

export interface SyncDaemonStatus {
  state: SyncState;
  interface: string;
  syncId: number;
}

/** The kernel's bigint counters as numbers for JSON (exact below 2^53). */
export function statsToStatus(stats: Stats | undefined): StatsStatus | null {
  if (!stats) return null;
  return {
    conns: Number(stats.conns),
    inpkts: Number(stats.inpkts),
    outpkts: Number(stats.outpkts),
    inbytes: Number(stats.inbytes),
    outbytes: Number(stats.outbytes),
    cps: Number(stats.cps),
    inpps: Number(stats.inpps),
    outpps: Number(stats.outpps),
    inbps: Number(stats.inbps),
    outbps: Number(stats.outbps),
  };
}

/** Names of a service's flag bits; the scheduler-specific bits are named for sh and mh, "sched-flag-N" otherwise. */
export function serviceFlagNames(spec: Pick<ServiceSpec, 'flags' | 'scheduler'>): string[] {
  return flagNames(spec.flags, spec.scheduler, 'long');
}

/** The persistence block of a service: null when not persistent; an IPv4 netmask as dotted quad, IPv6 as "/len". */
export function persistenceStatus(spec: ServiceSpec): ServiceStatus['persistence'] {
  if (!(spec.flags & SVC_F_PERSISTENT)) return null;
  const m = spec.netmask >>> 0;
  const netmask = spec.key.family === 'ipv4'
    ? [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.')
    : `/${spec.netmask}`;
  return { timeout: spec.timeout, netmask, pe: spec.pe === '' ? null : spec.pe };
}

/** 'mixed' when real servers disagree, null when there are none. */
export function serviceForwarding(forwardings: readonly Forwarding[]): ServiceStatus['forwarding'] {
  if (forwardings.length === 0) return null;
  return forwardings.every((f) => f === forwardings[0]) ? forwardings[0]! : 'mixed';
}

/**
 * The health checker loop's liveness at `nowMs`: alive while the last tick is at most `maxLagMs` old.
 * A loop that never ticked counts as alive only during its first `maxLagMs` after `startedAtMs`.
 */
export function healthLoopStatus(input: {
  nowMs: number;
  startedAtMs: number;
  lastTickAtMs: number | null;
  maxLagMs: number;
  probesInFlight: number;
}): HealthLoopStatus {
  const { nowMs, lastTickAtMs, maxLagMs } = input;
  if (lastTickAtMs === null) {
    return {
      alive: nowMs - input.startedAtMs <= maxLagMs,
      lastTickAt: null,
      lagMs: null,
      probesInFlight: input.probesInFlight,
    };
  }
  const lagMs = Math.max(0, nowMs - lastTickAtMs);
  return {
    alive: lagMs <= maxLagMs,
    lastTickAt: new Date(lastTickAtMs).toISOString(),
    lagMs,
    probesInFlight: input.probesInFlight,
  };
}

/** Whole seconds between two instants, never negative. */
export function uptimeSeconds(startedAtMs: number, nowMs: number): number {
  return Math.max(0, Math.floor((nowMs - startedAtMs) / 1000));
}

/** Re-exported so the CLI can type the kernel-only view without importing src/ipvs directly. */
export type { KernelEntry };
