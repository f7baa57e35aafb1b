/**
 * IPVS bench: `lvsd apply` against `ipvsadm -R` on the same rules, a one-weight change applied to the full
 * table, a dump + diff with nothing to do, and lvsd's peak RSS.
 *
 * Runs as root on a kernel with IPVS (bench/run.js boots the test VM for it). Both tools get their rules
 * from one in-memory table; the table is flushed (`ipvsadm -C`) before each cold apply. Each lvsd run is
 * the real CLI process (node start, config load and validation, dump, plan, apply, verify dump), its phases
 * read from its `ipvs.apply` log line.
 *
 *   LVSD_BENCH_SERVICES=2000,10000   sizes (services); 10 real servers each (22,000 and 110,000 objects: issue #11's rows)
 *   LVSD_BENCH_DESTS=10
 *   LVSD_BENCH_LAYOUTS=file,dir      the daemon rows' config: one file, and/or a directory of 100 service files
 *   LVSD_BENCH_DAEMON_NODE_FLAGS     node flags for the daemon rows' `lvsd run` (e.g. "--cpu-prof --cpu-prof-dir=DIR")
 *   LVSD_BENCH_DRIFT=0               do not wait for the daemon's drift pass (the reload and status rows only)
 *   LVSD_BENCH_DRIFT_BEFORE=1        the drift rows for LVSD_BENCH_DAEMON_BEFORE's build too (default: this build only)
 *   LVSD_BENCH_DRIFT_RELOAD=0        with the drift pass: no "one weight + lvsd reload during the next drift pass" row (it waits one drift interval more)
 *   LVSD_BENCH_STATUS=0              no `lvsd status` rows (the reload rows only)
 *   LVSD_BENCH_DAEMON_BEFORE=PATH    another build's dist/bundle/lvsd.cjs: the daemon rows run with it too (A/B in one boot)
 * Prints a table; with LVSD_VM_OUT set also writes bench-ipvs.json there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/**
 * What ships and /usr/bin/lvsd runs: the bundle's launcher (packaging/bundle.ts), as the startup bench
 * times it; tsc's dist/src only without a bundle. (Until 2026-12-05 this bench ran dist/src's ESM files,
 * read and compiled one by one without the code cache: in the VM ~0.4 s more per CLI run than the bundle.)
 */
const BUNDLE = fileURLToPath(new URL('../bundle/lvsd.cjs', import.meta.url));
const CLI = existsSync(BUNDLE) ? BUNDLE : MAIN;
/** The node flags lvsd runs with as installed: those of main.js's first line (#!/usr/bin/env -S node FLAGS). */
const DEPLOYED = (/^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(readFileSync(MAIN, 'utf8').split('\n')[0]!)?.[1] ?? '').split(' ').filter(Boolean);
/**
 * LVSD_BENCH_DAEMON_BEFORE=PATH: another build's dist/bundle/lvsd.cjs; the daemon rows then run with it
 * too, in the same boot (first that build, then this one), for an A/B of the reload rows.
 */
const BEFORE = process.env.LVSD_BENCH_DAEMON_BEFORE;
/** The build the next command runs (the daemon rows switch it for LVSD_BENCH_DAEMON_BEFORE). */
let cli = CLI;
/** `lvsd ARGS` as installed: node with main.js's flags, running the bundle. */
const lvsd = (...args: string[]): string[] => [...DEPLOYED, cli, ...args];
/**
 * `lvsd reload ARGS` as installed, [program, args]: the native front beside the build (native/front: what
 * /usr/bin/lvsd and the npm bin are since 2026-12-05; it answers `reload --socket` without node and runs
 * node with the bundle for the rest), else node with the bundle as before.
 */
function lvsdReload(...args: string[]): [string, string[]] {
  const front = join(dirname(cli), '..', '..', 'native', 'build', 'Release', 'lvsd');
  return existsSync(front) ? [front, ['reload', ...args]] : [process.execPath, lvsd('reload', ...args)];
}
const TIME = '/usr/bin/time';
const LINK = 'lvsdbench0';

interface Row {
  vip: string;
  dests: Array<{ address: string; weight: number }>;
}

/** One table, N services x D real servers: VIPs in 172.16/12, real servers in 10/8 (routed by a dummy link). */
function makeTable(services: number, dests: number): Row[] {
  return Array.from({ length: services }, (_, i) => ({
    vip: `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    dests: Array.from({ length: dests }, (_, j) => ({ address: `10.${1 + j}.${(i >> 8) & 255}.${i & 255}`, weight: 1 + ((i + j) % 100) })),
  }));
}

function lvsdConfig(table: Row[], stateFile: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ...extra,
    ipvs: { stateFile, ...(extra['ipvs'] as object | undefined) },
    services: table.map((r) => ({
      protocol: 'tcp', address: r.vip, port: 80, scheduler: 'wrr', forwarding: 'nat',
      realServers: r.dests.map((d) => ({ address: d.address, port: 8080, weight: d.weight })),
    })),
  });
}

/** Files of services in the `dir` layout (plus 000-global.json): a big deployment keeps its services in many files. */
const DIR_FILES = 100;

/** The daemon's config in `layout`: one file, or a directory; `only` rewrites just the directory file holding that service. */
function writeDaemonConfig(layout: 'file' | 'dir', path: string, table: Row[], stateFile: string, extra: Record<string, unknown>, only?: number): void {
  if (layout === 'file') {
    writeFileSync(path, lvsdConfig(table, stateFile, extra));
    return;
  }
  mkdirSync(path, { recursive: true });
  const per = Math.ceil(table.length / DIR_FILES);
  if (only === undefined) writeFileSync(join(path, '000-global.json'), JSON.stringify({ ...extra, ipvs: { stateFile, ...(extra['ipvs'] as object | undefined) } }));
  for (let f = 0; f * per < table.length; f++) {
    if (only !== undefined && Math.floor(only / per) !== f) continue;
    const doc = JSON.parse(lvsdConfig(table.slice(f * per, (f + 1) * per), stateFile)) as { services: unknown[] };
    writeFileSync(join(path, `svc-${String(f + 1).padStart(3, '0')}.json`), JSON.stringify({ services: doc.services }, null, 2));
  }
}

function ipvsadmRules(table: Row[]): string {
  const out: string[] = [];
  for (const r of table) {
    out.push(`-A -t ${r.vip}:80 -s wrr`);
    for (const d of r.dests) out.push(`-a -t ${r.vip}:80 -r ${d.address}:8080 -m -w ${d.weight}`);
  }
  return out.join('\n') + '\n';
}

interface Timed {
  ms: number;
  status: number | null;
  stdout: string;
  stderr: string;
  /** peak resident set, KiB (from /usr/bin/time -f %M) */
  maxRssKb?: number;
  /** CPU time of the command and its children, user and system (kernel), ms (from /usr/bin/time -f %U %S) */
  userMs?: number;
  sysMs?: number;
}

/** The network namespace the next commands run in (undefined: the VM's own). */
let inNs: string | undefined;

/**
 * A fresh network namespace with its own, empty IPVS table and a route for the real servers. Each tool's
 * cold apply gets one: real servers removed from a table (ipvsadm -C) stay on the kernel's per-namespace
 * dest trash list for about two minutes, and every real server added meanwhile walks that list, so
 * whichever tool ran after a flush of 100,000 real servers was several times slower (measured: lvsd's
 * apply phase of 10,000 x 10 took 26.7 s on a fresh kernel, 174 s right after ipvsadm -R and -C).
 */
function freshNamespace(name: string): string {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  must(sh('ip', ['netns', 'add', name]), 'ip netns add');
  for (const args of [['link', 'add', LINK, 'type', 'dummy'], ['addr', 'add', '10.0.0.254/8', 'dev', LINK], ['link', 'set', LINK, 'up'], ['link', 'set', 'lo', 'up']]) {
    must(sh('ip', ['-n', name, ...args]), `ip -n ${name} ${args.join(' ')}`);
  }
  return name;
}

function dropNamespace(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
}

function sh(cmd: string, args: string[], stdinFile?: string, env?: NodeJS.ProcessEnv): Timed {
  if (inNs !== undefined) {
    args = ['netns', 'exec', inNs, cmd, ...args];
    cmd = 'ip';
  }
  const rssFile = join(work, 'rss');
  rmSync(rssFile, { force: true });
  const useTime = existsSync(TIME);
  const fd = stdinFile ? openSync(stdinFile, 'r') : 'ignore';
  const t0 = performance.now();
  const r = spawnSync(useTime ? TIME : cmd, useTime ? ['-f', '%M %U %S', '-o', rssFile, cmd, ...args] : args, {
    encoding: 'utf8', stdio: [fd, 'pipe', 'pipe'], maxBuffer: 1 << 30, env: env ?? process.env,
  });
  const ms = performance.now() - t0;
  if (typeof fd === 'number') closeSync(fd);
  const out: Timed = { ms, status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (useTime && existsSync(rssFile)) {
    const [kb, user, sys] = (readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    if (Number.isFinite(kb)) out.maxRssKb = kb;
    if (Number.isFinite(user) && Number.isFinite(sys)) {
      out.userMs = Math.round(user! * 1000);
      out.sysMs = Math.round(sys! * 1000);
    }
  }
  return out;
}

/** Busy share of the CPUs over `ms` milliseconds, from /proc/stat. */
function busyShare(ms: number): number {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  spawnSync('sleep', [String(ms / 1000)]);
  const b = read();
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total);
}

/**
 * Waits (at most 120 s) until the VM is quiet: after `ipvsadm -C` of 100,000 real servers the kernel keeps
 * freeing them (RCU callbacks) for a while, and whichever tool ran next would pay for it.
 */
function quiesce(): number {
  const t0 = performance.now();
  while (performance.now() - t0 < 120_000 && busyShare(1000) > 0.15);
  return performance.now() - t0;
}

function must(r: Timed, what: string): Timed {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}

interface Phases {
  dumpMs?: number;
  planMs?: number;
  applyMs?: number;
  verifyMs?: number;
  ops?: number;
}

/** The phases of lvsd's one `ipvs.apply` (or `ipvs.plan`) log line on stderr. */
function phases(stderr: string): Phases {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { event?: string; ops?: number; durations?: Phases };
      if (j.event === 'ipvs.apply' || j.event === 'ipvs.plan') return { ...j.durations, ...(j.ops !== undefined ? { ops: j.ops } : {}) };
    } catch {
      // not a log line
    }
  }
  return {};
}

function lvsdApply(config: string, state: string, extra: string[] = []): Timed & { phases: Phases } {
  const r = sh(process.execPath, lvsd('apply', '--config', config, '--state-file', state, ...extra), undefined, {
    ...process.env, LVSD_LOG_LEVEL: 'debug',
  });
  return { ...must(r, `lvsd apply ${extra.join(' ')}`), phases: phases(r.stderr) };
}

function savedSorted(): string[] {
  return must(sh('ipvsadm', ['-Sn']), 'ipvsadm -Sn').stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().replace(/\s+/g, ' ')).sort();
}

const work = mkdtempSync(join(tmpdir(), 'lvsd-bench-'));
const sizes = (process.env.LVSD_BENCH_SERVICES ?? '2000,10000').split(',').map(Number).filter((n) => n > 0);
const perService = Number(process.env.LVSD_BENCH_DESTS ?? 10);
const layouts = (process.env.LVSD_BENCH_LAYOUTS ?? 'file,dir').split(',').filter((l): l is 'file' | 'dir' => l === 'file' || l === 'dir');
/** Math.round that keeps undefined (not measured) */
const roundOrNot = (ms: number | undefined) => (ms === undefined ? undefined : Math.round(ms));
const s = (ms: number | undefined) => (ms === undefined ? '-' : Number.isNaN(ms) ? 'failed' : (ms / 1000).toFixed(2) + ' s');

interface SizeResult {
  services: number;
  realServers: number;
  ipvsadmRestoreMs: number;
  lvsdColdMs: number;
  ratio: number;
  lvsdColdPhases: Phases;
  lvsdColdMaxRssKb?: number;
  ipvsadmMaxRssKb?: number;
  /** CPU of each tool's cold apply, user / system ms: the system part is nearly all the kernel's work on the table. */
  lvsdColdCpu?: { userMs: number; sysMs: number };
  ipvsadmRestoreCpu?: { userMs: number; sysMs: number };
  oneChangeMs: number;
  oneChangePhases: Phases;
  oneChangeMaxRssKb?: number;
  noopMs: number;
  noopPhases: Phases;
  sameTable: boolean;
  daemons?: DaemonResult[];
}

/** The running daemon on the applied table: start (adopting it), one weight + `lvsd reload`, a drift pass. */
interface DaemonResult {
  /** The config the daemon ran: one file, or a directory of DIR_FILES service files. */
  layout: 'file' | 'dir';
  /** Set when the row ran LVSD_BENCH_DAEMON_BEFORE's build (its lvsd.cjs). */
  build?: string;
  /** The daemon's own reload (config.reloaded of the control reload): load + switch + pass, ms; the load alone; the event loop's worst delay. */
  reloadDaemonMs?: number;
  reloadLoadMs?: number;
  reloadLoopMaxMs?: number;
  /** The daemon's control.request line of that `lvsd reload`: from the request's head to its answer, ms (the reload's wait and answer included). */
  reloadRequestMs?: number;
  /** The daemon's reload.warmed line (reload-warm.ts): the warm after the start, ms, when it ran. */
  warmedMs?: number;
  /** The same for the file watcher's reload of the edit, when it ran (it may run first and do the work). */
  watcherReload?: { ms: number; loadMs: number; loopDelayMaxMs: number };
  /** `lvsd --version`, for the CLI process's own share of reloadCliMs. */
  versionCliMs: number;
  /** exec of `lvsd run` until daemon.started (the table read once and planned: 0 ops). */
  startMs: number;
  /**
   * `lvsd reload` spawned bare right after a one-weight edit, from spawn to exit, the kernel holding the new
   * weight when it returns: the median of LVSD_BENCH_RELOADS trials (reloadTrials; the first is the first
   * request after the start, reloadFirstMs). The reload* fields above are the median trial's.
   */
  reloadCliMs: number;
  reloadFirstMs?: number;
  reloadTrials?: ReloadTrial[];
  /** Process starts alone, spawned bare as the trials' front is (medians): `/bin/true`, and the front with no daemon to talk to. */
  exec?: { trueMs: number; frontMs?: number; altMs?: number };
  /** Which program ran it: the native front, or node with the bundle (no front built). */
  reloadCli?: 'front' | 'node';
  /**
   * The other ways a reload comes, each with a weight edited before it (lvsd reload above has its own):
   * `same`: `lvsd reload` again with nothing changed (the CLI's own cost: node, the control socket, a reload
   * that finds every file unchanged); `sighup`: SIGHUP right after the edit, until the daemon logged the
   * reload done (the kernel has the weight); `watcher`: the edit alone, until the file watcher's reload
   * logged it done (its debounce included). `ms`: from the signal or the write to config.reloaded's time;
   * `daemonMs`: that line's own `ms` (load to kernel), `loadMs` its load.
   */
  paths?: {
    same?: { cliMs: number; daemonMs?: number; loadMs?: number };
    /** `same` through node with the bundle (what /usr/bin/lvsd ran before the front), right after it. */
    sameNode?: { cliMs: number; daemonMs?: number };
    /**
     * The bench's own wrappers around every CLI figure (`/usr/bin/time` for the RSS, `ip netns exec`, which
     * also remounts /sys): `/bin/true` through them. And one weight edited + the front's `lvsd reload` spawned
     * bare (as an operator runs it on the director: a Unix socket is reached from any network namespace),
     * until it returns with the kernel holding the weight.
     */
    harnessMs?: number;
    direct?: { ms: number; daemonMs?: number };
    /** The same with `--config FILE` instead of `--socket` (systemd's ExecReload: the CLI reads control.socket from the config). */
    sameConfig?: { cliMs: number; daemonMs?: number };
    sighup?: { ms: number; daemonMs: number; loadMs: number };
    /**
     * What a client that does not start node would give: `curl --unix-socket SOCKET -X POST .../v1/reload`
     * right after an edit, until it returns (the answer comes once the kernel has the weight), when curl is installed.
     */
    curl?: { ms: number; daemonMs?: number };
    watcher?: { ms: number; daemonMs: number; loadMs: number };
  };
  /** The daemon's reload pass (daemon.reconcile reason reload): ms and ops. */
  reloadPassMs?: number;
  reloadOps?: number;
  /** One drift pass over the whole table: its daemon.reconcile line. */
  drift?: { ms: number; readMs: number; ops: number; loopDelayMaxMs: number; loopDelayP99Ms: number };
  /**
   * One weight + `lvsd reload` timed while the next drift pass reads the table (begun a fifth of the last
   * pass's read after the pass's timer fired; LVSD_BENCH_DRIFT_RELOAD=0 skips it): until it returns, the
   * daemon's reload (its prepareMs: waiting for the kernel queue, parts prepared), whether it went ahead of
   * the pass (config.reloaded aheadOfDrift), and the pass's own line (passesAhead: passes that went ahead of its read).
   */
  reloadDuringDrift?: { cliMs: number; daemonMs?: number; prepareMs?: number; aheadOfDrift: boolean; driftMs?: number; passesAhead?: number; driftInTheWay?: number };
  /** `lvsd status -s NAME` and `lvsd status --fresh` CLI runs. */
  /** undefined: not measured (LVSD_BENCH_STATUS=0); NaN: the call failed */
  statusOneMs?: number;
  statusFreshMs?: number;
}

function logLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return {};
    }
  });
}

async function waitLog(file: string, ok: (l: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>> {
  const end = performance.now() + ms;
  for (;;) {
    const hit = logLines(file).find(ok);
    if (hit) return hit;
    if (performance.now() > end) throw new Error(`bench: no ${what} within ${ms} ms\n${readFileSync(file, 'utf8').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The weight of `row`'s 6th real server as the kernel holds it (ipvsadm -Ln -t), or undefined. */
function kernelWeight(row: Row): number | undefined {
  const listed = must(sh('ipvsadm', ['-Ln', '-t', `${row.vip}:80`]), 'ipvsadm -Ln -t').stdout;
  const m = new RegExp(`${row.dests[5]!.address.replace(/\./g, '\\.')}:8080\\s+Masq\\s+(\\d+)\\s`).exec(listed);
  return m ? Number(m[1]) : undefined;
}

/**
 * LVSD_BENCH_RELOADS (default 5): how many times the row (one weight edited + `lvsd reload`) is timed per
 * daemon, each with a weight of its own; the row is their median, the first (the first request after the
 * start) and the spread beside it.
 */
const TRIALS = Math.max(1, Number(process.env.LVSD_BENCH_RELOADS ?? 5));

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length === 0 ? NaN : a.length % 2 === 1 ? a[a.length >> 1]! : (a[a.length / 2 - 1]! + a[a.length / 2]!) / 2;
}

/** ms from spawn to exit of `program` spawned bare (no wrapper), its status not looked at. */
function spawnMs(program: string, args: string[]): number {
  const t = performance.now();
  spawnSync(program, args, { stdio: 'ignore' });
  return performance.now() - t;
}

/** One timed edit + `lvsd reload`, and what the daemon logged of it. */
interface ReloadTrial {
  /** spawn of `lvsd reload` to its exit, the kernel holding the weight when it returns */
  ms: number;
  weight: number;
  /** every reload that ended between the edit and the answer: `trigger ops` (the row's is the control one) */
  reloads: string[];
  /** the control reload that answered (config.reloaded and its pass): ms, load, the switch's steps, operations */
  daemon?: {
    ms: number; loadMs: number; chainMs?: number; readMs?: number; parseMs?: number; buildMs?: number; prepareMs?: number; sysctlMs?: number;
    applyMs?: number; afterMs?: number; passMs: number; ops: number; loopDelayMaxMs: number;
  };
  /** the daemon's control.request of it: from the request's head to the answer, ms; from the connection's accept to the head */
  requestMs?: number;
  headMs?: number;
  /** what the file watcher did with the same edit: covered (by the reload that read it), or its own reload and its operations */
  watcher: string;
  /** a drift pass (the whole table read) ended between the edit and the answer: the reload waited for the kernel queue behind it */
  drift?: number;
}

/**
 * Writes the edit (`write`), spawns `lvsd reload` bare at once (as an operator, or systemd's ExecReload, runs
 * it on the director: the control socket is a file, reached from any network namespace; the bench's
 * wrappers, paths.harnessMs, stay out of it), and reads from the daemon's log which reload did the work.
 * Then waits for the file watcher's verdict on the same edit, so the next trial starts with nothing pending.
 */
async function timedReload(logFile: string, program: string, args: string[], write: () => void): Promise<{ result: ReloadTrial & { weight: number }; editedAt: number }> {
  const from = logLines(logFile).length;
  write();
  const editedAt = Date.now();
  const t = performance.now();
  const bare = spawnSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t;
  if (bare.status !== 0) throw new Error(`lvsd reload exited ${bare.status}\n${bare.stdout.slice(-2000)}\n${bare.stderr.slice(-2000)}`);
  // the daemon's log is written by a thread of its own: its lines of this request come a little after the answer
  const since = () => logLines(logFile).slice(from);
  await waitLog(logFile, (l) => l.event === 'control.request' && l.url === '/v1/reload' && Date.parse(String(l.time)) >= editedAt, 10_000, 'the reload request\'s log line').catch(() => undefined);
  const lines = since();
  const requestLine = lines.find((l) => l.event === 'control.request' && l.url === '/v1/reload');
  const answeredAt = requestLine ? lines.indexOf(requestLine) : lines.length;
  const ended = lines.slice(0, answeredAt).map((l, i) => ({ l, i })).filter(({ l }) => l.event === 'config.reloaded');
  // each config.reloaded's pass: the daemon.reconcile (reason reload) logged just before it
  const passOf = (i: number) => lines.slice(0, i).reverse().find((l) => l.event === 'daemon.reconcile' && l.reason === 'reload');
  const opsOf = (l: Record<string, unknown>, i: number) => Number(l.ops ?? passOf(i)?.ops);
  const reloads = ended.map(({ l, i }) => `${String(l.trigger)} ${opsOf(l, i)} ops`);
  const drift = lines.slice(0, answeredAt).find((l) => l.event === 'daemon.reconcile' && l.reason === 'drift');
  const control = ended.filter(({ l }) => l.trigger === 'control').pop();
  const num = (v: unknown) => (v === undefined ? undefined : Number(v));
  const daemon = control && {
    ms: Number(control.l.ms), loadMs: Number(control.l.loadMs), chainMs: num(control.l.chainMs), readMs: num(control.l.readMs), parseMs: num(control.l.parseMs),
    buildMs: num(control.l.buildMs), prepareMs: num(control.l.prepareMs), sysctlMs: num(control.l.sysctlMs), applyMs: num(control.l.applyMs),
    afterMs: num(control.l.afterMs), passMs: Number(passOf(control.i)?.ms), ops: opsOf(control.l, control.i), loopDelayMaxMs: Number(control.l.loopDelayMaxMs),
  };
  // the watcher tells of the edit ~0.5 s after the write (settled 200 ms, quiet 300 ms): covered, or a reload of its own
  const verdict = await waitLog(logFile, (l) => Date.parse(String(l.time)) >= editedAt && (l.event === 'config.change_covered' || (l.event === 'config.reloaded' && l.trigger === 'file')),
    10_000, 'the watcher on the edit').catch(() => undefined);
  const watcher = verdict === undefined ? 'none within 10 s' : verdict.event === 'config.change_covered' ? `covered (by ${String(verdict.by)}${verdict.read === true ? ', read' : ', pending'})`
    : `reloaded again, ${Number(verdict.ops ?? NaN)} ops, ${Number(verdict.ms)} ms`;
  return {
    result: { ms, weight: 0, reloads, ...(daemon && { daemon }), ...(requestLine && { requestMs: Number(requestLine.ms) }),
      ...(requestLine?.headMs !== undefined && { headMs: Number(requestLine.headMs) }), watcher, ...(drift && { drift: Number(drift.ms) }) },
    editedAt,
  };
}

/**
 * The reload paths besides `lvsd reload` after an edit (DaemonResult.paths): `lvsd reload` with nothing
 * changed, SIGHUP right after an edit, an edit left to the file watcher. Each edit sets a new weight on
 * `row` and is checked in the kernel afterwards (outside the timing).
 */
async function reloadPaths(
  pid: number, row: Row, index: number, base: number, logFile: string, write: (only: number) => void, socket: string, editedAt: number,
  configPath: string,
): Promise<DaemonResult['paths']> {
  const out: NonNullable<DaemonResult['paths']> = {};
  const reloadedAfter = (n: number, trigger: string) => logLines(logFile).filter((l) => l.event === 'config.reloaded').slice(n).find((l) => l.trigger === trigger);
  const count = () => logLines(logFile).filter((l) => l.event === 'config.reloaded').length;
  try {
    // the watcher wakes on the edit `lvsd reload` was timed after: its reload (first or second) ends first,
    // unless `lvsd reload` came while it waited out its quiet time (then it was dropped: config.change_covered)
    await waitLog(logFile, (l) => Date.parse(String(l.time)) >= editedAt && (l.event === 'config.change_covered' ||
      (l.event === 'config.reloaded' && l.trigger === 'file')), 60_000, 'the watcher after lvsd reload').catch(() => undefined);
    const before = count();
    const t0 = performance.now();
    must(sh(...lvsdReload('--socket', socket)), 'lvsd reload (nothing changed)');
    const cliMs = Math.round(performance.now() - t0);
    const same = reloadedAfter(before, 'control');
    out.same = { cliMs, ...(same ? { daemonMs: Number(same.ms), loadMs: Number(same.loadMs) } : {}) };
    const beforeNode = count();
    const tn = performance.now();
    must(sh(process.execPath, lvsd('reload', '--socket', socket)), 'node lvsd.cjs reload (nothing changed)');
    const nodeMs = Math.round(performance.now() - tn);
    const sameNode = reloadedAfter(beforeNode, 'control');
    out.sameNode = { cliMs: nodeMs, ...(sameNode ? { daemonMs: Number(sameNode.ms) } : {}) };
    out.harnessMs = Math.round(must(sh('/bin/true', []), '/bin/true').ms);
    const [program, args] = lvsdReload('--socket', socket);
    if (program !== process.execPath) {
      const weight = base + 40;
      row.dests[5]!.weight = weight;
      write(index);
      const n0 = count();
      const t = performance.now();
      const r = spawnSync(program, args, { encoding: 'utf8' });
      const ms = performance.now() - t;
      if (r.status !== 0) throw new Error(`bench: the front's bare reload exited ${r.status}: ${r.stderr}`);
      const line = reloadedAfter(n0, 'control');
      out.direct = { ms: Math.round(ms), ...(line ? { daemonMs: Number(line.ms) } : {}) };
      if (kernelWeight(row) !== weight) throw new Error(`bench: after the bare reload the kernel does not hold weight ${weight}`);
      await waitLog(logFile, (l) => l.event === 'config.reloaded' && l.trigger === 'file' && Date.parse(String(l.time)) >= Date.now() - ms - 1000, 60_000, 'the watcher after the bare reload').catch(() => undefined);
    }
    const before2 = count();
    const t1 = performance.now();
    must(sh(...lvsdReload('--config', configPath)), 'lvsd reload --config (nothing changed)');
    const cliMs2 = Math.round(performance.now() - t1);
    const same2 = reloadedAfter(before2, 'control');
    out.sameConfig = { cliMs: cliMs2, ...(same2 ? { daemonMs: Number(same2.ms) } : {}) };

    for (const [path, step] of [['sighup', 1], ['watcher', 2]] as const) {
      const weight = base + 10 * step;
      row.dests[5]!.weight = weight;
      write(index);
      const t = Date.now();
      if (path === 'sighup') process.kill(pid, 'SIGHUP');
      const line = await waitLog(logFile, (l) => l.event === 'config.reloaded' && l.trigger === (path === 'sighup' ? 'sighup' : 'file') && Date.parse(String(l.time)) >= t, 300_000, `${path} reload`);
      out[path] = { ms: Date.parse(String(line.time)) - t, daemonMs: Number(line.ms), loadMs: Number(line.loadMs) };
      if (kernelWeight(row) !== weight) throw new Error(`bench: after the ${path} reload the kernel does not hold weight ${weight}`);
      // the watcher also wakes on the SIGHUP step's edit: let its reload (nothing left to do) pass first
      if (path === 'sighup') await waitLog(logFile, (l) => l.event === 'config.reloaded' && l.trigger === 'file' && Date.parse(String(l.time)) >= t, 60_000, 'the watcher after SIGHUP').catch(() => undefined);
    }
    if (existsSync('/usr/bin/curl')) {
      const weight = base + 30;
      row.dests[5]!.weight = weight;
      write(index);
      const t = Date.now();
      const n0 = count();
      const r = must(sh('/usr/bin/curl', ['-sS', '--max-time', '120', '--unix-socket', socket, '-X', 'POST', 'http://lvsd/v1/reload']), 'curl POST /v1/reload');
      if (!r.stdout.includes('"ok":true')) throw new Error(`bench: curl reload answered ${r.stdout}`);
      const line = reloadedAfter(n0, 'control');
      out.curl = { ms: Math.round(r.ms), ...(line ? { daemonMs: Number(line.ms) } : {}) };
      if (kernelWeight(row) !== weight) throw new Error(`bench: after the curl reload the kernel does not hold weight ${weight}`);
      await waitLog(logFile, (l) => l.event === 'config.reloaded' && l.trigger === 'file' && Date.parse(String(l.time)) >= t, 60_000, 'the watcher after curl').catch(() => undefined);
    }
  } catch (e) {
    process.stderr.write(`[bench] reload paths: ${(e as Error).message.slice(0, 2000)}\n`);
  }
  return out;
}

/**
 * `lvsd run` in namespace `ns`, whose table lvsd apply has just programmed: the daemon adopts it; one
 * weight is edited and `lvsd reload` timed until it returns (the reload answers once the kernel has the
 * operation; checked with ipvsadm); then one drift pass (the full read) with the event loop's worst delay.
 */
async function benchDaemon(ns: string, table: Row[], n: number, state: string, layout: 'file' | 'dir', drift: boolean): Promise<DaemonResult> {
  const config = join(work, layout === 'file' ? `daemon-${n}.json` : `daemon-${n}.d`);
  const socket = join(work, `lvsd-${n}-${layout}.sock`);
  const logFile = join(work, `daemon-${n}-${layout}${cli === CLI ? '' : '-before'}.log`);
  // the drift timer fires once the reload has been measured (a 110,000-object pass under TCG takes tens of seconds)
  const driftS = Math.max(60, Math.ceil(n / 100));
  const extra = { control: { socket }, ipvs: { driftInterval: `${driftS}s` } };
  writeDaemonConfig(layout, config, table, state, extra);
  const out = openSync(logFile, 'w');
  const t0 = performance.now();
  const nodeFlags = (process.env.LVSD_BENCH_DAEMON_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  // a profile goes where the results go (the VM's shared result directory) unless told otherwise
  if (nodeFlags.includes('--cpu-prof') && !nodeFlags.some((f) => f.startsWith('--cpu-prof-dir'))) nodeFlags.push(`--cpu-prof-dir=${process.env.LVSD_VM_OUT ?? work}`);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeFlags, ...lvsd('run'), '--config', config, '--state-file', state, '--log-level', 'info'],
    { stdio: ['ignore', out, out] });
  try {
    await waitLog(logFile, (l) => l.event === 'daemon.started', 30 * 60_000, 'daemon.started');
    const startMs = performance.now() - t0;
    const changed = (n >> 1) + 1;
    const row = table[changed]!;
    // the other build's rows (LVSD_BENCH_DAEMON_BEFORE) run first on the same kernel table: an edit of their
    // own, or the second daemon's edit is in the kernel already and its reload sends nothing
    // each trial an edit of its own (weights over 100: none is the table's), the other build's (LVSD_BENCH_DAEMON_BEFORE,
    // run first on the same kernel table) apart, or its edit would be in the kernel already and a reload send nothing
    const firstWeight = (layout === 'file' ? 1000 : 2000) + (cli === CLI ? 0 : 500);
    const [reloadProgram, reloadArgs] = lvsdReload('--socket', socket);
    const reloadCli = reloadProgram === process.execPath ? 'node' as const : 'front' as const;
    // the front's first run reads it over the VM's 9p share (node and the bundle are in its page cache
    // already): once against no socket, untimed, before any edit (see TRIALS)
    if (reloadCli === 'front') sh(reloadProgram, ['reload', '--socket', join(work, 'no-daemon.sock')]);
    // what any process start costs the bench here, and the front's own start (no daemon to talk to): spawned
    // bare as the row's front is, alternated with nothing else running
    // (LVSD_BENCH_FRONT_ALT=PATH: another build of the front, timed the same way in alternation: an A/B of its start)
    const alt = process.env.LVSD_BENCH_FRONT_ALT;
    if (alt) spawnMs(alt, ['reload', '--socket', join(work, 'no-daemon.sock')]);
    const exec = { trueMs: [] as number[], frontMs: [] as number[], altMs: [] as number[] };
    for (let i = 0; i < TRIALS; i++) {
      exec.trueMs.push(spawnMs('/bin/true', []));
      if (reloadCli === 'front') exec.frontMs.push(spawnMs(reloadProgram, ['reload', '--socket', join(work, 'no-daemon.sock')]));
      if (alt) exec.altMs.push(spawnMs(alt, ['reload', '--socket', join(work, 'no-daemon.sock')]));
    }
    const trials: ReloadTrial[] = [];
    let weight = firstWeight;
    let editedAt = Date.now();
    for (let i = 0; i < TRIALS; i++) {
      weight = firstWeight + i;
      row.dests[5]!.weight = weight;
      const trial = await timedReload(logFile, reloadProgram, reloadArgs, () => writeDaemonConfig(layout, config, table, state, extra, changed));
      editedAt = trial.editedAt;
      const listed = must(sh('ipvsadm', ['-Ln', '-t', `${row.vip}:80`]), 'ipvsadm -Ln -t').stdout;
      if (!new RegExp(`${row.dests[5]!.address.replace(/\./g, '\\.')}:8080\\s+Masq\\s+${weight}\\s`).test(listed)) throw new Error(`trial ${i + 1}: the reloaded weight ${weight} is not in the kernel:\n${listed}`);
      trials.push({ ...trial.result, weight });
      process.stderr.write(`[bench] ${n}: reload ${i + 1}: ${Math.round(trial.result.ms)} ms; ${trial.result.reloads.join(', ')}\n`);
    }
    const byTime = [...trials].sort((a, b) => a.ms - b.ms);
    const mid = byTime[(byTime.length - 1) >> 1]!;
    const reloadCliMs = median(trials.map((x) => x.ms));
    const warmed = logLines(logFile).find((l) => l.event === 'reload.warmed');
    const watcherLine = logLines(logFile).find((l) => l.event === 'config.reloaded' && l.trigger === 'file');
    const versionCliMs = must(sh(process.execPath, lvsd('--version')), 'lvsd --version').ms;
    const control = mid.daemon;
    const request = mid.requestMs !== undefined ? { ms: mid.requestMs } : undefined;
    const watcher = watcherLine;
    const pass = mid.daemon ? { ms: mid.daemon.passMs, ops: mid.daemon.ops } : undefined;
    const paths = await reloadPaths(child.pid!, row, changed, firstWeight + 100, logFile, (only) => writeDaemonConfig(layout, config, table, state, extra, only), socket, editedAt, config);
    const t2 = performance.now();
    // a status row that fails (the CLI's 10 s deadline under a loaded TCG host) is shown as failed, not fatal to the rest
    const statusOk = (r: Timed, what: string) => {
      if (r.status === 0) return true;
      process.stderr.write(`[bench] ${what} failed (exit ${r.status}): ${r.stderr.slice(-300)}\n`);
      return false;
    };
    // LVSD_BENCH_STATUS=0: no status rows (`status --fresh` reads the whole table: minutes at 110,000 objects on a loaded host)
    const statusRows = process.env.LVSD_BENCH_STATUS !== '0';
    // undefined when not asked for (printed '-'), NaN when the call failed (printed 'failed')
    const statusOneMs = !statusRows ? undefined : statusOk(sh(process.execPath, lvsd('status', '-s', `tcp/${row.vip}:80`, '--socket', socket)), 'lvsd status -s') ? performance.now() - t2 : NaN;
    const t3 = performance.now();
    const statusFreshMs = !statusRows ? undefined : statusOk(sh(process.execPath, lvsd('status', '--json', '--fresh', '--socket', socket)), 'lvsd status --fresh') ? performance.now() - t3 : NaN;
    const facts = {
      layout, versionCliMs: Math.round(versionCliMs), paths, reloadCli, reloadTrials: trials, reloadFirstMs: Math.round(trials[0]!.ms),
      exec: {
        trueMs: median(exec.trueMs), ...(exec.frontMs.length > 0 && { frontMs: median(exec.frontMs) }),
        ...(exec.altMs.length > 0 && { altMs: median(exec.altMs) }),
      },
      ...(control ? { reloadDaemonMs: control.ms, reloadLoadMs: control.loadMs, reloadLoopMaxMs: control.loopDelayMaxMs } : {}),
      ...(request ? { reloadRequestMs: Number(request.ms) } : {}),
      ...(warmed ? { warmedMs: Number(warmed.ms) } : {}),
      ...(watcher ? { watcherReload: { ms: Number(watcher.ms), loadMs: Number(watcher.loadMs), loopDelayMaxMs: Number(watcher.loopDelayMaxMs) } } : {}),
    };
    if (!drift) {
      return {
        ...facts, startMs: Math.round(startMs), reloadCliMs: Math.round(reloadCliMs),
        ...(pass ? { reloadPassMs: pass.ms, reloadOps: pass.ops } : {}),
        statusOneMs: roundOrNot(statusOneMs), statusFreshMs: roundOrNot(statusFreshMs),
      };
    }
    process.stderr.write(`[bench] ${n}: waiting for a drift pass (every ${driftS} s) ...\n`);
    // a pass that began after the status calls: `status --fresh` reads the whole table too, and one beside
    // the other would measure both
    const statusDone = Date.now();
    const driftLine = await waitLog(logFile, (l) => l.event === 'daemon.reconcile' && l.reason === 'drift' && Date.parse(String(l.time)) - Number(l.ms) >= statusDone,
      (driftS * 3 + 600) * 1000, 'drift pass');
    let reloadDuringDrift: DaemonResult['reloadDuringDrift'];
    if (process.env.LVSD_BENCH_DRIFT_RELOAD !== '0') {
      // the drift timer is a chain (a84938d): the next pass begins driftS after this one ended (its line's
      // time); until this was changed to match, the reload came before the next pass began, not in its read
      const ended = Date.parse(String(driftLine.time));
      const at = ended + driftS * 1000 + Math.round(Number(driftLine.readMs) / 5);
      process.stderr.write(`[bench] ${n}: one weight + lvsd reload during the next drift pass's read (in ${Math.round((at - Date.now()) / 1000)} s) ...\n`);
      await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
      row.dests[5]!.weight = firstWeight + 400;
      const trial = await timedReload(logFile, reloadProgram, reloadArgs, () => writeDaemonConfig(layout, config, table, state, extra, changed));
      const reloaded = logLines(logFile).filter((l) => l.event === 'config.reloaded' && l.trigger === 'control' && Date.parse(String(l.time)) >= trial.editedAt)[0];
      const pass = await waitLog(logFile, (l) => l.event === 'daemon.reconcile' && l.reason === 'drift' && Date.parse(String(l.time)) >= trial.editedAt,
        (driftS * 2 + 600) * 1000, 'the drift pass the reload came during').catch(() => undefined);
      reloadDuringDrift = {
        cliMs: Math.round(trial.result.ms), aheadOfDrift: reloaded?.aheadOfDrift === true,
        ...(trial.result.daemon && { daemonMs: trial.result.daemon.ms, ...(trial.result.daemon.prepareMs !== undefined && { prepareMs: trial.result.daemon.prepareMs }) }),
        ...(pass && { driftMs: Number(pass.ms), ...(pass.passesAhead !== undefined && { passesAhead: Number(pass.passesAhead) }) }),
        ...(trial.result.drift !== undefined && { driftInTheWay: trial.result.drift }),
      };
      process.stderr.write(`[bench] ${n}: reload during a drift pass: ${JSON.stringify(reloadDuringDrift)}\n`);
    }
    return {
      ...(reloadDuringDrift && { reloadDuringDrift }),
      ...facts, startMs: Math.round(startMs), reloadCliMs: Math.round(reloadCliMs),
      ...(pass ? { reloadPassMs: Number(pass.ms), reloadOps: Number(pass.ops) } : {}),
      drift: { ms: Number(driftLine.ms), readMs: Number(driftLine.readMs), ops: Number(driftLine.ops), loopDelayMaxMs: Number(driftLine.loopDelayMaxMs), loopDelayP99Ms: Number(driftLine.loopDelayP99Ms) },
      statusOneMs: roundOrNot(statusOneMs), statusFreshMs: roundOrNot(statusFreshMs),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    } else {
      process.stderr.write(`[bench] lvsd run exited early: ${child.exitCode ?? child.signalCode}\n`);
    }
    closeSync(out);
    if (process.env.LVSD_VM_OUT) writeFileSync(join(process.env.LVSD_VM_OUT, `daemon-${n}-${layout}${cli === CLI ? '' : '-before'}.log`), readFileSync(logFile));
  }
}

async function benchSize(n: number): Promise<SizeResult> {
  const table = makeTable(n, perService);
  const state = join(work, `state-${n}.json`);
  const config = join(work, `lvsd-${n}.json`);
  const rules = join(work, `rules-${n}.txt`);
  writeFileSync(config, lvsdConfig(table, state));
  writeFileSync(rules, ipvsadmRules(table));

  process.stderr.write(`[bench] ${n} x ${perService}: ipvsadm -R ...\n`);
  const nsRestore = freshNamespace(`lvsdbench-r${n}`);
  quiesce();
  inNs = nsRestore;
  const restore = must(sh('ipvsadm', ['-R'], rules), 'ipvsadm -R');
  const reference = savedSorted();
  inNs = undefined;
  const expectedLines = n * (1 + perService);
  if (reference.length !== expectedLines) throw new Error(`ipvsadm -R left ${reference.length} rules, expected ${expectedLines}`);
  dropNamespace(nsRestore);

  process.stderr.write(`[bench] ${n} x ${perService}: lvsd apply (cold) ...\n`);
  const nsLvsd = freshNamespace(`lvsdbench-l${n}`);
  rmSync(state, { force: true });
  const settledMs = quiesce();
  process.stderr.write(`[bench] (waited ${(settledMs / 1000).toFixed(1)} s for the VM to go quiet)\n`);
  inNs = nsLvsd;
  const cold = lvsdApply(config, state);
  const sameTable = JSON.stringify(savedSorted()) === JSON.stringify(reference);
  if (!sameTable) throw new Error('lvsd apply and ipvsadm -R left different tables');

  // LVSD_BENCH_CLI=0: skip the two CLI rows below (dry run, one change by lvsd apply): the daemon rows only
  const cliRows = process.env.LVSD_BENCH_CLI !== '0';
  const skipped: Timed & { phases: Phases } = { ms: 0, status: 0, stdout: '', stderr: '', phases: {} };
  let noop = skipped;
  let one = skipped;
  if (cliRows) {
    process.stderr.write(`[bench] ${n} x ${perService}: dump + diff, nothing to do ...\n`);
    quiesce();
    noop = lvsdApply(config, state, ['--dry-run']);
    if (!/0 operations/.test(noop.stdout)) throw new Error(`a dry run on the applied table planned something:\n${noop.stdout.slice(0, 2000)}`);

    process.stderr.write(`[bench] ${n} x ${perService}: one weight changed ...\n`);
    const middle = table[n >> 1]!;
    middle.dests[3]!.weight = 1000;
    writeFileSync(config, lvsdConfig(table, state));
    quiesce();
    one = lvsdApply(config, state);
    if (!/^1 operation;/m.test(one.stdout)) throw new Error(`a one-weight change planned more than one operation:\n${one.stdout.slice(0, 2000)}`);
    const listed = must(sh('ipvsadm', ['-Ln', '-t', `${middle.vip}:80`]), 'ipvsadm -Ln -t').stdout;
    if (!new RegExp(`${middle.dests[3]!.address.replace(/\./g, '\\.')}:8080\\s+Masq\\s+1000\\s`).test(listed)) {
      throw new Error(`the changed weight is not in the kernel:\n${listed}`);
    }
  }
  process.stderr.write(`[bench] ${n} x ${perService}: lvsd run, one weight + lvsd reload, a drift pass ...\n`);
  quiesce();
  const daemons: DaemonResult[] = [];
  if (process.env.LVSD_BENCH_DAEMON !== '0') {
    // the drift pass is waited for once, with the first layout (it does not depend on the config's files)
    const builds = BEFORE ? [BEFORE, CLI] : [CLI];
    const before: DaemonResult[] = [];
    for (const [b, build] of builds.entries()) {
      cli = build;
      for (const [i, layout] of layouts.entries()) {
        if (i > 0 || b > 0) quiesce();
        // LVSD_BENCH_DRIFT_BEFORE=1: the "before" build's drift pass (and reload during it) too, for an A/B of that row
        const driftHere = b === builds.length - 1 || process.env.LVSD_BENCH_DRIFT_BEFORE === '1';
        const row = await benchDaemon(nsLvsd, table, n, state, layout, i === 0 && driftHere && process.env.LVSD_BENCH_DRIFT !== '0');
        if (build === CLI) daemons.push(row);
        else before.push({ ...row, build });
      }
    }
    cli = CLI;
    daemons.push(...before);
  }
  inNs = undefined;
  dropNamespace(nsLvsd);

  return {
    ...(daemons.length > 0 ? { daemons } : {}),
    services: n,
    realServers: n * perService,
    ipvsadmRestoreMs: Math.round(restore.ms),
    lvsdColdMs: Math.round(cold.ms),
    ratio: Number((cold.ms / restore.ms).toFixed(3)),
    lvsdColdPhases: cold.phases,
    ...(cold.maxRssKb !== undefined ? { lvsdColdMaxRssKb: cold.maxRssKb } : {}),
    ...(restore.maxRssKb !== undefined ? { ipvsadmMaxRssKb: restore.maxRssKb } : {}),
    ...(cold.userMs !== undefined && cold.sysMs !== undefined ? { lvsdColdCpu: { userMs: cold.userMs, sysMs: cold.sysMs } } : {}),
    ...(restore.userMs !== undefined && restore.sysMs !== undefined ? { ipvsadmRestoreCpu: { userMs: restore.userMs, sysMs: restore.sysMs } } : {}),
    oneChangeMs: Math.round(one.ms),
    oneChangePhases: one.phases,
    ...(one.maxRssKb !== undefined ? { oneChangeMaxRssKb: one.maxRssKb } : {}),
    noopMs: Math.round(noop.ms),
    noopPhases: noop.phases,
    sameTable,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync('/proc/net/ip_vs')) {
    process.stderr.write('bench/ipvs: needs root and IPVS (run it through `node dist/bench/run.js ipvs`, which boots the test VM)\n');
    process.exit(3);
  }
  spawnSync('ip', ['link', 'del', LINK], { stdio: 'ignore' });
  must(sh('ip', ['link', 'add', LINK, 'type', 'dummy']), 'ip link add');
  must(sh('ip', ['addr', 'add', '10.0.0.254/8', 'dev', LINK]), 'ip addr add');
  must(sh('ip', ['link', 'set', LINK, 'up']), 'ip link set up');
  // warm the file cache (node, dist/, node_modules/ come over 9p in the VM) so the first timed run is not
  // charged for reading them
  const warmState = join(work, 'warm-state.json');
  writeFileSync(join(work, 'warm.json'), lvsdConfig(makeTable(1, 1), warmState));
  lvsdApply(join(work, 'warm.json'), warmState, ['--dry-run']);
  sh('ipvsadm', ['-Ln']);
  // the first wrr service makes the kernel load ip_vs_wrr (seconds under TCG): load it here, untimed, or
  // the first size's `ipvsadm -R` (which runs first) pays it
  sh('ipvsadm', ['-A', '-t', '10.255.255.1:80', '-s', 'wrr']);
  sh('ipvsadm', ['-D', '-t', '10.255.255.1:80']);

  const started = performance.now();
  const results: SizeResult[] = [];
  try {
    for (const n of sizes) {
      results.push(await benchSize(n));
      // after each size, so a run cut short (bench/run.ts's time limit) keeps what finished
      if (process.env.LVSD_VM_OUT) writeFileSync(join(process.env.LVSD_VM_OUT, 'bench-ipvs.json'), JSON.stringify(results, null, 2) + '\n');
    }
  } finally {
    inNs = undefined;
    for (const n of sizes) for (const p of ['r', 'l']) dropNamespace(`lvsdbench-${p}${n}`);
    spawnSync('ipvsadm', ['-C'], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', LINK], { stdio: 'ignore' });
    rmSync(work, { recursive: true, force: true });
  }

  const lines: string[] = [];
  lines.push(`IPVS bench (${perService} real servers per service, wrr, NAT; each lvsd figure is a whole CLI run)`);
  lines.push('');
  lines.push('| services | real servers | ipvsadm -R | lvsd apply (cold) | ratio | one weight changed | dump+diff, 0 ops | lvsd peak RSS |');
  lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    lines.push(`| ${r.services} | ${r.realServers} | ${s(r.ipvsadmRestoreMs)} | ${s(r.lvsdColdMs)} | ${r.ratio.toFixed(2)} | ${s(r.oneChangeMs)} | ${s(r.noopMs)} | ${r.lvsdColdMaxRssKb !== undefined ? `${Math.round(r.lvsdColdMaxRssKb / 1024)} MiB` : '-'} |`);
  }
  lines.push('');
  lines.push('cold apply CPU, user / system (the system part is the kernel\'s work, ipvsadm\'s with a socket and a family lookup per line):');
  for (const r of results) {
    const c = (x?: { userMs: number; sysMs: number }) => (x ? `${s(x.userMs)} / ${s(x.sysMs)}` : '-');
    lines.push(`  ${r.services} services: lvsd ${c(r.lvsdColdCpu)}; ipvsadm -R ${c(r.ipvsadmRestoreCpu)}`);
  }
  lines.push('');
  lines.push('lvsd phases (dump / plan / apply / verify):');
  for (const r of results) {
    const p = (x: Phases) => `${s(x.dumpMs)} / ${s(x.planMs)} / ${s(x.applyMs)} / ${s(x.verifyMs)} (${x.ops ?? '?'} ops)`;
    lines.push(`  ${r.services} services: cold ${p(r.lvsdColdPhases)}; one change ${p(r.oneChangePhases)}; dry run ${s(r.noopPhases.dumpMs)} dump, ${s(r.noopPhases.planMs)} plan`);
  }
  const daemons = results.flatMap((r) => (r.daemons ?? []).map((d) => ({ r, d })));
  /** The config column of every daemon table: its layout, and whether it is the "before" build. */
  const configCell = (d: DaemonResult) => `${d.layout === 'file' ? 'one file' : `${DIR_FILES + 1} files`}${d.build ? ' (before)' : ''}`;
  if (daemons.length > 0) {
    lines.push('');
    lines.push('| services | config | lvsd run until started (adopts the table) | one weight + `lvsd reload` (CLI run: the native front, else node) | reload / ipvsadm -R cold | in the daemon: whole reload / load / pass (ops); its request, head to answer | its event loop worst | file watcher\'s reload: whole / load / loop worst | `lvsd --version` | `status -s` | `status --fresh` | drift pass (read) | event loop worst / p99 during it |');
    lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const { r, d } of daemons) {
      const w = d.watcherReload;
      lines.push(`| ${r.services} | ${configCell(d)} | ${s(d.startMs)} | ${s(d.reloadCliMs)}${d.reloadCli === 'node' ? ' (node)' : ''} | ${((d.reloadCliMs / r.ipvsadmRestoreMs) * 100).toFixed(1)} % | ${d.reloadDaemonMs ?? '-'} / ${d.reloadLoadMs ?? '-'} / ${d.reloadPassMs ?? '-'} ms (${d.reloadOps ?? '?'}); request ${d.reloadRequestMs ?? '-'} ms${d.warmedMs !== undefined ? `; warmed at start in ${d.warmedMs} ms` : ''} | ${d.reloadLoopMaxMs ?? '-'} ms | ${w ? `${w.ms} / ${w.loadMs} / ${w.loopDelayMaxMs} ms` : '-'} | ${s(d.versionCliMs)} | ${s(d.statusOneMs)} | ${s(d.statusFreshMs)} | ${d.drift ? `${s(d.drift.ms)} (${s(d.drift.readMs)})` : '-'} | ${d.drift ? `${d.drift.loopDelayMaxMs} / ${d.drift.loopDelayP99Ms} ms` : '-'} |`);
    }
  }
  const duringDrift = daemons.filter(({ d }) => d.reloadDuringDrift !== undefined);
  if (duringDrift.length > 0) {
    lines.push('');
    lines.push('One weight + `lvsd reload` while a drift pass reads the table (a fifth of its read in):');
    lines.push('');
    lines.push('| services | config | until it returns | the daemon\'s reload (prepareMs: waiting for the kernel queue + parts) | went ahead of the pass (aheadOfDrift) | the drift pass (passesAhead) |');
    lines.push('|---:|---|---:|---:|---|---:|');
    for (const { r, d } of duringDrift) {
      const x = d.reloadDuringDrift!;
      lines.push(`| ${r.services} | ${configCell(d)} | ${x.cliMs} ms | ${x.daemonMs ?? '-'} ms (${x.prepareMs ?? '-'}) | ${x.aheadOfDrift ? 'yes' : x.driftInTheWay !== undefined ? `no: waited for the pass (${x.driftInTheWay} ms)` : 'no'} | ${x.driftMs ?? '-'} ms (${x.passesAhead ?? '-'}) |`);
    }
  }
  const withTrials = daemons.filter(({ d }) => (d.reloadTrials?.length ?? 0) > 0);
  if (withTrials.length > 0) {
    lines.push('');
    lines.push('One weight edited + `lvsd reload` spawned bare, each trial (its own weight; the row is their median; trial 1 is the first request after the start):');
    lines.push('');
    lines.push('| services | config | trial | until it returns | % of ipvsadm -R | reloads ended before the answer (trigger, ops) | request in the daemon: accept to head + head to answer | its reload: whole = chain wait + load (read / parse / build) + prepare + sysctls + apply (pass) + after | loop worst | the watcher on the same edit |');
    lines.push('|---:|---|---:|---:|---:|---|---:|---|---:|---|');
    const f = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : String(Math.round(v * 10) / 10));
    for (const { r, d } of withTrials) {
      for (const [i, x] of d.reloadTrials!.entries()) {
        const c = x.daemon;
        lines.push(`| ${r.services} | ${configCell(d)} | ${i + 1} | ${Math.round(x.ms)} ms | ${((x.ms / r.ipvsadmRestoreMs) * 100).toFixed(2)} % | ${x.reloads.join('; ') || '-'}${x.drift !== undefined ? `; a drift pass (${x.drift} ms) in the way` : ''} | ${f(x.headMs)} + ${f(x.requestMs)} ms | ` +
          `${c ? `${f(c.ms)} = ${f(c.chainMs)} + ${f(c.loadMs)} (${f(c.readMs)} / ${f(c.parseMs)} / ${f(c.buildMs)}) + ${f(c.prepareMs)} + ${f(c.sysctlMs)} + ${f(c.applyMs)} (${f(c.passMs)}) + ${f(c.afterMs)} ms` : '-'} | ${c ? f(c.loopDelayMaxMs) : '-'} ms | ${x.watcher} |`);
      }
      const ms = d.reloadTrials!.map((x) => x.ms);
      lines.push(`| ${r.services} | | median | **${Math.round(d.reloadCliMs)} ms** | **${((d.reloadCliMs / r.ipvsadmRestoreMs) * 100).toFixed(2)} %** | min ${Math.round(Math.min(...ms))}, max ${Math.round(Math.max(...ms))} ms | | process starts alone (medians): \`/bin/true\` ${f(d.exec?.trueMs)} ms, the front with no daemon ${f(d.exec?.frontMs)} ms${d.exec?.altMs !== undefined ? `, LVSD_BENCH_FRONT_ALT's ${f(d.exec.altMs)} ms` : ''} | | |`);
    }
  }
  const withPaths = daemons.filter(({ d }) => d.paths !== undefined);
  if (withPaths.length > 0) {
    const pct = (ms: number | undefined, r: SizeResult) => (ms === undefined ? '-' : `${((ms / r.ipvsadmRestoreMs) * 100).toFixed(1)} %`);
    lines.push('');
    lines.push('The other reload paths (each after its own one-weight edit; % of ipvsadm -R cold):');
    lines.push('');
    lines.push('| services | config | `lvsd reload`, nothing changed: CLI run / the daemon\'s reload | the same through node with the bundle (no front) | the same with `--config` (control.socket read from it) | the bench\'s wrappers alone (time, ip netns exec: /bin/true) | one weight + the front\'s `lvsd reload` spawned bare, until it returns (the daemon\'s reload) | % | SIGHUP right after the edit, until the kernel has it (the daemon\'s reload / load) | % | edit left to the file watcher, until the kernel has it (its reload / load) | % | `curl` POST /v1/reload right after an edit (no node started): until it returns (the daemon\'s reload) | % |');
    lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const { r, d } of withPaths) {
      const p = d.paths!;
      lines.push(`| ${r.services} | ${configCell(d)} | ${p.same ? `${s(p.same.cliMs)} / ${p.same.daemonMs ?? '-'} ms` : '-'} | ${p.sameNode ? `${s(p.sameNode.cliMs)} / ${p.sameNode.daemonMs ?? '-'} ms` : '-'} | ${p.sameConfig ? `${s(p.sameConfig.cliMs)} / ${p.sameConfig.daemonMs ?? '-'} ms` : '-'} | ` +
        `${p.harnessMs !== undefined ? s(p.harnessMs) : '-'} | ${p.direct ? `${s(p.direct.ms)} (${p.direct.daemonMs ?? '-'} ms)` : '-'} | ${pct(p.direct?.ms, r)} | ` +
        `${p.sighup ? `${s(p.sighup.ms)} (${p.sighup.daemonMs} / ${p.sighup.loadMs} ms)` : '-'} | ${pct(p.sighup?.ms, r)} | ` +
        `${p.watcher ? `${s(p.watcher.ms)} (${p.watcher.daemonMs} / ${p.watcher.loadMs} ms)` : '-'} | ${pct(p.watcher?.ms, r)} | ` +
        `${p.curl ? `${s(p.curl.ms)} (${p.curl.daemonMs ?? '-'} ms)` : '-'} | ${pct(p.curl?.ms, r)} |`);
    }
  }
  if (results.length >= 2) {
    const bySize = [...results].sort((a, b) => b.services - a.services);
    const [big, small] = [bySize[0]!, bySize[bySize.length - 1]!];
    lines.push('');
    lines.push(`one-change apply phase, ${big.services} vs ${small.services} services: ${s(big.oneChangePhases.applyMs)} vs ${s(small.oneChangePhases.applyMs)}; whole run ${s(big.oneChangeMs)} vs ${s(small.oneChangeMs)}`);
  }
  lines.push(`bench wall time ${s(performance.now() - started)}`);
  process.stdout.write(lines.join('\n') + '\n');
  if (process.env.LVSD_VM_OUT) writeFileSync(join(process.env.LVSD_VM_OUT, 'bench-ipvs.json'), JSON.stringify(results, null, 2) + '\n');
}

await main();
