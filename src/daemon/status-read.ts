/**
 * What `lvsd status` reads of the kernel: the reconciler's kept view of the services shown with their
 * counters read now (one service's when status names one), or with `fresh` the whole table read again;
 * and the sync daemons. A read that fails shows the kept view and is logged.
 */
import type { ServiceConfig } from '../config/types.js';
import type { IpvsClient, SyncDaemon } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import { canonicalServiceId, type Reconciler } from '../reconcile/index.js';
import { serviceId, type KernelEntry } from '../table/index.js';
import { mergeCounters } from './snapshot.js';

export async function readStatusTable(
  client: IpvsClient, reconciler: Reconciler, services: readonly ServiceConfig[], fresh: boolean, log: Logger,
): Promise<{ kernel: KernelEntry[] | undefined; daemons: SyncDaemon[] }> {
  let kernel: KernelEntry[] | undefined;
  let daemons: SyncDaemon[] = [];
  const view = fresh ? undefined : reconciler.snapshot(services.map((s) => canonicalServiceId(s.spec.key)));
  try {
    if (view) {
      const only = new Set(services.map((s) => serviceId(s.spec.key)));
      const [counters, ds] = await Promise.all([only.size > 0 ? client.dump(only) : Promise.resolve([]), client.getDaemons()]);
      kernel = mergeCounters(view, counters);
      daemons = ds;
    } else {
      [kernel, daemons] = await Promise.all([client.dump(), client.getDaemons()]);
    }
  } catch (e) {
    kernel = view;
    log.warn({ event: 'status.dump_failed', err: (e as Error).message }, 'status: cannot read the IPVS table');
  }
  return { kernel, daemons };
}
