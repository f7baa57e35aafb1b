/**
 * Start-up bench (issue #11, "fast start"): the cost of a CLI process against a bare `node -e 0`.
 *
 * Rows: `node -e 0` (the floor), `lvsd --version`, `lvsd check` and `lvsd apply` of a config with one
 * service, and `lvsd status` against a running daemon with that service. The daemon is lvsd run over the
 * in-memory IPVS model (test/netns/fixtures/model-daemon.js), so the row is the status client's cost and
 * runs on any host. `lvsd apply` needs root and IPVS: without them it stops at "IPVS is not available"
 * (exit 3) after loading everything it would use, and the row says so. After its first run apply finds the
 * kernel table as declared: the row is a re-apply (dump, diff, nothing to send).
 *
 * The commands run in rounds, one of each per round, so a change in the host's load hits every row alike.
 * CPU time (user + sys of the child, from bash's `times`) is the figure to compare on a shared machine;
 * wall time (of bash and the command) is printed beside it. Medians over LVSD_BENCH_STARTUP_RUNS rounds (default 15).
 *
 * The build measured is first copied to a temporary directory (package.json, schemas, dist/src, native/build,
 * node_modules without the dev-only compilers), as the issue's figures were taken: in the test VM the
 * checkout is a 9p share, and reading modules from it would be most of what is timed.
 * LVSD_BENCH_STARTUP_COPY=0 runs the build where it is.
 *
 * What is measured is the bundle (dist/bundle/lvsd.cjs, what ships), and beside it in the same rounds: the
 * bundle without its code cache (LVSD_CODE_CACHE=off), another build's bundle (LVSD_BENCH_STARTUP_BEFORE=its
 * dist/src/cli/main.js; its `lvsd run` also alternates in the exec -> master trials) and, with
 * LVSD_BENCH_STARTUP_UNBUNDLED=1, tsc's dist/src.
 *
 * LVSD_BENCH_STARTUP_PARTS: which parts run, comma-separated (default `cli,master`): `cli` the command rows,
 * `master` the exec -> VRRP master trials (LVSD_BENCH_STARTUP_MASTER_RUNS of each tool, default 3). With
 * LVSD_BENCH_STARTUP_MASTER_TRACE=1 each lvsd trial also prints when its log says the VRRP instance went
 * backup, the daemon's first reconcile ended (`vrrp.table_ready`) and the daemon ran (`daemon.started`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KEEPALIVED, VrrpLab } from '../test/netns/fixtures/vrrp-lab.js';
import { netnsSkipReason } from '../test/netns/netns.js';

/** LVSD_BENCH_STARTUP_CLI: another build's dist/src/cli/main.js (an older commit, for before/after). */
const CLI = process.env.LVSD_BENCH_STARTUP_CLI ?? fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MODEL_DAEMON = fileURLToPath(new URL('../test/netns/fixtures/model-daemon.js', import.meta.url));
const RUNS = Number(process.env.LVSD_BENCH_STARTUP_RUNS ?? 15);
/** LVSD_BENCH_STARTUP_BEFORE: another build's dist/src/cli/main.js, its bundle measured in the same rounds and trials. */
const BEFORE = process.env.LVSD_BENCH_STARTUP_BEFORE;
/**
 * LVSD_BENCH_STARTUP_ENV_B="K=V[,K=V...]": the exec -> master trials also alternate this build's `lvsd run`
 * with these variables set (e.g. LVSD_VRRP_THREAD=main against the default), in the `before` slot.
 */
const ENV_B = (process.env.LVSD_BENCH_STARTUP_ENV_B ?? '').split(',').filter(Boolean);
/** LVSD_BENCH_STARTUP_UNBUNDLED=1: tsc's dist/src measured too (not what ships). */
const UNBUNDLED = process.env.LVSD_BENCH_STARTUP_UNBUNDLED === '1';
const PARTS = new Set((process.env.LVSD_BENCH_STARTUP_PARTS ?? 'cli,master').split(',').map((p) => p.trim()));

interface Row {
  name: string;
  argv: string[];
  goal?: number;
  cpu: number[];
  wall: number[];
  exit?: number;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs argv once; CPU ms of the child (bash `times`, children's line), wall ms and exit status. */
function once(argv: string[]): { cpu: number; wall: number; exit: number } {
  const script = `${argv.map(shellQuote).join(' ')} >/dev/null 2>&1; rc=$?; times; exit $rc`;
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  const wall = performance.now() - t0;
  // `times` prints the shell's own user/sys, then its children's: "0m0.052s 0m0.012s"
  const lines = r.stdout.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (!m) throw new Error(`cannot read the CPU time of ${argv.join(' ')}: ${r.stdout} ${r.stderr}`);
  const cpu = (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
  return { cpu, wall, exit: r.status ?? -1 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function startDaemon(config: string, socket: string, stateFile: string): Promise<() => void> {
  const child = spawn(process.execPath, [MODEL_DAEMON, config, socket, stateFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.resume();
  for (let i = 0; i < 600; i++) {
    const r = spawnSync(process.execPath, [CLI, 'status', '--socket', socket, '--json'], { encoding: 'utf8' });
    if (r.status === 0) return () => child.kill('SIGTERM');
    if (child.exitCode !== null) throw new Error(`the model daemon exited (${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the model daemon did not answer within 60 s');
}

/** Dev-only packages left out of the copy (large, never loaded by lvsd). */
const DEV_ONLY = new Set(['typescript', 'playwright-core', '@types', 'fast-check']);

/** Copies the build whose main.js is `cli` into `to`; returns the copy's main.js. */
function copyBuild(cli: string, to: string): string {
  const root = join(dirname(cli), '..', '..', '..');
  for (const part of ['package.json', 'schemas', join('dist', 'src'), join('dist', 'bundle'), join('native', 'build'), 'node_modules']) {
    if (!existsSync(join(root, part))) continue; // a build from before the bundle
    cpSync(join(root, part), join(to, part), {
      recursive: true,
      dereference: true,
      filter: (src) => !src.endsWith('.map') && !DEV_ONLY.has(relative(join(root, 'node_modules'), src).split('/')[0]!),
    });
  }
  return join(to, relative(root, cli));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-bench-startup-'));
  const copy = process.env.LVSD_BENCH_STARTUP_COPY !== '0';
  const cli = copy ? copyBuild(CLI, join(dir, 'build')) : CLI;
  const beforeCli = BEFORE && (copy ? copyBuild(BEFORE, join(dir, 'before')) : BEFORE);
  // node itself and keepalived too: in the VM they are on the 9p share as well
  const node = copy ? copyExecutable(process.execPath, join(dir, 'node')) : process.execPath;
  const config = join(dir, 'services.json');
  const socket = join(dir, 'lvsd.sock');
  writeFileSync(config, JSON.stringify({
    services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11', port: 8080 }] }],
  }));
  // what ships is the bundle (packaging/bundle.ts: lvsd.cjs, main.js before the per-command files); the same
  // commands without its code cache, from another build (BEFORE) and from tsc's dist/src are measured beside it
  const launcher = bundleLauncher(cli);
  const builds: Array<[string, string, string[]]> = [['', launcher ?? cli, []]];
  if (launcher && existsSync(join(dirname(launcher), 'code-cache'))) builds.push([' (no code cache)', launcher, ['env', 'LVSD_CODE_CACHE=off']]);
  if (beforeCli) builds.push([` (before: ${BEFORE})`, bundleLauncher(beforeCli) ?? beforeCli, []]);
  if (launcher && UNBUNDLED) builds.push([' (dist/src, unbundled)', cli, []]);
  const commands: Array<[string, string[]]> = [
    ['lvsd --version', ['--version']],
    ['lvsd check, one service', ['check', '-c', config]],
    ['lvsd apply, one service', ['apply', '-c', config, '--state-file', join(dir, 'apply-state.json')]],
    ['lvsd status, daemon with one service', ['status', '--socket', socket]],
  ];
  const rows: Row[] = [{ name: 'node -e 0', argv: [node, '-e', '0'], cpu: [], wall: [] }];
  for (const [name, args] of commands) {
    for (const [i, [label, main, prefix]] of builds.entries()) {
      rows.push({ name: name + label, argv: [...prefix, node, main, ...args], ...(i === 0 ? { goal: 2.5 } : {}), cpu: [], wall: [] });
    }
  }
  if (PARTS.has('cli')) await cliRows(rows, builds, copy, config, socket, dir);
  try {
    if (PARTS.has('master')) await masterRows(builds[0]![1], node, dir, beforeCli ? bundleLauncher(beforeCli) ?? beforeCli : undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The command rows: RUNS rounds of every row, in turn, against `lvsd status`'s model daemon. */
async function cliRows(rows: Row[], builds: Array<[string, string, string[]]>, copy: boolean, config: string, socket: string, dir: string): Promise<void> {
  const out: string[] = [];
  const stop = await startDaemon(config, socket, join(dir, 'daemon-state.json'));
  try {
    const before = loadavg().map((l) => l.toFixed(2)).join(' ');
    for (const row of rows) once(row.argv); // warm the page cache
    for (let round = 0; round < RUNS; round++) {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[(i + round) % rows.length]!;
        const r = once(row.argv);
        row.cpu.push(r.cpu);
        row.wall.push(r.wall);
        row.exit = r.exit;
      }
    }
    const floor = rows[0]!;
    const cpu0 = median(floor.cpu);
    const wall0 = median(floor.wall);
    out.push(
      `start-up of ${[...new Set(builds.map((b) => b[1]))].join(' and ')}${copy ? ` (a copy of ${CLI}'s build, node copied too)` : ''}, ${RUNS} rounds, medians (host load ${process.env.LVSD_BENCH_HOST_LOAD ?? before}; node ${process.version})`,
      '| command | CPU ms | CPU ratio | wall ms | wall ratio | goal | exit |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const row of rows) {
      const cpu = median(row.cpu);
      const wall = median(row.wall);
      const note = row.exit === 3 ? ' (no IPVS here: stopped before the kernel)' : '';
      out.push(`| ${row.name} | ${cpu.toFixed(0)} | ${(cpu / cpu0).toFixed(2)} | ${wall.toFixed(0)} | ${(wall / wall0).toFixed(2)} | ${row.goal !== undefined ? `<= ${row.goal}` : ''} | ${row.exit}${note} |`);
    }
    process.stdout.write(out.join('\n') + '\n');
    // for bench/run.ts's summary
    saveJson('cli', rows.map((row) => ({ name: row.name, cpuMs: median(row.cpu), wallMs: median(row.wall), cpuRatio: median(row.cpu) / cpu0, wallRatio: median(row.wall) / wall0, exit: row.exit })));
  } finally {
    stop();
  }
}

/** The bundle's entry beside a build's dist/src/cli/main.js (lvsd.cjs; main.js before it), if it has one. */
function bundleLauncher(cli: string): string | undefined {
  const dir = join(dirname(cli), '..', '..', 'bundle');
  return ['lvsd.cjs', 'main.js'].map((f) => join(dir, f)).find((f) => existsSync(f));
}

function copyExecutable(from: string, to: string): string {
  cpSync(from, to, { dereference: true });
  chmodSync(to, 0o755);
  return to;
}

/** Has the kernel load a scheduler's module (by adding and deleting a service using it in a throwaway namespace). */
function warmScheduler(scheduler: string): void {
  const ns = `lvsd-bench-warm-${process.pid}`;
  spawnSync('bash', ['-c', `ip netns add ${ns} && ip netns exec ${ns} sh -c ` +
    `'ipvsadm -A -t 10.255.255.1:80 -s ${scheduler} && ipvsadm -D -t 10.255.255.1:80'; ip netns del ${ns}`], { stdio: 'ignore' });
}

const MASTER_RUNS = Number(process.env.LVSD_BENCH_STARTUP_MASTER_RUNS ?? 3);
const TRACE = process.env.LVSD_BENCH_STARTUP_MASTER_TRACE === '1';

/** The exec -> master row: MASTER_RUNS trials of each tool, alternating, medians. */
async function masterRows(cli: string, node: string, dir: string, before?: string): Promise<void> {
  const skip = netnsSkipReason() || (existsSync(KEEPALIVED) ? false : `${KEEPALIVED} is not installed`);
  if (skip) {
    process.stdout.write(`exec -> VRRP master: skipped (${skip})\n`);
    return;
  }
  // where the kernel has no IPVS (a plain host) both run VRRP alone: start-up without the table
  const withTable = existsSync('/proc/net/ip_vs');
  const keepalived = process.env.LVSD_BENCH_STARTUP_COPY !== '0' ? copyExecutable(KEEPALIVED, join(dir, 'keepalived')) : KEEPALIVED;
  const lvsdArgv = (main: string) => (conf: string, d: string) => [node, main, 'run', '--config', conf, '--state-file', join(d, 'lvsd.state'), '--log-level', 'info'];
  const argv = {
    lvsd: lvsdArgv(cli),
    before: before === undefined && ENV_B.length > 0 ? (conf: string, d: string) => ['env', ...ENV_B, ...lvsdArgv(cli)(conf, d)] : lvsdArgv(before ?? cli),
    // in the foreground, logging to syslog as installed (no console logging: under TCG a console is slow)
    keepalived: (conf: string, d: string) => [keepalived, '-n', '-f', conf,
      '-p', join(d, 'k.pid'), '-r', join(d, 'k-vrrp.pid'), '-c', join(d, 'k-check.pid')],
  };
  // The first service with the wlc scheduler makes the kernel load ip_vs_wlc (seconds under TCG), which
  // would be charged to whichever tool's first trial came first: load it once, untimed, in a namespace of
  // its own.
  if (withTable) warmScheduler('wlc');
  type Tool = 'lvsd' | 'before' | 'keepalived';
  const tools: Tool[] = before || ENV_B.length > 0 ? ['lvsd', 'before', 'keepalived'] : ['lvsd', 'keepalived'];
  const trials: Record<Tool, MasterTrial[]> = { lvsd: [], before: [], keepalived: [] };
  for (let i = 0; i < MASTER_RUNS; i++) {
    for (const kind of i % 2 ? [...tools].reverse() : tools) {
      const trial = await masterTrial(kind === 'keepalived' ? 'keepalived' : 'lvsd', argv[kind], withTable, node);
      trials[kind].push(trial);
      if (TRACE && trial.log) process.stdout.write(`${kind} trial ${i + 1}: ${trial.total} ms; its log: ${trial.log}\n`);
    }
  }
  const med = (kind: Tool, k: keyof MasterTrial) => {
    const xs = trials[kind].map((t) => t[k]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const ms = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(0));
  const lines = [
    `exec -> VRRP master${withTable ? ' with its table programmed' : ' (VRRP only: no IPVS in this kernel)'}, 1 s adverts, priority 100 alone on its link ` +
      `(Master_Down_Interval 3.61 s), fresh namespaces per trial, ${MASTER_RUNS} trials each, medians (all: ` +
      `${tools.map((t) => `${t} ${trials[t].map((x) => x.total).map(ms).join(' ')}`).join('; ')})`,
    '| tool | VIP ms | table ms | both ms | ratio | goal |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  const k = med('keepalived', 'total')!;
  for (const kind of tools) {
    const total = med(kind, 'total')!;
    const name = kind === 'before' ? (BEFORE ? `lvsd (before: ${BEFORE})` : `lvsd (${ENV_B.join(' ')})`) : kind;
    lines.push(`| ${name} | ${ms(med(kind, 'vip'))} | ${ms(med(kind, 'table'))} | ${ms(total)} | ${(total / k).toFixed(2)} | ${kind === 'lvsd' ? '<= 1.2' : ''} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  saveJson('master', { withTable, lvsdMs: med('lvsd', 'total'), keepalivedMs: k, ratio: med('lvsd', 'total')! / k });
}

/** Results for bench/run.ts's summary: $LVSD_VM_OUT/bench-startup.json, one key per part. */
function saveJson(part: string, value: unknown): void {
  const dir = process.env.LVSD_VM_OUT;
  if (!dir) return;
  const file = join(dir, 'bench-startup.json');
  const doc = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> : {};
  writeFileSync(file, JSON.stringify({ ...doc, [part]: value }, null, 2) + '\n');
}

// ---- exec -> VRRP master with its table programmed, lvsd against keepalived on the same config ----

const VIP = '10.61.0.100';
const VS = { address: '192.0.2.10', port: 80, real: '10.61.0.50', realPort: 8080 };

/** Waits in the namespace until /proc/net/ip_vs lists a real server; prints the wall time (ms) it first did. */
const TABLE_POLLER = `
const { readFileSync } = require('node:fs');
process.stdout.write('ready\\n');
const t = setInterval(() => {
  let text = '';
  try { text = readFileSync('/proc/net/ip_vs', 'utf8'); } catch { return; }
  if (/^\\s+->\\s+0A3D0032:1F90/m.test(text)) { process.stdout.write(Date.now() + '\\n'); clearInterval(t); }
}, 20);`;

function lvsdConfig(withTable: boolean, socket: string): string {
  return JSON.stringify({
    control: { socket },
    vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 100, version: 3, advertInterval: '1s', addresses: [`${VIP}/24`],
      garp: { count: 3, interval: '50ms', refresh: '0s' } }],
    ...(withTable ? { services: [{ name: 'web', protocol: 'tcp', address: VS.address, port: VS.port, scheduler: 'wlc',
      realServers: [{ address: VS.real, port: VS.realPort, forwarding: 'nat', weight: 1 }] }] } : {}),
  });
}

function keepalivedConfig(withTable: boolean): string {
  return [
    'global_defs {', '  router_id d1', '  vrrp_rt_priority 10', '  vrrp_rlimit_rttime 1000000', '}',
    'vrrp_instance VI_1 {', '  state BACKUP', '  interface eth0', '  virtual_router_id 51', '  priority 100', '  advert_int 1',
    '  version 3', '  garp_master_delay 0', '  virtual_ipaddress {', `    ${VIP}/24`, '  }', '}',
    ...(withTable ? [`virtual_server ${VS.address} ${VS.port} {`, '  lb_algo wlc', '  lb_kind NAT', '  protocol TCP',
      `  real_server ${VS.real} ${VS.realPort} {`, '    weight 1', '  }', '}'] : []),
    '',
  ].join('\n');
}

interface MasterTrial {
  vip: number;
  table?: number;
  total: number;
  /** lvsd: each log event's first line, ms after exec (`event ms, ...`) */
  log?: string;
}

/** The first line of each event in pino JSON lines, as `event ms` after `t0` (ms since the epoch). */
function logTimeline(out: string, t0: number): string {
  const seen = new Map<string, number>();
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const { event, time } = JSON.parse(line) as { event?: unknown; time?: unknown };
      // lvsd logs ISO times (src/log.ts)
      const at = typeof time === 'number' ? time : typeof time === 'string' ? Date.parse(time) : NaN;
      if (typeof event === 'string' && Number.isFinite(at) && !seen.has(event)) seen.set(event, at - t0);
    } catch {
      // not a log line
    }
  }
  return [...seen].map(([event, ms]) => `${event} ${ms}`).join(', ');
}

/**
 * One trial in a fresh lab (its own namespaces, so no IPVS dest trash or VRRP peer carries over): the
 * director alone on its link, so it starts as backup, hears nobody and becomes master after
 * Master_Down_Interval (3 x 1 s + skew). Timed from just before the exec to the VIP on eth0
 * (`ip -ts monitor address`) and the real server in /proc/net/ip_vs (a poller in the namespace, 20 ms).
 */
async function masterTrial(kind: 'lvsd' | 'keepalived', argvFor: (conf: string, dir: string) => string[], withTable: boolean,
  node: string): Promise<MasterTrial> {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const addrs = vlab.watchAddresses(d1);
    const poller = withTable ? vlab.spawn(d1, [node, '-e', TABLE_POLLER]) : undefined;
    const tableAt = poller ? firstLines(poller) : undefined;
    if (tableAt) await tableAt.first;
    await addrs.ready();
    const conf = kind === 'lvsd'
      ? vlab.file('lvsd.json', lvsdConfig(withTable, join(vlab.dir, 'lvsd.sock')))
      : vlab.file('keepalived.conf', keepalivedConfig(withTable));
    const t0 = Date.now();
    const child = vlab.spawn(d1, argvFor(conf, vlab.dir));
    let out = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    const vip = await addrs.waitFor((e) => e.added && e.address === VIP, 120_000, t0, `${kind}: VIP`).catch((e: Error) => {
      throw new Error(`${e.message}\n${kind} printed:\n${out.slice(-3000)}`);
    });
    const table = tableAt ? Number(await withTimeout(tableAt.second, 120_000, `${kind}: table`)) : undefined;
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    const r: MasterTrial = { vip: vip.at - t0, total: Math.max(vip.at, table ?? 0) - t0 };
    if (table !== undefined) r.table = table - t0;
    if (kind === 'lvsd') r.log = logTimeline(out, t0);
    return r;
  } finally {
    vlab.cleanup();
  }
}

/** The first two lines `child` prints. */
function firstLines(child: ChildProcess): { first: Promise<string>; second: Promise<string> } {
  const lines: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    waiters.splice(0).forEach((w) => w(l));
  });
  const nth = (i: number): Promise<string> => new Promise((resolve) => {
    const check = (): void => { if (lines.length > i) resolve(lines[i]!); else waiters.push(check); };
    check();
  });
  return { first: nth(0), second: nth(1) };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e as Error); });
  });
}

await main();
