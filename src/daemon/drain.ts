/**
 * `lvsd drain` / `lvsd undrain` of a real server: which configured server the request names (pure), the
 * drain recorded in drains.json before anything changes, the entries of the service (or every member of its
 * group) updated in one pass, and the kernel's refusal reported to the operator.
 */
import type { Config } from '../config/types.js';
import { LvsdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Reconciler } from '../reconcile/index.js';
import { destId, serviceId } from '../table/index.js';
import type { DrainRequest, DrainResult } from './control-server.js';
import { realServerDrainKey, realServerOwner } from './desired.js';
import { loadDrains, saveDrains, type DrainRecord } from './drains-file.js';
import type { Wanted } from './wanted.js';

export interface DrainTarget {
  /** The drain key (realServerDrainKey). */
  key: string;
  /** Who the server is for drains (realServerOwner): a group's name and shared id for a group's member. */
  service: string;
  realServer: string;
  /** The services whose entries change: the one named, or every member of its group. */
  members: string[];
}

/** The target, or the answer saying what was not found. */
export function findDrainTarget(config: Pick<Config, 'services'>, req: DrainRequest): DrainTarget | DrainResult {
  // a group is drained by its name (or any member's): the server goes to weight 0 in every member
  const byName = config.services.find((s) => s.name === req.service || serviceId(s.spec.key) === req.service);
  const groupName = byName?.group?.name ?? (byName ? undefined : config.services.find((s) => s.group?.name === req.service)?.group?.name);
  const svc = groupName !== undefined ? config.services.find((s) => s.group?.name === groupName) : byName;
  if (!svc) return { ok: false, notFound: 'service', message: `no service named ${JSON.stringify(req.service)}` };
  const rs = svc.realServers.find((r) => destId(r.spec) === req.realServer || r.shared?.id === req.realServer || r.spec.address === req.realServer);
  if (!rs) {
    return { ok: false, notFound: 'realServer', message: `service ${groupName ?? svc.name} has no real server ${req.realServer}` };
  }
  const owner = realServerOwner(svc, rs);
  const members = groupName !== undefined ? config.services.filter((s) => s.group?.name === groupName).map((s) => s.name) : [svc.name];
  return { key: realServerDrainKey(svc, rs), ...owner, members };
}

export interface DrainDeps {
  /** The config in force (read when needed: a reload may switch while the drain is written down). */
  config: () => Config;
  /** Holds the drains (replaced whole when one changes). */
  wanted: Wanted;
  /** drains.json (beside the state file of the config in force) */
  file: () => string;
  log: Logger;
  reconciler: Reconciler;
  /** Told after the kernel was asked (ECMP: what is announced may change). */
  changed: () => void;
}

/** Drains (`on`) or undrains the real server `req` names. Throws LVSD_STATE when it cannot be recorded (nothing changed then). */
export async function drainRealServer(req: DrainRequest, on: boolean, d: DrainDeps): Promise<DrainResult> {
  const target = findDrainTarget(d.config(), req);
  if ('ok' in target) return target;
  const had = d.wanted.drains.has(target.key);
  if (on === had) return { ok: true, changed: false };
  const next = new Map(d.wanted.drains);
  if (on) next.set(target.key, { service: target.service, realServer: target.realServer, since: new Date().toISOString() });
  else next.delete(target.key);
  // recorded first: a drain the daemon could not write down would be lost at the next restart
  try {
    await saveDrains(d.file(), [...next.values()]);
  } catch (e) {
    d.log.error({ event: 'daemon.drains_save_failed', file: d.file(), service: target.service, realServer: target.realServer, err: (e as Error).message },
      `cannot record the ${on ? 'drain' : 'undrain'} of ${target.service} ${target.realServer}: ${(e as Error).message}`);
    throw new LvsdError('LVSD_STATE', `cannot record the ${on ? 'drain' : 'undrain'} in ${d.file()}: ${(e as Error).message}; nothing changed`, { cause: e });
  }
  d.wanted.drains = next;
  d.log.info({ event: on ? 'daemon.drain' : 'daemon.undrain', service: target.service, realServer: target.realServer },
    `${on ? 'drained' : 'undrained'} ${target.service} ${target.realServer}`);
  // a group's drain: the server in every member, in one update
  const members = new Set(target.members);
  const svcs = d.config().services.filter((s) => members.has(s.name));
  const asked = Date.now();
  if (svcs.length > 0) await d.reconciler.update(svcs.map((s) => d.wanted.entry(s)), `${on ? 'drain' : 'undrain'}: ${target.realServer}`, 'drain');
  d.changed();
  // recorded either way; but the operator must hear when the kernel did not take it (the repair retries)
  const failed = d.reconciler.status().failures.find((f) =>
    members.has(String(f.service)) && (f.realServer === null || f.realServer === undefined || f.realServer === target.realServer) && Date.parse(f.at) >= asked - 1000);
  if (failed) return { ok: true, changed: true, kernel: { applied: false, error: `${failed.op}: ${failed.message}` } };
  return { ok: true, changed: true };
}

/**
 * The drains recorded in `file` added to `current`, as a new map (never changed in place: an entry knows the
 * drains changed by the map's identity). Throws LVSD_STATE when they cannot be known (drains-file.ts), so
 * start fails rather than forget them.
 */
export async function loadDrainMap(file: string, current: ReadonlyMap<string, DrainRecord>, log: Logger): Promise<Map<string, DrainRecord>> {
  const drains = new Map(current);
  for (const d of await loadDrains(file, log)) drains.set(`${d.service}/${d.realServer}`, d);
  return drains;
}
