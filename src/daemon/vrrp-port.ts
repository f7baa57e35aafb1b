/**
 * Builds the daemon's VRRP side. Until the VRRP runner lands this refuses configs with VRRP instances.
 */
import type { Config } from '../config/types.js';
import { LvsdError } from '../errors.js';
import type { Logger } from '../log.js';
import type { VrrpPort } from './daemon.js';
import type { Metrics } from './metrics.js';

export function vrrpFactory(_metrics: Metrics): ((config: Config, log: Logger) => Promise<VrrpPort>) | undefined {
  return async () => {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'VRRP is not implemented yet');
  };
}
