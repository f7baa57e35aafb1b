/**
 * The daemon's VRRP side: the VRRP worker thread (src/vrrp/port.ts) seen through the daemon's VrrpPort,
 * with its counters fed to metrics and its snapshots mapped to the status contract.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { InstanceSnapshot } from '../vrrp/instance.js';
import { VrrpWorker } from '../vrrp/port.js';
import type { VrrpPort } from './daemon.js';
import type { Metrics } from './metrics.js';
import type { VrrpInstanceStatus, VrrpStateName } from './status.js';

function stateName(s: InstanceSnapshot['state']): VrrpStateName {
  return s === 'initialize' ? 'init' : s;
}

export function instanceStatus(i: InstanceSnapshot): VrrpInstanceStatus {
  const invalid = Object.values(i.counters.invalid).reduce((a, b) => a + (b ?? 0), 0);
  return {
    name: i.name,
    interface: i.interface,
    vrid: i.vrid,
    family: i.family,
    version: i.version,
    v2Compat: i.v2Compat,
    acceptMode: i.acceptMode,
    state: stateName(i.state),
    priority: i.priority,
    since: new Date(i.since).toISOString(),
    master: i.master,
    vips: i.vips,
    syncGroup: i.syncGroup,
    trackInterfaces: i.trackInterfaces,
    tracks: i.tracks ?? [],
    transitions: i.counters.transitions,
    adverts: { sent: i.counters.advertsSent, received: i.counters.advertsReceived, invalid },
    addressMismatches: i.counters.addressMismatches,
    socket: { errors: i.counters.socketErrors ?? 0, reopens: i.counters.socketReopens ?? 0 },
  };
}

export function vrrpFactory(metrics: Metrics): (config: Config, log: Logger) => Promise<VrrpPort> {
  return async (config, log) => {
    const worker = await VrrpWorker.start(config, log, {
      onTransition: (t) => {
        metrics.vrrpTransition(t.instance, stateName(t.to));
        metrics.vrrpState(t.instance, stateName(t.to));
      },
      onAdvert: (kind, instance, reason, count) => {
        if (kind === 'sent') metrics.vrrpAdvertSent(instance, count);
        else if (kind === 'received') metrics.vrrpAdvertReceived(instance, count);
        else metrics.vrrpAdvertInvalid(instance, reason ?? 'unknown', count);
      },
      onNetlinkOverrun: (socket, count) => metrics.netlinkOverrun(socket, count),
    });
    return {
      update: (c) => worker.update(c),
      snapshot: () => worker.snapshot().map(instanceStatus),
      freshSnapshot: async () => (await worker.freshSnapshot()).map(instanceStatus),
      stop: () => worker.stop(),
      onTransition: (listener) => worker.onTransition((t) => listener(t.instance, t.from, t.to)),
    };
  };
}
