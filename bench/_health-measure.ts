/**
 * What bench/health.ts measures, apart from the tools themselves: the CPU and memory of a set of processes
 * (/proc/PID/stat and status, per thread), a network namespace's TCP counters and TIME_WAIT sockets, the
 * whole machine's CPU (/proc/stat), what the sink saw (rate, spread, per-server interval deviation), the
 * host's load (the VM shares the host's cores), and the median and spread of a figure over rounds.
 * Not a bench itself (its name starts with _).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

export const CLK_TCK = 100;

export interface ProcSample {
  ticks: number;
  userTicks: number;
  rssKb: number;
  /** of rssKb: mapped files (node's binary, libraries: clean, shared, reclaimable) and private memory */
  fileKb: number;
  anonKb: number;
  /** proportional set size (smaps_rollup's Pss): a page N processes map counts 1/N in each (keepalived's 3 share most) */
  pssKb: number;
  hwmKb: number;
  /** per thread, named process/thread (threads of one name summed): [user, kernel] ticks, context switches
   *  [voluntary (a wait: a wake-up each), involuntary] */
  threads: Map<string, [number, number, number, number]>;
  /** per process: [user, kernel] ticks */
  procs: Map<number, [number, number]>;
}

/** utime and stime (fields 14, 15) and the name of a /proc/.../stat */
export function statTicks(path: string): { name: string; user: number; sys: number } {
  const stat = readFileSync(path, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), user: Number(f[11]), sys: Number(f[12]) };
}

export function sample(pids: number[]): ProcSample {
  let ticks = 0, userTicks = 0, rssKb = 0, fileKb = 0, anonKb = 0, pssKb = 0, hwmKb = 0;
  const threads = new Map<string, [number, number, number, number]>();
  const procs = new Map<number, [number, number]>();
  for (const pid of pids) {
    try {
      const p = statTicks(`/proc/${pid}/stat`);
      ticks += p.user + p.sys;
      userTicks += p.user;
      procs.set(pid, [p.user, p.sys]);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      fileKb += Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0);
      anonKb += Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwmKb += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      try {
        pssKb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      } catch {
        /* a kernel without smaps_rollup (before 4.14): Pss 0 */
      }
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
        const key = `${p.name}/${t.name}`;
        const had = threads.get(key) ?? [0, 0, 0, 0];
        const cs = switches(`/proc/${pid}/task/${tid}/status`);
        threads.set(key, [had[0] + t.user, had[1] + t.sys, had[2] + cs.voluntary, had[3] + cs.involuntary]);
      }
    } catch {
      /* gone */
    }
  }
  return { ticks, userTicks, rssKb, fileKb, anonKb, pssKb, hwmKb, threads, procs };
}

/**
 * The CPU ticks between two samples of the processes in both: one gone by the second (a helper the tool ran at
 * its start, still there at the first) would otherwise subtract its whole life's CPU.
 */
export function cpuTicks(s0: ProcSample, s1: ProcSample): { ticks: number; userTicks: number } {
  let ticks = 0, userTicks = 0;
  for (const [pid, [u1, k1]] of s1.procs) {
    const [u0, k0] = s0.procs.get(pid) ?? [u1, k1];
    ticks += u1 - u0 + k1 - k0;
    userTicks += u1 - u0;
  }
  return { ticks, userTicks };
}

/** TCP sockets in TIME_WAIT in a namespace (/proc/net/tcp state 06, read in the namespace) */
export function timeWaits(ns: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/tcp', '/proc/net/tcp6'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  let n = 0;
  for (const line of (r.stdout ?? '').split('\n')) if (line.split(/\s+/)[4] === '06') n++;
  return n;
}

/** TCP sockets in a namespace by state (`ss -tan`, in it: /proc/net/tcp undercounts TIME_WAIT), e.g. { ESTAB: 3, 'CLOSE-WAIT': 2000 }; LISTEN left out */
export function tcpStates(ns: string): Record<string, number> {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-tanH'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const out: Record<string, number> = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const st = line.split(/\s+/)[0];
    if (st && st !== 'LISTEN') out[st] = (out[st] ?? 0) + 1;
  }
  return out;
}

/**
 * The TCP counters of a namespace (/proc/net/snmp and /proc/net/netstat read in it): segments sent and
 * received, resets sent, and the closes that found the namespace's TIME_WAIT table full
 * (TCPTimeWaitOverflow: the socket is dropped at once, and the peer's late FIN is answered with a reset).
 */
export function tcpCounters(ns: string): { out: number; in: number; rsts: number; twOverflow: number } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp', '/proc/net/netstat'], { encoding: 'utf8' });
  const all = (r.stdout ?? '').split('\n');
  const table = (prefix: string) => {
    const lines = all.filter((l) => l.startsWith(prefix));
    const names = lines[0]?.split(/\s+/) ?? [], values = lines[1]?.split(/\s+/).map(Number) ?? [];
    return (n: string) => values[names.indexOf(n)] ?? 0;
  };
  const tcp = table('Tcp:'), ext = table('TcpExt:');
  return { out: tcp('OutSegs'), in: tcp('InSegs'), rsts: tcp('OutRsts'), twOverflow: ext('TCPTimeWaitOverflow') };
}

/** A thread's context switches so far (/proc/PID/task/TID/status): voluntary ones are its waits, a wake-up each. */
function switches(path: string): { voluntary: number; involuntary: number } {
  try {
    const s = readFileSync(path, 'utf8');
    return { voluntary: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0), involuntary: Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0) };
  } catch {
    return { voluntary: 0, involuntary: 0 };
  }
}

/** user / kernel ms per probe of each thread name in the window, busiest first, and its context switches per probe */
export function threadFigures(s0: ProcSample, s1: ProcSample, probes: number): Array<{ thread: string; userMsPerProbe: number; kernelMsPerProbe: number; wakesPerProbe: number; preemptedPerProbe: number }> {
  const out = [];
  for (const [name, [u1, k1, v1, n1]] of s1.threads) {
    const [u0, k0, v0, n0] = s0.threads.get(name) ?? [0, 0, 0, 0];
    const per = (t: number) => (t * 1000) / CLK_TCK / Math.max(1, probes);
    const each = (x: number) => x / Math.max(1, probes);
    if (u1 - u0 + k1 - k0 > 0) out.push({ thread: name, userMsPerProbe: per(u1 - u0), kernelMsPerProbe: per(k1 - k0), wakesPerProbe: each(v1 - v0), preemptedPerProbe: each(n1 - n0) });
  }
  return out.sort((a, b) => b.userMsPerProbe + b.kernelMsPerProbe - a.userMsPerProbe - a.kernelMsPerProbe);
}


export interface VmSample { busy: number; total: number; user: number; system: number; softirq: number; irq: number; ksoftirqd: number; sink: number }

/** The whole machine's CPU (/proc/stat, ticks), ksoftirqd's (network work deferred there is no tool's) and the sink's. */
export function vmBusy(sinkPid?: number): VmSample {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  const total = f.reduce((a, b) => a + b, 0);
  let ksoftirqd = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const t = statTicks(`/proc/${pid}/stat`);
      if (t.name.startsWith('ksoftirqd/')) ksoftirqd += t.user + t.sys;
    } catch {
      /* gone */
    }
  }
  let sink = 0;
  try {
    if (sinkPid) {
      const t = statTicks(`/proc/${sinkPid}/stat`);
      sink = t.user + t.sys;
    }
  } catch {
    /* gone */
  }
  return { busy: total - idle, total, user: f[0]! + f[1]!, system: f[2]!, irq: f[5]!, softirq: f[6]!, ksoftirqd, sink };
}

/** ms per probe of the whole machine in the window: busy, and of it user, system, irq + softirq, ksoftirqd, the sink */
export function vmFigures(v0: VmSample, v1: VmSample, probes: number) {
  const per = (a: number, b: number) => ((b - a) * 1000) / CLK_TCK / Math.max(1, probes);
  return {
    busy: per(v0.busy, v1.busy), user: per(v0.user, v1.user), system: per(v0.system, v1.system),
    irqSoftirq: per(v0.irq + v0.softirq, v1.irq + v1.softirq), ksoftirqd: per(v0.ksoftirqd, v1.ksoftirqd), sink: per(v0.sink, v1.sink),
  };
}

export interface Stats { p50: number; p99: number; max: number; n: number }

export function stats(xs: number[]): Stats {
  if (xs.length === 0) return { p50: NaN, p99: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: at(50), p99: at(99), max: s[s.length - 1]!, n: s.length };
}

/** What the sink saw in [from, to] (µs): rate, 10 ms bins, per-server interval deviation. */
export function probeFigures(recs: Array<{ us: number; key: number }>, fromUs: number, toUs: number, intervalS: number) {
  const inWin = recs.filter((r) => r.us >= fromUs && r.us < toUs);
  const seconds = (toUs - fromUs) / 1e6;
  const bins = new Array<number>(Math.ceil((toUs - fromUs) / 10_000)).fill(0);
  for (const r of inWin) bins[Math.floor((r.us - fromUs) / 10_000)]!++;
  const byServer = new Map<number, number[]>();
  for (const r of recs) {
    let l = byServer.get(r.key);
    if (!l) byServer.set(r.key, (l = []));
    l.push(r.us);
  }
  const dev: number[] = [];
  let late = 0;
  for (const times of byServer.values()) {
    times.sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) {
      const d = (times[i]! - times[i - 1]!) / 1000 - intervalS * 1000;
      dev.push(Math.abs(d));
      if (d > intervalS * 500) late++;
    }
  }
  return {
    probes: inWin.length,
    rate: inWin.length / seconds,
    servers: byServer.size,
    bins10ms: { ideal: inWin.length / bins.length, ...stats(bins) },
    intervalDeviationMs: stats(dev),
    /** intervals more than 1.5 x the configured one: a probe missed or very late */
    late,
  };
}

/**
 * The host's 1-minute load average now: inside the VM the file run.ts rewrites every few seconds in the
 * shared result directory ($LVSD_VM_OUT/host-load), directly on a host its own; undefined when unknown.
 */
export function hostLoad(): number | undefined {
  if (process.env.LVSD_IN_VM !== '1') return loadavg()[0];
  const f = process.env.LVSD_VM_OUT ? join(process.env.LVSD_VM_OUT, 'host-load') : undefined;
  if (!f || !existsSync(f)) return undefined;
  const v = Number(readFileSync(f, 'utf8').trim().split(/\s+/)[0]);
  return Number.isFinite(v) ? v : undefined;
}

/** The median of a list (the mean of the two middle ones when even); NaN when empty. */
export function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
