/**
 * Where a probing thread's CPU goes, per probe, from `perf script` text (the health bench's trace:
 * LVSD_BENCH_HEALTH_TRACE_S). Pure: the text in, figures out. Each sample of the chosen thread (lvsd's
 * `lvsd-tcp-probe`, keepalived's checker by pid) is one 1/Hz slice of its CPU (cpu-clock, per task); the
 * shares of its samples times its CPU per probe measured over the window (/proc: perf's own start and end
 * under TCG take many seconds, so the probes during a record are not known) give its CPU per probe split
 *  - by the system call the sample is in (the kernel's `__x64_sys_*` frame; a socket's last close runs on the
 *    way out of close() in `task_work_run`, named `close` too), or user space, or an interrupt taken there;
 *  - by softirq work inside it (the network receive path: over a veth the peer's half of a handshake runs
 *    in the sender's softirq; the timers: TIME_WAIT sockets ending);
 *  - by kernel symbol, self (the leaf) and inclusive (anywhere in the stack, once a sample).
 */

export interface PerfProbeFigures {
  /** the thread's samples, and the whole record's */
  samples: number;
  allSamples: number;
  /** samples per second of CPU (perf record -F) */
  hz: number;
  /** the thread's CPU per probe, microseconds, measured over the window (what the shares are scaled to) */
  usPerProbe: number;
  /** user / kernel, microseconds per probe */
  userUs: number;
  kernelUs: number;
  /** by system call (or `user`, `irq in user`), microseconds per probe */
  bySyscall: Record<string, number>;
  /** softirq work by kind (net, timer, rcu, other), microseconds per probe, whoever's syscall it ran in */
  softirq: Record<string, number>;
  /** by syscall and then softirq or not ("connect/net softirq", "connect/own") */
  bySyscallSoftirq: Record<string, number>;
  /** kernel symbols: self (the leaf) and inclusive, microseconds per probe, the largest first */
  self: Array<[string, number]>;
  inclusive: Array<[string, number]>;
  /** the thread's stacks folded (root first, kernel frames and the libc call under them), with counts */
  folded: Map<string, number>;
}

interface Sample {
  comm: string;
  pid: number;
  tid: number;
  /** leaf first, as perf prints them */
  frames: Array<{ kernel: boolean; sym: string }>;
}

/** `perf script -F comm,pid,tid,ip,sym` with call chains: a header line per sample, a frame per indented line. */
export function parsePerfScript(text: string): Sample[] {
  const out: Sample[] = [];
  let cur: Sample | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      cur = undefined;
      continue;
    }
    if (!/^\s/.test(line)) {
      const m = /^(.*\S)\s+(\d+)\/(\d+)\s*$/.exec(line);
      if (!m) continue;
      cur = { comm: m[1]!, pid: Number(m[2]), tid: Number(m[3]), frames: [] };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const f = /^\s+([0-9a-f]+)\s+(.*)$/.exec(line);
    if (!f) continue;
    const addr = f[1]!;
    const sym = f[2]!.replace(/\+0x[0-9a-f]+$/, '').replace(/\s+\(.*\)$/, '').trim() || '[unknown]';
    cur.frames.push({ kernel: addr.length >= 16 && addr.startsWith('ffff'), sym });
  }
  return out;
}

const SOFTIRQ_KIND: Array<[RegExp, string]> = [
  [/^net_rx_action$|^net_tx_action$/, 'net'],
  [/^run_timer_softirq$|^hrtimer_run_softirq$|^tcp_tasklet_func$/, 'timer'],
  [/^rcu_core/, 'rcu'],
];

function syscallOf(s: Sample): string {
  const k = s.frames.filter((f) => f.kernel);
  if (k.length === 0) return 'user';
  // root-most first
  for (let i = s.frames.length - 1; i >= 0; i--) {
    const m = /^__(?:x64|ia32|se)_sys_(\w+)$|^__do_sys_(\w+)$/.exec(s.frames[i]!.sym);
    if (m) return (m[1] ?? m[2])!.replace(/^pwait$/, 'epoll_pwait');
  }
  const syms = new Set(s.frames.map((f) => f.sym));
  if (syms.has('entry_SYSCALL_64_after_hwframe') || syms.has('do_syscall_64')) {
    // on the way out of a call: a socket's last reference (close) ends in task_work_run -> __fput
    if (syms.has('__fput') || syms.has('task_work_run')) return 'close';
    // the libc wrapper just above the kernel's entry names the call
    const entry = s.frames.findIndex((f) => f.sym === 'entry_SYSCALL_64_after_hwframe');
    const libc = entry >= 0 ? s.frames[entry + 1]?.sym : undefined;
    return `syscall exit${libc ? ` (${libc})` : ''}`;
  }
  return 'fault or irq in user';
}

export function perfProbeFigures(samples: Sample[], pick: (s: Sample) => boolean, hz: number, usPerProbe: number): PerfProbeFigures {
  const mine = samples.filter(pick);
  const us = (n: number) => (n / Math.max(1, mine.length)) * usPerProbe;
  const add = (o: Record<string, number>, k: string, n = 1) => { o[k] = (o[k] ?? 0) + n; };
  const bySyscall: Record<string, number> = {}, softirq: Record<string, number> = {}, both: Record<string, number> = {};
  const self = new Map<string, number>(), incl = new Map<string, number>();
  const folded = new Map<string, number>();
  let user = 0;
  for (const s of mine) {
    const leaf = s.frames[0];
    if (!leaf || !leaf.kernel) user++;
    const call = syscallOf(s);
    add(bySyscall, call);
    let kind: string | undefined;
    for (const f of s.frames) {
      for (const [re, k] of SOFTIRQ_KIND) if (re.test(f.sym)) kind ??= k;
    }
    if (kind === undefined && s.frames.some((f) => f.sym === 'handle_softirqs' || f.sym === '__do_softirq')) kind = 'other';
    if (kind) add(softirq, kind);
    add(both, `${call}/${kind ? `${kind} softirq` : 'own'}`);
    if (leaf?.kernel) self.set(leaf.sym, (self.get(leaf.sym) ?? 0) + 1);
    for (const sym of new Set(s.frames.filter((f) => f.kernel).map((f) => f.sym))) incl.set(sym, (incl.get(sym) ?? 0) + 1);
    // root first: the kernel's frames and the user frame the kernel was entered from
    const firstUser = s.frames.findIndex((f) => !f.kernel);
    const chain = s.frames.slice(0, firstUser >= 0 ? firstUser + 1 : s.frames.length).map((f) => f.sym).reverse().join(';');
    folded.set(chain, (folded.get(chain) ?? 0) + 1);
  }
  const per = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, us(v)]));
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, us(v)] as [string, number]);
  return {
    samples: mine.length,
    allSamples: samples.length,
    hz,
    usPerProbe,
    userUs: us(user),
    kernelUs: us(mine.length - user),
    bySyscall: per(bySyscall),
    softirq: per(softirq),
    bySyscallSoftirq: per(both),
    self: top(self),
    inclusive: top(incl),
    folded,
  };
}

/** Lines for the bench's output: the split and the largest symbols. */
export function formatPerfProbe(f: PerfProbeFigures, topN = 25): string[] {
  const j = (o: Record<string, number>) => Object.entries(o).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  return [
    `${f.samples} samples of ${f.allSamples} at ${f.hz} Hz; of the window's ${f.usPerProbe.toFixed(1)} us per probe user ${f.userUs.toFixed(1)}, kernel ${f.kernelUs.toFixed(1)}`,
    `by call (us per probe): ${j(f.bySyscall)}`,
    `softirq inside it: ${j(f.softirq)}`,
    `by call and softirq: ${j(f.bySyscallSoftirq)}`,
    `kernel self: ${f.self.slice(0, topN).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`,
    `kernel inclusive: ${f.inclusive.slice(0, topN * 2).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`,
  ];
}
