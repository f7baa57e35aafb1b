/**
 * The start's ramp as lvsd's main thread spends it (docs/benchmarks.md, 2026-12-06 "until every real server
 * is weighted"): the host's load under TCG moves the ramp's wall time by 3-5x, the CPU its main thread spends
 * reading the first verdicts far less. While the health bench waits for every real server to be weighted, the
 * main thread's CPU (/proc/PID/task/PID/stat) is sampled every 500 ms; once ready, the ramp's end is the time
 * of lvsd's last `ipvs.apply` line before the bench saw it (the last health pass that weighted a real server),
 * and the main thread's CPU then is the last sample at or before it (plus one period: an upper bound).
 */
import { readFileSync } from 'node:fs';
import { statTicks, CLK_TCK } from './_health-measure.js';

export interface RampFigures {
  /** from lvsd's spawn to its last ipvs.apply before it was seen ready, s */
  lastApplyS: number;
  /** the main thread's CPU (user + kernel) from the spawn to the ramp's end, s */
  mainCpuS: number;
  /** the same until the bench saw every real server weighted (polled every 5 s: the ramp's end and after) */
  mainCpuAtSeenS: number;
  /**
   * the main thread's CPU to the end of the start pass (`daemon.reconcile` reason start: 10,100 objects
   * programmed, the same code in any build), s: under TCG a thread's CPU time grows with the host's load
   * (the guest counts the time its vCPU was not run), so the ramp's CPU after the start pass over this is
   * the figure two starts at different loads compare by
   */
  startPassCpuS: number;
  /** (mainCpuS - startPassCpuS) / startPassCpuS */
  rampPerStartPass: number;
  /** the whole process's CPU to the ramp's end, s (the probe thread, VRRP, libuv's pool with it) */
  processCpuS: number;
  /** health passes (ipvs.apply lines after the first, the start pass) and health log lines */
  passes: number;
  healthChangeLines: number;
  firstUpLines: number;
}

export class RampSampler {
  private readonly samples: Array<{ at: number; main: number; all: number }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, private readonly t0: number) {
    this.timer = setInterval(() => this.take(), 500);
    this.take();
  }

  private take(): void {
    try {
      const m = statTicks(`/proc/${this.pid}/task/${this.pid}/stat`);
      const p = statTicks(`/proc/${this.pid}/stat`);
      this.samples.push({ at: Date.now(), main: (m.user + m.sys) / CLK_TCK, all: (p.user + p.sys) / CLK_TCK });
    } catch {
      /* gone */
    }
  }

  /** Stops sampling; the figures from lvsd's log (the ramp's end) and the samples. */
  finish(log: string): RampFigures | undefined {
    clearInterval(this.timer);
    this.take();
    const seenAt = Date.now();
    const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{'));
    let passes = -1, healthChangeLines = 0, firstUpLines = 0, lastApply = 0, startPass = 0;
    for (const l of lines) {
      let j: { event?: string; time?: string | number };
      try { j = JSON.parse(l) as typeof j; } catch { continue; }
      if (j.event === 'health.change') healthChangeLines++;
      if (j.event === 'health.first_up') firstUpLines++;
      if (j.event === 'daemon.reconcile' && (j as { reason?: string }).reason === 'start') startPass = Date.parse(String(j.time));
      if (j.event !== 'ipvs.apply') continue;
      const at = typeof j.time === 'number' ? j.time : Date.parse(String(j.time));
      if (at <= seenAt) { lastApply = at; passes++; }
    }
    const last = this.samples.at(-1);
    if (!last || lastApply === 0) return undefined;
    const atEnd = this.samples.filter((s) => s.at <= lastApply + 500).at(-1) ?? this.samples[0]!;
    const atStartPass = this.samples.filter((s) => s.at <= startPass + 500).at(-1) ?? this.samples[0]!;
    return {
      lastApplyS: (lastApply - this.t0) / 1000, mainCpuS: atEnd.main, mainCpuAtSeenS: last.main, processCpuS: atEnd.all,
      startPassCpuS: atStartPass.main, rampPerStartPass: (atEnd.main - atStartPass.main) / Math.max(0.01, atStartPass.main),
      passes: Math.max(0, passes), healthChangeLines, firstUpLines,
    };
  }
}
