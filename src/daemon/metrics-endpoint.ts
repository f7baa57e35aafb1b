/**
 * `lvsd run`'s metrics endpoint, opened only with a `metrics` section: the registry the daemon reports to,
 * a fresh status snapshot taken at scrape time (the kernel counters), the HTTP listener and the status
 * page. Loaded by run.ts only when the config has a `metrics` section: prom-client, its default process
 * metrics (a 1 s event-loop timer, a GC observer) and every counter update per probe cost ~8 MiB of RSS and
 * CPU that no one would see (docs/benchmarks.md, "the daemon's fixed cost").
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { createMetrics, startMetricsServer, type Metrics } from './metrics.js';
import type { StatusSnapshot } from './status.js';
import type { StatusPage } from './web/index.js';

/** What the endpoint asks of the daemon: a status snapshot. */
interface StatusSource {
  status(): Promise<StatusSnapshot>;
}

export interface OpenedEndpoint {
  /** Closed when lvsd stops, in this order. */
  closers: Array<() => Promise<void>>;
  /** Starts the status page's sampling (once the daemon runs). */
  startPage(): void;
}

export class MetricsEndpoint {
  readonly metrics: Metrics = createMetrics();

  /**
   * Opens the listener (and the status page). `running`: the daemon once started (undefined while it
   * starts); `ready`: the same, or throws what the control socket answers while it starts.
   */
  async open(
    conf: NonNullable<Config['metrics']>, o: { running: () => StatusSource | undefined; ready: () => StatusSource; log: Logger },
  ): Promise<OpenedEndpoint> {
    const { log } = o;
    let latest: StatusSnapshot | undefined;
    this.metrics.setSnapshotSource(() => latest);
    // The kernel counters are read at scrape time: each scrape takes a fresh snapshot (at most one a
    // second, shared by scrapes that arrive together), so a scrape never shows stale or missing counters.
    // The snapshot is let go a second after it was taken: kept between scrapes, it was every real
    // server's status in the heap for nothing (~4 MiB at 10,000 real servers).
    let takenAt = 0;
    let taking: Promise<void> | undefined;
    let drop: NodeJS.Timeout | undefined;
    const refresh = (): Promise<void> => {
      if (Date.now() - takenAt < 1000) return Promise.resolve();
      const daemon = o.running();
      if (!daemon) return Promise.resolve(); // still starting: the kernel gauges have no data yet
      taking ??= daemon.status().then(
        (s) => {
          latest = s;
          takenAt = Date.now();
          clearTimeout(drop);
          drop = setTimeout(() => { latest = undefined; takenAt = 0; }, 1000).unref();
        },
        (e: Error) => log.warn({ event: 'metrics.snapshot_failed', err: e.message }, 'metrics: cannot take a status snapshot'),
      ).finally(() => { taking = undefined; });
      return taking;
    };
    const registry = this.metrics.registry;
    const scraped = Object.assign(Object.create(registry) as Registry, {
      metrics: async () => { await refresh(); return registry.metrics(); },
    });
    const listen = conf.listen;
    let page: StatusPage | undefined;
    if (conf.statusPage) {
      const { createStatusPage } = await import('./web/index.js');
      page = createStatusPage({ take: () => o.ready().status(), log: log.child({ component: 'statuspage' }) });
    }
    const server = await startMetricsServer(listen, scraped, page);
    const closers: Array<() => Promise<void>> = [async () => { clearTimeout(drop); await server.close(); }];
    let startPage = (): void => undefined;
    if (page) {
      const started = page;
      startPage = () => started.start();
      closers.push(async () => started.close());
      log.info({ event: 'statuspage.listening', listen, port: server.port }, `status page on http://${listen}/`);
    }
    log.info({ event: 'metrics.listening', listen, port: server.port }, `metrics on ${listen}`);
    return { closers, startPage };
  }
}
