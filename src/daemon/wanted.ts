/**
 * What the daemon wants in the kernel beyond the config: the health checker's lists (kept from its change
 * events, which carry them), the table a restarted daemon adopted (until the health checker has judged each
 * real server), and the operator's drains. From them it makes the desired table handed to the reconciler,
 * reusing a service's entry while nothing it was made from changed. No I/O.
 */
import type { Config, ServiceConfig } from '../config/types.js';
import type { DesiredChanges, DesiredTable } from '../reconcile/index.js';
import { canonicalServiceId, destSpec, type DesiredEntry, type DestSpec, type KernelEntry } from '../table/index.js';
import { adoptDests, entryOf, type Adoption } from './desired.js';
import type { DrainRecord } from './drains-file.js';
import type { ServicesDelta } from './service-delta.js';

export class Wanted {
  /**
   * The operator's drains by drain key (realServerDrainKey). Replaced whole, never changed in place: an
   * entry knows the drains changed by the map's identity.
   */
  drains: ReadonlyMap<string, DrainRecord> = new Map();
  /** Per service name: the destinations the health checker wants, as its last change event said. */
  private health = new Map<string, DestSpec[]>();
  /** Per service name: what the kernel held at start, kept until the health checker has had its say. */
  private readonly adoption = new Map<string, { kernel: DestSpec[]; verdicts: Set<string> }>();
  /** The desired entry last made for a service config, and what it was made from (entry). */
  private readonly made = new WeakMap<ServiceConfig, {
    health: DestSpec[] | undefined; adopted: Adoption | undefined; verdicts: number; drains: ReadonlyMap<string, unknown>; entry: DesiredEntry;
  }>();
  /** The copy of an adopted service's config the health checker runs (healthConfig). */
  private readonly healthConfigs = new WeakMap<ServiceConfig, ServiceConfig>();
  private byName: { config: Config; map: Map<string, ServiceConfig> } | undefined;
  /** The table's names (canonical id -> service name) of a config: made once per config in force. */
  private names: { config: Config; names: Map<string, string> } | undefined;
  private drainSet: { drains: ReadonlyMap<string, unknown>; keys: ReadonlySet<string> } | undefined;

  /** `config`: the config in force. */
  constructor(private readonly config: () => Config) {}

  /** A service of the running config by name (first declaration), without a scan per health event. */
  service(name: string): ServiceConfig | undefined {
    const config = this.config();
    if (this.byName?.config !== config) {
      const map = new Map<string, ServiceConfig>();
      for (const s of config.services) if (!map.has(s.name)) map.set(s.name, s);
      this.byName = { config, map };
    }
    return this.byName.map.get(name);
  }

  /**
   * The declared services the kernel already holds (a restart): their kernel weights stand until the health
   * checker judged each real server (desired.ts adoptDests). Returns the names of the services adopted.
   */
  adopt(kernel: readonly KernelEntry[]): string[] {
    const byId = new Map(kernel.map((e) => [canonicalServiceId(e.service.key), e]));
    for (const svc of this.config().services) {
      const k = byId.get(canonicalServiceId(svc.spec.key));
      if (k) this.adoption.set(svc.name, { kernel: k.dests.map((d) => destSpec(d)), verdicts: new Set() });
    }
    return [...this.adoption.keys()];
  }

  /** The settle time passed (or nothing is probed): the health checker's lists alone decide. */
  endAdoption(): void {
    this.adoption.clear();
  }

  /** What the health checker is given for a service: an adopted one starts up, the same object for the same config. */
  healthConfig(s: ServiceConfig): ServiceConfig {
    if (!this.adoption.has(s.name)) return s;
    let c = this.healthConfigs.get(s);
    if (c === undefined) this.healthConfigs.set(s, (c = { ...s, initialState: 'up' }));
    return c;
  }

  /** The config the health checker already runs for `s` (the adopted copy if it was given one), for a reload. */
  runningHealthConfig(s: ServiceConfig): ServiceConfig {
    return this.healthConfigs.get(s) ?? s;
  }

  /**
   * The health checker's lists for every service, read when its config changes (events keep them current).
   * `kept`: services a reload reused whole (the same config object): the checker kept them as they were, so
   * their lists are the ones already held.
   */
  refreshHealth(desired: (service: string) => DestSpec[] | undefined, kept: ReadonlySet<ServiceConfig> = new Set()): void {
    const next = new Map<string, DestSpec[]>();
    const config = this.config();
    for (const svc of config.services) {
      const dests = (kept.has(svc) ? this.health.get(svc.name) : undefined) ?? desired(svc.name);
      if (dests) next.set(svc.name, dests);
    }
    this.health = next;
    // the maps made for a config no longer in force go now, not when next asked: they hold that config
    // (at 100,000 real servers tens of MiB) until a health change, which may never come
    if (this.byName?.config !== config) this.byName = undefined;
    if (this.names?.config !== config) this.names = undefined;
  }

  /**
   * A health change: the verdicts it gives an adopted service, and the service's new list. Returns the
   * service (undefined: not in the running config, nothing kept).
   */
  healthChanged(service: string, dests: DestSpec[], transitions: ReadonlyArray<{ realServer: string }>): ServiceConfig | undefined {
    const adopted = this.adoption.get(service);
    for (const t of transitions) adopted?.verdicts.add(t.realServer);
    const svc = this.service(service);
    if (svc) this.health.set(service, dests);
    return svc;
  }

  /**
   * A reload switched from `old` to `next`, which differ by `delta` (service-delta.ts: the same names and
   * kernel keys in the same places): what was made per config for `old` serves `next` with the changed
   * services put in, and the health checker's lists are read for those services only.
   */
  switched(old: Config, next: Config, delta: ServicesDelta, desired: (service: string) => DestSpec[] | undefined): void {
    if (this.byName?.config === old) {
      for (const s of delta.after) this.byName.map.set(s.name, s);
      this.byName.config = next;
    }
    if (this.names?.config === old) this.names.config = next;
    for (const s of delta.after) {
      const dests = desired(s.name);
      if (dests) this.health.set(s.name, dests);
      else this.health.delete(s.name);
    }
  }

  /** The table lvsd wants now with only the services `delta` changed in it, for the reconciler's applyChangesNow. */
  changes(delta: ServicesDelta): DesiredChanges {
    return this.tableOf(delta.after);
  }

  /** The table's names (canonical id -> service name) of the config in force, made once per config. */
  private tableNames(config: Config): Map<string, string> {
    if (this.names?.config !== config) this.names = { config, names: new Map(config.services.map((s) => [canonicalServiceId(s.spec.key), s.name])) };
    return this.names.names;
  }

  /** The drain keys as a set, made once per drains map (a health change asks for them each time). */
  private drainKeys(): ReadonlySet<string> {
    if (this.drainSet?.drains !== this.drains) this.drainSet = { drains: this.drains, keys: new Set(this.drains.keys()) };
    return this.drainSet.keys;
  }

  /** The table lvsd wants now, for the reconciler. */
  table(): DesiredTable {
    return this.tableOf(this.config().services);
  }

  /** The entries of `services` as they should be now, with the config in force's names and table-wide settings. */
  private tableOf(services: readonly ServiceConfig[]): DesiredTable {
    const config = this.config();
    const drains = this.drainKeys();
    return {
      entries: services.map((s) => this.entry(s, drains)),
      names: this.tableNames(config),
      ownWholeTable: config.ipvs.ownWholeTable,
      timeouts: config.ipvs.timeouts,
    };
  }

  /**
   * One service as it should be now: health verdicts (or the adopted kernel state), then drains. The entry
   * made last time is handed out again while nothing it was made from changed (the same config object, the
   * same health list object, the same adoption and verdict count, the same drains map), so a reload that
   * reused a service plans it in O(1) (the reconciler compares entries by identity first).
   */
  entry(svc: ServiceConfig, drains: ReadonlySet<string> = this.drainKeys()): DesiredEntry {
    const health = this.health.get(svc.name);
    const adopted: Adoption | undefined = this.adoption.get(svc.name);
    const verdicts = adopted?.verdicts.size ?? 0;
    const made = this.made.get(svc);
    if (made && made.health === health && made.adopted === adopted && made.verdicts === verdicts && made.drains === this.drains) return made.entry;
    const dests = health && adopted ? adoptDests(svc, health, adopted) : health;
    const entry = entryOf(svc, dests, drains);
    this.made.set(svc, { health, adopted, verdicts, drains: this.drains, entry });
    return entry;
  }
}
