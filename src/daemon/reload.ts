/**
 * The steps of a reload that hold no daemon state: watching how long it held the event loop, preparing
 * every part for the new config (IPVS asked, health prepared or built, VRRP updated; what was made is
 * undone when a part refuses or a stop came meanwhile), and the line `config.reloaded` logs. The daemon
 * (daemon.ts) loads, switches all at once and records the outcome.
 */
import { performance, type IntervalHistogram } from 'node:perf_hooks';
import { unchangedSince, type ConfigCache, type LoadPhases, type LoadStats } from '../config/index.js';
import type { Config, ServiceConfig } from '../config/types.js';
import type { HealthScheduler, PreparedHealth } from '../health/index.js';
import type { IpvsClient } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import type { ReloadResult } from './control-server.js';
import type { LoadResult } from './status.js';
import type { DaemonMetrics, ReloadTrigger, VrrpPort } from './daemon-types.js';
import { forgetRemoved, publishHealthUp, type SeriesNames } from './health-wiring.js';
import type { ServicesDelta } from './service-delta.js';
import type { ProbeUsers } from './probe-users.js';
import type { Wanted } from './wanted.js';

/** What a reload measured on its way, logged with config.reloaded. */
export interface ReloadFacts extends LoadStats {
  started: number;
  loop: IntervalHistogram;
  loadMs: number;
  /** Where the load's time went (config/cache.ts LoadPhases). */
  phases?: LoadPhases;
  /** When the switch's steps ended (performance.now()): every part prepared and switched, the IPVS sysctls, the table's operations. */
  marks: { prepared?: number; sysctls?: number; applied?: number };
  /** How long the reload waited in the daemon's reload chain before it read anything (the start's warm, ms). */
  chainMs?: number;
  /** The operations the reload's pass sent to the kernel (0: the table already held the config). */
  ops?: number;
  /** A drift pass was reading the kernel's table when the reload applied its operations: the reload went ahead of it. */
  aheadOfDrift?: boolean;
}

/**
 * Whether a reload that ended with `result` also answers the requests that came while it ran
 * (reload-queue.ts): it succeeded, and every file its load read (`cache.lastRead`: reloads run one at a
 * time, so the latest load is its own) is unchanged since (config/read-stamp.ts). A refused or failed reload
 * answers only its own requests: what refused it may be outside the files (a user missing on the host,
 * IPVS not answering), and a later request means to try again.
 */
export function answeredByRead(result: ReloadResult, cache: ConfigCache): boolean {
  const read = cache.lastRead;
  return result.ok && read !== undefined && unchangedSince(read);
}

/** The answer to a reload that came while lvsd stops. */
export function stoppingResult(): ReloadResult {
  return { ok: false, applied: false, code: 'LVSD_CONTROL', error: 'lvsd is stopping' };
}

/** The parts the daemon runs now. */
export interface RunningParts {
  config: Config;
  client: IpvsClient | undefined;
  health: HealthScheduler | undefined;
  vrrp: VrrpPort | undefined;
  /** Services recorded as lvsd's (the ownership record): IPVS must answer while there are any. */
  owned: number;
}

/** How the parts the daemon does not run yet are made. */
export interface PartMakers {
  ipvs: () => Promise<IpvsClient>;
  /** A scheduler for the config, not started. */
  health: (config: Config) => HealthScheduler;
  /** The config the running checker has for a service (the same object for a service the reload reused). */
  healthConfig: (service: ServiceConfig) => ServiceConfig;
  vrrp: ((config: Config, log: Logger) => Promise<VrrpPort>) | undefined;
  log: Logger;
}

/** What a reload made or prepared, switched in all at once. */
export interface PreparedParts {
  newClient?: IpvsClient | undefined;
  preparedHealth?: PreparedHealth | undefined;
  newHealth?: HealthScheduler | undefined;
  newVrrp?: VrrpPort | undefined;
}

/**
 * Prepares every part for `next` (IPVS reachable, health built, VRRP updated). If one cannot take it,
 * nothing has switched: a client made for it is closed and the step that refused is returned.
 */
export async function prepareParts(
  next: Config, running: RunningParts, make: PartMakers, delta?: ServicesDelta,
): Promise<{ ok: true; parts: PreparedParts } | { ok: false; step: string; error: unknown }> {
  let step = 'ipvs';
  const parts: PreparedParts = {};
  try {
    if (next.services.length > 0 && !running.client) parts.newClient = await make.ipvs();
    const client = running.client ?? parts.newClient;
    // IPVS must answer (one small request); the table itself is not read: the reconciler keeps it
    if (client && (next.services.length > 0 || running.owned > 0)) await client.info();
    step = 'health';
    // a service the reload reused is handed over as the same object, so the checker keeps it as it runs
    // (a new or changed one is handed over as configured: a real server the reload adds starts as its config says);
    // the very config in force (every file unchanged: config/cache.ts) leaves the checker as it is; services
    // changed in place (service-delta.ts) are built alone
    if (next === running.config) { /* nothing to prepare */ }
    else if (running.health) {
      parts.preparedHealth = (delta && running.health.prepareChanges(delta.after.map((s) => make.healthConfig(s)), next.health))
        ?? running.health.prepare({ services: next.services.map((s) => make.healthConfig(s)), health: next.health });
    }
    else if (next.services.length > 0) parts.newHealth = make.health(next);
    // VRRP last: the one part that acts while preparing (the worker applies the new instances whole,
    // or rejects and keeps the old ones), so nothing after it may fail
    step = 'vrrp';
    if (running.vrrp) {
      if (next.vrrp.length > 0 || running.config.vrrp.length > 0) await running.vrrp.update(next);
    } else if (next.vrrp.length > 0) {
      parts.newVrrp = await make.vrrp!(next, make.log.child({ component: 'vrrp' }));
    }
  } catch (error) {
    parts.newClient?.close();
    return { ok: false, step, error };
  }
  return { ok: true, parts };
}

/** What the daemon keeps per service beside its parts (switched by followServices). */
export interface ServiceRecords {
  wanted: Wanted;
  seriesNames: SeriesNames;
  metrics: DaemonMetrics | undefined;
  health: HealthScheduler | undefined;
  probeUsers: ProbeUsers;
}

/**
 * After the switch from `old` to `next`: the health checker's lists, the metric series and the per-config
 * maps follow the new config. With a delta only its services are looked at; without one, every service
 * the reload did not reuse whole (the same object).
 */
export function followServices(old: Config, next: Config, delta: ServicesDelta | undefined, r: ServiceRecords): void {
  if (next === old) return; // the very config in force: its lists, series and maps stay
  r.probeUsers.switched(old, next, delta);
  const health = r.health;
  if (delta) {
    r.wanted.switched(old, next, delta, (name) => health?.desired(name));
    r.seriesNames.switched(old, next, true);
    publishHealthUp(r.metrics, health, delta.after);
    forgetRemoved(r.metrics, old, next, delta.before, delta.after);
    return;
  }
  const kept = new Set(old.services);
  const reused = new Set(next.services.filter((s) => kept.has(s)));
  r.wanted.refreshHealth((name) => health?.desired(name), reused);
  r.seriesNames.switched(old, next, false);
  publishHealthUp(r.metrics, health, next.services.filter((s) => !reused.has(s)));
  forgetRemoved(r.metrics, old, next, old.services.filter((s) => !reused.has(s)), next.services.filter((s) => !reused.has(s)));
}

/** Undoes what prepareParts made (a stop came while it prepared). */
export async function dropPrepared(parts: PreparedParts): Promise<void> {
  parts.newClient?.close();
  await parts.newVrrp?.stop().catch(() => undefined);
}

/** config.reloaded: what the reload measured. */
export function logReloaded(log: Logger, trigger: ReloadTrigger, next: Config, facts: ReloadFacts): void {
  const { started, loop, phases, marks, chainMs, ops, aheadOfDrift, ...load } = facts;
  const tenth = (ms: number) => Math.round(ms * 10) / 10;
  const { prepared, sysctls, applied } = marks;
  const loaded = started + facts.loadMs;
  log.info({
    event: 'config.reloaded', trigger, services: next.services.length, vrrp: next.vrrp.length, ...(ops !== undefined && { ops }),
    ...(aheadOfDrift && { aheadOfDrift }), ...load,
    ...(chainMs !== undefined && { chainMs: tenth(chainMs) }),
    ...(phases && { readMs: tenth(phases.readMs), parseMs: tenth(phases.parseMs), buildMs: tenth(phases.buildMs), hostMs: tenth(phases.hostMs) }),
    // the switch: parts prepared (IPVS asked, health, VRRP), the IPVS sysctls, the table's operations, the rest
    ...(prepared !== undefined && sysctls !== undefined && applied !== undefined && {
      prepareMs: tenth(prepared - loaded), sysctlMs: tenth(sysctls - prepared), applyMs: tenth(applied - sysctls), afterMs: tenth(performance.now() - applied),
    }),
    ms: Math.round(performance.now() - started), loopDelayMaxMs: Math.round(loop.max / 1e6),
  }, 'config reloaded');
}

/** config.reload_refused: the new config is invalid (every problem named); the running one stays whole. */
export function refusedAnswer(log: Logger, trigger: ReloadTrigger, load: LoadResult): ReloadResult {
  log.error({ event: 'config.reload_refused', trigger, code: load.code, err: load.error, problems: load.problems },
    `reload refused, the running config stays: ${load.error ?? ''}`);
  return { ok: false, applied: false, error: load.error ?? 'refused', ...(load.code ? { code: load.code } : {}), ...(load.problems ? { problems: load.problems } : {}) };
}

/** config.reload_failed: a part could not take the new config (`step`); the running one stays whole. */
export function failedAnswer(log: Logger, trigger: ReloadTrigger, step: string, load: LoadResult): ReloadResult {
  log.error({ event: 'config.reload_failed', trigger, step, code: load.code, err: load.error },
    `reload failed (${step}), the running config stays: ${load.error ?? ''}`);
  return { ok: false, applied: false, error: load.error ?? 'failed', ...(load.code ? { code: load.code } : {}) };
}

/** config.reload_partial: valid and in force, but the kernel did not take all of it (the repair retries). */
export function partialAnswer(log: Logger, trigger: ReloadTrigger, load: LoadResult, failedOps: number, code: string): ReloadResult {
  log.error({ event: 'config.reload_partial', trigger, code: load.code, err: load.error, failedOps }, `reload: ${load.error ?? ''}`);
  return { ok: false, applied: true, error: load.error ?? 'partial', code };
}
