/**
 * canonicalServiceId, remembered per key object. The reconciler asks for the id of the same few keys (the
 * config's, held by the desired table and the view) on every health change: its update, its plan, the
 * view's bookkeeping of each command. Built each time, those ids were ~30 MiB of the start's garbage at
 * 100,000 real servers (bench/_memory.ts). Keys are never changed after they are made (table/types.ts).
 */
import { canonicalServiceId, type ServiceKey } from '../table/index.js';

const ids = new WeakMap<ServiceKey, string>();

export function serviceIdOf(key: ServiceKey): string {
  let id = ids.get(key);
  if (id === undefined) ids.set(key, (id = canonicalServiceId(key)));
  return id;
}
