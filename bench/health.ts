/**
 * Health-check benchmark: lvsd's TCP checks against keepalived's checker, the same work in the same run.
 *
 *   node dist/bench/health.js [--json]        (root, a kernel with IPVS: `npm run bench` runs it in the VM)
 *
 * N real servers (LVSD_BENCH_HEALTH_SERVERS, default 10,000: 100 per service, NAT, wrr) with a TCP check
 * every LVSD_BENCH_HEALTH_INTERVAL_S (default 1 s on a real host, 10 s in the TCG VM: see below), timeout 1 s.
 * The real servers are one C sink (bench/tcp-sink.c) in namespace hb-rs: 100 addresses on its lo, one
 * listening port per service; it accepts, records (time, address, port) and closes. Each tool runs in a
 * fresh director namespace of its own (hb-lvsd, hb-ka: separate IPVS tables) with a VRRP instance at
 * 100 ms adverts, master alone on its link, whose adverts a passive SCHED_RR receiver in hb-rs timestamps.
 *
 * For each tool: first VRRP alone (no services) for LVSD_BENCH_HEALTH_IDLE_S (default 20 s), then the full
 * config; once the kernel holds every real server with a weight (read with ipvsadm, the same for both)
 * and one more interval has passed, a window of LVSD_BENCH_HEALTH_WINDOW_S (default 60 s) measures:
 *  - CPU: utime + stime of every process in the tool's namespace (/proc/PID/stat), per minute and per probe;
 *  - RSS: the sum of VmRSS at the end of the window, and of VmHWM (peak);
 *  - probes: what the sink saw — rate, starts per 10 ms bin (the spread: ideal is rate/100 in every bin),
 *    and per real server the deviation of each interval from the configured one;
 *  - VRRP: |inter-arrival - 100 ms| of the tool's adverts, with the checks running and alone.
 * Both tools use real-time VRRP (lvsd's VRRP thread SCHED_RR 10, keepalived `vrrp_rt_priority 10`) and an
 * ordinary checker. Ratios are lvsd / keepalived (< 1: lvsd uses less).
 *
 * Why 10 s in the VM: under TCG every connect/accept/close costs the guest's kernel ~0.3-0.5 ms of emulated
 * CPU whoever makes it (keepalived: ~0.45 ms per probe measured, nearly all of it syscalls); 10,000 probes
 * a second would need ~5 vCPUs for the kernel's TCP work alone, and the VM has 2. The same 10,000 checkers
 * at 1,000 probes/s compare the two fairly; on a host with IPVS set LVSD_BENCH_HEALTH_INTERVAL_S=1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { unitEnvironment } from './_unit-env.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const root = join(here, '..', '..');
const LVSD_MAIN = join(root, 'dist', 'src', 'cli', 'main.js');
/**
 * What ships and /usr/bin/lvsd runs: the bundle's launcher (its VRRP worker one CommonJS file through the
 * code cache); tsc's dist/src only without a bundle. Until 2026-12-05 this bench ran dist/src's ESM files,
 * ~4.5 MiB more RSS than the bundle (node's ESM loader in both threads, every module compiled from source).
 */
const LVSD_BUNDLE = join(root, 'dist', 'bundle', 'lvsd.cjs');
const LVSD_CLI = existsSync(LVSD_BUNDLE) ? LVSD_BUNDLE : LVSD_MAIN;
const LISTENER = join(root, 'dist', 'test', 'netns', 'fixtures', 'vrrp-listen.js');
const KEEPALIVED = '/usr/sbin/keepalived';

const inVm = process.env.LVSD_IN_VM === '1';
const N = Number(process.env.LVSD_BENCH_HEALTH_SERVERS ?? 10_000);
const INTERVAL_S = Number(process.env.LVSD_BENCH_HEALTH_INTERVAL_S ?? (inVm ? 10 : 1));
const WINDOW_S = Number(process.env.LVSD_BENCH_HEALTH_WINDOW_S ?? 60);
const IDLE_S = Number(process.env.LVSD_BENCH_HEALTH_IDLE_S ?? 20);
/**
 * lvsd's drift repair (a full dump and diff of the table, default every 30 s) is work keepalived does not
 * do: off (1 h) by default so both do the same work; LVSD_BENCH_HEALTH_DRIFT=30s measures lvsd as deployed.
 */
const DRIFT = process.env.LVSD_BENCH_HEALTH_DRIFT ?? '1h';
/** LVSD_BENCH_HEALTH_TOOLS=lvsd: lvsd alone (e.g. its RSS at 100,000 real servers, where keepalived's start takes long) */
const TOOLS = (process.env.LVSD_BENCH_HEALTH_TOOLS ?? 'lvsd,keepalived').split(',').filter((t): t is Kind => t === 'lvsd' || t === 'keepalived');
/** The node flags lvsd runs with as installed: those of main.js's first line (#!/usr/bin/env -S node FLAGS). */
function deployedFlags(): string {
  return /^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(readFileSync(LVSD_MAIN, 'utf8').split('\n')[0]!)?.[1]?.trim() ?? '';
}
/** LVSD_BENCH_HEALTH_NODE_FLAGS: node flags for lvsd instead (default: deployedFlags(); "" for none) */
const NODE_FLAGS = (process.env.LVSD_BENCH_HEALTH_NODE_FLAGS ?? deployedFlags()).split(' ').filter(Boolean);
/** LVSD_BENCH_HEALTH_CLOSE=reset|fin: lvsd's TCP checks close with RST or FIN (default: the check's default) */
/** lvsd's environment as the packaged unit gives it (bench/_unit-env.ts; LVSD_BENCH_UNIT_ENV=0: none) */
const UNIT_ENV = unitEnvironment(root);
const CLOSE = process.env.LVSD_BENCH_HEALTH_CLOSE === 'reset' || process.env.LVSD_BENCH_HEALTH_CLOSE === 'fin' ? process.env.LVSD_BENCH_HEALTH_CLOSE : undefined;
/**
 * LVSD_BENCH_HEALTH_TRACE_S=S: after the window, with the tool still running, S seconds of `perf record` of
 * its processes (kernel and user stacks; the report by symbol in DIR/perf-TOOL.txt) and then S seconds of
 * `strace -c -f` (syscalls per probe: DIR/strace-TOOL.txt), each with the probes the sink saw meanwhile.
 */
const TRACE_S = Number(process.env.LVSD_BENCH_HEALTH_TRACE_S ?? 0);
const PER_SERVICE = 100;
const SERVICES = Math.ceil(N / PER_SERVICE);
const PORT0 = 8000;
const ADVERT_MS = 100;
const CLK_TCK = 100;
const json = process.argv.includes('--json');

type Kind = 'lvsd' | 'keepalived';
const NS = { rs: 'hb-rs', lvsd: 'hb-lvsd', keepalived: 'hb-ka' } as const;
/** per tool: its link's subnet (rs side .1, director .2, VIP .100) and the rs-side interface */
const LINK = { lvsd: { net: '10.91.0', rsIf: 'va' }, keepalived: { net: '10.91.2', rsIf: 'vb' } } as const;
const VRID = 93;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** configs and logs (LVSD_BENCH_HEALTH_DIR to keep them, e.g. under $LVSD_VM_OUT); sockets always in a local tmp dir */
const dir = process.env.LVSD_BENCH_HEALTH_DIR || mkdtempSync(join(tmpdir(), 'lvsd-bench-health-'));
const sockDir = mkdtempSync(join(tmpdir(), 'lvsd-bench-health-sock-'));

function sh(script: string, timeoutMs = 300_000): string {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${script.split('\n')[0]}...: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

function realServers(s: number): Array<{ address: string; port: number }> {
  const count = Math.min(PER_SERVICE, N - s * PER_SERVICE);
  return Array.from({ length: count }, (_, r) => ({ address: `10.91.1.${r + 1}`, port: PORT0 + s }));
}
const vip = (s: number) => `10.92.${s >> 8}.${s & 255}`;

function buildTopology(): void {
  const l = ['set -e'];
  for (const ns of Object.values(NS)) l.push(`ip netns del ${ns} 2>/dev/null || true`, `ip netns add ${ns}`, `ip -n ${ns} link set lo up`);
  l.push(`for i in $(seq 1 ${PER_SERVICE}); do echo "addr add 10.91.1.$i/32 dev lo"; done | ip -n ${NS.rs} -batch -`);
  l.push(`ip netns exec ${NS.rs} sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=8192`);
  for (const kind of ['lvsd', 'keepalived'] as const) {
    const { net, rsIf } = LINK[kind];
    l.push(`ip link add ${rsIf} netns ${NS.rs} type veth peer name eth0 netns ${NS[kind]}`);
    l.push(`ip -n ${NS.rs} addr add ${net}.1/24 dev ${rsIf}`, `ip -n ${NS.rs} link set ${rsIf} up`);
    l.push(`ip -n ${NS[kind]} addr add ${net}.2/24 dev eth0`, `ip -n ${NS[kind]} link set eth0 up`);
    l.push(`ip -n ${NS[kind]} route add 10.91.1.0/24 via ${net}.1`);
    // the same for both: many short connections a second want the whole ephemeral range
    l.push(`ip netns exec ${NS[kind]} sysctl -qw net.ipv4.ip_local_port_range="1024 65000"`);
  }
  sh(l.join('\n'));
}

function teardown(): void {
  for (const ns of Object.values(NS)) {
    for (const pid of nsPids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

function nsPids(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter(Boolean).map(Number);
}

/** A process in a namespace, its output in a file; `lines` gets stdout lines when `watch` is set. */
function spawnIn(ns: string, argv: string[], log: string, watch?: (line: string) => void, env?: Record<string, string>): ChildProcess {
  if (watch) {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout! }).on('line', watch);
    return child;
  }
  const fd = openSync(log, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  return child;
}

// ---- the two tools' configs ----

function lvsdConfig(withServices: boolean): string {
  const { net } = LINK.lvsd;
  const services = withServices
    ? Array.from({ length: SERVICES }, (_, s) => ({
      name: `s${s}`, protocol: 'tcp', address: vip(s), port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: `${INTERVAL_S}s`, timeout: '1s', rise: 1, fall: 2, ...(CLOSE ? { close: CLOSE } : {}) },
      realServers: realServers(s).map((r) => ({ ...r, weight: 1 })),
    }))
    : [];
  return JSON.stringify({
    ipvs: { driftInterval: DRIFT },
    services,
    vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: VRID, priority: 150, version: 3, advertInterval: `${ADVERT_MS}ms`, addresses: [`${net}.100/24`] }],
    control: { socket: join(sockDir, 'lvsd.sock') },
  });
}

function keepalivedConfig(withServices: boolean): string {
  const { net } = LINK.keepalived;
  const l = [
    'global_defs {', '  router_id hb', '  vrrp_rt_priority 10', '  vrrp_rlimit_rttime 1000000', '}',
    'vrrp_instance VI_1 {', '  state BACKUP', '  interface eth0', `  virtual_router_id ${VRID}`, '  priority 150',
    `  advert_int ${ADVERT_MS / 1000}`, '  version 3', '  garp_master_delay 0', '  virtual_ipaddress {', `    ${net}.100/24`, '  }', '}',
  ];
  if (withServices) {
    for (let s = 0; s < SERVICES; s++) {
      // alpha: every real server starts down and is weighted at its first successful check, as lvsd's (rise 1,
      // initial state down); without it keepalived weights them all at start, before any probe, and the
      // "start to every server weighted" row compared programming with probing
      l.push(`virtual_server ${vip(s)} 80 {`, `  delay_loop ${INTERVAL_S}`, '  lb_algo wrr', '  lb_kind NAT', '  protocol TCP', '  alpha');
      // retry 1 = down after 2 failed connects, as lvsd's fall 2
      for (const r of realServers(s)) l.push(`  real_server ${r.address} ${r.port} {`, '    weight 1', '    TCP_CHECK {', '      connect_timeout 1', '      retry 1', '      delay_before_retry 1', '    }', '  }');
      l.push('}');
    }
  }
  return l.join('\n') + '\n';
}

function startTool(kind: Kind, withServices: boolean, tag: string): ChildProcess {
  const log = join(dir, `${kind}-${tag}.log`);
  if (kind === 'lvsd') {
    const conf = join(dir, `lvsd-${tag}.json`);
    writeFileSync(conf, lvsdConfig(withServices));
    // LVSD_BENCH_HEALTH_PROF=DIR: a CPU profile of lvsd's whole run into DIR (node --cpu-prof)
    const prof = process.env.LVSD_BENCH_HEALTH_PROF && withServices ? ['--cpu-prof', `--cpu-prof-dir=${process.env.LVSD_BENCH_HEALTH_PROF}`] : [];
    return spawnIn(NS.lvsd, [process.execPath, ...NODE_FLAGS, ...prof, LVSD_CLI, 'run', '--config', conf, '--socket', join(sockDir, `lvsd-${tag}.sock`),
      '--state-file', join(dir, `lvsd-${tag}.state`), '--log-level', 'info'], log, undefined, UNIT_ENV);
  }
  const conf = join(dir, `ka-${tag}.conf`);
  writeFileSync(conf, keepalivedConfig(withServices));
  const pid = (s: string) => join(dir, `ka-${tag}.${s}.pid`);
  return spawnIn(NS.keepalived, [KEEPALIVED, '-n', '-D', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('check')], log);
}

async function stopTool(child: ChildProcess, kind: Kind): Promise<void> {
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(t);
  for (const pid of nsPids(NS[kind])) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Real servers in the tool's kernel table with a weight > 0 (ipvsadm, the same judge for both). */
function weightedDests(kind: Kind): number {
  const out = sh(`ip netns exec ${NS[kind]} ipvsadm -Ln`, 120_000);
  let n = 0;
  for (const line of out.split('\n')) {
    const m = /^\s+->\s+\S+\s+\S+\s+(\d+)/.exec(line);
    if (m && Number(m[1]) > 0) n++;
  }
  return n;
}

async function waitReady(kind: Kind, child: ChildProcess, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} exited (${child.exitCode}) before it was ready: see ${dir}`);
    const n = weightedDests(kind);
    if (n >= N) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${kind}: ${n}/${N} real servers weighted after ${timeoutMs / 1000} s`);
    await sleep(5000);
  }
}

// ---- measuring ----

interface ProcSample {
  ticks: number;
  userTicks: number;
  rssKb: number;
  hwmKb: number;
  /** per thread, named process/thread (threads of one name summed): [user, kernel] ticks */
  threads: Map<string, [number, number]>;
}

/** utime and stime (fields 14, 15) and the name of a /proc/.../stat */
function statTicks(path: string): { name: string; user: number; sys: number } {
  const stat = readFileSync(path, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), user: Number(f[11]), sys: Number(f[12]) };
}

function sample(pids: number[]): ProcSample {
  let ticks = 0, userTicks = 0, rssKb = 0, hwmKb = 0;
  const threads = new Map<string, [number, number]>();
  for (const pid of pids) {
    try {
      const p = statTicks(`/proc/${pid}/stat`);
      ticks += p.user + p.sys;
      userTicks += p.user;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      hwmKb += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
        const key = `${p.name}/${t.name}`;
        const had = threads.get(key) ?? [0, 0];
        threads.set(key, [had[0] + t.user, had[1] + t.sys]);
      }
    } catch {
      /* gone */
    }
  }
  return { ticks, userTicks, rssKb, hwmKb, threads };
}

/** TCP sockets in TIME_WAIT in a namespace (/proc/net/tcp state 06, read in the namespace) */
function timeWaits(ns: string): number {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/tcp', '/proc/net/tcp6'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  let n = 0;
  for (const line of (r.stdout ?? '').split('\n')) if (line.split(/\s+/)[4] === '06') n++;
  return n;
}

/** The TCP counters of a namespace (/proc/net/snmp read in it): segments sent and received, resets sent. */
function tcpCounters(ns: string): { out: number; in: number; rsts: number } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/snmp'], { encoding: 'utf8' });
  const lines = (r.stdout ?? '').split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]?.split(/\s+/) ?? [], values = lines[1]?.split(/\s+/).map(Number) ?? [];
  const get = (n: string) => values[names.indexOf(n)] ?? 0;
  return { out: get('OutSegs'), in: get('InSegs'), rsts: get('OutRsts') };
}

/** user / kernel ms per probe of each thread name in the window, busiest first */
function threadFigures(s0: ProcSample, s1: ProcSample, probes: number): Array<{ thread: string; userMsPerProbe: number; kernelMsPerProbe: number }> {
  const out = [];
  for (const [name, [u1, k1]] of s1.threads) {
    const [u0, k0] = s0.threads.get(name) ?? [0, 0];
    const per = (t: number) => (t * 1000) / CLK_TCK / Math.max(1, probes);
    if (u1 - u0 + k1 - k0 > 0) out.push({ thread: name, userMsPerProbe: per(u1 - u0), kernelMsPerProbe: per(k1 - k0) });
  }
  return out.sort((a, b) => b.userMsPerProbe + b.kernelMsPerProbe - a.userMsPerProbe - a.kernelMsPerProbe);
}

/**
 * LVSD_BENCH_HEALTH_TRACE_S: where the tool's CPU goes per probe, the tool still running. `perf record`
 * (cpu-clock, call graphs) of its processes, reported by symbol, then `strace -c -f` (syscall counts; it
 * slows the tool, so its probes are counted separately). Each with the probes the sink saw meanwhile.
 */
async function trace(kind: Kind, pids: number[], sink: Sink): Promise<void> {
  const say = (s: string) => { if (!json) process.stdout.write(`  ${kind}: ${s}\n`); };
  const list = pids.join(',');
  const data = join(dir, `perf-${kind}.data`);
  await sink.dump();
  const perf = spawnSync('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '999', '-g', '-p', list, '-o', data, '--', 'sleep', String(TRACE_S)], { encoding: 'utf8' });
  const perfProbes = (await sink.dump()).length;
  // the kernel's symbols of this boot, to read the record's call chains elsewhere (perf script + kallsyms)
  writeFileSync(join(dir, 'kallsyms'), readFileSync('/proc/kallsyms'));
  if (perf.status === 0) {
    const rep = spawnSync('perf', ['report', '-i', data, '--stdio', '--children', '--sort', 'comm,sym', '--percent-limit', '1.5', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    writeFileSync(join(dir, `perf-${kind}.txt`), `probes during the record: ${perfProbes} in ${TRACE_S} s\n${rep.stdout}`);
    say(`perf: ${perfProbes} probes in ${TRACE_S} s, report in ${join(dir, `perf-${kind}.txt`)}`);
  } else {
    say(`perf record failed: ${perf.stderr.split('\n')[0]}`);
  }
  const out = join(dir, `strace-${kind}.txt`);
  const st = spawnSync('timeout', ['-s', 'INT', String(TRACE_S), 'strace', '-c', '-f', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { encoding: 'utf8' });
  const straceProbes = (await sink.dump()).length;
  writeFileSync(out, `probes during strace: ${straceProbes} in ${TRACE_S} s (exit ${st.status})\n${readFileSync(out, 'utf8')}`);
  say(`strace: ${straceProbes} probes in ${TRACE_S} s, counts in ${out}`);
  // the calls themselves for a moment: how each tool opens and closes a probe's socket (SO_LINGER and its value)
  const calls = join(dir, `strace-${kind}-calls.txt`);
  spawnSync('timeout', ['-s', 'INT', '2', 'strace', '-f', '-tt', '-e', 'trace=socket,setsockopt,connect,getsockopt,shutdown,close,epoll_ctl,fcntl', '-o', calls, ...pids.flatMap((p) => ['-p', String(p)])]);
}

interface VmSample { busy: number; total: number; user: number; system: number; softirq: number; irq: number; ksoftirqd: number; sink: number }

/** The whole machine's CPU (/proc/stat, ticks), ksoftirqd's (network work deferred there is no tool's) and the sink's. */
function vmBusy(sinkPid?: number): VmSample {
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
function vmFigures(v0: VmSample, v1: VmSample, probes: number) {
  const per = (a: number, b: number) => ((b - a) * 1000) / CLK_TCK / Math.max(1, probes);
  return {
    busy: per(v0.busy, v1.busy), user: per(v0.user, v1.user), system: per(v0.system, v1.system),
    irqSoftirq: per(v0.irq + v0.softirq, v1.irq + v1.softirq), ksoftirqd: per(v0.ksoftirqd, v1.ksoftirqd), sink: per(v0.sink, v1.sink),
  };
}

class Sink {
  private child: ChildProcess;
  /** the sink's own pid (its child of `ip netns exec`), once ready */
  pid: number | undefined;
  private waiting: ((n: number) => void) | undefined;
  readonly ready: Promise<void>;

  constructor(binary: string) {
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.child = spawnIn(NS.rs, [binary, String(PORT0), String(PORT0 + SERVICES)], '', (line) => {
      const j = JSON.parse(line) as { event: string; n?: number };
      if (j.event === 'ready') {
        this.pid = nsPids(NS.rs).find((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'tcp-sink'; } catch { return false; } });
        ready();
      }
      if (j.event === 'dumped') this.waiting?.(j.n ?? 0);
    });
  }

  /** The records since the last dump (and a reset). */
  async dump(): Promise<Array<{ us: number; key: number }>> {
    const path = join(sockDir, 'sink.bin');
    const n = await new Promise<number>((resolve) => {
      this.waiting = resolve;
      this.child.stdin!.write(`dump ${path}\n`);
    });
    const buf = readFileSync(path);
    const out = new Array<{ us: number; key: number }>(n);
    for (let i = 0; i < n; i++) {
      const o = i * 16;
      out[i] = { us: Number(buf.readBigUInt64LE(o)), key: buf.readUInt32LE(o + 8) * 65536 + buf.readUInt16LE(o + 12) };
    }
    return out;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

class AdvertListener {
  private readonly child: ChildProcess;
  readonly arrivals: number[] = [];
  readonly ready: Promise<void>;

  constructor(rsIf: string) {
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.child = spawnIn(NS.rs, ['chrt', '--rr', '20', process.execPath, LISTENER, rsIf, 'ipv4'], '', (line) => {
      const j = JSON.parse(line) as { event: string; at?: number; vrid?: number };
      if (j.event === 'ready') ready();
      if (j.event === 'advert' && j.vrid === VRID) this.arrivals.push(j.at!);
    });
  }

  jitter(from: number, to: number): Stats {
    const a = this.arrivals.filter((t) => t >= from && t <= to);
    const j: number[] = [];
    for (let i = 1; i < a.length; i++) j.push(Math.abs(a[i]! - a[i - 1]! - ADVERT_MS));
    return { ...stats(j), n: a.length };
  }

  /** When the first advert arrived (waits for it). */
  async first(timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    while (this.arrivals.length === 0) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`no VRRP advert within ${timeoutMs / 1000} s`);
      await sleep(100);
    }
    return this.arrivals[0]!;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

interface Stats { p50: number; p99: number; max: number; n: number }

function stats(xs: number[]): Stats {
  if (xs.length === 0) return { p50: NaN, p99: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: at(50), p99: at(99), max: s[s.length - 1]!, n: s.length };
}

/** What the sink saw in [from, to] (µs): rate, 10 ms bins, per-server interval deviation. */
function probeFigures(recs: Array<{ us: number; key: number }>, fromUs: number, toUs: number) {
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
      const d = (times[i]! - times[i - 1]!) / 1000 - INTERVAL_S * 1000;
      dev.push(Math.abs(d));
      if (d > INTERVAL_S * 500) late++;
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

interface ToolResult {
  readyS: number;
  cpuSPerMin: number;
  cpuMsPerProbe: number;
  /** the share of that CPU spent in user space (the rest is the kernel, for both tools mostly TCP) */
  userShare: number;
  checkerCpuSPerMin?: number;
  rssMiB: number;
  peakRssMiB: number;
  probes: ReturnType<typeof probeFigures>;
  vrrpIdle: Stats;
  vrrpBusy: Stats;
  /** CPU with VRRP alone (no services) */
  idleCpuSPerMin: number;
  /** RSS with VRRP alone */
  idleRssMiB: number;
  vmBusyPct: number;
  /** TIME_WAIT sockets at the end of the window in the tool's namespace and the real servers' (both tools' probes) */
  timeWait: { director: number; realServers: number };
  /** the whole VM's CPU per probe (every tool's probes cost the sink and the kernel's network work too) */
  vmMsPerProbe: ReturnType<typeof vmFigures>;
  /** CPU per probe by thread (process/thread name) */
  threads: ReturnType<typeof threadFigures>;
  /** TCP segments per probe on the tool's side of the link (sent, received; of those sent, resets): how a probe ends */
  segmentsPerProbe: { out: number; in: number; rsts: number };
  /** when the window began */
  at: string;
}

async function runTool(kind: Kind, sink: Sink): Promise<ToolResult> {
  const say = (s: string) => { if (!json) process.stdout.write(`  ${kind}: ${s}\n`); };
  const listener = new AdvertListener(LINK[kind].rsIf);
  await listener.ready;
  try {
    // VRRP alone
    const idle = startTool(kind, false, 'idle');
    const firstAdvert = await listener.first(120_000);
    await sleep(1000);
    const idlePids = nsPids(NS[kind]);
    const i0 = sample(idlePids);
    const it0 = Date.now();
    await sleep(IDLE_S * 1000);
    const i1 = sample(idlePids);
    const idleCpuSPerMin = ((i1.ticks - i0.ticks) / CLK_TCK) * 60000 / (Date.now() - it0);
    const idleRssMiB = i1.rssKb / 1024;
    const vrrpIdle = listener.jitter(firstAdvert + 1000, Date.now());
    await stopTool(idle, kind);
    say(`VRRP alone: ${vrrpIdle.n} adverts in ${IDLE_S} s, jitter p99 ${vrrpIdle.p99.toFixed(2)} ms, RSS ${idleRssMiB.toFixed(1)} MiB`);

    const full = startTool(kind, true, 'full');
    const readyMs = await waitReady(kind, full, 900_000);
    say(`${N} real servers weighted in the kernel after ${(readyMs / 1000).toFixed(1)} s; settling one interval`);
    await sleep(INTERVAL_S * 1000 + 2000);
    const pids = nsPids(NS[kind]);
    const checkerPid = kind === 'keepalived' ? Number(readFileSync(join(dir, 'ka-full.check.pid'), 'utf8').trim()) : undefined;
    await sink.dump(); // reset
    const fromUs = Date.now() * 1000;
    const s0 = sample(pids);
    const c0 = checkerPid ? sample([checkerPid]) : undefined;
    const v0 = vmBusy(sink.pid);
    const t0 = tcpCounters(NS[kind]);
    await sleep(WINDOW_S * 1000);
    const s1 = sample(pids);
    const c1 = checkerPid ? sample([checkerPid]) : undefined;
    const v1 = vmBusy(sink.pid);
    const t1 = tcpCounters(NS[kind]);
    const toUs = Date.now() * 1000;
    const recs = await sink.dump();
    const vrrpBusy = listener.jitter(fromUs / 1000, toUs / 1000);
    const timeWait = { director: timeWaits(NS[kind]), realServers: timeWaits(NS.rs) };
    if (TRACE_S > 0) await trace(kind, pids, sink);
    await stopTool(full, kind);
    const windowS = (toUs - fromUs) / 1e6;
    const cpuS = (s1.ticks - s0.ticks) / CLK_TCK;
    const probes = probeFigures(recs, fromUs, toUs);
    const r: ToolResult = {
      readyS: readyMs / 1000,
      cpuSPerMin: (cpuS * 60) / windowS,
      cpuMsPerProbe: (cpuS * 1000) / Math.max(1, probes.probes),
      userShare: (s1.userTicks - s0.userTicks) / Math.max(1, s1.ticks - s0.ticks),
      rssMiB: s1.rssKb / 1024,
      peakRssMiB: s1.hwmKb / 1024,
      probes,
      vrrpIdle,
      vrrpBusy,
      idleCpuSPerMin,
      idleRssMiB,
      vmBusyPct: (100 * (v1.busy - v0.busy)) / (v1.total - v0.total),
      threads: threadFigures(s0, s1, probes.probes),
      vmMsPerProbe: vmFigures(v0, v1, probes.probes),
      timeWait,
      segmentsPerProbe: { out: (t1.out - t0.out) / Math.max(1, probes.probes), in: (t1.in - t0.in) / Math.max(1, probes.probes), rsts: (t1.rsts - t0.rsts) / Math.max(1, probes.probes) },
      at: new Date(fromUs / 1000).toISOString(),
    };
    if (c0 && c1) r.checkerCpuSPerMin = ((c1.ticks - c0.ticks) / CLK_TCK) * 60 / windowS;
    say(`${probes.rate.toFixed(0)} probes/s, CPU ${r.cpuSPerMin.toFixed(1)} s/min (${r.cpuMsPerProbe.toFixed(3)} ms/probe), RSS ${r.rssMiB.toFixed(0)} MiB, VM ${r.vmBusyPct.toFixed(0)}% busy`);
    say(`  TIME_WAIT at the end: ${r.timeWait.director} on the director, ${r.timeWait.realServers} on the real servers`);
    const seg = r.segmentsPerProbe;
    say(`  TCP segments per probe on the director: ${seg.out.toFixed(2)} sent (${seg.rsts.toFixed(2)} RST), ${seg.in.toFixed(2)} received`);
    const vm = r.vmMsPerProbe;
    say(`  whole VM per probe: ${vm.busy.toFixed(3)} ms (user ${vm.user.toFixed(3)}, system ${vm.system.toFixed(3)}, irq+softirq ${vm.irqSoftirq.toFixed(3)}; ksoftirqd ${vm.ksoftirqd.toFixed(3)}, sink ${vm.sink.toFixed(3)})`);
    for (const t of r.threads.slice(0, 8)) say(`  ${t.thread.padEnd(34)} user ${t.userMsPerProbe.toFixed(3)} / kernel ${t.kernelMsPerProbe.toFixed(3)} ms per probe`);
    return r;
  } finally {
    listener.stop();
  }
}

function compileSink(): string {
  const out = join(dir, 'tcp-sink');
  const src = join(root, 'bench', 'tcp-sink.c');
  const r = spawnSync('cc', ['-O2', '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build ${src} (needs a C compiler: build-essential): ${r.stderr || r.error?.message}`);
  return out;
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (spawnSync('ipvsadm', ['-Ln']).status !== 0) return 'no IPVS (ipvsadm -Ln fails)';
  if (spawnSync(KEEPALIVED, ['--version']).error) return `no keepalived at ${KEEPALIVED}`;
  return undefined;
}

async function main(): Promise<void> {
  const skip = skipReason();
  if (skip) {
    process.stderr.write(`health bench skipped: ${skip}\n`);
    return;
  }
  mkdirSync(dir, { recursive: true });
  const binary = compileSink();
  const out = (s: string) => { if (!json) process.stdout.write(`${s}\n`); };
  out(`health checks, lvsd vs keepalived: ${N} real servers (${SERVICES} services), TCP check every ${INTERVAL_S} s, ` +
    `timeout 1 s${CLOSE ? `, lvsd closing with ${CLOSE === 'reset' ? 'RST' : 'FIN'}` : ''}${NODE_FLAGS.length ? `, lvsd's node ${NODE_FLAGS.join(' ')}` : ''}${Object.keys(UNIT_ENV).length ? `, the unit's environment ${Object.entries(UNIT_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}; window ${WINDOW_S} s; VRRP 100 ms adverts alongside; lvsd drift repair every ${DRIFT}; ` +
    `${inVm ? 'in the TCG VM' : 'on this host'} (files: ${dir})`);
  teardown();
  buildTopology();
  const sink = new Sink(binary);
  await sink.ready;
  const results: Partial<Record<Kind, ToolResult>> = {};
  try {
    for (const kind of TOOLS) results[kind] = await runTool(kind, sink);
  } finally {
    sink.stop();
    teardown();
  }
  const L = results.lvsd;
  const K = results.keepalived;
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const row = (name: string, a: string, b: string, ratio?: number) =>
    out(`  ${name.padEnd(38)} ${a.padStart(16)} ${b.padStart(16)}${ratio !== undefined && Number.isFinite(ratio) ? `   ${ratio.toFixed(2)}` : ''}`);
  out('');
  if (!L || !K) {
    const only = (L ?? K)!;
    const who = L ? 'lvsd' : 'keepalived';
    out(`  ${who} alone, ${N} real servers: ${f(only.probes.rate)} probes/s, CPU ${f(only.cpuSPerMin, 2)} s/min ` +
      `(${f(only.cpuMsPerProbe, 3)} ms/probe: user ${f(only.cpuMsPerProbe * only.userShare, 3)}, kernel ${f(only.cpuMsPerProbe * (1 - only.userShare), 3)}), RSS ${f(only.rssMiB)} MiB (peak ${f(only.peakRssMiB)}), ready after ${f(only.readyS)} s`);
    if (json) process.stdout.write(`${JSON.stringify({ servers: N, intervalS: INTERVAL_S, windowS: WINDOW_S, [who]: only })}\n`);
    return;
  }
  // the issue's rows (#11): the whole process tree of each tool, measured in this run
  const cpuS = (r: ToolResult) => (r.cpuSPerMin * WINDOW_S) / 60;
  row(`${f(L.probes.rate, 0)} distinct TCP checks/s for ${WINDOW_S} s: CPU s`, f(cpuS(L), 2), f(cpuS(K), 2), L.cpuSPerMin / K.cpuSPerMin);
  row(`same: RSS MiB (at ${N} TCP checks)`, f(L.rssMiB), f(K.rssMiB), L.rssMiB / K.rssMiB);
  out('');
  row('', 'lvsd', 'keepalived');
  row('probes per second (seen by the servers)', f(L.probes.rate), f(K.probes.rate));
  row('CPU seconds per minute', f(L.cpuSPerMin, 2), f(K.cpuSPerMin, 2), L.cpuSPerMin / K.cpuSPerMin);
  row('  of which keepalived\'s checker', '', f(K.checkerCpuSPerMin ?? NaN, 2));
  row('  with VRRP alone (no services)', f(L.idleCpuSPerMin, 2), f(K.idleCpuSPerMin, 2));
  row('CPU ms per probe', f(L.cpuMsPerProbe, 3), f(K.cpuMsPerProbe, 3), L.cpuMsPerProbe / K.cpuMsPerProbe);
  row('  user / kernel ms per probe', `${f(L.cpuMsPerProbe * L.userShare, 3)} / ${f(L.cpuMsPerProbe * (1 - L.userShare), 3)}`,
    `${f(K.cpuMsPerProbe * K.userShare, 3)} / ${f(K.cpuMsPerProbe * (1 - K.userShare), 3)}`);
  row('RSS MiB (peak)', `${f(L.rssMiB)} (${f(L.peakRssMiB)})`, `${f(K.rssMiB)} (${f(K.peakRssMiB)})`, L.rssMiB / K.rssMiB);
  row('  RSS MiB with VRRP alone', f(L.idleRssMiB), f(K.idleRssMiB));
  row('probe starts per 10 ms: ideal', f(L.probes.bins10ms.ideal), f(K.probes.bins10ms.ideal));
  row('  p50 / p99 / max', `${L.probes.bins10ms.p50} / ${L.probes.bins10ms.p99} / ${L.probes.bins10ms.max}`,
    `${K.probes.bins10ms.p50} / ${K.probes.bins10ms.p99} / ${K.probes.bins10ms.max}`);
  row('interval deviation ms p50 / p99', `${f(L.probes.intervalDeviationMs.p50)} / ${f(L.probes.intervalDeviationMs.p99)}`,
    `${f(K.probes.intervalDeviationMs.p50)} / ${f(K.probes.intervalDeviationMs.p99)}`);
  row('intervals > 1.5 x configured', String(L.probes.late), String(K.probes.late));
  row('VRRP advert jitter ms, alone p99/max', `${f(L.vrrpIdle.p99, 2)} / ${f(L.vrrpIdle.max, 2)}`, `${f(K.vrrpIdle.p99, 2)} / ${f(K.vrrpIdle.max, 2)}`);
  row('  with the checks running p99/max', `${f(L.vrrpBusy.p99, 2)} / ${f(L.vrrpBusy.max, 2)}`, `${f(K.vrrpBusy.p99, 2)} / ${f(K.vrrpBusy.max, 2)}`);
  row('  adverts in the window', String(L.vrrpBusy.n), String(K.vrrpBusy.n));
  row('VM CPU busy in the window %', f(L.vmBusyPct), f(K.vmBusyPct));
  row('start to every server weighted, s', f(L.readyS), f(K.readyS));
  if (json) process.stdout.write(`${JSON.stringify({ servers: N, intervalS: INTERVAL_S, windowS: WINDOW_S, lvsd: L, keepalived: K })}\n`);
  // for bench/run.ts's summary
  if (process.env.LVSD_VM_OUT) {
    writeFileSync(join(process.env.LVSD_VM_OUT, 'bench-health.json'), JSON.stringify({
      servers: N, intervalS: INTERVAL_S, windowS: WINDOW_S, probesPerS: L.probes.rate,
      lvsd: { cpuS: cpuS(L), rssMiB: L.rssMiB }, keepalived: { cpuS: cpuS(K), rssMiB: K.rssMiB },
    }, null, 2) + '\n');
  }
}

await main();
