/**
 * Where the advert clock's late adverts went, from perf (docs/benchmarks.md, 2026-12-06 09:00): each send of
 * the clock thread more than 25 ms after one interval, what the thread did between the send before and it
 * (switched out where, woken by what, faults), and whether a twin (bench/advert-twin.c) was late meanwhile.
 *
 * Recorded in the VM beside the daemon, for the clock's tid (the `lvsd-advert` thread):
 *   perf record -a -k CLOCK_MONOTONIC -g -o perf.data \
 *     -e sched:sched_switch --filter "prev_pid == TID" -e sched:sched_wakeup --filter "pid == TID" \
 *     -e syscalls:sys_enter_sendmsg --filter "common_pid == TID" \
 *     -e exceptions:page_fault_user --filter "common_pid == TID" -e exceptions:page_fault_kernel --filter "common_pid == TID"
 *   perf script -i perf.data -F comm,tid,cpu,time,event,trace,ip > perf.txt
 *   cat /proc/kallsyms > kallsyms          (in the VM: the host's perf would name the addresses with its own kernel)
 *
 *   node dist/bench/_advert-perf.js perf.txt TID --kallsyms kallsyms [--twins twin0.log,twin1.log] [--interval 100] [--quiet]
 */
import { existsSync, readFileSync } from 'node:fs';

interface Ev { comm: string; tid: number; cpu: number; t: number; ev: string; args: string; stack: string[] }
interface TwinLate { cpu: number; mono: number; late: number; wait: number; on: number }

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const [file, tidText] = argv;
if (!file || !tidText) {
  process.stderr.write('usage: node dist/bench/_advert-perf.js perf.txt TID --kallsyms FILE [--twins a,b] [--interval 100] [--quiet]\n');
  process.exit(2);
}
const tid = Number(tidText);
const interval = Number(flag('--interval') ?? 100);
const quiet = argv.includes('--quiet');

/** kernel text symbols, sorted by address */
const syms: Array<[bigint, string]> = (() => {
  const f = flag('--kallsyms');
  if (!f || !existsSync(f)) return [];
  return readFileSync(f, 'utf8').split('\n').filter((l) => / [tTwW] /.test(l) && !l.includes('['))
    .map((l): [bigint, string] => { const [a, , n] = l.split(' '); return [BigInt('0x' + a), n!]; })
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
})();
function ksym(hex: string): string {
  const a = BigInt('0x' + hex);
  if (!syms.length || a < syms[0]![0]) return hex;
  let lo = 0, hi = syms.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (syms[mid]![0] <= a) lo = mid;
    else hi = mid - 1;
  }
  return syms[lo]![1];
}

const evs: Ev[] = [];
let cur: Ev | undefined;
for (const line of readFileSync(file, 'utf8').split('\n')) {
  const m = /^\s*(\S.*?)\s+(-?\d+)\s+\[(\d+)\]\s+([\d.]+):\s+([\w:]+):\s*(.*)$/.exec(line);
  if (m) {
    cur = { comm: m[1]!, tid: Number(m[2]), cpu: Number(m[3]), t: Number(m[4]) * 1000, ev: m[5]!, args: m[6]!, stack: [] };
    evs.push(cur);
    continue;
  }
  const s = /^\s+([0-9a-f]+)/.exec(line);
  if (s && cur) cur.stack.push(/^ffffffff/.test(s[1]!) ? ksym(s[1]!) : 'user');
}

const SKIP = /^(__schedule|schedule|schedule_preempt_disabled|ttwu_do_activate|try_to_wake_up|wake_up_q|entry_SYSCALL_64_after_hwframe|do_syscall_64)$/;
const brief = (e: Ev) => e.stack.filter((f) => !SKIP.test(f)).slice(0, 7).join(' < ');
const twins: TwinLate[] = (flag('--twins') ?? '').split(',').filter((f) => f && existsSync(f)).flatMap((f) =>
  readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('late ')).map((l) => {
    const p = l.split(' ');
    return { mono: Number(p[1]), late: Number(p[3]), cpu: Number(p[4]), wait: Number(p[5]), on: Number(p[6]) };
  }));

const sends = evs.filter((e) => e.ev === 'syscalls:sys_enter_sendmsg' && e.tid === tid);
const faults = evs.filter((e) => e.ev.startsWith('exceptions:page_fault'));
const out = (s: string) => process.stdout.write(s + '\n');
out(`events ${evs.length}, sends ${sends.length}, clock faults ${faults.length}, twin late wakes ${twins.length}`);
const places = new Map<string, number>();
for (const e of evs) {
  if (e.ev !== 'sched:sched_switch') continue;
  const k = `${/prev_state=(\S+)/.exec(e.args)?.[1] ?? '?'} ${brief(e).split(' < ').slice(0, 3).join(' < ')}`;
  places.set(k, (places.get(k) ?? 0) + 1);
}
out('switch-outs by state and place:');
for (const [k, n] of [...places].sort((a, b) => b[1] - a[1])) out(`  ${n}\t${k}`);

const kinds = new Map<string, { n: number; max: number }>();
const lates: number[] = [];
for (let k = 1; k < sends.length; k++) {
  const a = sends[k - 1]!.t, b = sends[k]!.t, gap = b - a;
  if (gap < interval + 25) continue;
  const inside = evs.filter((e) => e.t > a && e.t <= b && e.ev !== 'syscalls:sys_enter_sendmsg');
  const wakes = inside.filter((e) => e.ev === 'sched:sched_wakeup');
  const outs = inside.filter((e) => e.ev === 'sched:sched_switch');
  const fl = inside.filter((e) => e.ev.startsWith('exceptions:'));
  const byTimer = wakes.length > 0 && wakes.every((w) => w.stack.includes('hrtimer_wakeup'));
  const timedWaitOnly = outs.every((o) => !/prev_state=S/.test(o.args) || o.stack.includes('futex_wait'));
  const preempted = outs.some((o) => /prev_state=R/.test(o.args));
  // a twin's late wake is logged when its vCPU runs again: up to a few hundred ms after the stall began
  const twinLate = twins.some((x) => x.mono >= a - 50 && x.mono <= b + 250);
  const how = byTimer ? 'woken late by the timer' : wakes.length ? `woken by ${wakes.map((w) => w.stack[1] ?? '?').join(',')}` : 'no wake-up';
  const key = `${fl.length ? 'FAULT, ' : ''}${how}${timedWaitOnly ? ', slept in its timed wait only' : ', switched out elsewhere'}${preempted ? ', preempted' : ''}; a twin late too: ${twinLate}`;
  const c = kinds.get(key) ?? { n: 0, max: 0 };
  c.n++;
  c.max = Math.max(c.max, gap - interval);
  kinds.set(key, c);
  lates.push(gap - interval);
  if (quiet) continue;
  out(`\nsend at ${(b / 1000).toFixed(3)} s: ${gap.toFixed(1)} ms after the one before (late ~${(gap - interval).toFixed(1)} ms)`);
  for (const e of inside) {
    const rel = `+${(e.t - a).toFixed(1).padStart(6)} cpu${e.cpu}`;
    if (e.ev === 'sched:sched_switch') out(`  ${rel} out ${/prev_state=(\S+)/.exec(e.args)?.[1]} -> ${/next_comm=(.*?) next_pid=(\d+)/.exec(e.args)?.slice(1).join('/')}: ${brief(e)}`);
    else if (e.ev === 'sched:sched_wakeup') out(`  ${rel} woken in ${e.comm}/${e.tid}: ${brief(e)}`);
    else out(`  ${rel} ${e.ev} ${e.args}: ${brief(e)}`);
  }
}
lates.sort((x, y) => x - y);
out(`\nlate sends (more than ${interval + 25} ms after the one before): ${lates.length} of ${sends.length}`);
if (lates.length) out(`lateness ~ms: p50 ${lates[lates.length >> 1]!.toFixed(0)}, p90 ${lates[Math.floor(lates.length * 0.9)]!.toFixed(0)}, max ${lates.at(-1)!.toFixed(0)}`);
for (const [k, v] of [...kinds].sort((a, b) => b[1].n - a[1].n)) out(`  ${v.n}\t(max ~${v.max.toFixed(0)} ms) ${k}`);
