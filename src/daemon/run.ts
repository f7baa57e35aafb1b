/**
 * The running daemon as a process (`lvsd run`; src/cli/commands/run.ts only hands over its arguments):
 * the VRRP worker booted first, the config loaded once, the network namespace claimed, the control
 * socket, the metrics endpoint and status page (opening while the daemon's start reads its files, and
 * open before it changes the kernel), the daemon itself, the config file watcher and the signals,
 * started in that order and stopped in the reverse. SIGHUP or a changed config file reloads;
 * SIGTERM/SIGINT stop cleanly (VRRP hands over, VIPs released, the IPVS table left in place so a restart
 * does not blip).
 */
import { performance } from 'node:perf_hooks';
import { ConfigCache, loadConfig, socketPathProblem } from '../config/index.js';
import type { Config } from '../config/types.js';
import { LvsdError } from '../errors.js';
import { createLogger, lazyLogger, preloadPino, type Logger } from '../log.js';
import { packageVersion } from '../package-root.js';
import { watchConfigFile, type ConfigWatch } from './config-watch.js';
import type { ControlServer } from './control-server.js';
import type { Daemon, DaemonMetrics, DaemonOptions, ReloadTrigger } from './daemon.js';
import { limitHeapGrowth } from './heap-growth.js';
import { claimNetns } from './netns-guard.js';
import { ReloadQueue } from './reload-queue.js';
import { answeredByRead } from './reload.js';
import { afterStartRamp, warmReloadPaths } from './reload-warm.js';
import { trapSignals, type SignalTrap } from './signals.js';
import type { Metrics } from './metrics.js';
import type { EarlyVrrp } from './vrrp-port.js';
import { closeListeners, handListeners, takeEarlyListeners } from '../vrrp/early-listen.js';
import { vrrpThreadProblem } from '../vrrp/thread-mode.js';

export interface RunDaemonOptions {
  /** The config file (or directory): loaded once at start, read again by each reload, watched. */
  configPath: string;
  /** Overrides control.socket. */
  socket?: string | undefined;
  /** Overrides ipvs.stateFile. */
  stateFile?: string | undefined;
  logLevel: string;
  /** Tests only: the IPVS client (an in-memory table where the kernel has no IPVS). */
  ipvs?: DaemonOptions['ipvs'];
  /** Tests only: where the ECMP sysctls go (a directory standing in for /proc/sys where IPVS is absent). */
  sysctlRoot?: string | undefined;
  /** Tests only: the file watcher's quiet time before it reloads (config-watch.ts; default 300 ms). */
  watchQuietMs?: number | undefined;
  /** Tests only: how long a write must be still before the watcher tells of it (config-watch.ts; default 200 ms). */
  watchSettleMs?: number | undefined;
}

/** Runs until SIGTERM/SIGINT and a clean stop. Rejects when it cannot start (what started is stopped). */
export async function runDaemon(o: RunDaemonOptions): Promise<void> {
  // before the config's load and the start's table: the heap's growth bounded (heap-growth.ts)
  limitHeapGrowth();
  // pino's chunk loads while the VRRP worker boots (run awaits it before anything is logged)
  const pinoReady = preloadPino();
  const log = lazyLogger(o.logLevel, () => createLogger({ level: o.logLevel, sync: false }));
  const signals = trapSignals(log);
  try {
    return await run(o, log, signals, pinoReady);
  } catch (e) {
    signals.detach();
    throw e;
  }
}

async function run(o: RunDaemonOptions, log: Logger, signals: SignalTrap, pinoReady: Promise<void>): Promise<void> {
  const version = packageVersion();
  // VRRP first (issue #11, fast start): the worker thread boots now (or, LVSD_VRRP_THREAD=main, the
  // manager's modules load), while the config is read; it starts its instances once the namespace is
  // claimed (below), announces backup and runs the Master_Down timer while this thread loads the rest of
  // the daemon and programs the table.
  const vrrpPort = await import('./vrrp-port.js');
  const booting = vrrpPort.bootVrrpEarly(log.child({ component: 'vrrp' }));
  await pinoReady.catch(() => undefined); // a failed import: pino is required when first used, and says why
  const modeProblem = vrrpThreadProblem();
  if (modeProblem !== undefined) log.warn({ event: 'vrrp.thread_mode_invalid', mode: booting.mode }, modeProblem);
  // Claim the network namespace, then the control socket, before changing the kernel: a second `lvsd run`
  // started by mistake must stop here, whatever its --socket, not reconcile, probe and run VRRP beside the
  // first one (netns-guard.ts). A bad config is fatal at start, with every problem; the daemon is handed
  // this config (it is loaded once).
  let startingConfig: Config;
  const configCache = new ConfigCache();
  let socketPath: string;
  let guard: Awaited<ReturnType<typeof claimNetns>>;
  try {
    startingConfig = await loadConfig(o.configPath, { hostChecks: true, cache: configCache });
    socketPath = o.socket ?? startingConfig.control.socket;
    const badSocket = o.socket !== undefined ? socketPathProblem(o.socket) : undefined;
    if (badSocket !== undefined) throw new LvsdError('LVSD_USAGE', `--socket ${badSocket}`);
    guard = await claimNetns({ pid: process.pid, socket: socketPath, version });
  } catch (e) {
    booting.discard();
    closeListeners(takeEarlyListeners());
    throw e;
  }
  // Whatever fails from here on stops the VRRP worker before the namespace is released. The instances
  // adopt the sockets the launcher opened for them at exec (early-listen.ts); the others are closed.
  const sockets = handListeners(takeEarlyListeners(), startingConfig.vrrp);
  const early: EarlyVrrp | undefined = startingConfig.vrrp.length > 0 ? booting.start(startingConfig, sockets) : undefined;
  if (!early) booting.discard();
  else log.info({ event: 'vrrp.thread', mode: booting.mode }, booting.mode === 'main' ? 'VRRP runs on the main thread' : 'VRRP runs in its worker thread');
  let metrics: Metrics | undefined;
  // the daemon takes the worker started above (updated to the config it loads itself, if that changed)
  const handover = vrrpPort.earlyHandover(early, (config, vlog) => vrrpPort.vrrpFactory(metrics, booting.mode)(config, vlog));
  const releaseGuard = async (): Promise<void> => {
    await handover.stopUntaken();
    await guard.release();
  };
  // Metrics only when something can read them (a `metrics` section: metrics-endpoint.ts says why).
  const [{ Daemon }, { startControlServer }, endpointModule] = await Promise.all([
    import('./daemon.js'), import('./control-server.js'),
    startingConfig.metrics ? import('./metrics-endpoint.js') : undefined,
  ]).catch(async (e: unknown) => {
    await releaseGuard();
    throw e;
  });
  const endpoint = endpointModule ? new endpointModule.MetricsEndpoint() : undefined;
  metrics = endpoint?.metrics;
  const daemonMetrics: DaemonMetrics | undefined = metrics;
  early?.attachMetrics(metrics);
  let daemon: Daemon | undefined;
  // Every reload goes through one queue (reload-queue.ts): a request is answered by a reload that read the
  // files as they were when it came (a running one whose files are unchanged since it read them, else the
  // next), requests that wait share one, and a reload that starts covers the watcher's pending one.
  let watch: ConfigWatch | undefined;
  const reloads = new ReloadQueue((trigger: ReloadTrigger) => ready().reload(trigger), {
    onStart: ({ trigger, triggers }) => {
      if (triggers.length > 1) log.info({ event: 'config.reload_shared', trigger, triggers }, `one reload answers ${triggers.length} requests`);
      watch?.covered(trigger);
    },
    answersLater: (result) => answeredByRead(result, configCache),
    onShared: ({ trigger, triggers }) => log.info({ event: 'config.reload_shared', trigger, triggers, unchangedSince: true },
      `the ${trigger} reload answers ${triggers.length} request(s) that came while it ran: the files are unchanged since it read them`),
    // the watcher woke on an edit the last reload (`lvsd reload` right after the edit) already read: not reloaded twice
    onCovered: ({ by }) => log.info({ event: 'config.change_covered', path: o.configPath, by, read: true },
      `config changed on disk: the ${by} reload that ended already read it (the files are unchanged since)`),
  });
  // The closures below (control handlers, signals) live as long as the daemon: none may refer to the
  // starting config, or every closure of this function would keep it (and its parse) after a reload.
  const tableFirst = early !== undefined && startingConfig.services.length > 0;
  const ready = (): Daemon => {
    if (!daemon) {
      throw new LvsdError('LVSD_CONTROL', tableFirst
        ? 'lvsd is starting: its IPVS table is being programmed, and VRRP stays backup until it is (vrrp.waiting_for_table); try again in a moment'
        : 'lvsd is starting: the config is being applied; try again in a moment');
    }
    return daemon;
  };
  // The control socket and the metrics endpoint open while the daemon reads its files, opens IPVS and takes
  // the VRRP side; it changes nothing in the kernel and starts no probe before they are open
  // (DaemonOptions.beforeKernel), so a start that cannot open them still stops before touching the table.
  // the guard goes last: the namespace is free only once everything else has stopped
  const closers: Array<() => Promise<void>> = [];
  let startPage = (): void => undefined;
  // the closure below outlives the start: it refers to the metrics section, not to the starting config
  const metricsConfig = startingConfig.metrics;
  const listening = startControlServer({
    path: socketPath,
    ...(startingConfig.control.group ? { group: startingConfig.control.group } : {}),
    log,
    handlers: {
      status: (query) => ready().status(query),
      reload: () => reloads.request('control'),
      drain: (req) => ready().drain(req, true),
      undrain: (req) => ready().drain(req, false),
      drainDirector: (on) => ready().drainDirector(on),
    },
  }).then(async (control: ControlServer) => {
    closers.push(() => control.close());
    if (metricsConfig && endpoint) {
      const opened = await endpoint.open(metricsConfig, { running: () => daemon, ready, log });
      closers.push(...opened.closers);
      startPage = () => opened.startPage();
    }
  });
  try {
    daemon = await Daemon.start({
      configPath: o.configPath,
      config: startingConfig,
      configCache,
      log,
      stateFile: o.stateFile,
      ...(daemonMetrics && { metrics: daemonMetrics }),
      version,
      vrrp: handover.vrrp,
      beforeKernel: listening,
      ...(o.ipvs && { ipvs: o.ipvs }),
      ...(o.sysctlRoot !== undefined && { sysctlRoot: o.sysctlRoot }),
    });
  } catch (e) {
    await listening.catch(() => undefined);
    for (const close of closers) await close().catch(() => undefined);
    await releaseGuard();
    throw e;
  }
  const running = daemon;
  startPage();
  // the reload path run once the start's ramp is over, not by the first real reload (reload-warm.ts): the
  // config read once more (Daemon.warm: reloads queue behind it), the load of an edited file on a scratch
  // config, and one request over the control socket; not inside the ramp, whose first verdicts the main
  // thread reads
  const rampFrom = performance.now();
  void afterStartRamp({
    unsettled: () => running.awaitingFirstVerdicts(), busyAtMs: () => running.busyAtMs, stopped: () => running.stopping,
    now: () => performance.now(), sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms).unref()),
  }).catch(() => 'latest' as const).then((after) => {
    if (after !== 'stopped') return warmReloadPaths(() => running.warm(), socketPath, log, { after, ms: Math.round(performance.now() - rampFrom) });
  });

  // never rejects; the daemon logs the outcome
  const watching = await watchConfigFile(o.configPath, () => void reloads.changed('file'), log, {
    ...(o.watchQuietMs !== undefined && { quietMs: o.watchQuietMs }), ...(o.watchSettleMs !== undefined && { settleMs: o.watchSettleMs }),
  });
  watch = watching;
  closers.push(() => watching.close());
  await logHostFacts(startingConfig, log);
  // the page-out of node's mapped files waits while the daemon is busy (./page-out-guard.ts)
  const stopTrims = (await import('./heap-trim.js')).startHeapTrim(log, { pageOut: { busyAtMs: () => running.busyAtMs } });
  closers.push(async () => stopTrims());
  log.info({ event: 'daemon.started', version, config: o.configPath, socket: socketPath }, 'lvsd running');

  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ event: 'daemon.stopping', signal }, `stopping on ${signal}`);
      watching.cancel();
      void (async () => {
        await running.stop().catch((e: unknown) => log.error({ event: 'daemon.stop_failed', err: (e as Error)?.message ?? String(e) }, 'stop failed'));
        for (const close of closers) await close().catch(() => undefined);
        await releaseGuard();
        signals.detach();
        resolve();
      })();
    };
    signals.attach({
      stop,
      reload: () => void reloads.request('sighup'), // never rejects; the daemon logs the outcome
    });
  });
}

/** What the host gives the daemon, logged once it runs: the descriptor limit, how exec checks are isolated. */
async function logHostFacts(config: Config, log: Logger): Promise<void> {
  const [{ LOW_NOFILE, noFileLimit }, { execIsolation }] = await Promise.all([import('./limits.js'), import('../health/index.js')]);
  const nofile = noFileLimit();
  if (nofile) {
    const low = nofile.soft !== 'unlimited' && nofile.soft < LOW_NOFILE;
    log[low ? 'warn' : 'info']({ event: 'daemon.limits', nofileSoft: nofile.soft, nofileHard: nofile.hard },
      low ? `only ${nofile.soft} file descriptors (hard limit ${nofile.hard}): probes may run short; raise LimitNOFILE` : `file descriptors: ${nofile.soft}`);
  }
  if (config.services.some((s) => s.realServers.some((r) => r.healthCheck.type === 'exec'))) {
    void execIsolation(log).then((mode) => {
      if (mode === 'pidns') log.info({ event: 'health.exec_isolation', mode }, 'exec checks run in a PID namespace each');
      else log.warn({ event: 'health.exec_isolation', mode }, 'exec checks run in a process group only (not root, or unshare cannot make a PID namespace): a child that calls setsid can outlive its check');
    });
  }
}
