/**
 * The running config's parts as the daemon holds them: the IPVS client (opened when there is something to
 * manage), the reconciler that owns the kernel's table, what is wanted beyond the config (wanted.ts), the
 * health scheduler and its change events, the VRRP port, connection sync and the ECMP side; how each is
 * opened or made, and wired to the others. daemon.ts starts them, switches them at a reload and stops them.
 */
import { dirname, join } from 'node:path';
import { ConfigCache } from '../config/index.js';
import type { Config } from '../config/types.js';
import type { HealthChange, HealthScheduler } from '../health/index.js';
import { createIpvsClient } from '../ipvs/index.js';
import type { IpvsClient } from '../ipvs/types.js';
import type { DestSpec } from '../table/index.js';
import type { Logger } from '../log.js';
import { DEFAULT_STATE_FILE, Reconciler, reasonOf } from '../reconcile/index.js';
import { adoptKernelTable } from './adoption.js';
import { ConnSync } from './conn-sync.js';
import type { DaemonOptions, VrrpPort } from './daemon-types.js';
import { loadDrainMap } from './drain.js';
import { EcmpSide, directorProblems, ecmpQuorums } from './ecmp-side.js';
import { SeriesNames, createHealth, publishHealthUp } from './health-wiring.js';
import { IpvsSysctls } from './ipvs-sysctls.js';
import { ProbeUsers } from './probe-users.js';
import { Wanted } from './wanted.js';

export class DaemonParts {
  config!: Config;
  readonly configCache: ConfigCache;
  client: IpvsClient | undefined;
  health: HealthScheduler | undefined;
  vrrp: VrrpPort | undefined;
  connSync: ConnSync | undefined;
  readonly ecmp: EcmpSide;
  adoptionTimer: NodeJS.Timeout | undefined;
  readonly log: Logger;
  readonly reconciler: Reconciler;
  /** Health lists, adoption and drains: what is wanted in the kernel beyond the config. */
  readonly wanted = new Wanted(() => this.config);
  readonly probeUsers = new ProbeUsers(() => this.config);
  readonly seriesNames = new SeriesNames();
  /** IPVS's sysctls the config asks for, and which are in force (ipvs-sysctls.ts). */
  private readonly sysctls: IpvsSysctls;
  /**
   * When the daemon was last busy (performance.now()): its start, a health change, a VRRP transition, a
   * reload. The page-out of node's mapped files waits until it has been quiet a while (page-out-guard.ts).
   */
  busyAtMs = performance.now();

  // without the starting config: the daemon lives on, and a reload must not leave that config behind in memory
  constructor(private readonly opts: Omit<DaemonOptions, 'config'>) {
    this.log = opts.log;
    this.configCache = opts.configCache ?? new ConfigCache();
    this.sysctls = new IpvsSysctls(opts.ipvsSysctlDir, opts.log);
    this.reconciler = new Reconciler({
      log: opts.log, events: opts.metrics, backoff: opts.repairBackoff,
      stateFile: () => this.stateFile(),
      client: async () => {
        await this.ensureClient();
        return this.client;
      },
      internalError: (where, e) => this.internalError(where, e),
    });
    this.ecmp = new EcmpSide({
      log: this.log,
      stateDir: () => dirname(this.stateFile()),
      host: {
        quorums: () => ecmpQuorums(this.config, this.health, this.wanted.drains),
        directorProblems: () => directorProblems(this.reconciler.status()),
      },
      sysctlRoot: opts.sysctlRoot,
      backoff: opts.bgpBackoff,
    });
    opts.metrics?.healthCountsFrom?.(() => this.health?.takeCounts());
  }

  stateFile(config: Config = this.config): string {
    return this.opts.stateFile ?? config.ipvs.stateFile ?? DEFAULT_STATE_FILE;
  }

  drainsFile(): string {
    return join(dirname(this.stateFile()), 'drains.json');
  }

  /** The generic-netlink client, its overruns logged (ipvs.netlink.overrun) and counted (lvsd_netlink_overruns_total). */
  private createIpvsClient(): Promise<IpvsClient> {
    return createIpvsClient({ logger: this.log, onOverrun: () => this.opts.metrics?.netlinkOverrun?.('ipvs') });
  }

  /** A new IPVS client: the injected one's maker (tests) or the generic-netlink client. */
  openIpvsClient(): Promise<IpvsClient> {
    return (this.opts.ipvs ?? (() => this.createIpvsClient()))();
  }

  /**
   * IPVS's sysctls the config asks for (ipvs-sysctls.ts), not with an injected client unless told where:
   * `start` sets them; `reload` only when the config asks for other values than those in force (or the
   * last attempt failed); `drift` reads those in force again and sets what someone else changed. Never throws.
   */
  async applyIpvsSysctls(when: 'start' | 'reload' | 'drift'): Promise<void> {
    if (!this.client || (this.opts.ipvs && this.opts.ipvsSysctlDir === undefined)) return;
    const ipvs = this.config.ipvs;
    if (when === 'start') await this.sysctls.set(ipvs);
    else if (when === 'reload') await this.sysctls.follow(ipvs);
    else await this.sysctls.check(ipvs);
  }

  /**
   * IPVS is opened when there is something to manage: services declared, services a previous daemon owned
   * (its state file: a restart on a config without them removes them), or the whole table owned.
   */
  private async ensureClient(): Promise<void> {
    if (this.client || !this.managesIpvs()) return;
    this.client = await this.openIpvsClient();
  }

  private managesIpvs(): boolean {
    return this.config.services.length > 0 || this.reconciler.owned.size > 0 || this.config.ipvs.ownWholeTable;
  }

  /**
   * At start: IPVS that cannot be opened is fatal when services are declared; with none declared (only
   * what a previous daemon owned is to be removed) VRRP starts anyway and the removal is retried (repair).
   */
  async openClientAtStart(): Promise<void> {
    try {
      await this.ensureClient();
    } catch (e) {
      if (this.config.services.length > 0) throw e;
      this.log.warn({ event: 'ipvs.open_failed', owned: this.reconciler.owned.size, err: (e as Error).message },
        `cannot open IPVS to remove the ${this.reconciler.owned.size} service(s) a previous lvsd owned; retrying: ${(e as Error).message}`);
    }
  }

  /** A restart adopts the table the previous daemon left (adoption.ts). */
  async adoptKernel(): Promise<void> {
    if (!this.client || this.config.services.length === 0) return;
    this.adoptionTimer = await adoptKernelTable(this.config, this.reconciler, this.wanted, this.log);
  }

  /** Connection sync (conn-sync.ts): the kernel's sync daemon follows the named VRRP instance's state. */
  startConnSync(): void {
    const cs = this.config.connectionSync;
    if (!cs || !this.client || !this.vrrp) return;
    const vrrp = this.vrrp;
    // read the state and subscribe in the same tick, so no transition falls between
    this.connSync = ConnSync.create({
      client: this.client, config: cs, state: vrrp.snapshot().find((i) => i.name === cs.instance)?.state,
      log: this.log.child({ component: 'connsync' }),
      onFailed: (op, code) => this.opts.metrics?.ipvsOpFailed?.(op, reasonOf(code)),
    });
    vrrp.onTransition((instance, from, to) => this.connSync?.transition(instance, from, to));
  }

  startHealth(): void {
    if (this.config.services.length === 0) return;
    this.health = this.makeHealth(this.config);
    this.health.start();
    this.refreshHealthDests();
    publishHealthUp(this.opts.metrics, this.health, this.config.services);
  }

  /** The health checker's lists for every service (Wanted.refreshHealth). */
  private refreshHealthDests(): void {
    this.wanted.refreshHealth((service) => this.health?.desired(service));
  }

  /** A scheduler for `config`, not started (health-wiring.ts). */
  makeHealth(config: Config): HealthScheduler {
    // An adopted service's real servers start up: the kernel's weights stand until a probe says otherwise
    // (a fall takes a dead one out; no rise is needed, so no slow-start ramp and no blip at restart).
    return createHealth(config, config.services.map((s) => this.wanted.healthConfig(s)), {
      log: this.log, running: () => this.config, onChange: (service, dests, change) => this.onHealthChange(service, dests, change),
      metrics: this.opts.metrics, probeUsers: this.probeUsers, prober: this.opts.prober, watcher: this.opts.healthWatcher,
    });
  }

  /**
   * A health change carries the service's new list (the transitions of one batch of outcomes folded into
   * one event per service): the reconciler plans that service again (coalesced).
   */
  private onHealthChange(service: string, dests: DestSpec[], change: HealthChange): void {
    this.busyAtMs = performance.now();
    const healthUp = this.opts.metrics?.healthUp;
    if (healthUp) {
      const series = this.seriesNames.of(this.config, service);
      // a group's members report the same probe: their series is the group's (t.realServer is the shared id)
      for (const t of change.transitions) healthUp(series, t.realServer, t.to === 'up' || t.to === 'drain');
    }
    const svc = this.wanted.healthChanged(service, dests, change.transitions);
    if (!svc) return;
    const n = change.transitions.length;
    const what = `${change.realServer} ${change.from} -> ${change.to} (${change.reason})${n > 1 ? ` and ${n - 1} more` : ''}`;
    void this.reconciler.update([this.wanted.entry(svc)], `health: ${what}`, 'health');
    this.ecmp.evaluate();
  }

  /** A bug reached the top of an asynchronous path: say so; the repair machinery converges. */
  internalError(where: string, e: unknown): void {
    this.log.error({ event: 'daemon.internal_error', where, err: (e as Error)?.stack ?? String(e) }, `internal error in ${where}`);
  }

  /** The recorded drains; throws LVSD_STATE when they cannot be known (drains-file.ts), so start fails rather than forget them. */
  async loadDrains(): Promise<void> {
    this.wanted.drains = await loadDrainMap(this.drainsFile(), this.wanted.drains, this.log);
  }
}
