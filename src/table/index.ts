/**
 * The IPVS table model: services, real servers, their ids, flags and the flags' names. A leaf every part
 * of lvsd that speaks of the table shares: the netlink client (src/ipvs), the config, the reconciler, the
 * health checker, the daemon and the CLI. Pure, no I/O.
 */
export * from './types.js';
export * from './ids.js';
export * from './flags.js';
export * from './dest.js';
