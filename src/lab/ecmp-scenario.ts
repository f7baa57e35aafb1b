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
import { join } from 'node:path';
import { stepRunner, type StepRecord } from './steps.js';
import { LVSD_MAIN, LabProcess, execIn, runScript } from './topology.js';
import {
  DIRECTORS, ECMP_PORT, ECMP_VIP, ROUTER, ROUTER_AS, director, ecmpBuildScript, ecmpLabExists, ecmpNode, ecmpNodes, killAllIn, renewDirectorScript,
  type DirectorIndex,
} from './ecmp-topology.js';
import { goalLines, phaseSummary, type PhaseSummary, type PooledConn } from './ecmp-figures.js';
import { disrupt, type EcmpPhase } from './ecmp-disrupt.js';
import { EcmpLab, WEB_SERVER_JS, sleep } from './ecmp-lab.js';

export { EcmpLab, poolReport } from './ecmp-lab.js';
export { disrupt, type Disruption, type EcmpPhase } from './ecmp-disrupt.js';

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

function indent(text: string): string {
  return text.replace(/\s+$/, '').split('\n').map((l) => `      ${l}`).join('\n');
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
