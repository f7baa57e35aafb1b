/**
 * ServiceMemo: the normalised result of each item of the services list, kept from one build of the config
 * to the next, so a reload normalises only the items that changed. An item is reused when it sits at the
 * same place (file and pointer: its problems and origin name that place), has the same index in the merged
 * list (a nameless item's fallback name uses it), the same value (the very object of an unchanged file, or
 * an equal JSON value) and the same health defaults (exec checks take their user from them). Everything
 * that crosses items (duplicate names and kernel keys) is checked on every build, for the items that changed
 * against what the last build claimed when it found nothing wrong (`checks`, normaliseServices).
 *
 * Only what the latest build saw is kept, by index in the merged list: an item can only be reused at the
 * index it had, so the one candidate is the last build's item there. The merge hands an unchanged item over
 * as the very Located record it was (documents.ts LocatedCache), so a reload of 10,000 unchanged items
 * compares 10,000 pointers and copies two arrays natively: no key built, no map looked up, nothing written
 * per item.
 */
import type { HealthGlobalConfig } from './types.js';
import type { LocatedCache } from './documents.js';
import { jsonEqual } from './json-equal.js';
import { ServiceChecks, type ServiceItems } from './normalise-service-list.js';
import { normaliseItem, type ServiceItem } from './normalise-services.js';
import type { Located, RawService } from './raw.js';

function sameGlobal(a: HealthGlobalConfig, b: HealthGlobalConfig): boolean {
  return a.execUser === b.execUser && a.maxConcurrent === b.maxConcurrent && a.execOutputLimit === b.execOutputLimit;
}

export class ServiceMemo {
  /** The latest build's list, what each of its items made, and its health defaults. */
  private list: ReadonlyArray<Located<RawService>> = [];
  private made: ServiceItem[] = [];
  private global: HealthGlobalConfig | undefined;
  /** The names and keys the latest build's services claimed (normaliseServices). */
  readonly checks = new ServiceChecks();
  /** Items reused and built in the latest build. */
  reused = 0;
  built = 0;
  /** Builds that looked at an edit's items alone (tests). */
  byEdit = 0;

  /** `located`: the merges' Located records, which say which items of a list an edit replaced. */
  constructor(private readonly located?: LocatedCache) {}

  /** Call before a build. */
  begin(): void {
    this.reused = 0;
    this.built = 0;
  }

  /** How many items the memo holds (the latest build's). */
  get size(): number {
    return this.made.length;
  }

  /** The ServiceItems source for normaliseServices: the last build's results where the items are the same, the changed ones built. */
  readonly items: ServiceItems = (list, global) => {
    const lastList = this.list;
    const lastMade = this.made;
    const same = this.global !== undefined && sameGlobal(this.global, global);
    let made: ServiceItem[];
    const changed: number[] = [];
    const edit = same ? this.located?.editOf(list) : undefined;
    if (same && list === lastList) {
      made = lastMade;
    } else if (edit !== undefined && edit.before === lastList && list.length === lastList.length) {
      // the last list but the items an edit replaced: only those looked at
      made = lastMade.slice();
      this.byEdit++;
      for (const i of edit.changed) {
        const item = this.one(list[i]!, i, global, true, lastList[i], lastMade[i]);
        if (item !== lastMade[i]) changed.push(i);
        made[i] = item;
      }
    } else {
      // the last build's results copied natively, then the items that are not the very same record looked at
      made = same ? lastMade.slice(0, list.length) : new Array<ServiceItem>(list.length);
      for (let i = 0; i < list.length; i++) {
        const loc = list[i]!;
        if (same && i < lastList.length && lastList[i] === loc) continue;
        const item = this.one(loc, i, global, same, lastList[i], lastMade[i]);
        if (item !== lastMade[i]) changed.push(i);
        made[i] = item;
      }
      for (let i = list.length; i < lastMade.length; i++) changed.push(i);
    }
    this.reused = list.length - this.built;
    const since = lastMade;
    this.list = list;
    this.made = made;
    this.global = global;
    return { made, since, changed };
  };

  /** One item that is not the very record the last build had at its place. */
  private one(loc: Located<RawService>, i: number, global: HealthGlobalConfig, sameDefaults: boolean,
    oldLoc: Located<RawService> | undefined, oldItem: ServiceItem | undefined): ServiceItem {
    if (sameDefaults && oldLoc !== undefined && oldItem !== undefined && oldLoc.file === loc.file && oldLoc.pointer === loc.pointer
      && jsonEqual(oldLoc.value, loc.value)) {
      return oldItem;
    }
    this.built++;
    return normaliseItem(loc, i, global);
  }
}
