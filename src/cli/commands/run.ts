import type { Registry } from 'prom-client';
import type { Daemon, DaemonMetrics, DaemonOptions } from '../../daemon/daemon.js';
import type { ControlServer } from '../../daemon/control-server.js';
import { claimNetns } from '../../daemon/netns-guard.js';
import type { StatusSnapshot } from '../../daemon/status.js';
import type { StatusPage } from '../../daemon/web/index.js';
import type { EarlyVrrp } from '../../daemon/vrrp-port.js';
import { ConfigCache, loadConfig, socketPathProblem } from '../../config/index.js';
import type { Config } from '../../config/types.js';
import { LvsdError } from '../../errors.js';
import { createLogger, lazyLogger, preloadPino, type Logger } from '../../log.js';
import { packageVersion } from '../../package-root.js';
import { trapSignals, type SignalTrap } from '../signals.js';
import { EXIT } from '../exit.js';

export interface RunArgs {
  config: string;
  socket?: string | undefined;
  stateFile?: string | undefined;
  logLevel: string;
  /** Tests only: the IPVS client (an in-memory table where the kernel has no IPVS). */
  ipvs?: DaemonOptions['ipvs'];
  /** Tests only: where the ECMP sysctls go (a directory standing in for /proc/sys where IPVS is absent). */
  sysctlRoot?: string;
}

/**
 * `lvsd run`: the daemon. SIGHUP or a changed config file reloads; SIGTERM/SIGINT stop cleanly (VRRP
 * hands over, VIPs released, the IPVS table left in place so a restart does not blip).
 */
export async function runCommand(args: RunArgs): Promise<number> {
  // pino's chunk loads while the VRRP worker boots (run awaits it before anything is logged)
  const pinoReady = preloadPino();
  const log = lazyLogger(args.logLevel, () => createLogger({ level: args.logLevel, sync: false }));
  const signals = trapSignals(log);
  try {
    return await run(args, log, signals, pinoReady);
  } catch (e) {
    signals.detach();
    throw e;
  }
}

async function run(args: RunArgs, log: Logger, signals: SignalTrap, pinoReady: Promise<void>): Promise<number> {
  const version = packageVersion();
  // VRRP first (issue #11, fast start): the worker thread boots now, while the config is read; it starts
  // its instances once the namespace is claimed (below), announces backup and runs the Master_Down timer
  // while this thread loads the rest of the daemon and programs the table.
  const vrrpPort = await import('../../daemon/vrrp-port.js');
  const booting = vrrpPort.bootVrrpEarly(log.child({ component: 'vrrp' }));
  await pinoReady.catch(() => undefined); // a failed import: pino is required when first used, and says why
  // Claim the network namespace, then the control socket, before touching the kernel: a second `lvsd run`
  // started by mistake must stop here, whatever its --socket, not reconcile, probe and run VRRP beside the
  // first one (netns-guard.ts). A bad config is fatal at start, with every problem; the daemon is handed
  // this config (it is loaded once).
  let startingConfig: Config;
  const configCache = new ConfigCache();
  let socketPath: string;
  let guard: Awaited<ReturnType<typeof claimNetns>>;
  try {
    startingConfig = await loadConfig(args.config, { hostChecks: true, cache: configCache });
    socketPath = args.socket ?? startingConfig.control.socket;
    const badSocket = args.socket !== undefined ? socketPathProblem(args.socket) : undefined;
    if (badSocket !== undefined) throw new LvsdError('LVSD_USAGE', `--socket ${badSocket}`);
    guard = await claimNetns({ pid: process.pid, socket: socketPath, version });
  } catch (e) {
    booting.discard();
    throw e;
  }
  // Whatever fails from here on stops the VRRP worker before the namespace is released.
  const early: EarlyVrrp | undefined = startingConfig.vrrp.length > 0 ? booting.start(startingConfig) : undefined;
  if (!early) booting.discard();
  let earlyTaken = false;
  const stopEarly = async (): Promise<void> => {
    if (!early || earlyTaken) return;
    earlyTaken = true;
    await (await early.port.catch(() => undefined))?.stop().catch(() => undefined);
  };
  const releaseGuard = async (): Promise<void> => {
    await stopEarly();
    await guard.release();
  };
  // Metrics only when something can read them (a `metrics` section: its listener is opened at start only):
  // prom-client, its default process metrics (a 1 s event-loop timer, a GC observer) and every counter
  // update per probe cost ~8 MiB of RSS and CPU that no one would see (docs/benchmarks.md, "the daemon's
  // fixed cost").
  const [{ Daemon }, { startControlServer }, metricsModule] = await Promise.all([
    import('../../daemon/daemon.js'), import('../../daemon/control-server.js'),
    startingConfig.metrics ? import('../../daemon/metrics.js') : undefined,
  ]).catch(async (e: unknown) => {
    await releaseGuard();
    throw e;
  });
  const metrics = metricsModule?.createMetrics();
  const daemonMetrics: DaemonMetrics | undefined = metrics;
  early?.attachMetrics(metrics);
  let daemon: Daemon | undefined;
  const ready = (): Daemon => {
    if (!daemon) {
      throw new LvsdError('LVSD_CONTROL', early && startingConfig.services.length > 0
        ? 'lvsd is starting: its IPVS table is being programmed, and VRRP stays backup until it is (vrrp.waiting_for_table); try again in a moment'
        : 'lvsd is starting: the config is being applied; try again in a moment');
    }
    return daemon;
  };
  const control: ControlServer = await startControlServer({
    path: socketPath,
    ...(startingConfig.control.group ? { group: startingConfig.control.group } : {}),
    log,
    handlers: {
      status: (query) => ready().status(query),
      reload: () => ready().reload('control'),
      drain: (req) => ready().drain(req, true),
      undrain: (req) => ready().drain(req, false),
      drainDirector: (on) => ready().drainDirector(on),
    },
  }).catch(async (e: unknown) => {
    await releaseGuard();
    throw e;
  });
  // the guard goes last: the namespace is free only once everything else has stopped
  const closers: Array<() => Promise<void>> = [() => control.close()];

  let latest: StatusSnapshot | undefined;
  let startPage = (): void => undefined;
  if (startingConfig.metrics && metrics && metricsModule) {
    metrics.setSnapshotSource(() => latest);
    // The kernel counters are read at scrape time: each scrape takes a fresh snapshot (at most one a
    // second, shared by scrapes that arrive together), so a scrape never shows stale or missing counters.
    let takenAt = 0;
    let taking: Promise<void> | undefined;
    const refresh = (): Promise<void> => {
      if (Date.now() - takenAt < 1000) return Promise.resolve();
      if (!daemon) return Promise.resolve(); // still starting: the kernel gauges have no data yet
      taking ??= daemon.status().then(
        (s) => { latest = s; takenAt = Date.now(); },
        (e: Error) => log.warn({ event: 'metrics.snapshot_failed', err: e.message }, 'metrics: cannot take a status snapshot'),
      ).finally(() => { taking = undefined; });
      return taking;
    };
    const registry = metrics.registry;
    const scraped = Object.assign(Object.create(registry) as Registry, {
      metrics: async () => { await refresh(); return registry.metrics(); },
    });
    const listen = startingConfig.metrics.listen;
    let page: StatusPage | undefined;
    try {
      if (startingConfig.metrics.statusPage) {
        const { createStatusPage } = await import('../../daemon/web/index.js');
        page = createStatusPage({ take: () => ready().status(), log: log.child({ component: 'statuspage' }) });
      }
    } catch (e) {
      await control.close();
      await releaseGuard();
      throw e;
    }
    const server = await metricsModule.startMetricsServer(listen, scraped, page).catch(async (e: unknown) => {
      await control.close();
      await releaseGuard();
      throw e;
    });
    closers.push(() => server.close());
    if (page) {
      const started = page;
      startPage = () => started.start();
      closers.push(async () => started.close());
      log.info({ event: 'statuspage.listening', listen, port: server.port }, `status page on http://${listen}/`);
    }
    log.info({ event: 'metrics.listening', listen, port: server.port }, `metrics on ${listen}`);
  }
  // the daemon takes the worker started above (updated to the config it loads itself, if that changed)
  const vrrp: DaemonOptions['vrrp'] = async (config, vlog) => {
    if (!early || earlyTaken) return vrrpPort.vrrpFactory(metrics)(config, vlog);
    earlyTaken = true;
    const port = await early.port;
    await port.update(config).catch(async (e: unknown) => {
      await port.stop().catch(() => undefined);
      throw e;
    });
    return port;
  };
  try {
    daemon = await Daemon.start({
      configPath: args.config,
      config: startingConfig,
      configCache,
      log,
      stateFile: args.stateFile,
      ...(daemonMetrics && { metrics: daemonMetrics }),
      version,
      vrrp,
      ...(args.ipvs && { ipvs: args.ipvs }),
      ...(args.sysctlRoot !== undefined && { sysctlRoot: args.sysctlRoot }),
    });
  } catch (e) {
    for (const close of closers) await close().catch(() => undefined);
    await releaseGuard();
    throw e;
  }
  const running = daemon;
  startPage();

  const { watch } = await import('chokidar');
  let debounce: NodeJS.Timeout | undefined;
  const watcher = watch(args.config, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 } });
  watcher.on('all', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      log.info({ event: 'config.changed', path: args.config }, 'config changed on disk: reloading');
      void running.reload('file'); // never rejects; the daemon logs the outcome
    }, 300);
  });
  watcher.on('error', (e: unknown) => log.warn({ event: 'config.watch_error', path: args.config, err: (e as Error)?.message ?? String(e) },
    'cannot watch the config file: reload with lvsd reload or SIGHUP'));
  closers.push(() => watcher.close());

  const [{ LOW_NOFILE, noFileLimit }, { execIsolation }] = await Promise.all([import('../../daemon/limits.js'), import('../../health/index.js')]);
  const nofile = noFileLimit();
  if (nofile) {
    const low = nofile.soft !== 'unlimited' && nofile.soft < LOW_NOFILE;
    log[low ? 'warn' : 'info']({ event: 'daemon.limits', nofileSoft: nofile.soft, nofileHard: nofile.hard },
      low ? `only ${nofile.soft} file descriptors (hard limit ${nofile.hard}): probes may run short; raise LimitNOFILE` : `file descriptors: ${nofile.soft}`);
  }
  if (startingConfig.services.some((s) => s.realServers.some((r) => r.healthCheck.type === 'exec'))) {
    void execIsolation().then((mode) => {
      if (mode === 'pidns') log.info({ event: 'health.exec_isolation', mode }, 'exec checks run in a PID namespace each');
      else log.warn({ event: 'health.exec_isolation', mode }, 'exec checks run in a process group only (not root, or unshare cannot make a PID namespace): a child that calls setsid can outlive its check');
    });
  }
  log.info({ event: 'daemon.started', version, config: args.config, socket: socketPath }, 'lvsd running');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ event: 'daemon.stopping', signal }, `stopping on ${signal}`);
      clearTimeout(debounce);
      void (async () => {
        await running.stop().catch((e: unknown) => log.error({ event: 'daemon.stop_failed', err: (e as Error)?.message ?? String(e) }, 'stop failed'));
        for (const close of closers) await close().catch(() => undefined);
        await releaseGuard();
        signals.detach();
        resolve(EXIT.ok);
      })();
    };
    signals.attach({
      stop,
      reload: () => void running.reload('sighup'), // never rejects; the daemon logs the outcome
    });
  });
}
