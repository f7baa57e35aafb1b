/**
 * Runs the failover tests make on a settled lab after the scenario (test/kernel/inside/failover-dr.test.ts):
 * reloads under load, the failover without connection sync (the counterfactual), and a web server failing
 * at the moment the master dies. Each returns its figures; the lab is left as it found it where it says so.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipvsadmWeights } from './gap.js';
import {
  TIMEOUT_SLACK_MS, figures, ipvsConns, longVerdict, sleep, waitSync, type Lab, type PhaseFigures,
} from './running-lab.js';
import { VIP, execIn, lvsdIn, node, runScript, webPort } from './topology.js';

/**
 * `lvsd reload` on both directors, one after the other, while the client loop runs (the lab must be
 * settled and the client started). Returns the figures of the window from the first reload to `afterMs`
 * after the last.
 */
export async function reloadUnderLoad(lab: Lab, loopMs: number, afterMs = 3000): Promise<Omit<PhaseFigures, 'longConnection'> & { outputs: string[] }> {
  const client = lab.client;
  if (!client) throw new Error('the client is not running');
  client.send(`loop ${loopMs}`);
  await sleep(2000);
  const from = Date.now();
  const outputs: string[] = [];
  for (const which of [1, 2] as const) {
    const r = await lvsdIn(lab.files, which, ['reload']);
    outputs.push(`d${which}: ${r.output.trim()}`);
    if (r.code !== 0) throw new Error(`lvsd reload on d${which} exited ${r.code}: ${r.output.trim()}`);
  }
  await sleep(afterMs);
  client.send('stop');
  await sleep(TIMEOUT_SLACK_MS);
  return { ...figures(lab.events, from, Date.now() - TIMEOUT_SLACK_MS, from, undefined), outputs };
}

/**
 * The counterfactual of the failover step: the backup runs no sync daemon, a new long-lived connection
 * is opened, the master killed and its link cut as before. Without the synced entry the new master has
 * never heard of the connection, and its kernel answers the next segment with a reset.
 *
 * The backup's sync daemon is removed the way an operator would, through lvsd: d2's config loses its
 * `connectionSync` and is reloaded, and lvsd stops the daemon itself (its `connsync.change` line is
 * awaited and the kernel checked). Stopping it behind lvsd's back (`ipvsadm --stop-daemon`) raced lvsd,
 * which rightly starts the daemon its config wants again on its next convergence (a transition, a retry),
 * so the connection was sometimes learnt after all. d1 must be master, d2 backup, the client running.
 */
export async function failoverWithoutSync(lab: Lab): Promise<{ verdict: 'survived' | 'reset'; detail: string; takeoverMs: number }> {
  const client = lab.client;
  const d2 = lab.director[1];
  if (!client || !d2) throw new Error('the client and d2 must be running');
  let stoppedAt: number | undefined;
  const off = d2.on((_l, j) => {
    if (j?.event === 'connsync.change' && j.change === 'stop backup') stoppedAt ??= Date.now();
  });
  try {
    const services = join(lab.files.dir, 'd2', 'config', 'services.json');
    const config = JSON.parse(readFileSync(services, 'utf8')) as Record<string, unknown>;
    delete config.connectionSync;
    writeFileSync(services, JSON.stringify(config, null, 2));
    const r = await lvsdIn(lab.files, 2, ['reload']);
    if (r.code !== 0) throw new Error(`lvsd reload on d2 (without connectionSync) exited ${r.code}: ${r.output.trim()}`);
    const deadline = Date.now() + 30_000;
    while (stoppedAt === undefined) {
      if (Date.now() > deadline) throw new Error(`d2's lvsd did not stop its backup sync daemon within 30 s of the reload (last log: ${d2.lines.slice(-2).join(' | ')})`);
      await sleep(100);
    }
  } finally {
    off();
  }
  const daemons = await execIn(node('d2').ns, ['ipvsadm', '-L', '--daemon']);
  if (daemons.output.trim() !== '') throw new Error(`d2 still runs a sync daemon after lvsd stopped it: ${daemons.output.trim()}`);
  client.send('open');
  await sleep(4000);
  const port = lab.longPort;
  if (ipvsConns(2).some((l) => l.includes(`${node('client').address}:${port} `))) {
    throw new Error(`d2 learnt the new connection (port ${port}) although it runs no sync daemon`);
  }
  const t0 = Date.now();
  lab.director[0]!.kill('SIGKILL');
  lab.setLinks(1, 'down');
  const took = await lab.waitState(2, 'master', 30_000, t0);
  await sleep(4000);
  client.send('close');
  const lv = longVerdict(lab, t0, took.at);
  return { verdict: lv.verdict, detail: lv.detail, takeoverMs: took.at - t0 };
}

export interface RealServerFailureFigures {
  /** from the cut (the one `ip` script taking d1's and rs3's links down, after lvsd on d1 was killed) to d2 master, ms */
  takeoverMs: number;
  /** from the cut to d2's health.change event marking the failed web server down, ms */
  downMarkMs: number;
  /** from the cut to d2's kernel table seen with that web server at weight 0 (`ipvsadm -Ln` in lvs-d2, polled), ms */
  inhibitedMs: number;
  /** that web server's weight and the others' in d2's kernel table then */
  weights: Record<string, number>;
  /** requests started from max(takeover, down-mark) + `settleMs` for `windowMs`: sent, failed, answers per web server */
  after: { requests: number; failed: number; servers: Record<string, number>; errors: string[] };
  /** when some failed: d2's IPVS connection entries (`ipvsadm -Lnc`) for their client ports, read right after the window */
  failedEntries?: string[];
  /** from the cut to the end of the restore (d1 master again, every web server up on both), ms */
  restoredMs: number;
}

/**
 * A web server fails at the very moment the master dies: rs3's link and d1's are taken down in one `ip`
 * script right after lvsd on d1 is killed (SIGKILL), while the client loop runs. A cut link rather than a
 * killed process because it is the nastier case: probes and requests to rs3 hang until their timeouts
 * instead of being refused at once, so the new master's checks need the full fall x interval + timeout.
 * Waits for d2 to take over, for d2's checks to mark rs3 down and for d2's kernel table to have it at weight
 * 0, then counts the requests started once all three have happened (+ `settleMs`). Then restores everything: rs3's link up,
 * lvsd restarted on d1 and its link up, until d1 is master again, d2 backup, the sync daemons swapped
 * back and every web server up on both (later steps expect that). d1 master, d2 backup, the client running.
 */
export async function realServerFailureDuringFailover(lab: Lab, loopMs: number, settleMs = 500, windowMs = 4000): Promise<RealServerFailureFigures> {
  const client = lab.client;
  const d2 = lab.director[1];
  if (!client || !d2) throw new Error('the client and d2 must be running');
  if (lab.state(1) !== 'master' || lab.state(2) !== 'backup') throw new Error(`d1 ${lab.state(1)}, d2 ${lab.state(2)}: want master and backup`);
  const rs = node('rs3', lab.mode);
  const target = `${rs.address}:${webPort(lab.mode)}`;
  let downAt: number | undefined;
  const off = d2.on((_l, j) => {
    if (j?.event === 'health.change' && j.realServer === target && j.to === 'down' && downAt === undefined) downAt = Date.now();
  });
  try {
    client.send(`loop ${loopMs}`);
    await sleep(2000);
    const t0 = Date.now();
    lab.director[0]!.kill('SIGKILL');
    const cut = runScript([...lab.links().map((l) => `ip -n ${node('d1').ns} link set ${l} down`), `ip -n ${rs.ns} link set eth0 down`].join('\n'));
    if (!cut.ok) throw new Error(`taking d1's and ${rs.ns}'s links down: ${cut.output}`);
    const took = await lab.waitState(2, 'master', 30_000, t0);
    const deadline = Date.now() + 30_000;
    while (downAt === undefined) {
      if (Date.now() > deadline) throw new Error(`d2's health checks did not mark ${target} down within 30 s of the cut (last log: ${d2.lines.slice(-2).join(' | ')})`);
      await sleep(100);
    }
    // The down-mark is logged before the weight reaches the kernel (one queued, coalesced batch later):
    // the window starts once d2's kernel table is seen with rs3 at weight 0, not at the log line, so a
    // request scheduled in between (to rs3, still weighted) is not counted against lvsd.
    let weights: Record<string, number> = {};
    let inhibitedAt: number | undefined;
    while (inhibitedAt === undefined) {
      const table = await execIn(node('d2').ns, ['ipvsadm', '-Ln']);
      weights = {};
      for (const [dest, w] of ipvsadmWeights(table.output, `${VIP}:80`)) weights[dest] = w;
      if (weights[target] === 0) inhibitedAt = Date.now();
      else if (Date.now() > deadline) throw new Error(`d2's kernel table still has ${target} at weight ${weights[target]} 30 s after the cut (marked down ${downAt - t0} ms after it)`);
      else await sleep(100);
    }
    const from = Math.max(took.at, downAt, inhibitedAt) + settleMs;
    await sleep(Math.max(0, from + windowMs - Date.now()));
    client.send('stop');
    await sleep(TIMEOUT_SLACK_MS);
    const shorts = lab.events.filter((e) => e.kind === 'short' && e.at >= from && e.at <= from + windowMs);
    const servers: Record<string, number> = {};
    for (const e of shorts) if (e.ok && e.server) servers[e.server] = (servers[e.server] ?? 0) + 1;
    const failedOnes = shorts.filter((e) => !e.ok);
    const ports = failedOnes.map((e) => e.port).filter((p): p is number => p !== undefined);
    let failedEntries: string[] | undefined;
    if (failedOnes.length > 0) {
      const conns = await execIn(node('d2').ns, ['ipvsadm', '-Lnc']);
      failedEntries = [`ports ${ports.join(',') || '?'}`,
        ...conns.output.split('\n').filter((l) => ports.some((p) => l.includes(`:${p} `)))];
    }
    const figs = {
      takeoverMs: took.at - t0, downMarkMs: downAt - t0, inhibitedMs: inhibitedAt - t0, weights,
      after: { requests: shorts.length, failed: failedOnes.length, servers, errors: [...new Set(failedOnes.map((e) => e.err ?? '?'))] },
      ...(failedEntries ? { failedEntries } : {}),
    };

    // restore: rs3 back, d1 back (as the failback step does), and wait for the steady state later steps need
    const up = runScript(`ip -n ${rs.ns} link set eth0 up`);
    if (!up.ok) throw new Error(`${rs.ns} link up: ${up.output}`);
    const since = Date.now();
    lab.startDirector(1);
    await lab.waitState(1, 'fault', 90_000, since).catch(() => undefined);
    lab.setLinks(1, 'up');
    await lab.waitState(1, 'master', 90_000, since);
    await lab.waitState(2, 'backup', 30_000, since);
    await waitSync(lab, 1, 'master', 30_000);
    await waitSync(lab, 2, 'backup', 30_000);
    const allUp = Date.now() + 60_000;
    while (lab.up[0].size < 3 || lab.up[1].size < 3) {
      if (Date.now() > allUp) throw new Error(`after the restore: d1 has ${lab.up[0].size}/3, d2 ${lab.up[1].size}/3 web servers up`);
      await sleep(200);
    }
    return { ...figs, restoredMs: Date.now() - t0 };
  } finally {
    off();
  }
}
