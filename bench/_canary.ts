/**
 * The health bench's canary (bench/health.ts, LVSD_BENCH_HEALTH_CANARY=1): one real server the bench takes
 * down and up again while a window runs, to time what a user waits for after a real server comes back:
 * its probe accepted (the listener's clock) -> the daemon's verdict (its `health.change` line, read after
 * the window) -> the weight in the kernel (`ipvsadm -Ln -t VIP:80` in the director's namespace, polled).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CanaryFlip } from './_drift-split.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Canary {
  private readonly child: ChildProcess;
  private readonly accepts: number[] = [];
  private acked: (() => void) | undefined;
  readonly ready: Promise<void>;

  constructor(private readonly o: { rsNs: string; directorNs: string; listener: string; address: string; port: number; vip: string; pollMs: number }) {
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.child = spawn('ip', ['netns', 'exec', o.rsNs, process.execPath, o.listener, o.address, String(o.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let j: { event?: string; at?: number };
      try {
        j = JSON.parse(line) as typeof j;
      } catch {
        return;
      }
      if (j.event === 'ready') ready();
      else if (j.event === 'accept') this.accepts.push(Number(j.at));
      else this.acked?.();
    });
  }

  /** Listening (up) until the next cycle. */
  on(): Promise<void> {
    return this.send('on');
  }

  private async send(cmd: 'on' | 'off'): Promise<void> {
    await new Promise<void>((resolve) => {
      this.acked = resolve;
      this.child.stdin!.write(`${cmd}\n`);
    });
  }

  /** The canary's weight in the kernel now (undefined: not there or unreadable), and when it was read. */
  private weight(): Promise<{ w: number | undefined; at: number }> {
    return new Promise((resolve) => {
      execFile('nsenter', [`--net=/run/netns/${this.o.directorNs}`, 'ipvsadm', '-Ln', '-t', `${this.o.vip}:80`], { timeout: 10_000 }, (err, stdout) => {
        const at = Date.now();
        if (err) return resolve({ w: undefined, at });
        const m = new RegExp(`->\\s+${this.o.address.replace(/\./g, '\\.')}:${this.o.port}\\s+\\S+\\s+(\\d+)`).exec(stdout);
        resolve({ w: m ? Number(m[1]) : undefined, at });
      });
    });
  }

  /** Polls the weight until `want` holds or `timeoutMs` passed: when it first held, or undefined. */
  private async until(want: (w: number) => boolean, timeoutMs: number): Promise<number | undefined> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const r = await this.weight();
      if (r.w !== undefined && want(r.w)) return r.at;
      await sleep(this.o.pollMs);
    }
    return undefined;
  }

  /**
   * Down and up again until `endAt` (wall-clock ms): off, the weight 0 seen, on, its first accepted probe,
   * the weight back. Each up flip's times (the daemon's are read from its log afterwards: _drift-split.ts withVerdicts).
   */
  async cycle(endAt: number): Promise<CanaryFlip[]> {
    const flips: CanaryFlip[] = [];
    while (Date.now() < endAt - 3000) {
      await this.send('off');
      if ((await this.until((w) => w === 0, 30_000)) === undefined) continue;
      await sleep(200);
      const onAt = Date.now();
      await this.send('on');
      let acceptAt: number | undefined;
      for (let t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(50)) {
        acceptAt = this.accepts.find((a) => a >= onAt);
        if (acceptAt !== undefined) break;
      }
      if (acceptAt === undefined) continue;
      const weightAt = await this.until((w) => w > 0, 30_000);
      flips.push({ onAt, acceptAt, ...(weightAt !== undefined && { weightAt }) });
    }
    await this.send('on');
    return flips;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
