/**
 * The services list: every item normalised by itself (normalise-services.ts; or reused, service-memo.ts),
 * then the cross-service rules, unique names and unique kernel keys, in list order; after a reload that
 * changed a few items, checked for those alone against what the last build claimed (ServiceChecks). Pure.
 */
import type { HealthGlobalConfig, ServiceConfig } from './types.js';
import { normaliseItem, type ServiceItem } from './normalise-services.js';
import type { Problems } from './problems.js';
import type { Located, RawService } from './raw.js';

/**
 * Builds (or reuses: service-memo.ts) every list item's ServiceItem. `since`, `changed`: the items are
 * `since`'s but at `changed` (indices, ascending; past the list's end: items removed), when the source knows.
 */
export type ServiceItems = (list: ReadonlyArray<Located<RawService>>, global: HealthGlobalConfig) => {
  made: ServiceItem[];
  since?: readonly ServiceItem[];
  changed?: readonly number[];
};

/** Every item built alone. */
const buildEach: ServiceItems = (list, global) => ({ made: list.map((loc, i) => normaliseItem(loc, i, global)) });

/**
 * What the cross-item checks of the last build found, kept for the next one (the memo holds it: a daemon's
 * reloads): each item's result by its place, and the names and kernel keys they claimed, when the build
 * found nothing wrong with any service. The next build then checks only the items that differ (another
 * result at their place): their old claims are taken back and their new ones made.
 */
export class ServiceChecks {
  /** The last build's items by their place in the list; undefined: it found a problem, or there was none. */
  items: ServiceItem[] | undefined;
  names = new Map<string, Located<unknown>>();
  keys = new Map<string, Located<unknown>>();
  /** The last build's services, where each item's first one stands in it, and whether any item had warnings. */
  out: ServiceConfig[] = [];
  starts: number[] = [];
  warned = false;
  /** Builds that checked the changed items alone (tests). */
  incremental = 0;
  /**
   * The latest build's services (`to`) as the services of the build before it (`from`) with those at
   * `changed` replaced (indices, ascending), when it was made that way; undefined otherwise.
   */
  change: { from: readonly ServiceConfig[]; to: readonly ServiceConfig[]; changed: readonly number[] } | undefined;
}

/** Above this share of the list changed, the whole list is checked (the same work then). */
const MAX_CHANGED_SHARE = 0.25;

/**
 * The claims of `made` checked against the last build's (`checks`), for the items that differ: true when
 * none collides, with `checks` updated to this build; false when it cannot tell that way (a changed item
 * with problems of its own, a claim already made, much of the list changed): check the whole list then.
 */
function checkChanged(list: ReadonlyArray<Located<unknown>>, made: ServiceItem[], checks: ServiceChecks, hint: ReturnType<ServiceItems>): { changed: readonly number[]; prev: ServiceItem[] } | undefined {
  const prev = checks.items;
  if (prev === undefined) return undefined;
  const most = Math.max(1, Math.floor(Math.max(made.length, prev.length) * MAX_CHANGED_SHARE));
  let changed: readonly number[];
  if (hint.since === prev && hint.changed !== undefined) {
    // the source says where they differ: only those are looked at
    changed = hint.changed;
    if (changed.length > most || changed.some((i) => made[i] !== undefined && made[i]!.problems.size > 0)) return undefined;
  } else {
    const found: number[] = [];
    for (let i = 0; i < Math.max(made.length, prev.length); i++) {
      if (made[i] === prev[i]) continue;
      if (found.length >= most || (made[i] !== undefined && made[i]!.problems.size > 0)) return undefined;
      found.push(i);
    }
    changed = found;
  }
  checks.items = undefined; // from here on the claims change: whatever happens, the next build checks the whole list unless this one finishes
  for (const i of changed) {
    const old = prev[i];
    if (old === undefined) continue;
    if (old.groupName !== undefined) checks.names.delete(old.groupName);
    for (const { service, id } of old.services) {
      checks.names.delete(service.name);
      if (id !== undefined) checks.keys.delete(id);
    }
  }
  for (const i of changed) {
    const item = made[i];
    if (item === undefined) continue;
    if (item.groupName !== undefined) {
      if (checks.names.has(item.groupName)) return undefined;
      checks.names.set(item.groupName, list[i]!);
    }
    for (const { service, id, at } of item.services) {
      if (checks.names.has(service.name)) return undefined;
      checks.names.set(service.name, at);
      if (id !== undefined) {
        if (checks.keys.has(id)) return undefined;
        checks.keys.set(id, at);
      }
    }
  }
  checks.items = made; // a list of this build's own, which nobody changes
  checks.incremental++;
  return { changed, prev };
}

/** Every item's services in list order, and where each item's first one stands. */
function servicesOf(made: readonly ServiceItem[], checks: ServiceChecks): ServiceConfig[] {
  const out: ServiceConfig[] = [];
  const starts: number[] = new Array(made.length);
  for (let i = 0; i < made.length; i++) {
    starts[i] = out.length;
    for (const { service } of made[i]!.services) out.push(service);
  }
  checks.starts = starts;
  return out;
}

/**
 * The services of a build whose items differ from the last one's at `changed` alone: the last list with
 * theirs put in (a copy: that list is the config in force's), when each changed item has as many services
 * as before; else all of them again. The items' warnings, in order, when any has one.
 */
function changedServices(made: readonly ServiceItem[], prev: readonly ServiceItem[], changed: readonly number[], checks: ServiceChecks, problems: Problems): ServiceConfig[] {
  if (checks.warned || changed.some((i) => made[i] !== undefined && made[i]!.problems.warnings.length > 0)) {
    checks.warned = false;
    for (const m of made) {
      if (m.problems.warnings.length === 0) continue;
      checks.warned = true;
      problems.addAll(m.problems);
    }
  }
  if (made.length !== prev.length || changed.some((i) => made[i]!.services.length !== prev[i]!.services.length)) return servicesOf(made, checks);
  const out = checks.out.slice();
  const at: number[] = [];
  for (const i of changed) {
    const start = checks.starts[i]!;
    made[i]!.services.forEach(({ service }, k) => {
      if (out[start + k] === service) return;
      out[start + k] = service;
      at.push(start + k);
    });
  }
  checks.change = { from: checks.out, to: out, changed: at };
  return out;
}

/**
 * Every service (a group's members each one), with the cross-service rules: unique names and unique kernel
 * keys. Each item is normalised by itself (`source`, which may reuse an unchanged item's result), then the
 * items' problems and the cross-item checks follow in list order, so a reused item reports exactly what a
 * fresh one would. `checks`: what the last build's checks found (a daemon's reloads): when it found
 * nothing wrong, only the items that differ are checked against it, and the result is the same.
 */
export function normaliseServices(
  list: ReadonlyArray<Located<RawService>>, global: HealthGlobalConfig, problems: Problems, source: ServiceItems = buildEach,
  checks?: ServiceChecks,
): ServiceConfig[] {
  if (checks !== undefined) checks.change = undefined;
  const built = source(list, global);
  const { made } = built;
  const alone = checks !== undefined ? checkChanged(list, made, checks, built) : undefined;
  if (alone !== undefined) return (checks!.out = changedServices(made, alone.prev, alone.changed, checks!, problems));
  const out: ServiceConfig[] = [];
  const byName = new Map<string, Located<unknown>>();
  const byKey = new Map<string, Located<unknown>>();
  const where = (here: Located<unknown>, there: Located<unknown>) =>
    here.file === there.file ? there.pointer : `${there.file} ${there.pointer}`;
  let clean = true;
  const claimName = (loc: Located<unknown>, name: string) => {
    const named = byName.get(name);
    if (named) {
      problems.add(loc.file, loc.pointer, `duplicate service name "${name}" (also ${where(loc, named)})`);
      clean = false;
    } else byName.set(name, loc);
  };
  list.forEach((loc, i) => {
    const m = made[i]!;
    if (m.problems.size > 0) clean = false;
    problems.addAll(m.problems);
    // the group's own name is taken too: `lvsd drain NAME` and status address the group by it
    if (m.groupName !== undefined) claimName(loc, m.groupName);
    for (const { service, id, at } of m.services) {
      claimName(at, service.name);
      if (id !== undefined) {
        const same = byKey.get(id);
        if (same) {
          problems.add(at.file, at.pointer, `duplicate service ${id} (also ${where(at, same)})`);
          clean = false;
        } else byKey.set(id, at);
      }
      out.push(service);
    }
  });
  if (checks !== undefined) {
    checks.items = clean ? made : undefined;
    checks.names = byName;
    checks.keys = byKey;
    checks.warned = made.some((m) => m.problems.warnings.length > 0);
    checks.out = servicesOf(made, checks);
    return checks.out;
  }
  return out;
}
