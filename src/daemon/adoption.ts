/**
 * A restart finds the table the previous daemon left. Until the health checker has a verdict on a real
 * server (or the settle time has passed), that server keeps its kernel weight, so a restart changes
 * nothing in the kernel (desired.ts adoptDests; the adopted state is kept by wanted.ts).
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Reconciler } from '../reconcile/index.js';
import type { KernelEntry } from '../table/index.js';
import { timerDelay } from '../timer-delay.js';
import { adoptionSettleSeconds } from './desired.js';
import type { Wanted } from './wanted.js';

/**
 * Reads the kernel's table and adopts the declared services it holds. Returns the timer (unref'd) that ends
 * the adoption after the settle time and applies the table then; undefined when nothing was adopted or
 * nothing is probed. A table that cannot be read adopts nothing: the first reconcile will say what is wrong.
 */
export async function adoptKernelTable(config: Config, reconciler: Reconciler, wanted: Wanted, log: Logger): Promise<NodeJS.Timeout | undefined> {
  let kernel: KernelEntry[];
  try {
    kernel = await reconciler.read();
  } catch {
    return undefined;
  }
  const adopted = wanted.adopt(kernel);
  if (adopted.length === 0) return undefined;
  const settleS = adoptionSettleSeconds(config);
  log.info({ event: 'daemon.adopt', services: adopted.length > 100 ? adopted.length : adopted, settleSeconds: settleS },
    `adopting ${adopted.length} service(s) found in the kernel`);
  if (settleS === 0) {
    wanted.endAdoption();
    return undefined;
  }
  const timer = setTimeout(() => {
    wanted.endAdoption();
    void reconciler.applyDesired(wanted.table(), 'adopted', 'adopted');
  }, timerDelay(settleS * 1000));
  timer.unref();
  return timer;
}
