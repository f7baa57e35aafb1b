/**
 * The real servers found up at their first check, told in one `health.first_up` line per batch of outcomes
 * instead of a `health.change` line each. At a start (or a backup's takeover) every real server starts down
 * and comes up at its first check: 10,000 `health.change` lines that say nothing an operator reads after a
 * restart (a count does, and the downs: a real server that fails keeps its `health.change` lines, each named),
 * and each line cost the main thread its JSON and its write while the table waited for the weights (in the
 * TCG VM ~1 ms of the ramp's per-outcome cost). A count per line, the services' count, and the first
 * FIRST_UP_NAMED real servers named (a small director names them all). Internal to src/health.
 */
import type { Logger } from '../log.js';

/** At most this many real servers are named in one line; the rest are counted (`more`). */
export const FIRST_UP_NAMED = 16;

export interface FirstUp {
  service: string;
  realServer: string;
  weight: number;
}

export class FirstUpLog {
  private count = 0;
  private readonly services = new Set<string>();
  private named: FirstUp[] = [];

  /** One real server of `service` up at its first check (a group's: once, by the group's name). */
  record(service: string, realServer: string, weight: number): void {
    this.count++;
    this.services.add(service);
    if (this.named.length < FIRST_UP_NAMED) this.named.push({ service, realServer, weight });
  }

  /** Logs what was recorded since the last flush, if anything, as one line. */
  flush(log: Logger): void {
    if (this.count === 0) return;
    const { count, named } = this;
    const services = this.services.size;
    this.count = 0;
    this.services.clear();
    this.named = [];
    log.info({
      event: 'health.first_up', count, services, realServers: named, ...(count > named.length && { more: count - named.length }),
    }, `${count} real server${count === 1 ? '' : 's'} of ${services} service${services === 1 ? '' : 's'} up at the first check`);
  }
}
