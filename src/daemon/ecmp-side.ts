/**
 * The director's ECMP side as the daemon holds it (src/ecmp: BIRD, the sysctls, the addresses on the VIP
 * interface): started after the first pass, switched by a reload, evaluated on health changes and drains,
 * withdrawn and stopped at the end. src/ecmp is imported only when a config has an ecmp section.
 */
import type { Config } from '../config/types.js';
import type { Ecmp, EcmpHost, EcmpOptions, EcmpStatus, ServiceQuorum } from '../ecmp/index.js';
import type { HealthScheduler } from '../health/index.js';
import type { IpvsApplyStatus } from '../reconcile/index.js';
import { LvsdError } from '../errors.js';
import type { Logger } from '../log.js';
import { addAddress } from '../net/index.js';
import { destId } from '../table/index.js';
import { realServerDrainKey } from './desired.js';

export interface EcmpSideOptions {
  log: Logger;
  /** The directory of the state file (BIRD's files go beside it). */
  stateDir: () => string;
  host: EcmpHost;
  sysctlRoot?: string | undefined;
  backoff?: EcmpOptions['backoff'] | undefined;
}

export class EcmpSide {
  private ecmp: Ecmp | undefined;

  constructor(private readonly opts: EcmpSideOptions) {}

  async start(config: NonNullable<Config['ecmp']>): Promise<void> {
    this.ecmp = await this.create(config);
  }

  private async create(config: NonNullable<Config['ecmp']>): Promise<Ecmp> {
    // imported here: a director without ecmp never loads BIRD's supervisor (child_process, readline)
    const { Ecmp } = await import('../ecmp/index.js');
    return Ecmp.start({
      config,
      log: this.opts.log.child({ component: 'ecmp' }),
      stateDir: this.opts.stateDir(),
      addresses: { add: (ifname, address, plen) => addAddress(ifname, address, plen) },
      host: this.opts.host,
      ...(this.opts.sysctlRoot !== undefined && { sysctlRoot: this.opts.sysctlRoot }),
      ...(this.opts.backoff && { backoff: this.opts.backoff }),
    });
  }

  /** After a reload: started, updated or stopped (BIRD stops: the routers drop this director). Never throws. */
  async switch(next: Config['ecmp']): Promise<void> {
    try {
      if (next && this.ecmp) await this.ecmp.update(next);
      else if (next) this.ecmp = await this.create(next);
      else if (this.ecmp) {
        const old = this.ecmp;
        this.ecmp = undefined;
        await old.withdrawForStop();
        await old.stop();
      }
    } catch (e) {
      this.opts.log.error({ event: 'ecmp.switch_failed', err: (e as Error).message }, `ecmp: ${(e as Error).message}`);
    }
  }

  /** Health or drains changed: what is announced may change. */
  evaluate(): void {
    void this.ecmp?.evaluate();
  }

  /** `lvsd drain --director` / `lvsd undrain --director`: withdraw every address (and wait for the routers) or announce again. */
  async drainDirector(on: boolean): Promise<{ ok: true; changed: boolean }> {
    if (!this.ecmp) throw new LvsdError('LVSD_CONTROL', 'this director has no ecmp section: nothing is announced, so there is nothing to drain (drain real servers with lvsd drain SERVICE REALSERVER)');
    return { ok: true, ...(await this.ecmp.drain(on)) };
  }

  status(): EcmpStatus | null {
    return this.ecmp?.status() ?? null;
  }

  /** Withdraw, give the routers withdrawWait to move the flows, then stop BIRD. Never throws. */
  async stop(): Promise<void> {
    if (!this.ecmp) return;
    await this.ecmp.withdrawForStop().catch((e: Error) => this.opts.log.error({ event: 'ecmp.stop_failed', err: e.message }, e.message));
    await this.ecmp.stop().catch((e: Error) => this.opts.log.error({ event: 'ecmp.stop_failed', err: e.message }, e.message));
  }
}

/**
 * Per ECMP service: its real servers that are up (health check up, not drained by the operator,
 * configured weight above 0; the sorry server never counts) and its quorum.
 */
export function ecmpQuorums(config: Config, health: HealthScheduler | undefined, drains: ReadonlyMap<string, unknown>): ServiceQuorum[] {
  const out: ServiceQuorum[] = [];
  for (const svc of config.services) {
    if (svc.spec.key.kind !== 'addr') continue;
    const healthy = new Set(health?.upServers(svc.name) ?? svc.realServers.map((r) => destId(r.spec)));
    const up = svc.realServers.filter((r) => r.spec.weight > 0 && healthy.has(destId(r.spec)) && !drains.has(realServerDrainKey(svc, r))).length;
    const unsettled = health?.unsettledServers(svc.name) ?? 0;
    out.push({ name: svc.name, address: svc.spec.key.address, up, quorum: svc.quorum?.minUp ?? 1, ...(unsettled > 0 && { unsettled }) });
  }
  return out;
}

/** Why this director cannot serve at all: IPVS could not be read or written at the last full pass. */
export function directorProblems(ipvs: Pick<IpvsApplyStatus, 'lastReconcile'>): string[] {
  const last = ipvs.lastReconcile;
  return last?.result === 'failed' ? [`IPVS unreachable: ${last.error ?? 'the last reconcile failed'}`] : [];
}
