/**
 * Failover gap bench: the longest client-visible gap when the master director dies, lvsd against
 * keepalived configured the same way, in the same run, at advert intervals of 1 s and 100 ms.
 * Target: lvsd's median gap at or below keepalived's (ratio <= 1).
 *
 *   node dist/bench/run.js failover-gap            (boots the kernel-test VM; or `npm run bench`)
 *   node dist/bench/failover-gap.js [--json]       (root, a kernel with IPVS, keepalived installed)
 *   LVSD_BENCH_GAP_RUNS=3,5       trials per tool at 1 s and at 100 ms (one number: both)
 *   LVSD_BENCH_GAP_INTERVALS=1000,100
 *   LVSD_BENCH_GAP_KEEP_LOGS=1    copy every trial's logs (directors, monitors) to $LVSD_VM_OUT/failover-gap
 *
 * The lab's topology (src/lab/topology.ts: a client, two directors, three web servers on one bridge).
 * lvsd runs the lab's own files (examples/lab: DR, rr, HTTP checks every 2 s, connection sync) with only
 * the advert interval changed; keepalived a keepalived.conf generated from those same files
 * (src/lab/keepalived-conf.ts says how each setting maps). Each trial, alternating the tools:
 *  1. build the network, start the web servers, then both directors at once;
 *  2. wait for d1 master and d2 backup (lvsd's vrrp.transition events, keepalived's "Entering ... STATE"
 *     lines) and for the 3 web servers at weight 1 in both directors' kernel tables (`ipvsadm -Ln`, the
 *     same check for both tools);
 *  3. the client sends a request on a fresh connection every 200 ms (1 s adverts) or 100 ms (100 ms
 *     adverts), 2.5 s timeout, the same for both tools; a few seconds of steady state, during which a
 *     takeover by d2 would be counted as a false one (flap);
 *  4. SIGKILL to every process in d1's namespace, then d1's link down (as the lab does);
 *  5. the takeover: the VIP's address add on d2 (`ip -ts monitor address`, SCHED_RR so its clock is the
 *     kernel's, not the loaded VM's), for both tools; the client runs until it has had 3 s of answers;
 *  6. the longest gap between two successful answers from 2 s before the kill, and the failed requests.
 * A fresh connection whose SYN is lost is retried by the kernel 1 s later, so a request started in the
 * dead time may still succeed; the gap counts only answers, so the next request after the takeover
 * closes it (one loop period after the takeover, plus the GARP and the round trip).
 */
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { loadConfig } from '../src/config/index.js';
import { keepalivedConf } from '../src/lab/keepalived-conf.js';
import { addressEvent, ipvsadmWeights, linkDownAt, mdiMs, renderTable, stateFromLine, type GapTrial, type Tool } from '../src/lab/gap.js';
import { figures, type ClientEvent } from '../src/lab/scenario.js';
import {
  EXAMPLES, LabFiles, LabProcess, VIP, buildScript, destroy, hasExamples, labExists, node, nodes, renewScript, runScript, startClient, startDirector,
  startWebServer,
} from '../src/lab/topology.js';
import { realtimePriorityFromEnv } from '../src/vrrp/realtime.js';

const KEEPALIVED = '/usr/sbin/keepalived';
const INSTANCE = 'VI_WEB';
const BACKUP_PRIORITY = 100; // examples/lab/director-2/vrrp.json
const ROOT = '/tmp/lvsd-bench-gap';
const json = process.argv.includes('--json');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function knobs(): { intervals: number[]; runs: Map<number, number> } {
  const intervals = (process.env.LVSD_BENCH_GAP_INTERVALS ?? '1000,100').split(',').map(Number);
  const given = (process.env.LVSD_BENCH_GAP_RUNS ?? '').split(',').filter(Boolean).map(Number);
  const runs = new Map(intervals.map((iv, i) => [iv, given[i] ?? given[0] ?? (iv >= 1000 ? 3 : 5)]));
  for (const [iv, n] of runs) {
    if (!(iv >= 10) || !(n >= 1)) throw new Error(`bad LVSD_BENCH_GAP_INTERVALS / LVSD_BENCH_GAP_RUNS (interval ${iv}, runs ${n})`);
  }
  return { intervals, runs };
}

/** The lab's files with the advert interval overridden, for lvsd; the keepalived.conf made from them. */
async function prepareConfigs(intervalMs: number): Promise<{ lvsd: [string, string]; keepalived: [string, string] }> {
  const dirs: string[] = [];
  const confs: string[] = [];
  for (const which of [1, 2] as const) {
    const d = join(ROOT, 'configs', `${intervalMs}ms`, `d${which}`);
    mkdirSync(d, { recursive: true });
    copyFileSync(join(EXAMPLES, 'services.json'), join(d, 'services.json'));
    const vrrp = JSON.parse(readFileSync(join(EXAMPLES, `director-${which}`, 'vrrp.json'), 'utf8')) as
      { vrrp: Array<Record<string, unknown>> };
    for (const v of vrrp.vrrp) v.advertInterval = `${intervalMs}ms`;
    writeFileSync(join(d, 'vrrp.json'), JSON.stringify(vrrp, null, 2) + '\n');
    const conf = join(ROOT, 'configs', `${intervalMs}ms`, `d${which}.keepalived.conf`);
    writeFileSync(conf, keepalivedConf(await loadConfig(d), { routerId: `d${which}`, vrrpRtPriority: realtimePriorityFromEnv(), vrrpRlimitRttime: 1_000_000 }));
    dirs.push(d);
    confs.push(conf);
  }
  return { lvsd: [dirs[0]!, dirs[1]!], keepalived: [confs[0]!, confs[1]!] };
}

/** A director of either tool, with its VI_WEB state followed from its output. */
class Director {
  readonly states: Array<{ to: string; at: number }> = [];
  constructor(readonly proc: LabProcess, tool: Tool) {
    proc.on((line, j) => {
      const to = stateFromLine(tool, INSTANCE, line, j);
      if (to) this.states.push({ to, at: Date.now() });
    });
  }

  get state(): string | undefined {
    return this.states.at(-1)?.to;
  }
}

function startTool(tool: Tool, files: LabFiles, which: 1 | 2, config: string): Director {
  if (tool === 'lvsd') return new Director(startDirector(files, which, config), tool);
  const pid = (s: string) => join(files.dir, `d${which}.keepalived.${s}.pid`);
  const argv = [KEEPALIVED, '-n', '-l', '-D', '-f', config, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('check')];
  return new Director(new LabProcess(`d${which}`, node(`d${which}`).ns, argv, files.log(`d${which}`)), tool);
}

function upIn(which: 1 | 2): number {
  const r = spawnSync('ip', ['netns', 'exec', node(`d${which}`).ns, 'ipvsadm', '-Ln'], { encoding: 'utf8', timeout: 60_000 });
  return [...ipvsadmWeights(r.stdout ?? '', `${VIP}:80`).values()].filter((w) => w > 0).length;
}

async function until(what: string, ms: number, ok: () => boolean, poll = 200): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(poll);
  }
}

function pidsIn(ns: string): number[] {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
  return pids.split('\n').filter(Boolean).map(Number);
}

/** What stays up for the whole bench: the network, the web servers, the client (only the directors change). */
interface Fixed {
  files: LabFiles;
  procs: LabProcess[];
  client: LabProcess;
  events: ClientEvent[];
}

async function setUp(): Promise<Fixed> {
  destroy();
  const built = runScript(buildScript('dr'));
  if (!built.ok) throw new Error(`building the network: ${built.output}`);
  const files = new LabFiles(join(ROOT, 'lab'));
  const procs = nodes().filter((n) => n.name.startsWith('rs')).map((n) => startWebServer(files, n));
  const client = startClient(files);
  procs.push(client);
  const events: ClientEvent[] = [];
  client.on((_l, j) => {
    if (j?.kind === 'short') events.push(j as unknown as ClientEvent);
  });
  await Promise.all([
    ...procs.filter((p) => p !== client).map((p) => p.waitFor((j) => j.event === 'listening', 90_000, `${p.name} listening`)),
    client.waitFor((j) => j.kind === 'ready', 90_000, 'client ready'),
  ]);
  return { files, procs, client, events };
}

async function trial(fixed: Fixed, tool: Tool, intervalMs: number, config: string[], index: number): Promise<GapTrial> {
  const started = Date.now();
  const loopMs = intervalMs >= 1000 ? 200 : 100;
  const base = { tool, intervalMs, loopMs, longestGapMs: NaN, takeoverMs: NaN, linkDownMs: NaN, requests: 0, failed: 0, flaps: 0, failedBefore: 0 };
  const files = new LabFiles(join(ROOT, `${intervalMs}ms-${index}-${tool}`));
  const procs: LabProcess[] = [];
  const { client, events } = fixed;
  const phases: string[] = [];
  let last = started;
  const phase = (name: string) => {
    phases.push(`${name} ${((Date.now() - last) / 1000).toFixed(1)}`);
    last = Date.now();
  };
  try {
    // kernel-stamped clocks for the two instants that matter: d1's link going down, the VIP appearing on d2
    // (started first: they are long ready when the directors are)
    const monitor = (name: string, which: 1 | 2, what: 'address' | 'link') =>
      new LabProcess(name, node(`d${which}`).ns, ['chrt', '--rr', '20', 'ip', '-ts', 'monitor', what], files.log(name));
    const addrMon = monitor('monitor-d2', 2, 'address');
    const linkMon = monitor('monitor-d1', 1, 'link');
    procs.push(addrMon, linkMon);
    const adds: number[] = [];
    addrMon.on((line) => {
      const e = addressEvent(line);
      if (e?.added && e.address === VIP) adds.push(e.at);
    });
    const downs: number[] = [];
    linkMon.on((line) => {
      const at = linkDownAt(line, 'eth0');
      if (at !== undefined) downs.push(at);
    });
    const d = [startTool(tool, files, 1, config[0]!), startTool(tool, files, 2, config[1]!)] as const;
    procs.push(d[0].proc, d[1].proc);
    await until('d1 master and d2 backup', 120_000, () => {
      for (const x of d) if (x.proc.child.exitCode !== null) throw new Error(`${tool} on ${x.proc.name} exited: ${x.proc.lines.slice(-3).join(' | ')}`);
      return d[0].state === 'master' && d[1].state === 'backup';
    });
    phase('election');
    await until('3 web servers at weight 1 in both kernel tables', 90_000, () => upIn(1) === 3 && upIn(2) === 3, 500);
    phase('health');

    // each monitor is listening once it has reported a change of our own
    await until('ip monitor address in lvs-d2 and ip monitor link in lvs-d1 ready', 30_000, () => {
      runScript([
        `ip -n ${node('d2').ns} addr replace 192.0.2.1/32 dev lo`, `ip -n ${node('d2').ns} addr del 192.0.2.1/32 dev lo`,
        `ip -n ${node('d1').ns} link add gapprobe type dummy`, `ip -n ${node('d1').ns} link del gapprobe`,
      ].join('\n'));
      return addrMon.lines.some((l) => l.includes('192.0.2.1')) && linkMon.lines.some((l) => l.includes('gapprobe'));
    }, 300);
    phase('monitors');

    const settledAt = Math.max(d[0].states.at(-1)!.at, d[1].states.at(-1)!.at);
    const loopFrom = Date.now();
    client.send(`loop ${loopMs}`);
    await sleep(Math.max(4000, 3 * intervalMs + 1000));
    phase('client+steady');

    // the cut: d1's link down first, then SIGKILL to every process that was in its namespace (but the link
    // monitor). Link first, so the adverts and the traffic stop at the same instant: `ip link` takes
    // 0.15-0.7 s under TCG, longer than the whole Master_Down_Interval at 100 ms, and killing first would
    // let d1's kernel forward through the takeover and hide the gap.
    const victims = pidsIn(node('d1').ns).filter((p) => p !== linkMon.pid);
    const t0 = Date.now();
    const down = runScript(`ip -n ${node('d1').ns} link set eth0 down`);
    for (const pid of victims) killPid(pid);
    if (!down.ok) throw new Error(`link down in lvs-d1: ${down.output}`);
    await until('eth0 down seen by the monitor in lvs-d1', 10_000, () => downs.some((a) => a >= t0 - 50));
    const downAt = downs.find((a) => a >= t0 - 50)!;
    const linkDownMs = Math.round(downAt - t0);
    // false takeovers: any transition of either director, or the VIP appearing on d2, between the settled
    // election (d1 master, d2 backup: both their last transitions) and the cut
    const flaps = [...d[0].states, ...d[1].states].filter((x) => x.at > settledAt && x.at < t0).length +
      adds.filter((a) => a > settledAt && a < t0).length;

    await until('the VIP added on d2 after the cut', 30_000, () => adds.some((a) => a >= t0 - 50));
    const takeoverAt = adds.find((a) => a >= t0 - 50)!;
    phase('failover');
    await until('3 s of answers in a row after the takeover', 60_000, () => {
      const after = events.filter((e) => e.at >= takeoverAt);
      const lastFail = after.filter((e) => !e.ok).at(-1);
      const okSince = after.filter((e) => e.ok && e.at > (lastFail?.at ?? takeoverAt));
      return okSince.length > 0 && okSince.at(-1)!.at - okSince[0]!.at >= 3000;
    });
    const end = Date.now();
    client.send('stop');
    await sleep(3000); // a request started just before `end` may take its 2.5 s timeout
    const f = figures(events, t0 - 2000, end, downAt, takeoverAt);
    const failedBefore = events.filter((e) => !e.ok && e.at >= loopFrom && e.at < t0).length;
    phase('after');
    return { ...base, ...f, linkDownMs, flaps, failedBefore, ms: Date.now() - started, phases: phases.join(', ') };
  } catch (e) {
    // keep the logs of a failed trial where the host can read them (bench/run.js shares LVSD_VM_OUT)
    const out = process.env.LVSD_VM_OUT ? join(process.env.LVSD_VM_OUT, 'failover-gap', basename(files.dir)) : files.dir;
    if (out !== files.dir) cpSync(files.dir, out, { recursive: true });
    return { ...base, ms: Date.now() - started, error: `${(e as Error).message} (logs: ${out})` };
  } finally {
    client.send('stop');
    for (const p of procs) p.kill();
    if (process.env.LVSD_BENCH_GAP_KEEP_LOGS === '1' && process.env.LVSD_VM_OUT) {
      cpSync(files.dir, join(process.env.LVSD_VM_OUT, 'failover-gap', basename(files.dir)),
        { recursive: true, force: true, filter: (src) => !lstatSync(src).isSocket() });
    }
    for (const which of ['d1', 'd2']) for (const pid of pidsIn(node(which).ns)) killPid(pid);
    // fresh director namespaces for the next trial: empty IPVS tables, no sync daemon, no VIP left behind
    const renewed = runScript(renewScript(['d1', 'd2']));
    if (!renewed.ok) throw new Error(`renewing the directors' namespaces: ${renewed.output}`);
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

async function main(): Promise<number> {
  const skip = process.getuid?.() !== 0 ? 'needs root'
    : spawnSync('sh', ['-c', 'test -e /proc/net/ip_vs']).status !== 0 ? 'no IPVS in this kernel'
      : spawnSync('test', ['-x', KEEPALIVED]).status !== 0 ? `${KEEPALIVED} is not installed`
        : !hasExamples() ? 'examples/lab is missing' : labExists() ? 'a lab is running here (lvsd lab --clean)' : '';
  if (skip) {
    process.stderr.write(`failover-gap bench skipped: ${skip}\n`);
    return 0;
  }
  const { intervals, runs } = knobs();
  const say = (l: string) => { if (!json) process.stdout.write(`${l}\n`); };
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  const hostLoad = process.env.LVSD_BENCH_HOST_LOAD;
  say(`failover gap, lvsd vs keepalived (same lab, same configs), trials ${intervals.map((iv) => `${runs.get(iv)} at ${iv} ms`).join(', ')}`);
  say(`load average at start: ${hostLoad ? `host ${hostLoad}, ` : ''}this machine ${load()}`);
  // keepalived logs to syslog too, and without a /dev/log its lines land on the console (the VM's, which is
  // this bench's output): give it a syslog daemon writing to a file
  mkdirSync(ROOT, { recursive: true });
  const syslog = existsSync('/dev/log') ? undefined : spawn('busybox', ['syslogd', '-n', '-O', join(ROOT, 'syslog')], { stdio: 'ignore' });
  const trials: GapTrial[] = [];
  const t0 = Date.now();
  const fixed = await setUp();
  for (const iv of intervals) {
    const cfg = await prepareConfigs(iv);
    for (let i = 0; i < runs.get(iv)!; i++) {
      // alternate which tool goes first, so a drift in load weighs on both alike
      const order: Tool[] = i % 2 === 0 ? ['lvsd', 'keepalived'] : ['keepalived', 'lvsd'];
      for (const tool of order) {
        const t = await trial(fixed, tool, iv, cfg[tool], i);
        trials.push(t);
        say(`  ${String(iv).padStart(4)} ms #${i + 1} ${tool.padEnd(10)} ` + (t.error ? `FAILED: ${t.error}` :
          `gap ${t.longestGapMs} ms, takeover ${t.takeoverMs} ms (MDI ${mdiMs(iv, BACKUP_PRIORITY).toFixed(0)}), link down +${t.linkDownMs} ms, ` +
          `failed ${t.failed}/${t.requests}, false takeovers ${t.flaps}${t.failedBefore ? `, ${t.failedBefore} failed before the kill` : ''} ` +
          `(${(t.ms / 1000).toFixed(0)} s: ${t.phases}; load ${load()})`));
      }
    }
  }
  say('');
  for (const l of renderTable(trials, intervals, BACKUP_PRIORITY)) say(l);
  say(`load average at the end: this machine ${load()}; whole bench ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const p of fixed.procs) p.kill();
  destroy();
  syslog?.kill();
  if (json) process.stdout.write(JSON.stringify({ intervals, trials, hostLoadAtStart: hostLoad, loadAtEnd: loadavg() }) + '\n');
  return trials.some((t) => t.error) ? 1 : 0;
}

process.exitCode = await main();
