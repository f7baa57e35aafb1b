/**
 * The daemon's VRRP side: the VRRP manager, run by its worker thread (src/vrrp/port.ts) or by the main
 * thread itself (src/vrrp/inline.ts) as LVSD_VRRP_THREAD says (src/vrrp/thread-mode.ts), seen through the
 * daemon's VrrpPort, with its counters fed to metrics and its snapshots mapped to the status contract.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { InstanceSnapshot } from '../vrrp/instance.js';
import { VrrpWorker, type VrrpSide, type VrrpWorkerHooks } from '../vrrp/port.js';
import { vrrpThreadMode, type VrrpThreadMode } from '../vrrp/thread-mode.js';
import { closeListeners, type EarlyListener } from '../vrrp/early-listen.js';
import type { VrrpPort } from './daemon-types.js';
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
    ...(i.waitingForTable ? { waitingForTable: true } : {}),
    addressMismatches: i.counters.addressMismatches,
    socket: { errors: i.counters.socketErrors ?? 0, reopens: i.counters.socketReopens ?? 0 },
  };
}

/** The manager's side as `mode` runs it, booted (nothing started); the main thread's module is loaded only for it. */
async function bootSide(mode: VrrpThreadMode, log: Logger, hooks: VrrpWorkerHooks): Promise<VrrpSide> {
  if (mode === 'worker') return VrrpWorker.boot(log, hooks);
  return (await import('../vrrp/inline.js')).VrrpInline.boot(log, hooks);
}

export function vrrpFactory(metrics: Metrics | undefined, mode: VrrpThreadMode = vrrpThreadMode()): (config: Config, log: Logger) => Promise<VrrpPort> {
  return async (config, log) => {
    const side = await bootSide(mode, log, metricsHooks(() => metrics));
    await side.begin(config);
    return portOf(side);
  };
}

function metricsHooks(metrics: () => Metrics | undefined, later?: (f: (m: Metrics) => void) => void): VrrpWorkerHooks {
  const feed = (f: (m: Metrics) => void): void => {
    const m = metrics();
    if (m) f(m);
    else later?.(f);
  };
  return {
    onTransition: (t) => feed((m) => {
      m.vrrpTransition(t.instance, stateName(t.to));
      m.vrrpState(t.instance, stateName(t.to));
    }),
    onAdvert: (kind, instance, reason, count) => feed((m) => {
      if (kind === 'sent') m.vrrpAdvertSent(instance, count);
      else if (kind === 'received') m.vrrpAdvertReceived(instance, count);
      else m.vrrpAdvertInvalid(instance, reason ?? 'unknown', count);
    }),
    onNetlinkOverrun: (socket, count) => feed((m) => m.netlinkOverrun(socket, count)),
  };
}

function portOf(worker: VrrpSide): VrrpPort {
  return {
    update: (c) => worker.update(c),
    snapshot: () => worker.snapshot().map(instanceStatus),
    freshSnapshot: async () => (await worker.freshSnapshot()).map(instanceStatus),
    stop: () => worker.stop(),
    tableReady: (ok, error) => worker.tableReady(ok, error),
    onTransition: (listener) => worker.onTransition((t) => listener(t.instance, t.from, t.to)),
  };
}

/** What startVrrpEarly returns: the port (once the worker runs) and where its counters go from now on. */
export interface EarlyVrrp {
  /** Rejects as VrrpWorker.start would; the rejection is reported by whoever awaits it, never unhandled. */
  readonly port: Promise<VrrpPort>;
  /** The config its instances were started with. */
  readonly config: Config;
  /** Where the counters go from now on; undefined: nowhere (no metrics configured), and what was kept is dropped. */
  attachMetrics(metrics: Metrics | undefined): void;
}

/** A VRRP side booting before the config is known (bootVrrpEarly). */
export interface BootingVrrp {
  /** Starts the instances of `config` (see startVrrpEarly), with the sockets opened for them at exec. */
  start(config: Config, early?: EarlyListener[]): EarlyVrrp;
  /** The config has no VRRP instance: the thread ends. */
  discard(): void;
  /** Where the protocol runs. */
  readonly mode: VrrpThreadMode;
}

/** At most this many reports are kept for the metrics before they are attached (a few seconds' worth). */
const EARLY_REPORTS = 1000;

/**
 * Boots the VRRP side at once, before the config is loaded (issue #11, fast start): node's bootstrap of the
 * worker thread and its modules (or, on the main thread, the load of the manager's modules) overlap the
 * reading of the config. It starts no instance and does not keep the process alive until start() (a start
 * that fails first just exits).
 *
 * start() then starts the instances before the rest of the daemon is loaded: the worker announces backup
 * and runs its Master_Down timer while the main thread loads the health engine, metrics and control server
 * and programs the table. What it reports before the metrics exist (transitions, advert counts) is kept
 * and handed to them by attachMetrics.
 */
export function bootVrrpEarly(log: Logger, mode: VrrpThreadMode = vrrpThreadMode()): BootingVrrp {
  let metrics: Metrics | undefined;
  let attached = false;
  const early: Array<(m: Metrics) => void> = [];
  // the worker's thread starts now (synchronously); the main thread's manager once its module is loaded
  const side = bootSide(mode, log, metricsHooks(() => metrics, (f) => { if (!attached && early.length < EARLY_REPORTS) early.push(f); }));
  side.catch(() => undefined); // awaited by start() or discard()
  return {
    mode,
    start: (config, sockets) => {
      // With services to program, no instance claims mastership before the daemon's first reconcile
      // finished (Daemon.start calls tableReady): a master without its table takes VIPs it cannot serve.
      const begin = async (): Promise<VrrpPort> => {
        const s = await side.catch((e: unknown) => {
          closeListeners(sockets ?? []);
          throw e;
        });
        await s.begin(config, { waitForTable: config.services.length > 0, ...(sockets ? { early: sockets } : {}) });
        return portOf(s);
      };
      const port = begin();
      port.catch(() => undefined); // awaited later by the daemon's start, which reports it
      return {
        port,
        config,
        attachMetrics: (m) => {
          metrics = m;
          attached = true;
          for (const f of early.splice(0)) if (m) f(m);
        },
      };
    },
    discard: () => void side.then((s) => s.discard()).catch(() => undefined),
  };
}

/** The early worker's hand-over to the daemon (earlyHandover). */
export interface EarlyHandover {
  /** The daemon's VRRP factory (DaemonOptions.vrrp): the early worker first, new workers after. */
  vrrp: (config: Config, log: Logger) => Promise<VrrpPort>;
  /** Stops the early worker if the daemon has not taken it (a start that fails). Never rejects. */
  stopUntaken(): Promise<void>;
}

/**
 * The daemon takes the worker started early (updated to the config it loads itself, if that is another
 * one: a worker that refuses it is stopped); any later VRRP side it asks for is a new worker from `fresh`.
 */
export function earlyHandover(early: EarlyVrrp | undefined, fresh: (config: Config, log: Logger) => Promise<VrrpPort>): EarlyHandover {
  let taken = false;
  return {
    vrrp: async (config, vlog) => {
      if (!early || taken) return fresh(config, vlog);
      taken = true;
      const port = await early.port;
      // the same config (lvsd run hands the daemon the one it loaded): nothing to update, no round trip to
      // the thread on the way to the first reconcile
      if (config === early.config) return port;
      await port.update(config).catch(async (e: unknown) => {
        await port.stop().catch(() => undefined);
        throw e;
      });
      return port;
    },
    stopUntaken: async () => {
      if (!early || taken) return;
      taken = true;
      await (await early.port.catch(() => undefined))?.stop().catch(() => undefined);
    },
  };
}
