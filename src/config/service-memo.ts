/**
 * ServiceMemo: the normalised result of each item of the services list, kept from one build of the config
 * to the next, so a reload normalises only the items that changed. An item is reused when it sits at the
 * same place (file and pointer: its problems and origin name that place), has the same index in the merged
 * list (a nameless item's fallback name uses it), the same value (the very object of an unchanged file, or
 * an equal JSON value) and the same health defaults (exec checks take their user from them). Everything
 * that crosses items (duplicate names and kernel keys) is checked afresh on every build (normaliseServices).
 * Only what the latest build saw is kept.
 */
import type { HealthGlobalConfig } from './types.js';
import { jsonEqual } from './json-equal.js';
import { normaliseItem, type ItemSource, type ServiceItem } from './normalise-services.js';
import type { Located, RawService } from './raw.js';

interface Entry {
  value: unknown;
  index: number;
  global: HealthGlobalConfig;
  item: ServiceItem;
}

function sameGlobal(a: HealthGlobalConfig, b: HealthGlobalConfig): boolean {
  return a.execUser === b.execUser && a.maxConcurrent === b.maxConcurrent && a.execOutputLimit === b.execOutputLimit;
}

export class ServiceMemo {
  private kept = new Map<string, Entry>();
  private next = new Map<string, Entry>();
  /** Items reused and built in the latest build. */
  reused = 0;
  built = 0;

  /** Call before a build. */
  begin(): void {
    this.next = new Map();
    this.reused = 0;
    this.built = 0;
  }

  /** Call after a build: what it saw becomes what the next one may reuse. */
  end(): void {
    this.kept = this.next;
    this.next = new Map();
  }

  /** The ItemSource for normaliseServices. */
  readonly item: ItemSource = (loc: Located<RawService>, i: number, global: HealthGlobalConfig): ServiceItem => {
    const where = `${loc.file}\0${loc.pointer}`;
    const old = this.kept.get(where);
    if (old !== undefined && old.index === i && sameGlobal(old.global, global) && jsonEqual(old.value, loc.value)) {
      this.reused++;
      this.next.set(where, { ...old, value: loc.value });
      return old.item;
    }
    this.built++;
    const item = normaliseItem(loc, i, global);
    this.next.set(where, { value: loc.value, index: i, global, item });
    return item;
  };
}
