/**
 * A daemon process a netns test started, read by its log: every pino JSON line it printed on stdout, and
 * a wait for the first line that matches (stderr's tail in the error when none comes in time).
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export type LogLine = Record<string, unknown>;

export class DaemonLog {
  readonly lines: LogLine[] = [];
  private waiters: Array<() => void> = [];
  private stderr = '';

  constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as LogLine);
        for (const w of this.waiters.splice(0)) w();
      } catch { /* not JSON */ }
    });
  }

  /** The first line `ok` accepts, or an error naming `what` after `ms`. */
  async waitFor(ok: (l: LogLine) => boolean, what: string, ms = 30_000): Promise<LogLine> {
    const end = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(ok);
      if (hit) return hit;
      if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms; stderr: ${this.stderr.slice(-2000)}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 200); });
    }
  }

  /** The first line of `event`. */
  waitForEvent(event: string, ms?: number): Promise<LogLine> {
    return this.waitFor((l) => l.event === event, event, ms);
  }
}
