/**
 * Builds the status snapshot (the contract of status.ts) from what the daemon holds: the config, the
 * kernel's table as just dumped, the health checker's and VRRP's own snapshots. Pure.
 */
import type { Config, ServiceConfig } from '../config/types.js';
import type { HealthSnapshot, ServiceStatus as HealthServiceStatus } from '../health/index.js';
import type { SyncDaemon } from '../ipvs/types.js';
import { canonicalDestId, destId, serviceId, type KernelEntry } from '../table/index.js';
import { canonicalServiceId } from '../reconcile/index.js';
import { TurnBudget } from '../turn-budget.js';
import { realServerDrainKey } from './desired.js';
import {
  STATUS_SCHEMA_VERSION, healthLoopStatus, persistenceStatus, serviceFlagNames, serviceForwarding, statsToStatus,
  uptimeSeconds, type HealthStateName, type LoadResult, type RealServerStatus, type ServiceStatus, type StatusSnapshot,
  type VrrpInstanceStatus, type IpvsApplyStatus,
} from './status.js';

export interface SnapshotInput {
  nowMs: number;
  startedAtMs: number;
  node: string;
  version: string;
  configPath: string;
  config: Config;
  lastLoad: LoadResult | null;
  /** undefined when the table could not be read. */
  kernel: KernelEntry[] | undefined;
  daemons: SyncDaemon[];
  /** The health checker's loop (its `services` are not read: see healthOf). */
  health: HealthSnapshot | undefined;
  /** Each service's health, read as its status is built (the scheduler's statusReader). */
  healthOf?: ((name: string) => HealthServiceStatus | undefined) | undefined;
  vrrp: VrrpInstanceStatus[];
  drains: Array<{ service: string; realServer: string; since: string }>;
  /** Outstanding kernel failures and the last full reconcile; absent = nothing known yet. */
  ipvs?: IpvsApplyStatus;
  /** The sync daemons are not as wanted: what failed last (conn-sync.ts). */
  connectionSyncProblem?: { op: string; message: string; since: number; attempts: number } | undefined;
  ecmp?: StatusSnapshot['ecmp'];
}

export const IPVS_OK: IpvsApplyStatus = { state: 'ok', failedOps: 0, failures: [], repair: null, lastReconcile: null };

/** A health loop that has not ticked for this long is shown as not alive. */
const HEALTH_MAX_LAG_MS = 5000;

function healthState(status: string | undefined): HealthStateName {
  if (status === undefined) return 'unknown';
  return status === 'up' || status === 'drain' ? 'up' : 'down';
}

/** What every service's status is built from: lookups made once per snapshot. */
interface ServiceContext {
  kernelById: Map<string, KernelEntry>;
  drained: Set<string>;
  healthOf: (name: string) => HealthServiceStatus | undefined;
}

function serviceContext(input: SnapshotInput): ServiceContext {
  return {
    kernelById: new Map((input.kernel ?? []).map((e) => [canonicalServiceId(e.service.key), e])),
    drained: new Set(input.drains.map((d) => `${d.service}/${d.realServer}`)),
    healthOf: input.healthOf ?? (() => undefined),
  };
}

function serviceStatusOf(svc: ServiceConfig, ctx: ServiceContext): ServiceStatus {
  const { kernelById, drained } = ctx;
  const k = kernelById.get(canonicalServiceId(svc.spec.key));
  const kernelDests = new Map((k?.dests ?? []).map((d) => [destId(d), d]));
  const h = ctx.healthOf(svc.name);
  const hById = new Map((h?.realServers ?? []).map((r) => [r.realServer, r]));
  const realServers: RealServerStatus[] = svc.realServers.map((rs) => {
    const id = destId(rs.spec);
    const kd = kernelDests.get(id);
    const hs = hById.get(id);
    const isDrained = drained.has(realServerDrainKey(svc, rs));
    const effective = isDrained ? 0 : hs ? hs.effectiveWeight : rs.spec.weight;
    return {
      address: rs.spec.address,
      port: rs.spec.port,
      id,
      ...(rs.shared && { sharedId: rs.shared.id }),
      forwarding: rs.spec.forwarding,
      weight: { configured: rs.spec.weight, effective, kernel: kd ? kd.weight : null },
      health: {
        state: rs.healthCheck.type === 'none' && !hs ? 'up' : healthState(hs?.status),
        check: rs.healthCheck.type,
        lastResult: hs?.lastResult ? (hs.lastResult.ok ? 'ok' : hs.lastResult.reason) : null,
        latencyMs: hs?.latencyMs ?? null,
        since: hs ? new Date(hs.since).toISOString() : null,
      },
      drained: isDrained,
      activeConns: kd ? kd.activeConns : null,
      inactiveConns: kd ? kd.inactiveConns : null,
      stats: statsToStatus(kd?.stats),
    };
  });
  return {
    name: svc.name,
    key: serviceId(svc.spec.key),
    family: svc.spec.key.family,
    scheduler: svc.spec.scheduler,
    flags: serviceFlagNames(svc.spec),
    persistence: persistenceStatus(svc.spec),
    forwarding: serviceForwarding(svc.realServers.map((r) => r.spec.forwarding)),
    kernel: k ? 'present' : 'missing',
    stats: statsToStatus(k?.service.stats),
    sorryServerActive: h?.sorryActive ?? false,
    realServers,
    ...(svc.group && { group: { ...svc.group } }),
  };
}

/**
 * The status snapshot, built a slice of services per turn of the event loop (turn-budget.ts): at 10,000
 * services a whole status took the daemon's loop for seconds natively and tens of seconds in the TCG VM,
 * delaying health probes and the control socket while an operator ran `lvsd status` or a scrape came.
 */
export async function buildSnapshotInTurns(input: SnapshotInput, budget = new TurnBudget()): Promise<StatusSnapshot> {
  const ctx = serviceContext(input);
  const services: ServiceStatus[] = [];
  for (const svc of input.config.services) {
    services.push(serviceStatusOf(svc, ctx));
    await budget.check();
  }
  return assemble(input, services);
}

function assemble(input: SnapshotInput, services: ServiceStatus[]): StatusSnapshot {
  const { config, nowMs } = input;
  const loop = input.health?.loop;
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    generatedAt: new Date(nowMs).toISOString(),
    node: input.node,
    version: input.version,
    pid: process.pid,
    startedAt: new Date(input.startedAtMs).toISOString(),
    uptimeSeconds: uptimeSeconds(input.startedAtMs, nowMs),
    configPath: input.configPath,
    lastLoad: input.lastLoad,
    vrrp: input.vrrp,
    health: healthLoopStatus({
      nowMs,
      startedAtMs: input.startedAtMs,
      lastTickAtMs: loop?.lastTickAt ?? (input.health ? null : nowMs),
      maxLagMs: HEALTH_MAX_LAG_MS,
      probesInFlight: loop?.inFlight ?? 0,
    }),
    services,
    drains: input.drains.map((d) => {
      const svc = config.services.find((s) => s.name === d.service);
      // a group's drain is shown by the group's name (it covers every member)
      return { service: svc && !svc.group ? serviceId(svc.spec.key) : d.service, realServer: d.realServer, since: d.since };
    }),
    connectionSync: input.daemons.map((d) => ({ state: d.state, interface: d.interface, syncId: d.syncId })),
    ipvs: input.ipvs ?? IPVS_OK,
    connectionSyncProblem: input.connectionSyncProblem
      ? { ...input.connectionSyncProblem, since: new Date(input.connectionSyncProblem.since).toISOString() }
      : null,
    ecmp: input.ecmp ?? null,
  };
}

/**
 * The kept view of some services with the counters of a read of the same services: weights and presence
 * as the view has them, connections and statistics from the read (0 and none where the read lacks the
 * object: the view and the kernel disagree until the next drift pass).
 */
export function mergeCounters(view: readonly KernelEntry[], read: readonly KernelEntry[]): KernelEntry[] {
  const byId = new Map(read.map((e) => [canonicalServiceId(e.service.key), e]));
  return view.map((v) => {
    const r = byId.get(canonicalServiceId(v.service.key));
    if (!r) return v;
    const dests = new Map(r.dests.map((d) => [canonicalDestId(d), d]));
    return {
      service: { ...v.service, ...(r.service.stats ? { stats: r.service.stats } : {}) },
      dests: v.dests.map((d) => {
        const k = dests.get(canonicalDestId(d));
        return k
          ? { ...d, activeConns: k.activeConns, inactiveConns: k.inactiveConns, persistentConns: k.persistentConns, ...(k.stats ? { stats: k.stats } : {}) }
          : d;
      }),
    };
  });
}
