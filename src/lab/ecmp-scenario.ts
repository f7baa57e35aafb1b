/**
 * `lvsd lab --ecmp`, step by step: build the network (ecmp-topology.ts), start the router's BIRD and a
 * monitor of its routes, the web servers, three `lvsd run` directors (examples/lab/ecmp) that each announce
 * the VIP over BGP; then, while a client holds a pool of long-lived connections and opens fresh ones,
 * crash one director (SIGKILL to everything in it, link down), bring it back (a fresh namespace: a rebooted
 * machine, empty IPVS table), and drain another (`lvsd drain --director`) when lvsd has it.
 *
 * Each step prints what it does and either succeeds or throws a StepFailure naming itself. The figures come
 * back in `EcmpReport` for the summary, the `--json` line, the bench and the kernel test.
 */
import { stepRunner, type StepRecord } from './steps.js';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LVSD_MAIN, LabProcess, execIn, runScript } from './topology.js';
import type { ClientEvent } from './scenario.js';
import {
  CLIENT, DIRECTORS, ECMP_PORT, ECMP_VIP, ROUTER, ROUTER_AS, director, ecmpBuildScript, ecmpDestroy, ecmpLabExists, ecmpNode,
  ecmpNodes, killAllIn, renewDirectorScript, routerBirdConf, type DirectorIndex,
} from './ecmp-topology.js';
import {
  establishedFigures, goalLines, hopChangeAt, newConnFigures, phaseSummary, routeEvent, unexpectedRoutes, type EstablishedFigures, type NewConnFigures,
  type PhaseSummary, type PooledConn,
} from './ecmp-figures.js';
import { ECMP_EXAMPLES, directorAs, isAnnounce, setRunDir } from './ecmp-config.js';

export interface EcmpOptions {
  dir: string;
  say: (line: string) => void;
  /** a fresh connection every loopMs (default 200) */
  loopMs?: number;
  /** long-lived connections held through the lab (default 100), each asking every poolPeriodMs (default 2000) */
  pool?: number;
  poolPeriodMs?: number;
  /** the router's BFD timers (default 300 ms x 3, as the directors' examples/lab/ecmp files) */
  bfdIntervalMs?: number;
  bfdMultiplier?: number;
  /** run the drain step (default true) */
  drain?: boolean;
  /** how long after the router changed to keep counting (default 6000: a TCP retransmission backs off to 1.6 s and more) */
  settleMs?: number;
  /** stop after the crash (the bench) */
  crashOnly?: boolean;
}

export interface EcmpPhase {
  established: EstablishedFigures;
  newConnections: NewConnFigures;
  /** crash/drain: from the kill (the drain command) to the router's route without the director, ms */
  routerDropMs?: number;
  /** return: from the director announcing again (its lvsd log) to the router's route with it, ms */
  routerAddMs?: number;
  /** return: from lvsd's start to the router's route with the director, ms */
  startToRouteMs?: number;
  /** pooled connections the router had sent through the director before (its IPVS connection table) */
  viaDirector?: number;
  /** and after (a returning director: those the router moved back to it, mid-stream) */
  viaDirectorAfter?: number;
  /** route changes in the window other than this disruption's own (sessions flapping): timing figures then
   * measure the flap too */
  otherRouteChanges: number;
  /** the client sent under 80% of the fresh connections it was asked to (a starved VM): timings then
   * measure the starvation too */
  starved: boolean;
}

export interface EcmpReport {
  steps: StepRecord[];
  crash?: EcmpPhase;
  return?: EcmpPhase;
  drain?: EcmpPhase;
  /** why the drain step did not run, when it did not */
  drainSkipped?: string;
  bfd: { intervalMs: number; multiplier: number };
  ok: boolean;
}

export class EcmpStepFailure extends Error {
  constructor(readonly step: string, message: string, readonly report: EcmpReport) {
    super(`${step}: ${message}`);
  }
}

const CLIENT_JS = fileURLToPath(new URL('./client.js', import.meta.url));
const WEB_SERVER_JS = fileURLToPath(new URL('./web-server.js', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** the client gives up on a request after 2.5 s: wait that long before counting the last ones */
const TIMEOUT_SLACK_MS = 3000;

type Route = { at: number; nexthops: string[] };

/** Everything the ECMP lab started; `stop()` ends it all. */
export class EcmpLab {
  readonly web: LabProcess[] = [];
  readonly directors = new Map<DirectorIndex, LabProcess>();
  router: LabProcess | undefined;
  monitor: LabProcess | undefined;
  client: LabProcess | undefined;
  readonly routes: Route[] = [];
  readonly events: ClientEvent[] = [];
  /** per director: the real servers its health checks have up */
  readonly up = new Map<DirectorIndex, Set<string>>();
  /** per director: when its lvsd said it announces / withdraws the VIP, since its (last) start */
  readonly announces = new Map<DirectorIndex, number[]>();
  readonly withdraws = new Map<DirectorIndex, number[]>();

  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  log(name: string): string {
    return join(this.dir, `${name}.log`);
  }

  socket(which: DirectorIndex): string {
    return join(this.dir, `d${which}`, 'lvsd.sock');
  }

  /** The route's next hops now (from the monitor; [] before the first announcement). */
  nexthops(): string[] {
    return this.routes.at(-1)?.nexthops ?? [];
  }

  startRouter(bfdIntervalMs: number, bfdMultiplier: number): void {
    const conf = join(this.dir, 'router', 'bird.conf');
    mkdirSync(join(this.dir, 'router'), { recursive: true });
    writeFileSync(conf, routerBirdConf({
      bfdIntervalMs, bfdMultiplier, logFile: this.log('router-bird'),
      peers: DIRECTORS.map((d) => ({ name: `d${d}`, address: director(d).address, as: directorAs(d) })),
    }));
    // the monitor first, so it sees the first route; SCHED_RR so its time stamps are the kernel's moment, not
    // when a loaded VM got round to it
    this.monitor = new LabProcess('routes', ROUTER, ['chrt', '-r', '10', 'ip', '-ts', '-o', 'monitor', 'route'], this.log('routes'));
    this.monitor.on((line) => {
      const e = routeEvent(line, ECMP_VIP);
      if (e) this.routes.push(e);
    });
    this.router = new LabProcess('router', ROUTER, ['bird', '-f', '-c', conf, '-s', join(this.dir, 'router', 'bird.ctl'),
      '-P', join(this.dir, 'router', 'bird.pid')], this.log('router'));
  }

  /** The director's config directory: examples/lab/ecmp's shared files and its own director-N/ files. */
  configDir(which: DirectorIndex): string {
    const d = join(this.dir, `d${which}`, 'config');
    mkdirSync(d, { recursive: true });
    const own = join(ECMP_EXAMPLES, `director-${which}`);
    for (const src of [ECMP_EXAMPLES, own]) {
      if (!existsSync(src)) continue;
      for (const f of readdirSync(src).filter((x) => x.endsWith('.json'))) {
        copyFileSync(join(src, f), join(d, f));
        setRunDir(join(d, f), join(this.dir, `d${which}`, 'bird'));
      }
    }
    return d;
  }

  startDirector(which: DirectorIndex): LabProcess {
    const n = director(which);
    const argv = [process.execPath, LVSD_MAIN, 'run', '--config', this.configDir(which), '--socket', this.socket(which),
      '--state-file', join(this.dir, `d${which}`, 'state.json'), '--log-level', 'info'];
    const p = new LabProcess(n.name, n.ns, argv, this.log(n.name));
    const up = new Set<string>();
    this.up.set(which, up);
    const announces: number[] = [];
    this.announces.set(which, announces);
    const withdraws: number[] = [];
    this.withdraws.set(which, withdraws);
    p.on((_l, j) => {
      if (j?.event === 'health.change') {
        if (j.to === 'up') up.add(String(j.realServer));
        else up.delete(String(j.realServer));
      }
      if (j && isAnnounce(j)) announces.push(Date.now());
      // its own time stamp: the line may reach the lab late
      if (j?.event === 'ecmp.withdraw') withdraws.push(typeof j.time === 'string' ? Date.parse(j.time) : Date.now());
    });
    this.directors.set(which, p);
    return p;
  }

  startClient(): LabProcess {
    const c = new LabProcess('client', CLIENT, [process.execPath, CLIENT_JS, ECMP_VIP, String(ECMP_PORT)], this.log('client'));
    c.on((_l, j) => {
      if (j && (j.kind === 'short' || j.kind === 'long')) this.events.push(j as unknown as ClientEvent);
    });
    this.client = c;
    return c;
  }

  /** The client's pool, now. */
  poolReport(ms = 30_000): Promise<PooledConn[]> {
    if (!this.client) throw new Error('the client is not running');
    return poolReport(this.client, ms);
  }

  /** Waits until the route does (want true) or does not (false) go through `hop`, after `since`; returns when. */
  async waitHop(hop: string, want: boolean, since: number, ms: number, what: string): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const at = hopChangeAt(this.routes, hop, want, since);
      if (at !== undefined) return at;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s (the route's next hops: ${this.nexthops().join(', ') || 'none'})`);
      await sleep(50);
    }
  }

  /** The client ports of the pooled connections the director `which` has in its IPVS connection table. */
  /**
   * The client ports of the connections director `which` forwards now: ESTABLISHED entries in its IPVS table
   * refreshed within `recentS` (an entry starts at 15:00 and counts down; one the router moved away from
   * this director stays behind, ageing).
   */
  conns(which: DirectorIndex, recentS = 10): Set<number> {
    return new Set([...this.connStates(which)].filter(([, c]) => c.state === 'ESTABLISHED' && c.expireS >= 900 - recentS).map(([p]) => p));
  }

  /** Client port -> IPVS connection state and seconds left, for the VIP's connections in director `which`'s table. */
  connStates(which: DirectorIndex): Map<number, { state: string; expireS: number }> {
    const r = spawnSync('ip', ['netns', 'exec', director(which).ns, 'ipvsadm', '-Lnc'], { encoding: 'utf8', timeout: 60_000 });
    const states = new Map<number, { state: string; expireS: number }>();
    for (const l of (r.stdout ?? '').split('\n')) {
      const m = /^\S+\s+(\d+):(\d+)\s+(\S+)\s+[\d.]+:(\d+)\s+/.exec(l);
      if (m && l.includes(`${ECMP_VIP}:${ECMP_PORT}`)) states.set(Number(m[4]), { state: m[3]!, expireS: Number(m[1]) * 60 + Number(m[2]) });
    }
    return states;
  }

  stop(): void {
    for (const p of [...this.web, ...this.directors.values(), this.client, this.router, this.monitor]) p?.kill();
    ecmpDestroy();
  }
}

/** Asks the lab client (src/lab/client.ts) for its pool's figures. */
export function poolReport(client: LabProcess, ms = 30_000): Promise<PooledConn[]> {
  return new Promise((resolve, reject) => {
    const off = client.on((_l, j) => {
      if (j?.kind !== 'pool') return;
      off();
      clearTimeout(timer);
      resolve(j.conns as PooledConn[]);
    });
    const timer = setTimeout(() => {
      off();
      reject(new Error(`the client did not report its pool within ${ms / 1000} s`));
    }, ms);
    client.send('pool-report');
  });
}

export async function runEcmpScenario(opts: EcmpOptions, keep?: (lab: EcmpLab, report: EcmpReport) => Promise<void>): Promise<EcmpReport> {
  const say = opts.say;
  const loopMs = opts.loopMs ?? 200;
  const poolN = opts.pool ?? 100;
  const poolPeriodMs = opts.poolPeriodMs ?? 2000;
  const settleMs = opts.settleMs ?? 6000;
  const bfd = { intervalMs: opts.bfdIntervalMs ?? 300, multiplier: opts.bfdMultiplier ?? 3 };
  const report: EcmpReport = { steps: [], bfd, ok: false };
  if (ecmpLabExists()) {
    throw new EcmpStepFailure('build the network', 'an ECMP lab is already running here (namespace lve-sw); end it, or remove it with: lvsd lab --ecmp --clean', report);
  }
  const lab = new EcmpLab(opts.dir);
  const total = opts.crashOnly ? 6 : 8;
  const step = stepRunner(say, total, report.steps, (name, error) => new EcmpStepFailure(name, error, report));
  const hop = (d: DirectorIndex) => director(d).address;
  const allUp = (d: DirectorIndex) => (lab.up.get(d)?.size ?? 0) === 3;

  try {
    await step('build the network: a client, a router, 3 directors, 3 web servers (namespaces lve-*)', async () => {
      const r = runScript(ecmpBuildScript());
      if (!r.ok) throw new Error(r.output);
      say(`      lve-client  10.90.1.10 -> lve-r (router) 10.90.1.1 | 10.90.0.1 -> LAN 10.90.0.0/24`);
      for (const x of ecmpNodes()) say(`      ${x.ns.padEnd(11)} ${x.address}`);
      return `VIP ${ECMP_VIP} (on no link: the router learns it over BGP), fib_multipath_hash_policy=1 on the router`;
    });

    await step(`the router: BIRD with a BGP session and BFD (${bfd.intervalMs} ms x ${bfd.multiplier}) to each director, ECMP into the kernel`, async () => {
      lab.startRouter(bfd.intervalMs, bfd.multiplier);
      await sleep(500);
      if (lab.router!.child.exitCode !== null) throw new Error(`bird exited: ${lab.router!.lines.slice(-3).join(' | ')}`);
      return `bird.conf in ${join(lab.dir, 'router')}, its log ${lab.log('router-bird')}`;
    });

    await step('start the web servers and the three directors (lvsd run: the same services, mh, DR)', async () => {
      for (const x of ecmpNodes().filter((y) => y.role === 'web')) {
        lab.web.push(new LabProcess(x.name, x.ns, [process.execPath, WEB_SERVER_JS, x.name, String(ECMP_PORT)], lab.log(x.name)));
      }
      const t0 = Date.now();
      for (const d of DIRECTORS) lab.startDirector(d);
      await Promise.all(lab.web.map((p) => p.waitFor((j) => j.event === 'listening', 120_000, `${p.name} listening`)));
      const deadline = Date.now() + 240_000;
      for (;;) {
        for (const [d, p] of lab.directors) {
          if (p.child.exitCode !== null) throw new Error(`lvsd on d${d} exited with status ${p.child.exitCode}: ${p.lines.slice(-2).join(' | ')} (log ${lab.log(`d${d}`)})`);
        }
        const hops = lab.nexthops();
        if (DIRECTORS.every((d) => allUp(d) && hops.includes(hop(d)))) break;
        if (Date.now() > deadline) {
          throw new Error(`after 240 s: ${DIRECTORS.map((d) => `d${d} ${lab.up.get(d)?.size ?? 0}/3 up`).join(', ')}; the route's next hops: ${hops.join(', ') || 'none'}`);
        }
        await sleep(200);
      }
      return `each director has the 3 web servers up and the router routes the VIP through all three (${((Date.now() - t0) / 1000).toFixed(1)} s after start)`;
    });

    await step('lvsd status on d1; the router\'s sessions and route', async () => {
      const st = await execIn(director(1).ns, [process.execPath, LVSD_MAIN, 'status', '--socket', lab.socket(1)]);
      say('    lve-d1# lvsd status');
      say(indent(st.output));
      const birdc = await execIn(ROUTER, ['birdc', '-s', join(lab.dir, 'router', 'bird.ctl'), 'show', 'protocols']);
      say('    lve-r# birdc show protocols');
      say(indent(birdc.output));
      const route = await execIn(ROUTER, ['ip', 'route', 'show', ECMP_VIP]);
      say(`    lve-r# ip route show ${ECMP_VIP}`);
      say(indent(route.output));
      if (st.code !== 0) throw new Error(`lvsd status on d1 exited ${st.code}`);
    });

    const client = lab.startClient();
    await step(`the client: ${poolN} long-lived connections (a request every ${poolPeriodMs} ms each) and a fresh connection every ${loopMs} ms`, async () => {
      await client.waitFor((j) => j.kind === 'ready', 60_000, 'client ready');
      client.send(`pool ${poolN} ${poolPeriodMs}`);
      client.send(`loop ${loopMs}`);
      const deadline = Date.now() + 120_000;
      let conns: PooledConn[] = [];
      for (;;) {
        await sleep(2000);
        conns = await lab.poolReport();
        if (conns.length === poolN && conns.every((c) => c.ok >= 2)) break;
        if (Date.now() > deadline) {
          // where the silent ones are: which director's table holds them, in what state
          const silent = conns.filter((c) => c.ok < 2);
          const where = DIRECTORS.map((d) => {
            const st = lab.connStates(d);
            const seen = silent.filter((c) => c.port !== undefined && st.has(c.port)).map((c) => st.get(c.port!)!.state);
            const counts: Record<string, number> = {};
            for (const x of seen) counts[x] = (counts[x] ?? 0) + 1;
            return `d${d}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`;
          });
          throw new Error(`${poolN - silent.length}/${poolN} pooled connections answering after 120 s; the silent ones in the directors' tables: ${where.join('; ')}` +
            ` (e.g. #${silent[0]?.id} port ${silent[0]?.port ?? 'not connected'}${silent[0]?.dead ? `, ${silent[0].dead}` : ''})`);
        }
      }
      const dead = conns.filter((c) => c.dead);
      if (dead.length > 0) throw new Error(`${dead.length} pooled connection(s) failed before anything happened: ${dead[0]!.dead}`);
      const per = DIRECTORS.map((d) => lab.conns(d));
      const ports = new Set(conns.map((c) => c.port));
      const servers: Record<string, number> = {};
      for (const c of conns) servers[c.server ?? '?'] = (servers[c.server ?? '?'] ?? 0) + 1;
      say(`      through the directors (their IPVS connection tables): ${DIRECTORS.map((d, i) => `d${d} ${[...per[i]!].filter((p) => ports.has(p)).length}`).join(', ')}`);
      say(`      web servers: ${Object.entries(servers).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
      return 'every pooled connection answers';
    });

    await step('crash: d1\'s link down and SIGKILL to everything on it (lvsd, its BIRD), while the client keeps going', async () => {
      report.crash = await disrupt(lab, {
        which: 1, settleMs, say, loopMs,
        // the link first: a dead machine sends nothing, so the router must notice by BFD (killing BIRD first
        // would close its BGP session with a FIN the router acts on at once)
        // the clock starts just before `ip link` runs (`date` in the same shell: starting the shell can take
        // seconds in a starved VM), so the figure includes the command's own time, never misses a drop
        // that came before the command returned
        act: async () => {
          const r = runScript(`date +%s%3N; ip -n ${director(1).ns} link set eth0 down`);
          if (!r.ok) throw new Error(r.output);
          const killed = killAllIn(director(1).ns);
          const at = Number(r.output.trim().split('\n')[0]);
          return { note: `eth0 down, ${killed} process(es) killed`, ...(Number.isFinite(at) ? { at } : {}) };
        },
        waitRouter: (t0) => lab.waitHop(hop(1), false, t0, 30_000, 'the router drops d1'),
        kind: 'drop',
      });
    });
    if (opts.crashOnly) {
      report.ok = true;
      return report;
    }

    await step('return: d1 reboots (a fresh namespace: empty IPVS table, default sysctls), lvsd starts, announces when ready', async () => {
      const r = runScript(renewDirectorScript(1));
      if (!r.ok) throw new Error(r.output);
      let startedAt = 0;
      report.return = await disrupt(lab, {
        which: 1, settleMs, say, loopMs,
        act: async () => {
          startedAt = Date.now();
          lab.startDirector(1);
          return 'lvsd started';
        },
        waitRouter: (t0) => lab.waitHop(hop(1), true, t0, 240_000, 'the router routes through d1 again'),
        kind: 'add',
        announcedAt: (routerAt) => lab.announces.get(1)?.filter((a) => a <= routerAt).at(-1),
        startedAt: () => startedAt,
      });
      if (!allUp(1)) say(`      note: d1 had ${lab.up.get(1)?.size ?? 0}/3 web servers up by its checks when the router took it back`);
    });

    await step('drain: lvsd drain --director on d2 (withdraw, keep serving what still arrives)', async () => {
      if (opts.drain === false) {
        report.drainSkipped = 'not asked for';
        return `skipped: ${report.drainSkipped}`;
      }
      report.drain = await disrupt(lab, {
        which: 2, settleMs, say, loopMs,
        // the clock starts at lvsd's withdraw (its log line's time), not at the command: the CLI's own start
        // takes seconds under TCG
        act: async () => {
          const since = Date.now();
          const r = await execIn(director(2).ns, [process.execPath, LVSD_MAIN, 'drain', '--director', '--socket', lab.socket(2)], 120_000);
          if (r.code !== 0) throw new Error(`lvsd drain --director exited ${r.code}: ${r.output.trim()}`);
          const at = lab.withdraws.get(2)?.find((w) => w >= since - 1000);
          return { note: `lvsd drain --director: ${r.output.trim().split('\n').at(-1) ?? ''}`, ...(at !== undefined ? { at } : {}) };
        },
        waitRouter: (t0) => lab.waitHop(hop(2), false, t0, 60_000, 'the router drops d2'),
        kind: 'drop',
      });
    });

    client.send('stop');
    report.ok = true;
    if (keep) await keep(lab, report);
  } finally {
    lab.stop();
  }
  return report;
}

export interface Disruption {
  which: DirectorIndex;
  /** the client's period for fresh connections, ms */
  loopMs: number;
  settleMs: number;
  say: (l: string) => void;
  /** what disrupts; returns a note, and when it took effect if that is known better than "just before the call" */
  act: () => Promise<string | { note: string; at?: number }>;
  waitRouter: (t0: number) => Promise<number>;
  kind: 'drop' | 'add';
  /** the director's announcement the router acted on: its last `ecmp.announce` before `routerAt` */
  announcedAt?: (routerAt: number) => number | undefined;
  startedAt?: () => number;
}

/** One disruption under load: the pool's figures before and after, the fresh connections around it. */
export async function disrupt(lab: EcmpLab, d: Disruption): Promise<EcmpPhase> {
  const before = await lab.poolReport();
  const hopsBefore = lab.nexthops();
  const via = lab.conns(d.which);
  const viaDirector = before.filter((c) => c.port !== undefined && via.has(c.port)).length;
  lab.client!.send('mark');
  await sleep(1000);
  const from = Date.now() - 2000;
  const called = Date.now();
  const acted = await d.act();
  const note = typeof acted === 'string' ? acted : acted.note;
  const t0 = typeof acted === 'string' ? called : acted.at ?? called;
  d.say(`      ${note} (${viaDirector} of the ${before.length} pooled connections went through d${d.which})`);
  const routerAt = await d.waitRouter(t0);
  const routerMs = routerAt - t0;
  d.say(`      the router ${d.kind === 'drop' ? 'dropped' : 'added'} d${d.which} ${(routerMs / 1000).toFixed(2)} s after that; now through ${lab.nexthops().map((h) => `d${DIRECTORS.find((x) => director(x).address === h) ?? '?'}`).join(', ')}`);
  await sleep(d.settleMs + TIMEOUT_SLACK_MS);
  const after = await lab.poolReport();
  const viaAfter = lab.conns(d.which);
  const viaDirectorAfter = after.filter((c) => c.port !== undefined && viaAfter.has(c.port)).length;
  const est = establishedFigures(before, after);
  const to = Date.now() - TIMEOUT_SLACK_MS;
  const fresh = newConnFigures(lab.events, from, to, t0);
  const starved = fresh.total < 0.8 * ((to - from) / d.loopMs);
  const otherRouteChanges = unexpectedRoutes(lab.routes, from, Date.now(), hopsBefore, director(d.which).address, d.kind);
  const phase: EcmpPhase = { established: est, newConnections: fresh, viaDirector, viaDirectorAfter, otherRouteChanges, starved };
  if (starved) d.say(`      note: the client sent ${fresh.total} fresh connections where it was asked for ${Math.round((to - from) / d.loopMs)} (a starved VM); the timings include that`);
  if (otherRouteChanges > 0) d.say(`      note: the route also changed ${otherRouteChanges} other time(s) in this window (sessions flapping: a starved VM?); the timings include that`);
  if (d.kind === 'drop') phase.routerDropMs = Math.round(routerMs);
  else {
    const announced = d.announcedAt?.(routerAt);
    phase.routerAddMs = announced === undefined ? undefined : Math.round(routerAt - announced);
    phase.startToRouteMs = Math.round(routerAt - (d.startedAt?.() ?? t0));
  }
  if (d.kind === 'add') d.say(`      the router moved ${viaDirectorAfter} of the pooled connections to d${d.which}, mid-stream (its IPVS connection table)`);
  d.say(`      established: ${est.survived} of ${est.total} survived (the longest wait for an answer on one: ${(est.longestWaitMs / 1000).toFixed(2)} s)`);
  for (const l of est.lost.slice(0, 5)) d.say(`        lost ${l}`);
  d.say(`      new connections: ${fresh.failed} of ${fresh.total} failed, ${fresh.retried} answered after their SYN was sent again; longest gap between answers ` +
    `${(fresh.longestGapMs / 1000).toFixed(2)} s; ${fresh.resumedMs === 0 ? 'none was hurt' : `all fine again ${(fresh.resumedMs / 1000).toFixed(2)} s after`}`);
  return phase;
}

function indent(text: string): string {
  return text.replace(/\s+$/, '').split('\n').map((l) => `      ${l}`).join('\n');
}

/** The --json summary: `{"crash": {...}, "return": {...}}` (and "drain" when it ran). */
export function ecmpJson(r: EcmpReport): Record<string, unknown> {
  const phase = (p: EcmpPhase | undefined, extra: Record<string, unknown>): (PhaseSummary & Record<string, unknown>) | undefined =>
    p && { ...phaseSummary(p.established, p.newConnections), ...extra };
  const out: Record<string, unknown> = {};
  const q = (p: EcmpPhase) => ({ otherRouteChanges: p.otherRouteChanges, starved: p.starved });
  if (r.crash) out.crash = phase(r.crash, { routerDropMs: r.crash.routerDropMs ?? null, ...q(r.crash) });
  if (r.return) out.return = phase(r.return, { routerAddMs: r.return.routerAddMs ?? null, startToRouteMs: r.return.startToRouteMs ?? null, ...q(r.return) });
  if (r.drain) out.drain = phase(r.drain, { routerDropMs: r.drain.routerDropMs ?? null, ...q(r.drain) });
  out.ok = r.ok;
  return out;
}

export function ecmpSummary(r: EcmpReport): string[] {
  const lines = ['', 'summary'];
  for (const s of r.steps) lines.push(`  ${s.ok ? 'ok    ' : 'FAILED'} ${s.name}${s.error ? `: ${s.error}` : ''}`);
  const row = (label: string, p: EcmpPhase | undefined, router: string) => {
    if (!p) return;
    lines.push(`  ${label}: established ${p.established.survived}/${p.established.total} survived; new connections ${p.newConnections.failed}/${p.newConnections.total} failed, ` +
      `longest gap ${(p.newConnections.longestGapMs / 1000).toFixed(2)} s; ${router}`);
  };
  const ms = (x: number | undefined) => (x === undefined ? '?' : `${(x / 1000).toFixed(2)} s`);
  row('crash ', r.crash, `router dropped the director after ${ms(r.crash?.routerDropMs)}`);
  row('return', r.return, `router added it ${ms(r.return?.routerAddMs)} after it announced (${ms(r.return?.startToRouteMs)} after lvsd started)`);
  row('drain ', r.drain, `router dropped the director ${ms(r.drain?.routerDropMs)} after the command`);
  if (r.drainSkipped) lines.push(`  drain : skipped (${r.drainSkipped})`);
  lines.push(`  router BFD: ${r.bfd.intervalMs} ms x ${r.bfd.multiplier}`);
  lines.push('goals');
  lines.push(...goalLines(
    r.crash && { est: r.crash.established, fresh: r.crash.newConnections },
    r.return && { est: r.return.established },
    r.drain && { est: r.drain.established, fresh: r.drain.newConnections },
  ));
  lines.push(r.ok ? 'lab: every step worked' : `lab: FAILED at "${r.steps.find((s) => !s.ok)?.name ?? '?'}"`);
  return lines;
}

export { ROUTER_AS, ecmpNode };
