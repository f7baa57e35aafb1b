/**
 * All VRRP instances of a node: creates and replaces them on reload, routes link events to them, moves
 * sync groups together. Runs inside the VRRP worker thread (worker.ts), so adverts keep time whatever
 * the main thread (health checks, a large reconcile) is doing.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { listLinks, setAcceptFilter, watchLinks, type LinkWatcher } from '../net/index.js';
import { sameWire, VrrpInstance, type EarlySocket, type InstanceHooks, type InstanceSnapshot } from './instance.js';
import { closeListeners, listenerFits, type ListenSpec } from './early-listen.js';
import { syncGroupOrders, type MemberTransition } from './sync-group.js';
import type { VrrpState } from './machine-types.js';

export interface ManagerConfig {
  vrrp: VrrpInstanceConfig[];
  syncGroups: Array<{ name: string; instances: string[] }>;
}

/**
 * The identity of an instance: a config change in any of these replaces it (new socket, new machine).
 * Where it was written (origin) is not part of it: moving an instance within the file must not move a VIP.
 */
function identity(c: VrrpInstanceConfig): string {
  const { origin: _origin, ...rest } = c;
  return JSON.stringify(rest);
}

/** The VIPs whose packets the kernel must drop: instances with Accept_Mode off that are not the address owner. */
export function filteredVips(instances: readonly VrrpInstanceConfig[]): string[] {
  return instances.filter((c) => !c.acceptMode && c.priority !== 255).flatMap((c) => c.addresses.map((a) => a.address)).sort();
}

export class VrrpManager {
  private readonly instances = new Map<string, VrrpInstance>();
  private watcher: LinkWatcher | undefined;
  private readonly linkUp = new Map<string, boolean>();
  private groups = new Map<string, string[]>();
  /** The VIPs the Accept_Mode filter drops now (undefined: not written yet by this run). */
  private filtered: string | undefined;
  /** The last accept-filter write queued (they run one after the other). */
  private filterWrites: Promise<void> = Promise.resolve();
  /**
   * Until tableReady(): instances started wait for the daemon's first reconcile before they claim
   * mastership. Set by start() only, so a reload never makes an instance wait.
   */
  private waitingForTable = false;
  private waitingSince = 0;
  /** A crashed run's Accept_Mode table is removed once the table is programmed (see update()). */
  private leftoverAfterTable = false;
  /** The sockets opened at exec (early-listen.ts) the instances of the first update adopt; closed after it. */
  private early = new Map<string, ListenSpec & EarlySocket>();

  constructor(
    private readonly log: Logger,
    private readonly hooks: InstanceHooks = {},
    /** Installs the Accept_Mode filter (src/net/accept-filter.ts); tests inject one. */
    private readonly acceptFilter: (vips: string[]) => Promise<void> = (vips) => setAcceptFilter(vips, 'nft', log),
  ) {}

  /**
   * `waitForTable`: the daemon has an IPVS table to program first (see tableReady). `early`: sockets opened
   * at exec, `since` on the runners' clock; the instance each was opened for adopts it, the rest are closed.
   */
  async start(config: ManagerConfig, opts: { waitForTable?: boolean; early?: ReadonlyArray<ListenSpec & EarlySocket> } = {}): Promise<void> {
    this.early = new Map((opts.early ?? []).map((l) => [l.instance, l]));
    try {
      await this.startInstances(config, opts);
    } finally {
      closeListeners([...this.early.values()]);
      this.early.clear();
    }
  }

  private async startInstances(config: ManagerConfig, opts: { waitForTable?: boolean }): Promise<void> {
    this.waitingForTable = opts.waitForTable ?? false;
    this.waitingSince = Date.now();
    for (const l of await listLinks()) this.linkUp.set(l.name, l.up);
    this.watcher = watchLinks((ev) => {
      const up = ev.up && !ev.removed;
      if (this.linkUp.get(ev.name) === up) return;
      this.linkUp.set(ev.name, up);
      // info for the interfaces an instance runs on or tracks; other links (500 veths created) at debug
      const watched = [...this.instances.values()].some((i) => i.config.interface === ev.name || i.config.trackInterfaces.some((t) => t.name === ev.name));
      this.log[watched ? 'info' : 'debug']({ event: 'vrrp.link', interface: ev.name, up }, `${ev.name} is ${up ? 'up' : 'down'}`);
      for (const i of this.instances.values()) i.link(ev.name, up);
    }, {
      onError: (e) => this.log.error({ event: 'vrrp.link_watch_error', err: e.message }, e.message),
      onOverrun: (o) => {
        if (o.phase === 'lost') {
          this.log.warn({ event: 'net.netlink_overrun', socket: 'links', lost: o.lost }, 'link notifications were lost: re-reading every link');
          this.hooks.onNetlinkOverrun?.('links');
        } else {
          this.log.info({ event: 'net.netlink_resync', socket: 'links', links: o.links, changed: o.changed, ms: o.ms }, `links re-read: ${o.changed} of ${o.links} changed`);
        }
      },
    });
    await this.update(config);
  }

  /**
   * Applies a new config: unchanged instances keep running untouched, instances whose changes the machine
   * can take in place (priority, tracking, ...) are reconfigured (no VIP moves by themselves), the others
   * (interface, VRID, version, VIPs, unicast) are replaced: stopped cleanly and started again.
   *
   * All or nothing: every instance to start (new or replacing one) is opened first (source address,
   * socket); if one cannot be, the ones opened are closed and the update rejects with nothing running
   * touched. Only then are instances reconfigured, stopped and started.
   */
  async update(config: ManagerConfig): Promise<void> {
    const wanted = new Map(config.vrrp.map((c) => [c.name, c]));
    const reconfigure: Array<[VrrpInstance, VrrpInstanceConfig]> = [];
    const retire: VrrpInstance[] = [];
    for (const [name, inst] of this.instances) {
      const next = wanted.get(name);
      if (next && identity(next) === identity(inst.config)) continue;
      if (next && sameWire(next, inst.config)) reconfigure.push([inst, next]);
      else retire.push(inst);
    }
    const retiring = new Set(retire.map((i) => i.name));
    const opened: VrrpInstance[] = [];
    const filtered = filteredVips(config.vrrp);
    // At start with no VIP to filter, the write only removes what a crashed run may have left: it runs
    // once the instances are listening (nft is a process start, seconds under emulation, on the path from
    // exec to backup otherwise), and with a table to program once that is in the kernel: forking a process
    // this size stalls the main thread too (0.3-1 s under emulation), which is then on its way to the
    // table. A backup holds no VIP, so a leftover table meanwhile drops nothing.
    const removeLeftover = filtered.length === 0 && this.filtered === undefined;
    try {
      for (const cfg of config.vrrp) {
        if (this.instances.has(cfg.name) && !retiring.has(cfg.name)) continue;
        const inst = new VrrpInstance(cfg, this.log, this.hooks, (name, t) => this.onMemberStep(name, t));
        await inst.open(this.earlySocket(cfg));
        opened.push(inst);
      }
      if (!removeLeftover) await this.applyAcceptFilter(filtered);
    } catch (e) {
      for (const inst of opened) inst.close();
      throw e;
    }
    this.groups = new Map(config.syncGroups.map((g) => [g.name, g.instances]));
    for (const [inst, next] of reconfigure) inst.reconfigure(next, (link) => this.linkUp.get(link));
    for (const inst of retire) {
      await inst.stop();
      this.instances.delete(inst.name);
    }
    for (const inst of opened) {
      this.instances.set(inst.name, inst);
      const cfg = inst.config;
      const trackDown = cfg.trackInterfaces.filter((t) => this.linkUp.get(t.name) === false).map((t) => t.name);
      await inst.run({ interfaceUp: this.linkUp.get(cfg.interface) ?? true, trackDown, waitForTable: this.waitingForTable });
    }
    if (removeLeftover) {
      if (this.waitingForTable) this.leftoverAfterTable = true;
      else this.removeLeftover();
    }
  }

  /** Removes a crashed run's Accept_Mode table, unless this run has written the filter since. */
  private removeLeftover(): void {
    this.leftoverAfterTable = false;
    const next = this.filterWrites.catch(() => undefined).then(() => (this.filtered === undefined ? this.writeAcceptFilter([]) : undefined));
    this.filterWrites = next;
    void next.catch((e: Error) => this.log.warn({ event: 'vrrp.accept_filter_failed', err: e.message }, e.message));
  }

  /** The socket opened at exec for `cfg`, taken (once); one opened for other settings is closed. */
  private earlySocket(cfg: VrrpInstanceConfig): EarlySocket | undefined {
    const l = this.early.get(cfg.name);
    if (!l) return undefined;
    this.early.delete(cfg.name);
    if (listenerFits(l, cfg)) return { fd: l.fd, since: l.since };
    closeListeners([l]);
    return undefined;
  }

  /**
   * The daemon's first reconcile finished (`ok`: the kernel took the whole table): instances may claim
   * mastership from now on, and one that would have claimed it already does so now. Idempotent.
   */
  tableReady(ok: boolean, error?: string): void {
    if (!this.waitingForTable) return;
    this.waitingForTable = false;
    const detail = { waitedMs: Date.now() - this.waitingSince, error };
    const deferred = [...this.instances.values()].filter((i) => i.machineState.deferredClaim !== undefined).map((i) => i.name);
    if (ok) {
      this.log.info({ event: 'vrrp.table_ready', ok, waitedMs: detail.waitedMs, claiming: deferred },
        `IPVS table programmed after ${detail.waitedMs} ms: VRRP may claim mastership${deferred.length > 0 ? ` (now: ${deferred.join(', ')})` : ''}`);
    } else {
      this.log.error({ event: 'vrrp.table_ready', ok, waitedMs: detail.waitedMs, claiming: deferred, err: detail.error },
        `the first reconcile could not program the whole IPVS table (${detail.error ?? 'failed'}): VRRP may claim mastership anyway; the kernel is retried`);
    }
    for (const inst of this.instances.values()) inst.tableReady();
    if (this.leftoverAfterTable) this.removeLeftover();
  }

  /**
   * Writes the Accept_Mode filter when what it drops changed (at start always, so a crashed run's table
   * goes). Before any instance starts or changes: a VIP never comes up unfiltered.
   */
  private applyAcceptFilter(vips: string[]): Promise<void> {
    // one nft at a time, in order (the leftover removal at start may still be running)
    const next = this.filterWrites.catch(() => undefined).then(() => this.writeAcceptFilter(vips));
    this.filterWrites = next;
    return next;
  }

  private async writeAcceptFilter(vips: string[]): Promise<void> {
    const key = vips.join(' ');
    if (key === this.filtered) return;
    await this.acceptFilter(vips);
    const before = this.filtered;
    this.filtered = key;
    if (vips.length > 0 || before) {
      this.log.info({ event: 'vrrp.accept_filter', vips }, vips.length > 0
        ? `Accept_Mode off: packets to ${vips.join(', ')} are dropped unless IPVS forwards them`
        : 'Accept_Mode filter removed');
    }
  }

  /** After any step of a sync-group member: the orders sync-group.ts gives the members (fault, release, follow). */
  private onMemberStep(name: string, transition?: MemberTransition): void {
    const group = this.instances.get(name)?.config.syncGroup;
    if (!group) return;
    const members = new Map<string, VrrpState>();
    for (const member of this.groups.get(group) ?? []) {
      const inst = this.instances.get(member);
      if (inst) members.set(member, inst.machineState);
    }
    for (const order of syncGroupOrders(members, transition)) {
      this.log.debug({ event: 'vrrp.sync_order', group, instance: order.member, command: order.command, cause: name });
      this.instances.get(order.member)?.sync(order.command);
    }
  }

  snapshot(): InstanceSnapshot[] {
    return [...this.instances.values()].map((i) => i.snapshot());
  }

  /** Clean stop of every instance (priority 0, VIPs released). */
  async stop(): Promise<void> {
    this.watcher?.close();
    await Promise.all([...this.instances.values()].map((i) => i.stop()));
    this.instances.clear();
    if (this.leftoverAfterTable) this.removeLeftover();
    if (this.filtered) {
      // the VIPs are gone: the table goes too (a failure is logged; the next start rewrites it anyway)
      await this.applyAcceptFilter([]).catch((e: Error) =>
        this.log.warn({ event: 'vrrp.accept_filter_failed', err: e.message }, e.message));
    }
  }
}
