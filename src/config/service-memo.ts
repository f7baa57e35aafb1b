/**
 * ServiceMemo: the normalised result of each item of the services list, kept from one build of the config
 * to the next, so a reload normalises only the items that changed. An item is reused when it sits at the
 * same place (file and pointer: its problems and origin name that place), has the same index in the merged
 * list (a nameless item's fallback name uses it), the same value (the very object of an unchanged file, or
 * an equal JSON value) and the same health defaults (exec checks take their user from them). Everything
 * that crosses items (duplicate names and kernel keys) is checked on every build, for the items that changed
 * against what the last build claimed when it found nothing wrong (`checks`, normaliseServices).
 * Only what the latest build saw is kept. An unchanged item is found by its Located record (the same
 * object from one merge to the next, documents.ts), so a reload of 10,000 unchanged items builds no key.
 */
import type { HealthGlobalConfig } from './types.js';
import type { LocatedCache } from './documents.js';
import { jsonEqual } from './json-equal.js';
import { ServiceChecks, normaliseItem, type ItemSource, type ServiceItem } from './normalise-services.js';
import type { Located, RawService } from './raw.js';

interface Entry {
  loc: Located<RawService>;
  index: number;
  global: HealthGlobalConfig;
  item: ServiceItem;
  /** The build that last saw it. */
  seen: number;
}

function sameGlobal(a: HealthGlobalConfig, b: HealthGlobalConfig): boolean {
  return a.execUser === b.execUser && a.maxConcurrent === b.maxConcurrent && a.execOutputLimit === b.execOutputLimit;
}

export class ServiceMemo {
  /**
   * What the latest build saw, by its Located record (the same object while file, pointer and value are:
   * documents.ts's LocatedCache). Kept in place from one build to the next: an unchanged item is stamped,
   * a changed one replaces the entry it was found by, and the rest is looked at only when a build saw
   * fewer items than are kept (one was removed), so a build that reused 10,000 items fills no map of them.
   */
  private kept = new Map<Located<RawService>, Entry>();
  /** The same by place (file and pointer), made when first asked: without a LocatedCache, for an item whose file was parsed again. */
  private byPlace: Map<string, Entry> | undefined;
  /** The current build's number, its new entries, the kept ones it saw, and the kept ones its new entries replace. */
  private build = 0;
  private fresh: Entry[] = [];
  private seen = 0;
  private displaced: Entry[] = [];
  /** The names and keys the latest build's services claimed (normaliseServices). */
  readonly checks = new ServiceChecks();
  /** Items reused and built in the latest build. */
  reused = 0;
  built = 0;

  /** `located`: the merges' Located records, whose replaced items are looked up by the record they replaced. */
  constructor(private readonly located?: LocatedCache) {}

  /** Call before a build. */
  begin(): void {
    this.build++;
    this.fresh = [];
    this.displaced = [];
    this.seen = 0;
    this.reused = 0;
    this.built = 0;
  }

  /** Call after a build: what it saw becomes what the next one may reuse. */
  end(): void {
    const build = this.build;
    let changed = this.fresh.length > 0;
    for (const old of this.displaced) {
      if (old.seen === build || this.kept.get(old.loc) !== old) continue;
      this.kept.delete(old.loc);
      changed = true;
    }
    // an entry kept that this build did not see (its item was removed): only a walk finds it
    if (this.kept.size > this.seen) {
      for (const [loc, e] of this.kept) if (e.seen !== build) this.kept.delete(loc);
      changed = true;
    }
    for (const e of this.fresh) this.kept.set(e.loc, e);
    if (changed) this.byPlace = undefined;
    this.fresh = [];
    this.displaced = [];
  }

  private atPlace(loc: Located<RawService>): Entry | undefined {
    if (this.byPlace === undefined) {
      this.byPlace = new Map();
      for (const e of this.kept.values()) this.byPlace.set(`${e.loc.file}\0${e.loc.pointer}`, e);
    }
    return this.byPlace.get(`${loc.file}\0${loc.pointer}`);
  }

  private see(e: Entry): void {
    if (e.seen === this.build) return;
    e.seen = this.build;
    this.seen++;
  }

  /** The ItemSource for normaliseServices. */
  readonly item: ItemSource = (loc: Located<RawService>, i: number, global: HealthGlobalConfig): ServiceItem => {
    const same = this.kept.get(loc);
    if (same !== undefined && same.index === i && sameGlobal(same.global, global)) {
      this.reused++;
      this.see(same);
      return same.item;
    }
    const before = same === undefined ? this.located?.previous(loc) : undefined;
    const old = same ?? (before !== undefined ? this.kept.get(before) : this.located === undefined ? this.atPlace(loc) : undefined);
    if (old !== undefined) this.displaced.push(old);
    if (old !== undefined && old.loc.file === loc.file && old.loc.pointer === loc.pointer && old.index === i
      && sameGlobal(old.global, global) && jsonEqual(old.loc.value, loc.value)) {
      this.reused++;
      this.fresh.push({ ...old, loc, seen: this.build });
      return old.item;
    }
    this.built++;
    const item = normaliseItem(loc, i, global);
    this.fresh.push({ loc, index: i, global, item, seen: this.build });
    return item;
  };
}
