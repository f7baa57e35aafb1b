/**
 * The log of probe failures that are the director's own (local-failure.ts): at most one health.local_failure
 * line per period, saying how many were not logged since the last one and how many there were in all.
 */
import { destId } from '../table/index.js';
import type { Logger } from '../log.js';
import type { HealthCheckConfig } from '../config/types.js';
import type { ProbeResult, ProbeTarget } from './types.js';

export class LocalFailureLog {
  private total = 0;
  private loggedAt: number | undefined;
  private unlogged = 0;

  constructor(private readonly log: Logger, private readonly everyMs: number) {}

  get count(): number {
    return this.total;
  }

  record(target: ProbeTarget, check: HealthCheckConfig, result: ProbeResult, now: number): void {
    this.total++;
    if (this.loggedAt !== undefined && now - this.loggedAt < this.everyMs) {
      this.unlogged++;
      return;
    }
    this.log.error({
      event: 'health.local_failure', realServer: destId(target), check: check.type, errno: result.local,
      reason: result.reason, unlogged: this.unlogged, total: this.total,
    }, `probe of ${destId(target)} failed on this director (${result.reason}): the real server keeps its state`);
    this.loggedAt = now;
    this.unlogged = 0;
  }
}
