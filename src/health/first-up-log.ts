/**
 * The real servers found up at their first check, told in one `health.first_up` line a second at most
 * instead of a `health.change` line each. At a start (or a backup's takeover) every real server starts down
 * and comes up at its first check: 10,000 `health.change` lines that say nothing an operator reads after a
 * restart (a count does, and the downs: a real server that fails keeps its `health.change` lines, each named),
 * and each line cost the main thread its JSON and its write while the table waited for the weights (in the
 * TCG VM part of the ramp's ~1 ms per outcome). A count per line, the services' count, and the first
 * FIRST_UP_NAMED real servers named (a small director names them all). The line is written FIRST_UP_EVERY_MS
 * after the first real server it counts (however the addon batches its outcomes), or at a stop. Internal to
 * src/health.
 */
import type { Logger } from '../log.js';
import type { Clock, TimerHandle } from './types.js';

/** At most this many real servers are named in one line; the rest are counted (`more`). */
export const FIRST_UP_NAMED = 16;
/** One line at most this often: the first real server it counts waits this long to be logged (its weight does not). */
export const FIRST_UP_EVERY_MS = 1000;

export interface FirstUp {
  service: string;
  realServer: string;
  weight: number;
}

export class FirstUpLog {
  private count = 0;
  private readonly services = new Set<string>();
  private named: FirstUp[] = [];
  private timer: TimerHandle | undefined;

  constructor(private readonly clock: Clock, private readonly log: Logger) {}

  /** One real server of `service` up at its first check (a group's: once, by the group's name). */
  record(service: string, realServer: string, weight: number): void {
    this.count++;
    this.services.add(service);
    if (this.named.length < FIRST_UP_NAMED) this.named.push({ service, realServer, weight });
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, FIRST_UP_EVERY_MS);
  }

  /** Logs what was recorded since the last line, if anything, as one line now (a stop). */
  flush(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0) return;
    const { count, named } = this;
    const services = this.services.size;
    this.count = 0;
    this.services.clear();
    this.named = [];
    this.log.info({
      event: 'health.first_up', count, services, realServers: named, ...(count > named.length && { more: count - named.length }),
    }, `${count} real server${count === 1 ? '' : 's'} of ${services} service${services === 1 ? '' : 's'} up at the first check`);
  }
}
