/**
 * One director crash under the same client load, against the ECMP trio (`lvsd lab --ecmp`: three directors
 * behind a BIRD router, BGP + BFD, mh + sloppy TCP) and against the VRRP pair (`lvsd lab`: two directors,
 * 1 s adverts, connection sync). Per setup: established connections lost, fresh connections failed, the
 * longest gap between two answers, and how long the other side took to notice (router drop / VRRP takeover).
 *
 *   node dist/bench/run.js ecmp-failover          (boots the kernel-test VM; or `npm run bench`)
 *   node dist/bench/ecmp-failover.js [--json]     (root, a kernel with IPVS, bird2 installed)
 *   LVSD_BENCH_ECMP_RUNS=1        crashes per setup
 *   LVSD_BENCH_ECMP_POOL=100      long-lived connections (a request every 2 s each)
 *   LVSD_BENCH_ECMP_LOOP_MS=200   a fresh connection every ... ms
 *
 * The load: the lab client (src/lab/client.ts) holds the pool and opens fresh connections all along. The
 * crash, for both: the director's link down, then SIGKILL to every process in its namespace (for the pair,
 * the master). The window: from 2 s before the crash to 6 s after the router dropped the director (the
 * backup became master), plus the client's 2.5 s timeout.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { establishedFigures, newConnFigures, type EstablishedFigures, type NewConnFigures } from '../src/lab/ecmp-figures.js';
import { ecmpLabExists } from '../src/lab/ecmp-topology.js';
import { poolReport, runEcmpScenario } from '../src/lab/ecmp-scenario.js';
import type { ClientEvent } from '../src/lab/scenario.js';
import {
  LabFiles, LabProcess, VIP, buildScript, destroy, hasExamples, labExists, node, nodes, runScript, startClient, startDirector, startWebServer,
} from '../src/lab/topology.js';
import { ipvsadmWeights } from '../src/lab/gap.js';

const json = process.argv.includes('--json');
const RUNS = Number(process.env.LVSD_BENCH_ECMP_RUNS ?? 1);
const POOL = Number(process.env.LVSD_BENCH_ECMP_POOL ?? 100);
const LOOP_MS = Number(process.env.LVSD_BENCH_ECMP_LOOP_MS ?? 200);
const SETTLE_MS = 6000;
const ROOT = '/tmp/lvsd-bench-ecmp';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Crash {
  setup: 'ecmp' | 'pair';
  established?: EstablishedFigures;
  newConnections?: NewConnFigures;
  /** ECMP: the router dropped the director; pair: the backup became master (ms after the crash) */
  detectMs?: number;
  /** pooled connections that went through the crashed director */
  viaDirector?: number;
  ms: number;
  error?: string;
}

async function until(what: string, ms: number, ok: () => boolean, poll = 200): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(poll);
  }
}

async function ecmpCrash(i: number): Promise<Crash> {
  const started = Date.now();
  try {
    const r = await runEcmpScenario({ dir: join(ROOT, `ecmp-${i}`), say: () => undefined, pool: POOL, loopMs: LOOP_MS, crashOnly: true, settleMs: SETTLE_MS });
    const c = r.crash!;
    return { setup: 'ecmp', established: c.established, newConnections: c.newConnections, detectMs: c.routerDropMs, viaDirector: c.viaDirector, ms: Date.now() - started };
  } catch (e) {
    return { setup: 'ecmp', ms: Date.now() - started, error: (e as Error).message };
  }
}

function ipvs(which: 1 | 2, args: string[]): string {
  return spawnSync('ip', ['netns', 'exec', node(`d${which}`).ns, 'ipvsadm', ...args], { encoding: 'utf8', timeout: 60_000 }).stdout ?? '';
}

/** The pair lab (examples/lab: VRRP 1 s, rr, connection sync), the same client load, the master crashed. */
async function pairCrash(i: number): Promise<Crash> {
  const started = Date.now();
  destroy();
  const procs: LabProcess[] = [];
  try {
    const built = runScript(buildScript('dr'));
    if (!built.ok) throw new Error(`building the network: ${built.output}`);
    const files = new LabFiles(join(ROOT, `pair-${i}`));
    for (const n of nodes().filter((x) => x.name.startsWith('rs'))) procs.push(startWebServer(files, n));
    const states: Array<Array<{ to: string; at: number }>> = [[], []];
    const sync: string[] = ['', ''];
    for (const which of [1, 2] as const) {
      const d = startDirector(files, which);
      procs.push(d);
      d.on((_l, j) => {
        if (j?.event === 'vrrp.transition' && j.instance === 'VI_WEB') states[which - 1]!.push({ to: String(j.to), at: Date.now() });
        if (j?.event === 'connsync.change' && typeof j.change === 'string' && j.change.startsWith('start ')) sync[which - 1] = j.change.slice(6);
      });
    }
    const state = (w: 1 | 2) => states[w - 1]!.at(-1)?.to;
    const up = (w: 1 | 2) => [...ipvsadmWeights(ipvs(w, ['-Ln']), `${VIP}:80`).values()].filter((x) => x > 0).length;
    await until('d1 master, d2 backup, both sync daemons', 240_000, () => state(1) === 'master' && state(2) === 'backup' && sync[0] === 'master' && sync[1] === 'backup');
    await until('3 web servers at weight 1 on both', 120_000, () => up(1) === 3 && up(2) === 3, 1000);
    const client = startClient(files);
    procs.push(client);
    const events: ClientEvent[] = [];
    client.on((_l, j) => {
      if (j?.kind === 'short') events.push(j as unknown as ClientEvent);
    });
    await client.waitFor((j) => j.kind === 'ready', 60_000, 'client ready');
    client.send(`pool ${POOL} 2000`);
    client.send(`loop ${LOOP_MS}`);
    let before: Awaited<ReturnType<typeof poolReport>> = [];
    for (let k = 0; k < 45 && !(before.length === POOL && before.every((c) => c.ok >= 2)); k++) {
      await sleep(2000);
      before = await poolReport(client);
    }
    if (!before.every((c) => c.ok >= 2)) throw new Error(`${before.filter((c) => c.ok >= 2).length}/${POOL} pooled connections answering after 90 s`);
    // the backup must know the pooled connections (connection sync) for them to survive: wait for it, as
    // the lab does, up to 30 s, and count how many it knew at the crash
    const ports = new Set(before.map((c) => c.port));
    const known = () => ipvs(2, ['-Lnc']).split('\n').filter((l) => l.includes(`${VIP}:80`) && ports.has(Number(/[\d.]+:(\d+)\s+10\.80/.exec(l)?.[1]))).length;
    const deadline = Date.now() + 30_000;
    while (known() < POOL && Date.now() < deadline) await sleep(1000);
    before = await poolReport(client);
    client.send('mark');
    await sleep(1000);
    const from = Date.now() - 2000;
    const t0 = Date.now();
    const down = runScript(`ip -n ${node('d1').ns} link set eth0 down`);
    if (!down.ok) throw new Error(down.output);
    for (const pid of (spawnSync('ip', ['netns', 'pids', node('d1').ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await until('d2 master', 30_000, () => states[1]!.some((s) => s.to === 'master' && s.at >= t0), 50);
    const took = states[1]!.find((s) => s.to === 'master' && s.at >= t0)!.at;
    await sleep(SETTLE_MS + 3000);
    const after = await poolReport(client);
    return {
      setup: 'pair', established: establishedFigures(before, after), newConnections: newConnFigures(events, from, Date.now() - 3000, t0),
      detectMs: took - t0, viaDirector: POOL, ms: Date.now() - started,
    };
  } catch (e) {
    return { setup: 'pair', ms: Date.now() - started, error: (e as Error).message };
  } finally {
    for (const p of procs) p.kill();
    destroy();
  }
}

function row(c: Crash): string {
  const label = c.setup === 'ecmp' ? 'ECMP trio (BGP + BFD 300 ms x 3)' : 'VRRP pair (1 s adverts, sync)';
  if (c.error) return `${label.padEnd(34)} FAILED: ${c.error}`;
  const e = c.established!;
  const n = c.newConnections!;
  return `${label.padEnd(34)} ${`${e.total - e.survived}/${e.total}`.padStart(9)} (${String(c.viaDirector).padStart(3)} via it)  ` +
    `${`${n.failed}/${n.total}`.padStart(8)}  ${String(n.retried).padStart(7)}  ${(n.longestGapMs / 1000).toFixed(2).padStart(6)} s  ` +
    `${((c.detectMs ?? NaN) / 1000).toFixed(2).padStart(6)} s  ${(e.longestWaitMs / 1000).toFixed(2).padStart(6)} s`;
}

async function main(): Promise<number> {
  const skip = process.getuid?.() !== 0 ? 'needs root'
    : spawnSync('sh', ['-c', 'test -e /proc/net/ip_vs']).status !== 0 ? 'no IPVS in this kernel'
      : spawnSync('sh', ['-c', 'command -v bird']).status !== 0 ? 'bird (bird2) is not installed'
        : !hasExamples() ? 'examples/lab is missing' : labExists() || ecmpLabExists() ? 'a lab is running here (lvsd lab [--ecmp] --clean)' : '';
  if (skip) {
    process.stderr.write(`ecmp-failover bench skipped: ${skip}\n`);
    return 0;
  }
  const say = (l: string) => { if (!json) process.stdout.write(`${l}\n`); };
  const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
  say(`one director crash (link down + SIGKILL) under the same load: ${POOL} long-lived connections (a request every 2 s each), ` +
    `a fresh connection every ${LOOP_MS} ms; ${RUNS} run(s) per setup`);
  say(`load average at start: ${process.env.LVSD_BENCH_HOST_LOAD ? `host ${process.env.LVSD_BENCH_HOST_LOAD}, ` : ''}this machine ${load()}`);
  const crashes: Crash[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const run of i % 2 === 0 ? [ecmpCrash, pairCrash] : [pairCrash, ecmpCrash]) {
      const c = await run(i);
      crashes.push(c);
      say(`  #${i + 1} ${c.setup}: ${c.error ? `FAILED: ${c.error}` : `done in ${(c.ms / 1000).toFixed(0)} s`} (load ${load()})`);
    }
  }
  say('');
  say(`${'setup'.padEnd(34)} ${'established lost'.padStart(25)}  ${'new fail'.padStart(8)}  ${'SYN again'.padStart(7)}  ${'longest gap'.padStart(8)}  ${'detected'.padStart(8)}  ${'longest wait (est.)'}`);
  for (const c of crashes) say(row(c));
  say('detected: ECMP, the router dropped the director\'s next hop (ip monitor route); pair, the backup logged master.');
  say('longest gap: between two answers to fresh connections; longest wait: the longest any pooled connection waited for an answer (a request every 2 s: 2 s is no wait).');
  say(`load average at the end: this machine ${load()}`);
  if (json) process.stdout.write(JSON.stringify({ pool: POOL, loopMs: LOOP_MS, crashes, hostLoadAtStart: process.env.LVSD_BENCH_HOST_LOAD, loadAtEnd: loadavg() }) + '\n');
  return crashes.some((c) => c.error) ? 1 : 0;
}

process.exitCode = await main();
