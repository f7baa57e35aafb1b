/**
 * The read-only live status page (issue #15), served on the metrics listener when `metrics.statusPage`
 * is true: a sampler that snapshots the daemon every period (history, events), and the HTTP routes that
 * serve the page's files and its state. docs/status.md, "The status page".
 */
import type { Logger } from '../../log.js';
import type { StatusSnapshot } from '../status.js';
import { statusPageRoutes, type StatusPageRoutes } from './page.js';
import { Sampler } from './sampler.js';

export { CSP, assetsDir, statusPageRoutes, type StatusPageRoutes } from './page.js';
export { Sampler, type SamplerOptions } from './sampler.js';
export { RateHistory, type HistoryDelta, type RateSample } from './history.js';
export { diffEvents, EventLog, type PageEvent } from './events.js';
export { pageState, type PageState, type RsRow } from './view.js';

export interface StatusPage extends StatusPageRoutes {
  /** Starts sampling (call once the daemon answers status()). */
  start(): void;
  close(): void;
  readonly sampler: Sampler;
}

/** Reads the page's files (throws LvsdError LVSD_CONFIG_UNREADABLE when they are missing) and prepares the sampler. */
export function createStatusPage(opts: { take: () => Promise<StatusSnapshot>; log: Logger }): StatusPage {
  const sampler = new Sampler({ take: opts.take, log: opts.log });
  const routes = statusPageRoutes(sampler);
  return {
    sampler,
    handle: (req, res) => routes.handle(req, res),
    start: () => sampler.start(),
    close: () => sampler.close(),
  };
}
