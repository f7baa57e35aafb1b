/**
 * Health-check benchmark: lvsd's TCP checks against keepalived's checker, the same work in the same run.
 *
 *   node dist/bench/health.js [--json]        (root, a kernel with IPVS: `npm run bench` runs it in the VM)
 *
 * N real servers (LVSD_BENCH_HEALTH_SERVERS, default 10,000: 100 per service, NAT, wrr) with a TCP check
 * every LVSD_BENCH_HEALTH_INTERVAL_S (default 1 s on a real host, 10 s in the TCG VM: see below), timeout 1 s.
 * The real servers are one C sink (bench/tcp-sink.c) in namespace hb-rs: 100 addresses on its lo, one
 * listening port per service; it accepts, records (time, address, port), and then either waits for the
 * client to close (5 s at most: a server waiting for a request, so the prober closes first and keeps the
 * TIME_WAIT, whichever tool it is) or closes at once (then who closes first is a race each tool's timing
 * decides): LVSD_BENCH_HEALTH_VARIANTS below, the row measured with the first. Each tool runs in a
 * fresh director namespace of its own (hb-lvsd, hb-ka: separate IPVS tables) with a VRRP instance at
 * 100 ms adverts, master alone on its link, whose adverts a passive SCHED_RR receiver in hb-rs timestamps.
 *
 * First each tool with VRRP alone (no services) for LVSD_BENCH_HEALTH_IDLE_S (default 20 s). Then rounds
 * (LVSD_BENCH_HEALTH_ROUNDS, default 3): in each, each tool in turn starts afresh with the full config, the
 * order turned every round (lvsd keepalived, keepalived lvsd, ...); once the kernel holds every real server
 * with a weight (read with ipvsadm, the same for both) and one more interval has passed, a window of
 * LVSD_BENCH_HEALTH_WINDOW_S (default 60 s) in each of the round's variants (the first variant every round,
 * the others in the last LVSD_BENCH_HEALTH_OTHER_ROUNDS, default 1; one interval settled after each switch)
 * measures:
 *  - CPU: utime + stime of every process in the tool's namespace (/proc/PID/stat), per minute and per probe,
 *    and per thread with its wake-ups (voluntary context switches) per probe;
 *  - RSS: the sum of VmRSS at the end of the window, and of VmHWM (peak);
 *  - probes: what the sink saw — rate, starts per 10 ms bin (the spread: ideal is rate/100 in every bin),
 *    and per real server the deviation of each interval from the configured one;
 *  - VRRP: |inter-arrival - 100 ms| of the tool's adverts, with the checks running and alone.
 *  - the VM's busy share and the host's load average at the window's start and end.
 * Both tools use real-time VRRP (lvsd's VRRP thread SCHED_RR 10, keepalived `vrrp_rt_priority 10`) and an
 * ordinary checker. Ratios are lvsd / keepalived (< 1: lvsd uses less). The CPU ratio is per probe, each
 * round's from its two back-to-back windows, and the median of the rounds with its spread: under TCG the
 * host's load moves one window's figure by more than the tools differ. The other figures are medians.
 *
 * Why 10 s in the VM: under TCG every connect/accept/close costs the guest's kernel ~0.3-0.5 ms of emulated
 * CPU whoever makes it (keepalived: ~0.45 ms per probe measured, nearly all of it syscalls); 10,000 probes
 * a second would need ~5 vCPUs for the kernel's TCP work alone, and the VM has 2. The same 10,000 checkers
 * at 1,000 probes/s compare the two fairly; on a host with IPVS set LVSD_BENCH_HEALTH_INTERVAL_S=1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CLK_TCK, cpuTicks, hostLoad, median, probeFigures, sample, stats, tcpCounters, tcpStates, threadFigures, timeWaits, vmBusy, vmFigures, type Stats } from './_health-measure.js';
import { formatPerfProbe, parsePerfScript, perfProbeFigures } from './_perf-probe.js';
import { RampSampler, type RampFigures } from './_rise-measure.js';
import { canaryUps, driftPasses, splitAdverts, splitProbes, splitVerdicts, withVerdicts, type CanaryFlip, type DriftPass } from './_drift-split.js';
import { Canary } from './_canary.js';
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
/** LVSD_BENCH_HEALTH_LVSD=PATH: another build's lvsd.cjs (or main.js) for lvsd, e.g. main's for an A/B in one boot */
const LVSD_CLI = process.env.LVSD_BENCH_HEALTH_LVSD || (existsSync(LVSD_BUNDLE) ? LVSD_BUNDLE : LVSD_MAIN);
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
const DRIFTS = (process.env.LVSD_BENCH_HEALTH_DRIFT ?? '1h').split(',').filter(Boolean);
/**
 * A list (e.g. `60s,1h`) is taken round by round, in turn: drift on and off alternated in one boot. Every lvsd
 * window with a drift pass in it is also split by the passes (bench/_drift-split.ts, from the daemon's own
 * `daemon.reconcile` drift lines): probe starts, interval deviation and advert jitter during a pass and outside
 * one, each pass's read and total time and the event loop's worst delay the daemon measured for it.
 */
const driftOf = (round: number) => DRIFTS[(round - 1) % DRIFTS.length] ?? '1h';
const DRIFT = DRIFTS.join(',');
/**
 * LVSD_BENCH_HEALTH_CANARY=1: one more service, `canary` (VIP 10.93.0.1:80), whose one real server
 * (10.91.1.250:7999, a listener of its own: bench/_canary-listen.ts) the bench takes down and up again
 * through lvsd's windows (check every 1 s, rise 1, fall 1): per up flip, from the probe it accepted to
 * lvsd's `health.change` line (the verdict on the main thread) and to the weight in the kernel (ipvsadm
 * polled every CANARY_POLL_MS), split by where the probe fell (outside a drift pass, its read, its queue).
 */
const CANARY = process.env.LVSD_BENCH_HEALTH_CANARY === '1';
/** LVSD_BENCH_HEALTH_READY_S: how long a start may take until every real server is weighted (default 900; 100,000 under TCG wants more) */
const READY_S = Number(process.env.LVSD_BENCH_HEALTH_READY_S ?? 900);
/**
 * LVSD_BENCH_HEALTH_READY_SHARE: the share of the real servers weighted that counts as ready (default 1). At
 * 100,000 under TCG a few dozen flap down and up (a probe past its 1 s timeout twice running) and the count
 * hovered at 99,9xx for minutes: 0.999 lets the window begin.
 */
const READY_AT = Math.ceil(N * Math.min(1, Number(process.env.LVSD_BENCH_HEALTH_READY_SHARE ?? 1)));
const CANARY_VIP = '10.93.0.1';
const CANARY_RS = { address: '10.91.1.250', port: 7999 };
const CANARY_POLL_MS = 100;
const CANARY_LISTENER = join(root, 'dist', 'bench', '_canary-listen.js');
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
const envWords = (v: string | undefined): Record<string, string> =>
  Object.fromEntries((v ?? '').split(' ').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const UNIT_ENV = {
  ...unitEnvironment(root),
  /** LVSD_BENCH_LVSD_ENV="K=V ...": more environment for lvsd (an A/B of a knob, e.g. LVSD_VRRP_ADVERT_CLOCK=0) */
  ...envWords(process.env.LVSD_BENCH_LVSD_ENV),
};
/**
 * LVSD_BENCH_LVSD_ENV_B="K=V ...": lvsd's even rounds get this environment on top (an A/B of a knob in one
 * boot, alternated like LVSD_BENCH_LVSD_CLI_B; each window says which it measured).
 */
const ENV_B = envWords(process.env.LVSD_BENCH_LVSD_ENV_B);
const lvsdEnv = (round: number) => (round % 2 === 0 ? { ...UNIT_ENV, ...ENV_B } : UNIT_ENV);
/**
 * LVSD_BENCH_HEALTH_NODE=PATH: the node lvsd runs (default: this bench's own). This bench is a node process
 * too, so lvsd shares the binary's pages with it, and the kernel keeps a page two processes map when lvsd
 * pages out what its start touched (src/daemon/page-out.ts): a copy of node of lvsd's own (on a disk, not a
 * tmpfs: in the VM a path of the host's) measures lvsd as on a director, where it is the only node.
 */
const LVSD_NODE = process.env.LVSD_BENCH_HEALTH_NODE || process.execPath;
/**
 * LVSD_BENCH_LVSD_CLI_B=PATH: lvsd's even rounds run this build's lvsd.cjs instead (a copy of another build's
 * package.json, dist/bundle and native/build: its own addon), an A/B of two builds in one boot, alternated
 * (with LVSD_BENCH_HEALTH_TOOLS=lvsd: A B A B ...); each window says which build it measured.
 */
const LVSD_CLI_B = process.env.LVSD_BENCH_LVSD_CLI_B || undefined;
const lvsdCli = (round: number) => (LVSD_CLI_B !== undefined && round % 2 === 0 ? LVSD_CLI_B : LVSD_CLI);
/** lvsd's rounds alternate two builds or two environments: A odd, B even */
const AB = LVSD_CLI_B !== undefined || Object.keys(ENV_B).length > 0;
const abOf = (round: number) => (round % 2 === 0 ? 'B' : 'A');
const CLOSE = process.env.LVSD_BENCH_HEALTH_CLOSE === 'reset' || process.env.LVSD_BENCH_HEALTH_CLOSE === 'fin' ? process.env.LVSD_BENCH_HEALTH_CLOSE : undefined;
/**
 * LVSD_BENCH_HEALTH_TRACE_S=S: after the window, with the tool still running, S seconds of `perf record` of
 * its processes (kernel and user stacks; the report by symbol in DIR/perf-TOOL.txt) and then S seconds of
 * `strace -c -f` (syscalls per probe: DIR/strace-TOOL.txt), each with the probes the sink saw meanwhile.
 */
const TRACE_S = Number(process.env.LVSD_BENCH_HEALTH_TRACE_S ?? 0);
/** LVSD_BENCH_HEALTH_TRACE_ALL=1: the perf record of the whole VM (-a: the sink's and the softirqs' share too), not the tool's processes */
const TRACE_ALL = process.env.LVSD_BENCH_HEALTH_TRACE_ALL === '1';
/** LVSD_BENCH_HEALTH_TRACE_HZ: perf's sampling rate (default 999 a second of CPU) */
const TRACE_HZ = Number(process.env.LVSD_BENCH_HEALTH_TRACE_HZ ?? 999);
/** LVSD_BENCH_HEALTH_TRACE_ROUNDS=all: the trace after every round's window, not the last round's only (per-symbol figures alternated) */
const TRACE_EVERY = process.env.LVSD_BENCH_HEALTH_TRACE_ROUNDS === 'all';
/** LVSD_BENCH_HEALTH_TRACE_STRACE=0: perf only, no strace after it */
const TRACE_STRACE = process.env.LVSD_BENCH_HEALTH_TRACE_STRACE !== '0';
/**
 * LVSD_BENCH_HEALTH_ROUNDS: windows per tool, alternated (default 3 with both tools, 1 with one). Under TCG the
 * host's load moves a window's CPU per probe by more than the tools differ (0.86-1.40 for one build across
 * boots), so the ratio is the median of rounds whose two windows ran back to back, with its spread.
 */
const ROUNDS = Math.max(1, Number(process.env.LVSD_BENCH_HEALTH_ROUNDS ?? (TOOLS.length > 1 ? 3 : 1)));
/**
 * LVSD_BENCH_HEALTH_VARIANTS: how the real servers end a probe's connection and the director's TIME_WAIT table,
 * each round measuring both tools in each variant (the first is the row's; the others are printed beside it).
 * A variant is the sink's mode (bench/tcp-sink.c) and, after a slash, the `net.ipv4.tcp_max_tw_buckets` of
 * the three namespaces (default: the kernel's, 8,192 in the 2 GiB VM), e.g. `wait,close,wait/tw131072`:
 *  - wait:  a server that waits for the client to close (or for a request, 5 s at most), as one serving HTTP:
 *           both tools close first, and both keep the probe's TIME_WAIT on the director;
 *  - close: a server that closes as soon as it accepts: who closes first then follows each tool's timing
 *           (lvsd, whose probe settles inside connect(), closes before the accept; keepalived, an epoll round
 *           later, mostly after the sink), and the TIME_WAIT is the director's for lvsd, the sink's for keepalived.
 * Default `close,wait`: the row stays on `close`, the mode of every earlier run, and `wait` is printed beside it
 * (its own table and ratio). Not `wait` for the row (docs/benchmarks.md, 2026-12-06 03:05): against a server
 * that waits, keepalived 2.2.7's close (SO_LINGER 5 s: it blocks until the server acknowledges the FIN, which
 * the server's kernel delays until the server closes) stalled its one checker thread in the TCG VM, 282 probes/s
 * of 1,000 with most connections still open at the sink's 5 s limit: more TCG's slow wake-ups than a probe's
 * cost, and it would flatter lvsd.
 */
type Variant = { label: string; sink: 'wait' | 'close'; twBuckets?: number };
const VARIANTS: Variant[] = (process.env.LVSD_BENCH_HEALTH_VARIANTS ?? 'close,wait').split(',').filter(Boolean).map((v) => {
  const [mode, tw] = v.split('/');
  if (mode !== 'wait' && mode !== 'close') throw new Error(`LVSD_BENCH_HEALTH_VARIANTS: ${v}: the sink's mode is wait or close`);
  const twBuckets = tw ? Number(/^tw(\d+)$/.exec(tw)?.[1] ?? NaN) : undefined;
  if (twBuckets !== undefined && !Number.isInteger(twBuckets)) throw new Error(`LVSD_BENCH_HEALTH_VARIANTS: ${v}: after the slash twN (tcp_max_tw_buckets)`);
  return { label: v, sink: mode, ...(twBuckets !== undefined ? { twBuckets } : {}) };
});
/** LVSD_BENCH_HEALTH_OTHER_ROUNDS: the variants after the first are measured in this many of the last rounds (default 1) */
const OTHER_ROUNDS = Math.max(0, Number(process.env.LVSD_BENCH_HEALTH_OTHER_ROUNDS ?? 1));
const PER_SERVICE = 100;
const SERVICES = Math.ceil(N / PER_SERVICE);
const PORT0 = 8000;
const ADVERT_MS = 100;
const json = process.argv.includes('--json');

type Kind = 'lvsd' | 'keepalived';
const NS = { rs: 'hb-rs', lvsd: 'hb-lvsd', keepalived: 'hb-ka' } as const;
/** per tool: its link's subnet (rs side .1, director .2, VIP .100) and the rs-side interface */
const LINK = { lvsd: { net: '10.91.0', rsIf: 'va' }, keepalived: { net: '10.91.2', rsIf: 'vb' } } as const;
const VRID = 93;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/**
 * configs and logs (LVSD_BENCH_HEALTH_DIR to keep them; a leading `$LVSD_VM_OUT` is the VM's result directory,
 * which only the VM knows: LVSD_BENCH_HEALTH_DIR='$LVSD_VM_OUT/health' keeps lvsd's log where the host reads
 * it after the run); sockets always in a local tmp dir
 */
const dir = (() => {
  const want = (process.env.LVSD_BENCH_HEALTH_DIR ?? '').replace(/^\$LVSD_VM_OUT(?=\/|$)/, process.env.LVSD_VM_OUT ?? tmpdir());
  if (!want) return mkdtempSync(join(tmpdir(), 'lvsd-bench-health-'));
  mkdirSync(want, { recursive: true });
  return want;
})();
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
  if (CANARY) l.push(`ip -n ${NS.rs} addr add ${CANARY_RS.address}/32 dev lo`);
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

function lvsdConfig(withServices: boolean, round = 1): string {
  const { net } = LINK.lvsd;
  const services = withServices
    ? Array.from({ length: SERVICES }, (_, s) => ({
      name: `s${s}`, protocol: 'tcp', address: vip(s), port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: `${INTERVAL_S}s`, timeout: '1s', rise: 1, fall: 2, ...(CLOSE ? { close: CLOSE } : {}) },
      realServers: realServers(s).map((r) => ({ ...r, weight: 1 })),
    }))
    : [];
  if (withServices && CANARY) {
    services.push({
      name: 'canary', protocol: 'tcp', address: CANARY_VIP, port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: '1s', timeout: '1s', rise: 1, fall: 1 },
      realServers: [{ ...CANARY_RS, weight: 1 }],
    });
  }
  return JSON.stringify({
    ipvs: { driftInterval: driftOf(round) },
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
    writeFileSync(conf, lvsdConfig(withServices, Number(/^full-(\d+)$/.exec(tag)?.[1] ?? 1)));
    // LVSD_BENCH_HEALTH_PROF=DIR: a CPU profile of lvsd's whole run into DIR (node --cpu-prof; a leading
    // `$LVSD_VM_OUT` is the VM's result directory, as for LVSD_BENCH_HEALTH_DIR)
    const profDir = (process.env.LVSD_BENCH_HEALTH_PROF ?? '').replace(/^\$LVSD_VM_OUT(?=\/|$)/, process.env.LVSD_VM_OUT ?? tmpdir());
    const prof = profDir && withServices ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const round = Number(/^full-(\d+)$/.exec(tag)?.[1] ?? 1);
    return spawnIn(NS.lvsd, [LVSD_NODE, ...NODE_FLAGS, ...prof, lvsdCli(round), 'run', '--config', conf, '--socket', join(sockDir, `lvsd-${tag}.sock`),
      '--state-file', join(dir, `lvsd-${tag}.state`), '--log-level', 'info'], log, undefined, lvsdEnv(round));
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

async function waitReady(kind: Kind, child: ChildProcess, timeoutMs: number, ramp?: { log: string; out?: RampFigures }): Promise<number> {
  const t0 = Date.now();
  const sampler = ramp && child.pid !== undefined ? new RampSampler(child.pid, t0) : undefined;
  try {
    return await pollReady(kind, child, timeoutMs, t0);
  } finally {
    if (ramp && sampler) ramp.out = sampler.finish(ramp.log);
  }
}

async function pollReady(kind: Kind, child: ChildProcess, timeoutMs: number, t0: number): Promise<number> {
  let told = t0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${kind} exited (${child.exitCode}) before it was ready: see ${dir}`);
    const n = weightedDests(kind);
    if (n >= READY_AT) return Date.now() - t0;
    // a slow start's progress, once a minute (with the host's load: a start that waits shows where and when)
    if (Date.now() - told >= 60_000) {
      told = Date.now();
      if (!json) process.stdout.write(`  ${kind}: ${n} of ${N} real servers weighted after ${((told - t0) / 1000).toFixed(0)} s, host load ${load(hostLoad())}\n`);
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${kind}: ${n}/${N} real servers weighted after ${timeoutMs / 1000} s`);
    await sleep(5000);
  }
}

/**
 * lvsd pages out node's mapped files once it has been quiet 30 s after its start (src/daemon/page-out.ts):
 * the window (whose end reads the RSS) begins after its first page-out has ended, as a settled director's
 * would be, or after `timeoutMs`. What it found, for the output.
 */
async function pageOutSettled(log: string, timeoutMs: number): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    let lines: string[] = [];
    try {
      lines = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"daemon.pag'));
    } catch {
      /* not yet */
    }
    const done = lines.map((l) => { try { return JSON.parse(l) as { event: string; cut?: boolean; fileMiB?: number; afterMiB?: number; ms?: number; reason?: string }; } catch { return undefined; } })
      .find((j) => j && ((j.event === 'daemon.paged_out' && j.cut !== true) || j.event === 'daemon.page_out_off' || j.event === 'daemon.page_out_stopped' || j.event === 'daemon.page_out_failed'));
    const waited = ((Date.now() - t0) / 1000).toFixed(0);
    if (done?.event === 'daemon.paged_out') return `page-out after ${waited} s more: mapped files ${done.fileMiB} -> ${done.afterMiB} MiB in ${done.ms} ms`;
    if (done) return `no page-out (${done.event}${done.reason ? `: ${done.reason}` : ''})`;
    if (Date.now() - t0 > timeoutMs) return `no page-out within ${timeoutMs / 1000} s`;
    await sleep(2000);
  }
}

// ---- measuring ----

/**
 * LVSD_BENCH_HEALTH_TRACE_S: where the tool's CPU goes per probe, the tool still running. `perf record`
 * (cpu-clock, call graphs) of its processes, reported by symbol, then `strace -c -f` (syscall counts; it
 * slows the tool, so its probes are counted separately). Each with the probes the sink saw meanwhile.
 */
async function trace(kind: Kind, pids: number[], sink: Sink, round: number, window: WindowResult): Promise<void> {
  const say = (s: string) => { if (!json) process.stdout.write(`  ${kind}: ${s}\n`); };
  const list = pids.join(',');
  const data = join(dir, `perf-${kind}.data`);
  await sink.dump();
  // (no build-ids: collecting them after the record takes minutes under TCG)
  const perf = spawnSync('perf', ['record', '-q', '-B', '-N', '-e', 'cpu-clock', '-F', String(TRACE_HZ), '-g', ...(TRACE_ALL ? ['-a'] : ['-p', list]), '-o', data, '--', 'sleep', String(TRACE_S)], { encoding: 'utf8' });
  const perfProbes = (await sink.dump()).length;
  // the kernel's symbols of this boot, to read the record's call chains elsewhere (perf script + kallsyms)
  writeFileSync(join(dir, 'kallsyms'), readFileSync('/proc/kallsyms'));
  if (perf.status === 0) {
    if (!TRACE_EVERY) {
      const rep = spawnSync('perf', ['report', '-i', data, '--stdio', '--children', '--sort', 'comm,sym', '--percent-limit', '1.5', '-g', 'none'], { encoding: 'utf8', maxBuffer: 64 << 20 });
      writeFileSync(join(dir, `perf-${kind}.txt`), `probes during the record: ${perfProbes} in ${TRACE_S} s (and perf's start and end)\n${rep.stdout}`);
      say(`perf: ${perfProbes} probes in ${TRACE_S} s (and perf's start and end), report in ${join(dir, `perf-${kind}.txt`)}`);
    }
    // the probing thread's CPU per probe by call, softirq and kernel symbol (bench/_perf-probe.ts)
    // the probing thread alone (its samples only are symbolised: node's own symbols take long to load under TCG)
    const checker = kind === 'keepalived' ? Number(readFileSync(join(dir, `ka-full-${round}.check.pid`), 'utf8').trim()) : undefined;
    const prober = checker !== undefined ? [] : pids.flatMap((pid) => {
      try {
        return readdirSync(`/proc/${pid}/task`).filter((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'lvsd-tcp-probe');
      } catch {
        return [];
      }
    });
    const only = checker !== undefined ? ['--pid', String(checker)] : prober.length > 0 ? ['--tid', prober.join(',')] : [];
    const script = spawnSync('perf', ['script', '-i', data, '--no-inline', ...only, '-F', 'comm,pid,tid,ip,sym'], { encoding: 'utf8', maxBuffer: 512 << 20 });
    // scaled to the thread's CPU per probe over the window (/proc), the split from perf's shares
    const th = window.threads.find((t) => t.thread.endsWith('/lvsd-tcp-probe'));
    const msPerProbe = checker !== undefined ? ((window.checkerCpuSPerMin ?? NaN) * 1000) / 60 / Math.max(1, window.probes.rate) : th ? th.userMsPerProbe + th.kernelMsPerProbe : NaN;
    const figures = perfProbeFigures(parsePerfScript(script.stdout ?? ''), (s) => (checker !== undefined ? s.pid === checker : s.comm === 'lvsd-tcp-probe'), TRACE_HZ, msPerProbe * 1000);
    for (const l of formatPerfProbe(figures)) say(`  ${kind === 'lvsd' ? 'lvsd-tcp-probe' : 'checker'}: ${l}`);
    const keep = process.env.LVSD_VM_OUT ?? dir;
    writeFileSync(join(keep, `perf-probe-${kind}-${round}.json`), JSON.stringify({ ...figures, folded: Object.fromEntries(figures.folded) }));
  } else {
    say(`perf record failed: ${perf.stderr.split('\n')[0]}`);
  }
  if (!TRACE_STRACE) return;
  const out = join(dir, `strace-${kind}.txt`);
  const st = spawnSync('timeout', ['-s', 'INT', String(TRACE_S), 'strace', '-c', '-f', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { encoding: 'utf8' });
  const straceProbes = (await sink.dump()).length;
  writeFileSync(out, `probes during strace: ${straceProbes} in ${TRACE_S} s (exit ${st.status})\n${readFileSync(out, 'utf8')}`);
  say(`strace: ${straceProbes} probes in ${TRACE_S} s, counts in ${out}`);
  // the calls themselves for a moment: how each tool opens and closes a probe's socket (SO_LINGER and its value)
  const calls = join(dir, `strace-${kind}-calls.txt`);
  spawnSync('timeout', ['-s', 'INT', '2', 'strace', '-f', '-tt', '-T', '-e', 'trace=socket,setsockopt,connect,getsockopt,shutdown,close,epoll_ctl,fcntl', '-o', calls, ...pids.flatMap((p) => ['-p', String(p)])]);
  // the reports outlive the VM only in the result directory (the bench's own directory is the VM's tmpfs)
  const keep = process.env.LVSD_VM_OUT;
  if (keep && !dir.startsWith(keep)) {
    for (const f of [`perf-${kind}.txt`, `strace-${kind}.txt`, `strace-${kind}-calls.txt`]) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(keep, f));
  }
}


class Sink {
  private child: ChildProcess;
  /** the sink's own pid (its child of `ip netns exec`), once ready */
  pid: number | undefined;
  private waiting: ((n: number) => void) | undefined;
  private modeSet: (() => void) | undefined;
  /** connections a wait closed at its 5 s limit (the client never closed), since the dump before the last */
  timeouts = 0;
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
      if (j.event === 'dumped') {
        this.timeouts = (j as { timeouts?: number }).timeouts ?? 0;
        this.waiting?.(j.n ?? 0);
      }
      if (j.event === 'mode') this.modeSet?.();
    });
  }

  /** How it ends the connections it accepts from now on: wait for the client's close, or close at once. */
  async mode(mode: 'wait' | 'close'): Promise<void> {
    await new Promise<void>((resolve) => {
      this.modeSet = resolve;
      this.child.stdin!.write(`mode ${mode}\n`);
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


/** With VRRP alone (no services): the tool's fixed cost. */
interface IdleResult {
  vrrpIdle: Stats;
  cpuSPerMin: number;
  rssMiB: number;
  /** of the RSS: mapped files (RssFile) and private memory (RssAnon) */
  fileMiB: number;
  anonMiB: number;
  /** proportional set size: shared pages split among the processes that map them (keepalived's 3 share most) */
  pssMiB: number;
}

/** One window of one tool: a fresh start with the full config, every real server weighted, one interval on, then the window. */
interface WindowResult {
  /** the round (1-based) this window belongs to */
  round: number;
  /** LVSD_BENCH_HEALTH_VARIANTS's label: the sink's mode and the TIME_WAIT table */
  variant: string;
  /** connections the sink closed at its wait's limit (the client had not closed in 5 s) */
  sinkTimeouts: number;
  /** TCP sockets by state at the end of the window (/proc/net/tcp; not LISTEN) on the director and the servers */
  states: { director: Record<string, number>; realServers: Record<string, number> };
  readyS: number;
  /** lvsd's start ramp: its main thread's CPU until every real server was weighted (bench/_rise-measure.ts) */
  ramp?: RampFigures;
  cpuSPerMin: number;
  cpuMsPerProbe: number;
  /** the share of that CPU spent in user space (the rest is the kernel, for both tools mostly TCP) */
  userShare: number;
  checkerCpuSPerMin?: number;
  rssMiB: number;
  /** of the RSS: mapped files (RssFile: node's binary, libraries; clean, shared, reclaimable) and private memory (RssAnon) */
  fileMiB: number;
  anonMiB: number;
  /** proportional set size (smaps_rollup): beside the VmRSS sum, which counts a page keepalived's 3 processes share thrice */
  pssMiB: number;
  peakRssMiB: number;
  probes: ReturnType<typeof probeFigures>;
  vrrpBusy: Stats;
  /** the whole VM's CPU busy over the window, % of its 2 vCPUs (whoever used it) */
  vmBusyPct: number;
  /** the host's 1-minute load average at the window's start and end (the VM shares the host's cores) */
  hostLoad: { start?: number; end?: number };
  /** TIME_WAIT sockets at the end of the window in the tool's namespace and the real servers' (both tools' probes) */
  timeWait: { director: number; realServers: number };
  /** the whole VM's CPU per probe (every tool's probes cost the sink and the kernel's network work too) */
  vmMsPerProbe: ReturnType<typeof vmFigures>;
  /** CPU per probe by thread (process/thread name) */
  threads: ReturnType<typeof threadFigures>;
  /** TCP segments per probe on the tool's side of the link (sent, received; of those sent, resets): how a probe ends */
  segmentsPerProbe: { out: number; in: number; rsts: number; twOverflow: number };
  /** when the window began */
  at: string;
  /** lvsd's drift passes in the window and the window's figures split by them (LVSD_BENCH_HEALTH_DRIFT, _CANARY) */
  drift?: DriftSplit;
}

/** A window split by lvsd's drift passes (bench/_drift-split.ts). */
interface DriftSplit {
  driftInterval: string;
  passes: Array<DriftPass & { offsetS: number }>;
  /** seconds of the window inside a pass */
  inPassS: number;
  probes: ReturnType<typeof splitProbes>;
  adverts: ReturnType<typeof splitAdverts>;
  verdicts?: ReturnType<typeof splitVerdicts>;
}

const say = (kind: Kind, s: string) => { if (!json) process.stdout.write(`  ${kind}: ${s}\n`); };

async function idlePhase(kind: Kind, listener: AdvertListener): Promise<IdleResult> {
  const idle = startTool(kind, false, 'idle');
  const firstAdvert = await listener.first(120_000);
  await sleep(1000);
  const idlePids = nsPids(NS[kind]);
  const i0 = sample(idlePids);
  const it0 = Date.now();
  await sleep(IDLE_S * 1000);
  const i1 = sample(idlePids);
  const r: IdleResult = {
    cpuSPerMin: (cpuTicks(i0, i1).ticks / CLK_TCK) * 60000 / (Date.now() - it0),
    rssMiB: i1.rssKb / 1024,
    fileMiB: i1.fileKb / 1024,
    anonMiB: i1.anonKb / 1024,
    pssMiB: i1.pssKb / 1024,
    vrrpIdle: listener.jitter(firstAdvert + 1000, Date.now()),
  };
  await stopTool(idle, kind);
  listener.arrivals.length = 0; // the next start's first advert is its own
  say(kind, `VRRP alone: ${r.vrrpIdle.n} adverts in ${IDLE_S} s, jitter p99 ${r.vrrpIdle.p99.toFixed(2)} ms, CPU ${r.cpuSPerMin.toFixed(2)} s/min, RSS ${r.rssMiB.toFixed(1)} MiB (files ${r.fileMiB.toFixed(1)}, anon ${r.anonMiB.toFixed(1)}; PSS ${r.pssMiB.toFixed(1)})`);
  return r;
}

const load = (x: number | undefined) => (x === undefined ? '?' : x.toFixed(1));

/** The kernel's tcp_max_tw_buckets in a fresh namespace (read at the start; a variant without twN restores it). */
let defaultTwBuckets = 0;

function applyVariant(v: Variant): void {
  const tw = v.twBuckets ?? defaultTwBuckets;
  sh(Object.values(NS).map((ns) => `ip netns exec ${ns} sysctl -qw net.ipv4.tcp_max_tw_buckets=${tw}`).join('\n'));
}

/**
 * One start of a tool with the full config (a fresh start every round), and a window in each of the round's
 * variants in turn, each after the sink and the TIME_WAIT table are switched to it and one interval settled.
 */
/** LVSD_BENCH_HEALTH_CANARY's real server (bench/_canary.ts), up outside lvsd's windows. */
let canary: Canary | undefined;

/** The last lvsd start's ramp (bench/_rise-measure.ts), put in its windows' results. */
let rampOf: RampFigures | undefined;

async function measureTool(kind: Kind, sink: Sink, listener: AdvertListener, round: number, variants: Variant[], traceAfter: boolean): Promise<WindowResult[]> {
  rampOf = undefined;
  applyVariant(variants[0]!);
  await sink.mode(variants[0]!.sink);
  // lvsd leaves its table at exit (a restart adopts it), keepalived removes its own: each round starts empty,
  // so every round probes and programs from nothing, as the first did
  sh(`ip netns exec ${NS[kind]} ipvsadm -C`, 120_000);
  const full = startTool(kind, true, `full-${round}`);
  const out: WindowResult[] = [];
  try {
    const ramp: { log: string; out?: RampFigures } = { log: join(dir, `lvsd-full-${round}.log`) };
    const readyMs = await waitReady(kind, full, READY_S * 1000, kind === 'lvsd' ? ramp : undefined);
    say(kind, `round ${round}: ${N} real servers weighted in the kernel after ${(readyMs / 1000).toFixed(1)} s; settling one interval${kind === 'lvsd' && AB ? ` (${abOf(round)}: ${lvsdCli(round)}${round % 2 === 0 && Object.keys(ENV_B).length ? ` ${Object.entries(ENV_B).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''})` : ''}`);
    rampOf = ramp.out;
    if (ramp.out) {
      const r = ramp.out;
      say(kind, `  ramp: last health pass ${r.lastApplyS.toFixed(1)} s after the spawn; main thread CPU ${r.mainCpuS.toFixed(2)} s to then ` +
        `(${(1000 * r.mainCpuS / N).toFixed(2)} ms per real server; ${r.mainCpuAtSeenS.toFixed(2)} s when seen; start pass ${r.startPassCpuS.toFixed(2)} s, ` +
        `the ramp after it ${r.rampPerStartPass.toFixed(2)} start passes), process ${r.processCpuS.toFixed(2)} s; ` +
        `${r.passes} health passes, ${r.healthChangeLines} health.change and ${r.firstUpLines} health.first_up lines`);
    }
    if (kind === 'lvsd') say(kind, `  ${await pageOutSettled(join(dir, `lvsd-full-${round}.log`), 120_000)}`);
    for (const variant of variants) {
      applyVariant(variant);
      await sink.mode(variant.sink);
      await sleep(INTERVAL_S * 1000 + 2000);
      const w = await measureWindow(kind, sink, listener, round, variant, readyMs);
      out.push(w);
      if ((traceAfter || TRACE_EVERY) && variant === variants[0] && TRACE_S > 0) await trace(kind, nsPids(NS[kind]), sink, round, w);
    }
  } finally {
    await stopTool(full, kind);
  }
  return out;
}

async function measureWindow(kind: Kind, sink: Sink, listener: AdvertListener, round: number, variant: Variant, readyMs: number): Promise<WindowResult> {
  const pids = nsPids(NS[kind]);
  const checkerPid = kind === 'keepalived' ? Number(readFileSync(join(dir, `ka-full-${round}.check.pid`), 'utf8').trim()) : undefined;
  await sink.dump(); // reset
  const loadStart = hostLoad();
  const fromUs = Date.now() * 1000;
  const s0 = sample(pids);
  const c0 = checkerPid ? sample([checkerPid]) : undefined;
  const v0 = vmBusy(sink.pid);
  const t0 = tcpCounters(NS[kind]);
  const flipping = kind === 'lvsd' && canary ? canary.cycle(fromUs / 1000 + WINDOW_S * 1000) : undefined;
  await sleep(WINDOW_S * 1000);
  const flips = await flipping;
  const s1 = sample(pids);
  const c1 = checkerPid ? sample([checkerPid]) : undefined;
  const v1 = vmBusy(sink.pid);
  const t1 = tcpCounters(NS[kind]);
  const toUs = Date.now() * 1000;
  const loadEnd = hostLoad();
  const recs = await sink.dump();
  const sinkTimeouts = sink.timeouts;
  const vrrpBusy = listener.jitter(fromUs / 1000, toUs / 1000);
  const timeWait = { director: timeWaits(NS[kind]), realServers: timeWaits(NS.rs) };
  const states = { director: tcpStates(NS[kind]), realServers: tcpStates(NS.rs) };
  const windowS = (toUs - fromUs) / 1e6;
  const d = cpuTicks(s0, s1);
  const cpuS = d.ticks / CLK_TCK;
  const probes = probeFigures(recs, fromUs, toUs, INTERVAL_S);
  const perProbe = (x: number) => x / Math.max(1, probes.probes);
  const r: WindowResult = {
    round,
    variant: variant.label,
    sinkTimeouts,
    states,
    readyS: readyMs / 1000,
    ...(kind === 'lvsd' && rampOf && { ramp: rampOf }),
    cpuSPerMin: (cpuS * 60) / windowS,
    cpuMsPerProbe: perProbe(cpuS * 1000),
    userShare: d.userTicks / Math.max(1, d.ticks),
    rssMiB: s1.rssKb / 1024,
    fileMiB: s1.fileKb / 1024,
    anonMiB: s1.anonKb / 1024,
    pssMiB: s1.pssKb / 1024,
    peakRssMiB: s1.hwmKb / 1024,
    probes,
    vrrpBusy,
    vmBusyPct: (100 * (v1.busy - v0.busy)) / (v1.total - v0.total),
    hostLoad: { ...(loadStart !== undefined ? { start: loadStart } : {}), ...(loadEnd !== undefined ? { end: loadEnd } : {}) },
    threads: threadFigures(s0, s1, probes.probes),
    vmMsPerProbe: vmFigures(v0, v1, probes.probes),
    timeWait,
    segmentsPerProbe: { out: perProbe(t1.out - t0.out), in: perProbe(t1.in - t0.in), rsts: perProbe(t1.rsts - t0.rsts), twOverflow: perProbe(t1.twOverflow - t0.twOverflow) },
    at: new Date(fromUs / 1000).toISOString(),
  };
  if (c0 && c1) r.checkerCpuSPerMin = (cpuTicks(c0, c1).ticks / CLK_TCK) * 60 / windowS;
  if (kind === 'lvsd') {
    const split = driftSplit(round, recs, fromUs, toUs, listener, flips);
    if (split) r.drift = split;
  }
  say(kind, `round ${round}, ${variant.label}: ${probes.rate.toFixed(0)} probes/s, CPU ${r.cpuSPerMin.toFixed(1)} s/min (${r.cpuMsPerProbe.toFixed(3)} ms/probe), ` +
    `RSS ${r.rssMiB.toFixed(0)} MiB (files ${r.fileMiB.toFixed(1)}, anon ${r.anonMiB.toFixed(1)}; PSS ${r.pssMiB.toFixed(1)}), VM ${r.vmBusyPct.toFixed(0)} % busy, host load ${load(loadStart)} -> ${load(loadEnd)}`);
  say(kind, `  TIME_WAIT at the end: ${r.timeWait.director} on the director, ${r.timeWait.realServers} on the real servers; sink waits ended by its 5 s limit ${sinkTimeouts}`);
  const st = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  say(kind, `  sockets at the end: director ${st(states.director)}; servers ${st(states.realServers)}`);
  const seg = r.segmentsPerProbe;
  say(kind, `  TCP segments per probe on the director: ${seg.out.toFixed(2)} sent (${seg.rsts.toFixed(2)} RST), ${seg.in.toFixed(2)} received; closes past a full TIME_WAIT table ${seg.twOverflow.toFixed(2)}`);
  const vm = r.vmMsPerProbe;
  say(kind, `  whole VM per probe: ${vm.busy.toFixed(3)} ms (user ${vm.user.toFixed(3)}, system ${vm.system.toFixed(3)}, irq+softirq ${vm.irqSoftirq.toFixed(3)}; ksoftirqd ${vm.ksoftirqd.toFixed(3)}, sink ${vm.sink.toFixed(3)})`);
  for (const t of r.threads.slice(0, 8)) say(kind, `  ${t.thread.padEnd(34)} user ${t.userMsPerProbe.toFixed(3)} / kernel ${t.kernelMsPerProbe.toFixed(3)} ms per probe, wake-ups ${t.wakesPerProbe.toFixed(3)} (preempted ${t.preemptedPerProbe.toFixed(3)}) per probe`);
  if (r.drift) for (const l of formatDriftSplit(r.drift)) say(kind, `  ${l}`);
  return r;
}

/** The window split by lvsd's drift passes (those that overlap it, from its log), when any did or the canary ran. */
function driftSplit(round: number, recs: Array<{ us: number; key: number }>, fromUs: number, toUs: number, listener: AdvertListener, flips: CanaryFlip[] | undefined): DriftSplit | undefined {
  let logText = '';
  try {
    logText = readFileSync(join(dir, `lvsd-full-${round}.log`), 'utf8');
  } catch {
    /* no log: no passes */
  }
  const from = fromUs / 1000, to = toUs / 1000;
  const passes = driftPasses(logText).filter((p) => p.end >= from && p.start <= to);
  if (passes.length === 0 && !flips) return undefined;
  const inPassS = passes.reduce((a, p) => a + Math.max(0, Math.min(p.end, to) - Math.max(p.start, from)), 0) / 1000;
  return {
    driftInterval: driftOf(round),
    passes: passes.map((p) => ({ ...p, offsetS: (p.start - from) / 1000 })),
    inPassS,
    probes: splitProbes(recs, fromUs, toUs, INTERVAL_S, passes),
    adverts: splitAdverts(listener.arrivals, from, to, ADVERT_MS, passes),
    ...(flips && { verdicts: splitVerdicts(withVerdicts(flips, canaryUps(logText, 'canary')), passes) }),
  };
}

function formatDriftSplit(d: DriftSplit): string[] {
  const f = (x: number, n = 1) => (Number.isFinite(x) ? x.toFixed(n) : '-');
  const tri = (s: Stats, n = 0) => `${f(s.p50, n)} / ${f(s.p99, n)} / ${f(s.max, n)}`;
  const out = [`drift (every ${d.driftInterval}): ${d.passes.length} pass${d.passes.length === 1 ? '' : 'es'} in the window, ${f(d.inPassS)} s of it inside one` +
    d.passes.map((p) => `; at ${f(p.offsetS)} s: read ${f((p.readEnd - p.start) / 1000)} s, total ${f((p.end - p.start) / 1000)} s, ${p.ops} ops, ${p.againOutside} services read again outside the queue (${f(p.againMs / 1000)} s) and ${p.readAgain} in it, loop worst / p99 ${p.loopDelayMaxMs} / ${p.loopDelayP99Ms} ms`).join('')];
  for (const side of ['during', 'outside'] as const) {
    const p = d.probes[side], a = d.adverts[side];
    out.push(`  ${side === 'during' ? 'during a pass' : 'outside one '}: ${f(p.rate, 0)} probes/s over ${f(p.seconds)} s; starts per 10 ms p50 / p99 / max ${tri(p.bins10ms)} (ideal ${f(p.bins10ms.ideal)}); ` +
      `interval deviation ms p50 / p99 / max ${tri(p.intervalDeviationMs)} (${p.intervalDeviationMs.n} intervals, ${p.late} > 1.5 x); advert jitter ms p50 / p99 / max ${tri(a, 2)} (${a.n})`);
  }
  if (d.verdicts) {
    for (const ph of ['outside', 'read', 'queue'] as const) {
      const v = d.verdicts[ph];
      out.push(`  canary up, probe accepted ${ph === 'outside' ? 'outside a pass' : ph === 'read' ? 'in a pass\'s read' : 'in a pass\'s plan and sends'} (${v.weightMs.n + v.missed}): ` +
        `probe to verdict ms p50 / p99 / max ${tri(v.verdictMs)}, verdict to weight sent ${tri(v.applyMs)}, ` +
        `probe to weight seen in the kernel ${tri(v.weightMs)} (ipvsadm every ${CANARY_POLL_MS} ms${v.missed ? `; ${v.missed} not seen in 30 s` : ''})`);
    }
  }
  return out;
}

function compileSink(): string {
  const out = join(dir, 'tcp-sink');
  const src = join(root, 'bench', 'tcp-sink.c');
  const r = spawnSync('cc', ['-O2', '-o', out, src], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot build ${src} (needs a C compiler: build-essential): ${r.stderr || r.error?.message}`);
  return out;
}

/** In the VM: the tools' logs into the result directory, which outlives the VM (the bench's own is its tmpfs). */
function keepLogs(): void {
  const keep = process.env.LVSD_VM_OUT;
  if (!keep || dir.startsWith(keep)) return;
  try {
    mkdirSync(join(keep, 'health-logs'), { recursive: true });
    for (const f of readdirSync(dir)) if (f.endsWith('.log')) copyFileSync(join(dir, f), join(keep, 'health-logs', f));
  } catch (e) {
    process.stderr.write(`health bench: the logs not kept: ${(e as Error).message}\n`);
  }
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (spawnSync('ipvsadm', ['-Ln']).status !== 0) return 'no IPVS (ipvsadm -Ln fails)';
  if (spawnSync(KEEPALIVED, ['--version']).error) return `no keepalived at ${KEEPALIVED}`;
  return undefined;
}

/** The median of a figure over a tool's windows. */
function med(ws: WindowResult[], f: (w: WindowResult) => number): number {
  return median(ws.map(f));
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
    `timeout 1 s${CLOSE ? `, lvsd closing with ${CLOSE === 'reset' ? 'RST' : 'FIN'}` : ''}${LVSD_NODE !== process.execPath ? `, lvsd's node ${LVSD_NODE}` : ''}${NODE_FLAGS.length ? `, lvsd's node ${NODE_FLAGS.join(' ')}` : ''}${Object.keys(UNIT_ENV).length ? `, the unit's environment ${Object.entries(UNIT_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}; ` +
    `sink variants ${VARIANTS.map((v) => v.label).join(', ')} (the first is the row's); ${ROUNDS} round${ROUNDS > 1 ? 's' : ''} of ${WINDOW_S} s windows${TOOLS.length > 1 && ROUNDS > 1 ? ' (the tools alternated, each round a fresh start of each: L K, K L, L K, ...)' : ''}; VRRP 100 ms adverts alongside; lvsd drift repair every ${DRIFT}; ` +
    `${inVm ? 'in the TCG VM' : 'on this host'}, host load ${load(hostLoad())} (files: ${dir})`);
  teardown();
  buildTopology();
  defaultTwBuckets = Number(sh(`ip netns exec ${NS.lvsd} sysctl -n net.ipv4.tcp_max_tw_buckets`).trim());
  const sink = new Sink(binary);
  await sink.ready;
  const listeners = Object.fromEntries(TOOLS.map((k) => [k, new AdvertListener(LINK[k].rsIf)])) as Partial<Record<Kind, AdvertListener>>;
  if (CANARY && TOOLS.includes('lvsd')) {
    canary = new Canary({ rsNs: NS.rs, directorNs: NS.lvsd, listener: CANARY_LISTENER, ...CANARY_RS, vip: CANARY_VIP, pollMs: CANARY_POLL_MS });
    await canary.ready;
    await canary.on();
  }
  const idle: Partial<Record<Kind, IdleResult>> = {};
  const all: Record<Kind, WindowResult[]> = { lvsd: [], keepalived: [] };
  try {
    await Promise.all(Object.values(listeners).map((l) => l.ready));
    for (const kind of TOOLS) idle[kind] = await idlePhase(kind, listeners[kind]!);
    // each round both tools' windows back to back, the order turned every round (L K, K L, ...) so a load that
    // drifts over the run weighs on both; a round's ratio compares two windows minutes apart at most
    // in each round each tool starts afresh and measures the round's variants in turn (the same order for
    // both, so a variant's two windows are as far apart as any other's); the tools' order turned every round
    for (let round = 1; round <= ROUNDS; round++) {
      const variants = VARIANTS.filter((v, i) => i === 0 || round > ROUNDS - OTHER_ROUNDS);
      for (const kind of round % 2 === 1 ? TOOLS : [...TOOLS].reverse()) {
        all[kind].push(...await measureTool(kind, sink, listeners[kind]!, round, variants, round === ROUNDS));
      }
    }
  } finally {
    keepLogs();
    for (const l of Object.values(listeners)) l.stop();
    canary?.stop();
    sink.stop();
    teardown();
  }
  // the row is the first variant's; the others' ratios are printed after it
  const L = all.lvsd.filter((w) => w.variant === VARIANTS[0]!.label), K = all.keepalived.filter((w) => w.variant === VARIANTS[0]!.label);
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const row = (name: string, a: string, b: string, ratio?: number) =>
    out(`  ${name.padEnd(40)} ${a.padStart(18)} ${b.padStart(18)}${ratio !== undefined && Number.isFinite(ratio) ? `   ${ratio.toFixed(2)}` : ''}`);
  const cpuS = (w: WindowResult) => (w.cpuSPerMin * WINDOW_S) / 60;
  out('');
  if (L.length === 0 || K.length === 0) {
    const ws = L.length ? L : K;
    const who: Kind = L.length ? 'lvsd' : 'keepalived';
    for (const w of ws) {
      out(`  ${who} alone, round ${w.round}${who === 'lvsd' && AB ? ` (build ${abOf(w.round)})` : ''}, ${N} real servers: ${f(w.probes.rate)} probes/s, CPU ${f(w.cpuSPerMin, 2)} s/min ` +
        `(${f(w.cpuMsPerProbe, 3)} ms/probe: user ${f(w.cpuMsPerProbe * w.userShare, 3)}, kernel ${f(w.cpuMsPerProbe * (1 - w.userShare), 3)}), RSS ${f(w.rssMiB)} MiB (files ${f(w.fileMiB)}, anon ${f(w.anonMiB)}; peak ${f(w.peakRssMiB)}; PSS ${f(w.pssMiB)}), ` +
        `ready after ${f(w.readyS)} s, VM ${f(w.vmBusyPct, 0)} % busy, host load ${load(w.hostLoad.start)} -> ${load(w.hostLoad.end)}`);
    }
    if (ws.length > 1) out(`  median of ${ws.length}: ${f(med(ws, (w) => w.cpuMsPerProbe), 3)} ms/probe, RSS ${f(med(ws, (w) => w.rssMiB))} MiB`);
    if (json) process.stdout.write(`${JSON.stringify({ servers: N, intervalS: INTERVAL_S, windowS: WINDOW_S, idle: idle[who], [who]: ws })}\n`);
    return;
  }
  // per round: lvsd's CPU per probe against keepalived's, the two windows back to back (per probe, so a tool that
  // fell behind the 1,000 probes/s is not counted cheaper for probing less)
  const pairs = (v: Variant) => {
    const l = all.lvsd.filter((w) => w.variant === v.label), k = all.keepalived.filter((w) => w.variant === v.label);
    const rs = l.slice(0, k.length).map((w, i) => ({ round: w.round, l: w, k: k[i]!, ratio: w.cpuMsPerProbe / k[i]!.cpuMsPerProbe }));
    const ratios = rs.map((x) => x.ratio);
    return { rounds: rs, ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds: rs.length } };
  };
  const { rounds, ratio } = pairs(VARIANTS[0]!);
  const cell = (w: WindowResult) => `${f(w.cpuMsPerProbe, 3)} (${f(w.probes.rate, 0)}/s, ${f(w.vmBusyPct, 0)} %, ${load(w.hostLoad.start)}-${load(w.hostLoad.end)})`;
  const sinkSays = (v: Variant) => `${v.sink === 'wait' ? 'the servers wait for the prober to close' : 'the servers close at accept'}` +
    `${v.twBuckets !== undefined ? `, tcp_max_tw_buckets ${v.twBuckets}` : ''}`;
  const byVariant: Record<string, ReturnType<typeof pairs>['ratio']> = {};
  for (const v of VARIANTS) {
    const p = pairs(v);
    byVariant[v.label] = p.ratio;
    out(`  CPU of the whole process tree per probe, ${v.label} (${sinkSays(v)})${v === VARIANTS[0] ? ': the row' : ''}; each round's two windows:`);
    out(`  ${'round'.padEnd(7)} ${'lvsd ms/probe (probes/s, VM busy, host load)'.padEnd(48)} ${'keepalived'.padEnd(48)} ratio`);
    for (const r of p.rounds) out(`  ${String(r.round).padEnd(7)} ${cell(r.l).padEnd(48)} ${cell(r.k).padEnd(48)} ${f(r.ratio, 2)}`);
    out(`  ratio: median ${f(p.ratio.median, 2)} over ${p.ratio.rounds} round${p.ratio.rounds > 1 ? 's' : ''}, from ${f(p.ratio.min, 2)} to ${f(p.ratio.max, 2)}`);
    out('');
  }
  // the issue's rows (#11): the whole process tree of each tool, medians over the rounds
  const Li = idle.lvsd!, Ki = idle.keepalived!;
  row(`${f(med(L, (w) => w.probes.rate), 0)} distinct TCP checks/s for ${WINDOW_S} s: CPU s`, f(med(L, cpuS), 2), f(med(K, cpuS), 2), ratio.median);
  row(`same: RSS MiB (at ${N} TCP checks)`, f(med(L, (w) => w.rssMiB)), f(med(K, (w) => w.rssMiB)), med(L, (w) => w.rssMiB) / med(K, (w) => w.rssMiB));
  out('');
  row(`medians of ${rounds.length} round${rounds.length > 1 ? 's' : ''}`, 'lvsd', 'keepalived');
  const both = (g: (w: WindowResult) => number, d = 1): [string, string] => [f(med(L, g), d), f(med(K, g), d)];
  row('probes per second (seen by the servers)', ...both((w) => w.probes.rate));
  row('CPU seconds per minute', ...both((w) => w.cpuSPerMin, 2), med(L, (w) => w.cpuSPerMin) / med(K, (w) => w.cpuSPerMin));
  row('  of which keepalived\'s checker', '', f(med(K, (w) => w.checkerCpuSPerMin ?? NaN), 2));
  row('  with VRRP alone (no services)', f(Li.cpuSPerMin, 2), f(Ki.cpuSPerMin, 2));
  row('CPU ms per probe', ...both((w) => w.cpuMsPerProbe, 3), ratio.median);
  const uk = (ws: WindowResult[]) => `${f(med(ws, (w) => w.cpuMsPerProbe * w.userShare), 3)} / ${f(med(ws, (w) => w.cpuMsPerProbe * (1 - w.userShare)), 3)}`;
  row('  user / kernel ms per probe', uk(L), uk(K));
  row('  the whole VM per probe ms', ...both((w) => w.vmMsPerProbe.busy, 3), med(L, (w) => w.vmMsPerProbe.busy) / med(K, (w) => w.vmMsPerProbe.busy));
  const rss = (ws: WindowResult[]) => `${f(med(ws, (w) => w.rssMiB))} (${f(med(ws, (w) => w.peakRssMiB))})`;
  row('RSS MiB (peak)', rss(L), rss(K), med(L, (w) => w.rssMiB) / med(K, (w) => w.rssMiB));
  row('  of it mapped files / anon (RssFile/RssAnon)', `${f(med(L, (w) => w.fileMiB))} / ${f(med(L, (w) => w.anonMiB))}`, `${f(med(K, (w) => w.fileMiB))} / ${f(med(K, (w) => w.anonMiB))}`);
  row('  PSS MiB (shared pages split among the processes)', f(med(L, (w) => w.pssMiB)), f(med(K, (w) => w.pssMiB)), med(L, (w) => w.pssMiB) / med(K, (w) => w.pssMiB));
  row('  RSS MiB with VRRP alone (PSS)', `${f(Li.rssMiB)} (${f(Li.pssMiB)})`, `${f(Ki.rssMiB)} (${f(Ki.pssMiB)})`);
  row('    mapped files / anon', `${f(Li.fileMiB)} / ${f(Li.anonMiB)}`, `${f(Ki.fileMiB)} / ${f(Ki.anonMiB)}`);
  row('probe starts per 10 ms: ideal', ...both((w) => w.probes.bins10ms.ideal));
  const trio = (ws: WindowResult[], g: (w: WindowResult) => Stats) => `${f(med(ws, (w) => g(w).p50), 0)} / ${f(med(ws, (w) => g(w).p99), 0)} / ${f(med(ws, (w) => g(w).max), 0)}`;
  row('  p50 / p99 / max', trio(L, (w) => w.probes.bins10ms), trio(K, (w) => w.probes.bins10ms));
  const dev = (ws: WindowResult[]) => `${f(med(ws, (w) => w.probes.intervalDeviationMs.p50))} / ${f(med(ws, (w) => w.probes.intervalDeviationMs.p99))}`;
  row('interval deviation ms p50 / p99', dev(L), dev(K));
  row('intervals > 1.5 x configured', ...both((w) => w.probes.late, 0));
  row('VRRP advert jitter ms, alone p99/max', `${f(Li.vrrpIdle.p99, 2)} / ${f(Li.vrrpIdle.max, 2)}`, `${f(Ki.vrrpIdle.p99, 2)} / ${f(Ki.vrrpIdle.max, 2)}`);
  const jit = (ws: WindowResult[]) => `${f(med(ws, (w) => w.vrrpBusy.p99), 2)} / ${f(med(ws, (w) => w.vrrpBusy.max), 2)}`;
  row('  with the checks running p99/max', jit(L), jit(K));
  row('  adverts in the window', ...both((w) => w.vrrpBusy.n, 0));
  row('VM CPU busy in the window %', ...both((w) => w.vmBusyPct));
  row('start to every server weighted, s', ...both((w) => w.readyS), med(L, (w) => w.readyS) / med(K, (w) => w.readyS));
  if (json) process.stdout.write(`${JSON.stringify({ servers: N, intervalS: INTERVAL_S, windowS: WINDOW_S, ratio, variants: byVariant, idle, lvsd: all.lvsd, keepalived: all.keepalived })}\n`);
  // for bench/run.ts's summary
  if (process.env.LVSD_VM_OUT) {
    const brief = (w: WindowResult) => ({ cpuS: cpuS(w), msPerProbe: w.cpuMsPerProbe, probesPerS: w.probes.rate, rssMiB: w.rssMiB, vmBusyPct: w.vmBusyPct, hostLoad: w.hostLoad });
    writeFileSync(join(process.env.LVSD_VM_OUT, 'bench-health.json'), JSON.stringify({
      servers: N, intervalS: INTERVAL_S, windowS: WINDOW_S, probesPerS: med(L, (w) => w.probes.rate),
      lvsd: { cpuS: med(L, cpuS), rssMiB: med(L, (w) => w.rssMiB), fileMiB: med(L, (w) => w.fileMiB), anonMiB: med(L, (w) => w.anonMiB), pssMiB: med(L, (w) => w.pssMiB) },
      keepalived: { cpuS: med(K, cpuS), rssMiB: med(K, (w) => w.rssMiB), fileMiB: med(K, (w) => w.fileMiB), anonMiB: med(K, (w) => w.anonMiB), pssMiB: med(K, (w) => w.pssMiB) },
      ratio, rounds: rounds.map((r) => ({ round: r.round, ratio: r.ratio, lvsd: brief(r.l), keepalived: brief(r.k) })),
      // a fresh start until every real server is weighted in the kernel (each starts down), medians
      readyS: { lvsd: med(L, (w) => w.readyS), keepalived: med(K, (w) => w.readyS) },
      variant: VARIANTS[0]!.label, variants: byVariant,
    }, null, 2) + '\n');
  }
}

await main();
