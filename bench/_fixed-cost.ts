/**
 * The fixed cost of the daemon, natively on a host (no IPVS needed): `lvsd run` with one VRRP instance and
 * no service, against keepalived with the same instance, as master and as backup (issue #11 item 3). Not
 * run by run.js (its name starts with _); docs/benchmarks.md has the figures it gave.
 *
 *   node dist/bench/_fixed-cost.js [--tool lvsd|keepalived] [--role master|backup] [--window S] [--advert S]
 *     [--root DIR] [--node PATH] [--node-flags "--flag ..."] [--takeover [--pressure MIB]] [--log FILE] [--status-reads N] [--reloads N] [--poke-at S] [--env K=V,...] [--ns PREFIX] [--threads] [--json] [--close reset]
 *
 * Two namespaces joined by a veth: the tool in fc-tool, a keepalived peer in fc-peer (priority 100 when the
 * tool is to be master with 150, 200 when it is to be backup). Once the tool is in its state and has run
 * 10 s more (start-up's garbage settled), a window of S seconds (default 60) measures, over every process
 * in fc-tool (the whole tree: keepalived's three, lvsd's one):
 *  - CPU: utime + stime from /proc/PID/stat, seconds per minute;
 *  - memory: the sum of VmRSS, of its RssAnon, and of Pss (smaps_rollup: keepalived's processes share pages);
 *  - wake-ups: voluntary + involuntary context switches of every thread (/proc/PID/task/TID/status) per
 *    second, by thread name (--threads prints each thread).
 * ROOT (default: this checkout) is the lvsd checkout whose dist/bundle/main.js is run: an older build can
 * be compared with this script. The node flags default to those of main.js's first line.
 *
 * --checks N [--interval S]: lvsd also checks N distinct TCP real servers every S s (default 2; 100 per
 * service, 10.94.1.1-100 on ports 8000 + service, all answered by bench/tcp-sink.c in fc-peer), so the
 * CPU per probe and the RSS at N checks of the whole daemon can be measured natively: the host has no IPVS,
 * so lvsd runs over the in-memory IPVS model (test/netns/fixtures/model-daemon.ts, unbundled, which keeps
 * a copy of the table of its own: RSS a little above a real director's). lvsd only (keepalived's checker
 * needs IPVS); probes counted by the sink.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unitEnvironment } from './_unit-env.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
};
const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = arg('root', join(here, '..', '..'));
const MAIN = join(ROOT, 'dist', 'bundle', 'main.js');
const TOOL = arg('tool', 'lvsd') as 'lvsd' | 'keepalived';
const ROLE = arg('role', 'master') as 'master' | 'backup';
const WINDOW_S = Number(arg('window', '60'));
const ADVERT_S = Number(arg('advert', '1'));
const CHECKS = Number(arg('checks', '0'));
const INTERVAL_S = Number(arg('interval', '2'));
/** --close reset: the checks close with RST (`close: "reset"`) */
const CLOSE = arg('close', '') === 'reset' ? { close: 'reset' } : {};
const SETTLE_S = Number(arg('settle', String(CHECKS > 0 ? 2 * INTERVAL_S + 10 : 10)));
const json = process.argv.includes('--json');
/**
 * --takeover (with --role backup): after the window the peer (master) is killed, and the figure is how long
 * lvsd took to hold the VIP (polled every ~5 ms) and the major page faults it took meanwhile (pages read
 * back from a file: after lvsd's page-out of node's binary, src/daemon/page-out.ts, the code of a takeover
 * may have to be read again).
 */
const TAKEOVER = process.argv.includes('--takeover');
/**
 * --pressure MIB (with --takeover): disk and page-cache pressure at the kill. A `dd` writes MIB MiB to a file
 * on this host's disk (the page cache filling, writeback under way); 2 s into it, `echo 1 >
 * /proc/sys/vm/drop_caches` drops every clean page no process maps (among them node's pages lvsd paged out:
 * a touch then reads them from a disk the writer keeps busy); the master is killed right after, the writer
 * still running. The takeover's time and major faults are then those of a director whose memory was short.
 */
const PRESSURE_MIB = Number(arg('pressure', '0'));
/**
 * --status-reads N, --reloads N [--poke-at S]: S seconds (default 30) after lvsd is in its state, within the
 * settle, N `lvsd status --json` reads through its control socket, then N reloads (one weight edited, then
 * `lvsd reload`), one after the other: what an operator or a monitoring poll does, each leaving garbage in
 * lvsd's heap, so the window shows what lvsd keeps of it once it is quiet again (src/daemon/heap-trim.ts,
 * HeapSettle).
 */
const STATUS_READS = Number(arg('status-reads', '0'));
const RELOADS = Number(arg('reloads', '0'));
const POKE_AT_S = Number(arg('poke-at', '30'));
/** --log FILE: lvsd's log (its stdout: JSON lines, e.g. vrrp.advert_late and daemon.paged_out) into FILE */
const LOG = arg('log', '');
const KEEPALIVED = '/usr/sbin/keepalived';
/**
 * --node PATH: the node lvsd runs (default: this script's). A copy of its own lets the kernel page out the
 * binary's pages lvsd alone maps (MADV_PAGEOUT skips pages another process maps: this script's node).
 */
const NODE = arg('node', process.execPath);
const PREFIX = arg('ns', 'fc');
const NS = { tool: `${PREFIX}-tool`, peer: `${PREFIX}-peer` };
const VIP = '10.93.0.100';
const CLK_TCK = 100;

function deployedFlags(): string {
  // the launcher (lvsd.cjs) carries the flags since main.js became a stub that requires it
  const launcher = join(ROOT, 'dist', 'bundle', 'lvsd.cjs');
  const first = readFileSync(existsSync(launcher) ? launcher : MAIN, 'utf8').split('\n')[0]!;
  return /^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(first)?.[1]?.trim() ?? '';
}
const NODE_FLAGS = arg('node-flags', deployedFlags()).split(' ').filter(Boolean);
/** the packaged unit's Environment= (bench/_unit-env.ts; LVSD_BENCH_UNIT_ENV=0: none), then --env on top */
const EXTRA_ENV = { ...unitEnvironment(ROOT), ...Object.fromEntries(arg('env', '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string])) };

const dir = mkdtempSync(join(tmpdir(), 'lvsd-fixed-cost-'));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function sh(script: string): string {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
  return r.stdout;
}

function nsPids(ns: string): number[] {
  return (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);
}

function teardown(): void {
  for (const ns of Object.values(NS)) {
    for (const pid of nsPids(ns)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
}

function topology(): void {
  teardown();
  sh([
    'set -e',
    ...Object.values(NS).map((ns) => `ip netns add ${ns} && ip -n ${ns} link set lo up`),
    `ip link add eth0 netns ${NS.tool} index 71 type veth peer name eth0 netns ${NS.peer} index 72`,
    `ip -n ${NS.tool} addr add 10.93.0.1/24 dev eth0 && ip -n ${NS.tool} link set eth0 up`,
    `ip -n ${NS.peer} addr add 10.93.0.2/24 dev eth0 && ip -n ${NS.peer} link set eth0 up`,
  ].join('\n'));
}

function keepalivedConf(priority: number): string {
  return ['global_defs {', '  router_id fc', '}', 'vrrp_instance VI_1 {', '  state BACKUP', '  interface eth0',
    '  virtual_router_id 51', `  priority ${priority}`, `  advert_int ${ADVERT_S}`, '  version 3', '  virtual_ipaddress {',
    `    ${VIP}/24`, '  }', '}', ''].join('\n');
}

function startKeepalived(ns: string, priority: number, tag: string): ChildProcess {
  const conf = join(dir, `${tag}.conf`);
  writeFileSync(conf, keepalivedConf(priority));
  const pid = (s: string) => join(dir, `${tag}.${s}.pid`);
  return spawn('ip', ['netns', 'exec', ns, KEEPALIVED, '-n', '-l', '-D', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('check')],
    { stdio: 'ignore' });
}

const PER_SERVICE = 100;

function services(): unknown[] {
  return Array.from({ length: Math.ceil(CHECKS / PER_SERVICE) }, (_, s) => ({
    name: `s${s}`, protocol: 'tcp', address: `10.95.${s >> 8}.${s & 255}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
    healthCheck: { type: 'tcp', interval: `${INTERVAL_S}s`, timeout: '1s', rise: 1, fall: 2, ...CLOSE },
    realServers: Array.from({ length: Math.min(PER_SERVICE, CHECKS - s * PER_SERVICE) }, (_, r) => ({ address: `10.94.1.${r + 1}`, port: 8000 + s, weight: 1 })),
  }));
}

/** bench/tcp-sink.c in the peer namespace, answering every check; counts what it saw (dump). */
class Sink {
  private readonly child: ChildProcess;
  private waiting: ((n: number) => void) | undefined;
  readonly ready: Promise<void>;
  constructor() {
    const bin = join(dir, 'tcp-sink');
    sh(`cc -O2 -o ${bin} ${join(ROOT, 'bench', 'tcp-sink.c')}`);
    const l = [`for i in $(seq 1 ${PER_SERVICE}); do echo "addr add 10.94.1.$i/32 dev lo"; done | ip -n ${NS.peer} -batch -`,
      `ip -n ${NS.tool} route add 10.94.1.0/24 via 10.93.0.2`,
      `ip netns exec ${NS.peer} sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=8192`,
      `ip netns exec ${NS.tool} sysctl -qw net.ipv4.ip_local_port_range="1024 65000"`];
    sh(l.join('\n'));
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.child = spawn('ip', ['netns', 'exec', NS.peer, bin, '8000', String(8000 + Math.ceil(CHECKS / PER_SERVICE))], { stdio: ['pipe', 'pipe', 'inherit'] });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
        const j = JSON.parse(buf.slice(0, i)) as { event: string; n?: number };
        if (j.event === 'ready') ready();
        if (j.event === 'dumped') this.waiting?.(j.n ?? 0);
      }
    });
  }
  /** Connections seen since the last count. */
  count(): Promise<number> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.child.stdin!.write(`dump ${join(dir, 'sink.bin')}\n`);
    });
  }
  stop(): void {
    this.child.kill('SIGKILL');
  }
}

let lvsdPriority = 0;
/** lvsd's config; `firstWeight`: the weight of the first service's first real server (--reloads edits it) */
function lvsdConfig(firstWeight = 1): string {
  const list = services() as Array<{ realServers: Array<{ weight: number }> }>;
  if (list[0]?.realServers[0]) list[0].realServers[0].weight = firstWeight;
  return JSON.stringify({
    ipvs: { driftInterval: '1h' },
    services: list,
    vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: lvsdPriority, version: 3, advertInterval: `${ADVERT_S}s`, addresses: [`${VIP}/24`] }],
    control: { socket: join(dir, 'lvsd.sock') },
  });
}

function startLvsd(priority: number): ChildProcess {
  const conf = join(dir, 'lvsd.json');
  lvsdPriority = priority;
  writeFileSync(conf, lvsdConfig());
  const argv = CHECKS > 0
    ? [join(ROOT, 'dist', 'test', 'netns', 'fixtures', 'model-daemon.js'), conf, join(dir, 'lvsd.sock'), join(dir, 'lvsd.state')]
    : [MAIN, 'run', '--config', conf, '--socket', join(dir, 'lvsd.sock'), '--state-file', join(dir, 'lvsd.state'), '--log-level', 'info'];
  const out = LOG ? openSync(LOG, 'w') : 'ignore';
  return spawn('ip', ['netns', 'exec', NS.tool, NODE, ...NODE_FLAGS, ...argv], { stdio: ['ignore', out, 'inherit'], env: { ...process.env, ...EXTRA_ENV } });
}

/** Resident KiB of each file mapping of the processes, by its range and permissions (r-x: code, r--: read-only data). */
function fileMaps(pids: number[]): Map<string, { perms: string; path: string; kb: number }> {
  const out = new Map<string, { perms: string; path: string; kb: number }>();
  for (const pid of pids) {
    let key: string | undefined, perms = '', path = '';
    try {
      for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
        const m = /^([0-9a-f]+-[0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(\S*)$/.exec(line);
        if (m) {
          key = m[3] !== '0' && m[4]!.startsWith('/') ? `${pid}:${m[1]}` : undefined;
          perms = m[2]!;
          path = m[4]!;
        } else if (key && line.startsWith('Rss:')) out.set(key, { perms, path, kb: Number(/(\d+)/.exec(line)![1]) });
      }
    } catch { /* gone */ }
  }
  return out;
}

/** What came back into the file mappings between two readings, KiB: code (r-x) and read-only data (r--). */
function refaulted(a: Map<string, { perms: string; path: string; kb: number }>, b: Map<string, { perms: string; path: string; kb: number }>): { codeKb: number; dataKb: number; byFile: Record<string, number> } {
  let codeKb = 0, dataKb = 0;
  const byFile: Record<string, number> = {};
  for (const [k, v] of b) {
    const d = v.kb - (a.get(k)?.kb ?? 0);
    if (d <= 0) continue;
    const f = `${v.path.split('/').pop()} ${v.perms}`;
    byFile[f] = (byFile[f] ?? 0) + d;
    if (v.perms.startsWith('r-x')) codeKb += d;
    else if (v.perms.startsWith('r--')) dataKb += d;
  }
  return { codeKb, dataKb, byFile };
}

/** RssFile of the processes, KiB (the node pages still mapped: after a page-out, few). */
function statusKb(pids: number[]): { file: number } {
  let file = 0;
  for (const pid of pids) {
    try { file += Number(/RssFile:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return { file };
}

function holdsVip(ns: string): boolean {
  return spawnSync('ip', ['-n', ns, '-4', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).stdout.includes(`${VIP}/`);
}

/**
 * glibc's malloc arenas besides the main one, and what of them is resident: each is a 64 MiB-aligned
 * anonymous reservation whose used part is read-write and the rest PROT_NONE (MALLOC_ARENA_MAX caps them).
 */
function arenas(pid: number): { n: number; rssKb: number; heapKb: number } {
  const H = 64n << 20n;
  const maps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n');
  const regions: Array<{ a: bigint; b: bigint; perms: string; anon: boolean; heap: boolean; rss: number }> = [];
  for (const line of maps) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(\S*)$/.exec(line);
    if (m) regions.push({ a: BigInt(`0x${m[1]}`), b: BigInt(`0x${m[2]}`), perms: m[3]!, anon: m[4] === '0' && m[5] === '', heap: m[5] === '[heap]', rss: 0 });
    else if (line.startsWith('Rss:') && regions.length > 0) regions[regions.length - 1]!.rss = Number(/(\d+)/.exec(line)![1]);
  }
  let n = 0, rssKb = 0, heapKb = 0;
  for (let i = 0; i < regions.length; i++) {
    const r = regions[i]!, next = regions[i + 1];
    if (r.heap) heapKb += r.rss;
    if (!r.anon || !r.perms.startsWith('rw') || r.a % H !== 0n) continue;
    const whole = r.b - r.a === H || (next !== undefined && next.a === r.b && next.b === r.a + H && next.perms.startsWith('---'));
    if (whole) {
      n++;
      rssKb += r.rss;
    }
  }
  return { n, rssKb, heapKb };
}

interface Sample { ticks: number; rssKb: number; anonKb: number; fileKb: number; pssKb: number; minflt: number; majflt: number; threads: Map<string, { name: string; switches: number; cpuNs: number }> }

function sample(): Sample {
  let ticks = 0, rssKb = 0, anonKb = 0, fileKb = 0, pssKb = 0, minflt = 0, majflt = 0;
  const threads = new Map<string, { name: string; switches: number; cpuNs: number }>();
  for (const pid of nsPids(NS.tool)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      minflt += Number(f[7]);
      majflt += Number(f[9]);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      anonKb += Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
      fileKb += Number(/RssFile:\s+(\d+)/.exec(status)?.[1] ?? 0);
      pssKb += Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        const name = /Name:\s+(.*)/.exec(s)?.[1] ?? '?';
        const sw = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s)?.[1] ?? 0);
        // schedstat's first field: ns on the CPU (the ticks of /proc/PID/stat are 10 ms: too coarse when idle)
        const cpuNs = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        threads.set(`${pid}/${tid}`, { name, switches: sw, cpuNs });
      }
    } catch { /* gone */ }
  }
  return { ticks, rssKb, anonKb, fileKb, pssKb, minflt, majflt, threads };
}

async function main(): Promise<void> {
  topology();
  const mine = ROLE === 'master' ? 150 : 100;
  const sink = CHECKS > 0 ? new Sink() : undefined;
  await sink?.ready;
  const peer = startKeepalived(NS.peer, ROLE === 'master' ? 100 : 200, 'peer');
  if (ROLE === 'backup') {
    for (let i = 0; !holdsVip(NS.peer); i++) {
      if (i > 200) throw new Error('the peer never became master');
      await sleep(100);
    }
  }
  const tool = TOOL === 'lvsd' ? startLvsd(mine) : startKeepalived(NS.tool, mine, 'tool');
  try {
    if (ROLE === 'master') {
      for (let i = 0; !holdsVip(NS.tool); i++) {
        if (i > 600) throw new Error(`${TOOL} never became master`);
        await sleep(100);
      }
    }
    const pokes = TOOL === 'lvsd' ? STATUS_READS + RELOADS : 0;
    const pokeAt = pokes > 0 ? Math.min(POKE_AT_S, SETTLE_S) : 0;
    await sleep(pokeAt * 1000);
    for (let i = 0; i < pokes; i++) {
      const reload = i >= STATUS_READS;
      if (reload) writeFileSync(join(dir, 'lvsd.json'), lvsdConfig(2 + i));
      const r = spawnSync('ip', ['netns', 'exec', NS.tool, process.execPath, join(ROOT, 'dist', 'bundle', 'lvsd.cjs'), ...(reload ? ['reload'] : ['status', '--json']), '--socket', join(dir, 'lvsd.sock')],
        { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
      if (r.status !== 0) throw new Error(`lvsd ${reload ? 'reload' : 'status'} failed: ${r.stderr?.toString() || r.error?.message}`);
    }
    await sleep((SETTLE_S - pokeAt) * 1000);
    await sink?.count();
    const a = sample();
    const t0 = Date.now();
    await sleep(WINDOW_S * 1000);
    const b = sample();
    const probes = (await sink?.count()) ?? 0;
    const seconds = (Date.now() - t0) / 1000;
    if (ROLE === 'backup' && holdsVip(NS.tool)) throw new Error(`${TOOL} took over from the peer`);
    let takeover: { ms: number; majorFaults: number; minorFaults: number; fileMiBBefore: number; backKb: { codeKb: number; dataKb: number; byFile: Record<string, number> }; pressureMiB?: number; writerStillWriting?: boolean } | undefined;
    if (TAKEOVER && ROLE === 'backup') {
      const faults = () => nsPids(NS.tool).reduce((acc, pid) => {
        try {
          const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          return [acc[0]! + Number(f[7]), acc[1]! + Number(f[9])];
        } catch { return acc; }
      }, [0, 0]);
      const writer = PRESSURE_MIB > 0
        ? spawn('dd', ['if=/dev/zero', `of=${join(dir, 'pressure.bin')}`, 'bs=1M', `count=${PRESSURE_MIB}`], { stdio: 'ignore' })
        : undefined;
      if (writer) {
        await sleep(2000);
        writeFileSync('/proc/sys/vm/drop_caches', '1\n');
      }
      const f0 = faults();
      const before = statusKb(nsPids(NS.tool));
      const maps0 = fileMaps(nsPids(NS.tool));
      const t0 = Date.now();
      for (const pid of nsPids(NS.peer)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      while (!holdsVip(NS.tool)) {
        if (Date.now() - t0 > 20_000) throw new Error(`${TOOL} did not take over`);
      }
      const ms = Date.now() - t0;
      const f1 = faults();
      const back = refaulted(maps0, fileMaps(nsPids(NS.tool)));
      const writerDone = writer ? writer.exitCode !== null : undefined;
      writer?.kill('SIGKILL');
      takeover = { ms, minorFaults: f1[0]! - f0[0]!, majorFaults: f1[1]! - f0[1]!, fileMiBBefore: +(before.file / 1024).toFixed(1),
        backKb: back,
        ...(writer ? { pressureMiB: PRESSURE_MIB, writerStillWriting: !writerDone } : {}) };
    }
    if (ROLE === 'master' && !holdsVip(NS.tool)) throw new Error(`${TOOL} lost master`);
    const byName = new Map<string, number>();
    const perThread: Array<{ thread: string; name: string; perS: number; cpuMsPerMin: number }> = [];
    let cpuNs = 0;
    for (const [k, t] of b.threads) {
      const d = (t.switches - (a.threads.get(k)?.switches ?? 0)) / seconds;
      const ns = t.cpuNs - (a.threads.get(k)?.cpuNs ?? 0);
      cpuNs += ns;
      byName.set(t.name, (byName.get(t.name) ?? 0) + d);
      perThread.push({ thread: k, name: t.name, perS: +d.toFixed(2), cpuMsPerMin: +((ns / 1e6) * 60 / seconds).toFixed(2) });
    }
    const wakeups = [...byName.values()].reduce((x, y) => x + y, 0);
    const result = {
      tool: TOOL, role: ROLE, advertS: ADVERT_S, windowS: +seconds.toFixed(1),
      ...(TOOL === 'lvsd' ? { root: ROOT, nodeFlags: NODE_FLAGS.join(' '), env: EXTRA_ENV, ...(STATUS_READS + RELOADS > 0 ? { statusReads: STATUS_READS, reloads: RELOADS, pokeAtS: Math.min(POKE_AT_S, SETTLE_S) } : {}) } : {}),
      cpuSPerMin: +(((b.ticks - a.ticks) / CLK_TCK) * 60 / seconds).toFixed(3),
      /** the same from the threads' schedstat (ns; threads that ended inside the window are missed) */
      cpuMsPerMin: +((cpuNs / 1e6) * 60 / seconds).toFixed(1),
      ...(CHECKS > 0 ? { checks: CHECKS, intervalS: INTERVAL_S, probesPerS: +(probes / seconds).toFixed(1), cpuMsPerProbe: +(cpuNs / 1e6 / probes).toFixed(4) } : {}),
      rssMiB: +(b.rssKb / 1024).toFixed(1),
      /** malloc arenas besides the main one (lvsd only: its one process) and their resident MiB; the main one's ([heap]) */
      ...(TOOL === 'lvsd' ? (() => { const x = nsPids(NS.tool).map(arenas).reduce((p, q) => ({ n: p.n + q.n, rssKb: p.rssKb + q.rssKb, heapKb: p.heapKb + q.heapKb }), { n: 0, rssKb: 0, heapKb: 0 }); return { arenas: x.n, arenaMiB: +(x.rssKb / 1024).toFixed(1), mainArenaMiB: +(x.heapKb / 1024).toFixed(1) }; })() : {}),
      /** of the RSS, the private memory (the rest is mapped files: node's binary, shared and clean) */
      anonMiB: +(b.anonKb / 1024).toFixed(1), fileMiB: +(b.fileKb / 1024).toFixed(1), pssMiB: +(b.pssKb / 1024).toFixed(1),
      /** page faults in the window: minor (a page mapped from the page cache or zeroed) and major (read from a file) */
      minorFaults: b.minflt - a.minflt, majorFaults: b.majflt - a.majflt,
      wakeupsPerS: +wakeups.toFixed(1),
      ...(takeover ? { takeover } : {}),
      threads: Object.fromEntries([...byName].filter(([, v]) => v > 0.01).map(([k, v]) => [k, +v.toFixed(2)])),
      load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      ...(process.argv.includes('--threads') ? { perThread: perThread.filter((t) => t.perS > 0 || t.cpuMsPerMin > 0) } : {}),
    };
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      if (CHECKS > 0) process.stdout.write(`${CHECKS} checks every ${INTERVAL_S} s: ${result.probesPerS} probes/s, ${result.cpuMsPerProbe} ms CPU per probe\n`);
      process.stdout.write(`${TOOL} ${ROLE}: CPU ${result.cpuSPerMin} s/min (schedstat ${result.cpuMsPerMin} ms/min), RSS ${result.rssMiB} MiB (anon ${result.anonMiB}, PSS ${result.pssMiB}), ` +
        `${result.wakeupsPerS} wake-ups/s ${JSON.stringify(result.threads)} (load ${result.load})\n`);
      if (process.argv.includes('--threads')) for (const t of perThread) process.stdout.write(`  ${t.thread} ${t.name}: ${t.perS}/s, ${t.cpuMsPerMin} ms/min\n`);
    }
  } finally {
    spawnSync('rm', ['-f', join(dir, 'pressure.bin')]);
    sink?.stop();
    tool.kill('SIGTERM');
    peer.kill('SIGTERM');
    await sleep(1500);
    teardown();
  }
}

await main();
