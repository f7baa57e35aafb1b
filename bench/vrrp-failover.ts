/**
 * VRRP failover benchmark: lvsd against Debian's keepalived with identical settings, in the same run.
 *
 *   node dist/bench/vrrp-failover.js [--runs N] [--json]      (root; keepalived at /usr/sbin/keepalived)
 *
 * Each trial builds a fresh lab (two directors and a client on a bridge, test/netns/fixtures/vrrp-lab.ts),
 * starts a master (priority 150) and a backup (100) of one implementation, and lets the client reach the
 * VIP. Then:
 *  - failover: every process in the master's namespace gets SIGKILL (a crashed director); measured until the
 *    backup holds the VIP (`ip monitor address` in its namespace) and until the client's neighbour entry
 *    points at the backup (its gratuitous ARP is out and was heard);
 *  - clean stop: SIGTERM to the master; measured until the backup holds the VIP;
 *  - advert jitter: |inter-arrival - interval| of the master's adverts at a passive SCHED_RR receiver over
 *    10 s at 100 ms: lvsd idle, lvsd with its main thread spinning 150 ms of every 200 ms, keepalived idle.
 * Identical settings: same priorities, interval, VIP, 3 GARPs; both VRRP engines real-time (lvsd's VRRP
 * thread SCHED_RR 10, keepalived `vrrp_rt_priority 10`), the watchers SCHED_RR 20 so their clocks are fair.
 * Failover time depends on where in its advert interval the master died (uniform over one interval),
 * so medians over several runs are compared. Ratios are lvsd / keepalived (1.0 = the same, < 1 = faster).
 */
import { spawnSync } from 'node:child_process';
import { Router, type Kind, type Variant } from '../test/netns/fixtures/vrrp-peers.js';
import { jitter, keepalivedSkipReason, percentile, sleep, VrrpLab, type Node } from '../test/netns/fixtures/vrrp-lab.js';
import { netnsSkipReason } from '../test/netns/netns.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const runsArg = args.indexOf('--runs');
const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : 5;

const v100: Variant = { version: 3, family: 'ipv4', intervalMs: 100, vip: '10.61.0.100', prefix: 24, vrid: 91 };
const v1s: Variant = { version: 3, family: 'ipv4', intervalMs: 1000, vip: '10.61.0.100', prefix: 24, vrid: 92 };

interface Lab {
  vlab: VrrpLab;
  d1: Node;
  d2: Node;
  client: Node;
  master: Router;
  backup: Router;
}

async function startLab(kind: Kind, v: Variant, busy = false): Promise<Lab> {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const client = vlab.node('c');
    const master = busy
      ? Router.wrapLvsd(vlab.lvsd(d1, {
        vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: v.vrid, priority: 150, version: 3, advertInterval: `${v.intervalMs}ms`, addresses: [`${v.vip}/${v.prefix}`] }],
      }, 'm', { busy: { busyMs: 150, periodMs: 200 } }), d1, 150)
      : Router.start(vlab, d1, { kind, priority: 150 }, v, 'm');
    await master.entered('master', 30_000);
    const backup = Router.start(vlab, d2, { kind, priority: 100 }, v, 'b');
    await backup.entered('backup', 30_000);
    await sleep(3 * v.intervalMs + 300);
    for (let i = 0; !vlab.ping(client, v.vip); i++) {
      if (i > 20) throw new Error(`${kind}: the client cannot reach the VIP`);
      await sleep(100);
    }
    return { vlab, d1, d2, client, master, backup };
  } catch (e) {
    vlab.cleanup();
    throw e;
  }
}

async function endLab(l: Lab): Promise<void> {
  await Promise.all([l.master.stop().catch(() => undefined), l.backup.stop().catch(() => undefined)]);
  l.vlab.cleanup();
}

/** SIGKILL for every process in the namespace (keepalived is a parent and a VRRP child). */
function crash(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function failover(kind: Kind, v: Variant): Promise<{ vipMs: number; garpMs: number }> {
  const l = await startLab(kind, v);
  try {
    const addrs = l.vlab.watchAddresses(l.d2);
    const neigh = l.vlab.watchNeighbours(l.client);
    await addrs.ready();
    const t0 = Date.now();
    crash(l.d1.ns);
    const added = await addrs.waitFor((e) => e.added && e.address === v.vip, 20_000, t0);
    const moved = await neigh.movedTo(v.vip, l.d2.mac, 20_000, t0);
    return { vipMs: added.at - t0, garpMs: moved.at - t0 };
  } finally {
    await endLab(l);
  }
}

async function cleanStop(kind: Kind, v: Variant): Promise<number> {
  const l = await startLab(kind, v);
  try {
    const addrs = l.vlab.watchAddresses(l.d2);
    await addrs.ready();
    const t0 = Date.now();
    const stopped = l.master.stop();
    const added = await addrs.waitFor((e) => e.added && e.address === v.vip, 20_000, t0);
    await stopped;
    return added.at - t0;
  } finally {
    await endLab(l);
  }
}

async function advertJitter(kind: Kind, busy: boolean): Promise<{ p50: number; p99: number; max: number; n: number }> {
  const l = await startLab(kind, v100, busy);
  try {
    const listener = await l.vlab.listen(l.client);
    const from = Date.now();
    await sleep(10_000);
    const arrivals = listener.arrivals(l.d1.ipv4, v100.vrid, from, Date.now());
    listener.stop();
    const j = jitter(arrivals, v100.intervalMs);
    return { p50: percentile(j, 50), p99: percentile(j, 99), max: Math.max(...j), n: arrivals.length };
  } finally {
    await endLab(l);
  }
}

const median = (xs: number[]) => percentile(xs, 50);
const fmt = (x: number) => x.toFixed(1).padStart(8);

async function main(): Promise<void> {
  const skip = netnsSkipReason() || keepalivedSkipReason();
  if (skip) {
    process.stderr.write(`vrrp-failover bench skipped: ${skip}\n`);
    process.exitCode = 0;
    return;
  }
  const results: Record<string, unknown> = {};
  const out = (line: string) => { if (!json) process.stdout.write(`${line}\n`); };
  out(`VRRP failover, lvsd vs keepalived, ${runs} runs each (median ms; ratio = lvsd / keepalived)`);
  for (const [label, v, n] of [['100 ms', v100, runs], ['1 s', v1s, Math.max(1, Math.ceil(runs / 2))]] as const) {
    const row: Record<Kind, { vip: number[]; garp: number[] }> = { lvsd: { vip: [], garp: [] }, keepalived: { vip: [], garp: [] } };
    for (let i = 0; i < n; i++) {
      for (const kind of ['lvsd', 'keepalived'] as Kind[]) {
        const r = await failover(kind, v);
        row[kind].vip.push(r.vipMs);
        row[kind].garp.push(r.garpMs);
      }
    }
    const L = { vip: median(row.lvsd.vip), garp: median(row.lvsd.garp) };
    const K = { vip: median(row.keepalived.vip), garp: median(row.keepalived.garp) };
    const mdi = 3 * v.intervalMs + (156 * v.intervalMs) / 256;
    out(`failover (kill -9) at ${label.padEnd(6)} MDI ${fmt(mdi)}: VIP lvsd ${fmt(L.vip)} keepalived ${fmt(K.vip)} ratio ${(L.vip / K.vip).toFixed(2)};` +
      ` client moved lvsd ${fmt(L.garp)} keepalived ${fmt(K.garp)} ratio ${(L.garp / K.garp).toFixed(2)}`);
    results[`failover_${v.intervalMs}ms`] = { lvsd: row.lvsd, keepalived: row.keepalived, medians: { lvsd: L, keepalived: K }, ratio: L.garp / K.garp };
  }
  const stops: Record<Kind, number[]> = { lvsd: [], keepalived: [] };
  for (let i = 0; i < runs; i++) {
    for (const kind of ['lvsd', 'keepalived'] as Kind[]) stops[kind].push(await cleanStop(kind, v100));
  }
  const sL = median(stops.lvsd);
  const sK = median(stops.keepalived);
  out(`clean stop handover at 100 ms (Skew_Time ${fmt((156 * 100) / 256)}): lvsd ${fmt(sL)} keepalived ${fmt(sK)} ratio ${(sL / sK).toFixed(2)}`);
  results.cleanStop_100ms = { lvsd: stops.lvsd, keepalived: stops.keepalived, ratio: sL / sK };

  const jIdle = await advertJitter('lvsd', false);
  const jBusy = await advertJitter('lvsd', true);
  const jK = await advertJitter('keepalived', false);
  out(`advert jitter at 100 ms (p50 / p99 / max ms, n): lvsd idle ${jIdle.p50.toFixed(2)} / ${jIdle.p99.toFixed(2)} / ${jIdle.max.toFixed(2)} (${jIdle.n}),` +
    ` lvsd busy main thread ${jBusy.p50.toFixed(2)} / ${jBusy.p99.toFixed(2)} / ${jBusy.max.toFixed(2)} (${jBusy.n}),` +
    ` keepalived ${jK.p50.toFixed(2)} / ${jK.p99.toFixed(2)} / ${jK.max.toFixed(2)} (${jK.n})`);
  results.jitter_100ms = { lvsdIdle: jIdle, lvsdBusy: jBusy, keepalived: jK };
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
}

await main();
