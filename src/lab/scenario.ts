/**
 * The lab's story, step by step, on a kernel with IPVS (this host, or inside the VM): build the network,
 * start the web servers and both directors, show their status, send requests through the VIP, kill the
 * master (kill -9 and link down) while a client keeps asking, bring it back (preemption), sum up.
 *
 * Each step prints what it does as it does it and either succeeds or throws a StepFailure naming itself;
 * `runScenario` stops at the first failure. The figures (failed requests, longest gap, takeover time,
 * whether the long-lived connection survived) come back in `LabReport` for the summary and for the
 * failover tests, which drive the same code.
 */
import { stepRunner, type StepRecord } from './steps.js';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GATEWAY, LabFiles, LabProcess, SWITCH_NS, VIP, buildScript, destroy, execIn, labExists, lvsdIn, node, nodes, runScript,
  startClient, startDirector, startWebServer, webPort, type Forwarding,
} from './topology.js';
import { ipvsadmWeights } from './gap.js';

export interface ScenarioOptions {
  dir: string;
  /** print a line (the lab streams it) */
  say: (line: string) => void;
  /** client request period during the failover, ms */
  loopMs?: number;
  /** how long the client must see success after a takeover before the step ends, ms */
  steadyMs?: number;
  /** DR (default) or NAT with a gateway VRRP instance in a sync group (examples/lab/nat) */
  mode?: Forwarding;
}

export interface ClientEvent {
  kind: 'short' | 'long';
  at: number;
  ok: boolean;
  server?: string;
  ms: number;
  /** fresh connections: how long the TCP handshake took */
  connectMs?: number;
  err?: string;
  /** the client's local port of a request that timed out */
  port?: number;
}

export interface PhaseFigures {
  /** requests sent in the phase / failed (error or no answer in 2.5 s) */
  requests: number;
  failed: number;
  /** each failed request: started `atMs` after t0 (the kill, or link up), failed after `ms`, with what error */
  failures: Array<{ atMs: number; ms: number; err: string }>;
  /** longest time between two successful answers, ms */
  longestGapMs: number;
  /** from the kill (or link up) to the new master's transition, ms */
  takeoverMs: number;
  /** the long-lived connection opened before: did it answer after, and from the same server? */
  longConnection: 'survived' | 'reset' | 'not tested';
  longServer?: string | undefined;
  /** failback: from link up to the returning director's health checks having every web server up, ms */
  healthUpMs?: number | undefined;
}

export interface LabReport {
  steps: StepRecord[];
  distribution?: Record<string, number>;
  failover?: PhaseFigures;
  failback?: PhaseFigures;
  advertIntervalS: number;
  ok: boolean;
}

export class StepFailure extends Error {
  constructor(readonly step: string, message: string, readonly report?: LabReport) {
    super(`${step}: ${message}`);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The VRRP instance the lab follows (with NAT, VI_GW moves with it: a sync group). */
const INSTANCE = 'VI_WEB';

type Transition = { name: string; instance: string; from: string; to: string; at: number };

/** Everything the lab started; `stop()` ends it all. */
export class Lab {
  readonly files: LabFiles;
  readonly web: LabProcess[] = [];
  director: [LabProcess | undefined, LabProcess | undefined] = [undefined, undefined];
  client: LabProcess | undefined;
  readonly events: ClientEvent[] = [];
  readonly transitions: Transition[] = [];
  /** per director: real servers the health checks say are up, and the sync daemon lvsd last started */
  readonly up: [Set<string>, Set<string>] = [new Set(), new Set()];
  readonly sync: [string, string] = ['', ''];
  /** when each director's health checks last reached all 3 web servers up */
  readonly allUpAt: [number | undefined, number | undefined] = [undefined, undefined];

  constructor(dir: string, readonly mode: Forwarding = 'dr') {
    this.files = new LabFiles(dir, mode);
  }

  /** The director's links: eth0, and eth1 with NAT. */
  links(): string[] {
    return this.mode === 'nat' ? ['eth0', 'eth1'] : ['eth0'];
  }

  /** All of a director's links down or up, in one shell (one process: quick even under emulation). */
  setLinks(which: 1 | 2, how: 'up' | 'down'): void {
    const ns = node(`d${which}`).ns;
    const r = runScript(this.links().map((l) => `ip -n ${ns} link set ${l} ${how}`).join('\n'));
    if (!r.ok) throw new Error(`ip link set ${how} in ${ns}: ${r.output}`);
  }

  startDirector(which: 1 | 2): LabProcess {
    const p = startDirector(this.files, which);
    this.up[which - 1].clear();
    this.sync[which - 1] = '';
    this.allUpAt[which - 1] = undefined;
    p.on((_l, j) => {
      if (j?.event === 'vrrp.transition' && j.instance === INSTANCE) {
        this.transitions.push({ name: p.name, instance: String(j.instance), from: String(j.from), to: String(j.to), at: Date.now() });
      }
      if (j?.event === 'daemon.adopt') {
        // a restart that finds the table in the kernel starts its real servers up (lvsd keeps the kernel's
        // weights until a probe says otherwise): only a failing probe logs a change then
        for (const rs of nodes(this.mode).filter((x) => x.name.startsWith('rs'))) this.up[which - 1].add(`${rs.address}:${webPort(this.mode)}`);
        this.allUpAt[which - 1] = this.up[which - 1].size === 3 ? Date.now() : undefined;
      }
      if (j?.event === 'health.change') {
        if (j.to === 'up') this.up[which - 1].add(String(j.realServer));
        else this.up[which - 1].delete(String(j.realServer));
        this.allUpAt[which - 1] = this.up[which - 1].size === 3 ? (this.allUpAt[which - 1] ?? Date.now()) : undefined;
      }
      if (j?.event === 'connsync.change' && typeof j.change === 'string' && j.change.startsWith('start ')) {
        this.sync[which - 1] = j.change.slice('start '.length);
      }
    });
    this.director[which - 1] = p;
    return p;
  }

  /** The latest state of a director's VI_WEB, from its log. */
  state(which: 1 | 2): string | undefined {
    return this.transitions.filter((t) => t.name === `d${which}`).at(-1)?.to;
  }

  async waitState(which: 1 | 2, state: string, ms: number, since = 0): Promise<Transition> {
    const deadline = Date.now() + ms;
    for (;;) {
      const t = this.transitions.filter((x) => x.name === `d${which}` && x.at >= since).at(-1);
      if (t && t.to === state) return t;
      if (Date.now() > deadline) {
        const d = this.director[which - 1];
        throw new Error(`d${which} not ${state} after ${Math.round(ms / 1000)} s (now ${t?.to ?? this.state(which) ?? 'unknown'}); ` +
          `last log: ${d?.lines.slice(-3).join(' | ') ?? '-'}`);
      }
      await sleep(100);
    }
  }

  /** the client's port of the latest long-lived connection */
  longPort: number | undefined;

  startClient(): LabProcess {
    const c = startClient(this.files);
    c.on((_l, j) => {
      if (j && (j.kind === 'short' || j.kind === 'long')) this.events.push(j as unknown as ClientEvent);
      if (j?.kind === 'long-open') this.longPort = Number(j.port);
    });
    this.client = c;
    return c;
  }

  stop(): void {
    for (const p of [...this.web, ...this.director, this.client]) p?.kill();
    destroy();
  }
}

/** The figures of one disruption: client events from `from` on, the disruption at `t0`. */
export function figures(events: readonly ClientEvent[], from: number, to: number, t0: number, takeoverAt: number | undefined): Omit<PhaseFigures, 'longConnection'> {
  const shorts = events.filter((e) => e.kind === 'short' && e.at >= from && e.at <= to);
  const okEnds = shorts.filter((e) => e.ok).map((e) => e.at + e.ms).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < okEnds.length; i++) gap = Math.max(gap, okEnds[i]! - okEnds[i - 1]!);
  return {
    requests: shorts.length,
    failed: shorts.filter((e) => !e.ok).length,
    failures: shorts.filter((e) => !e.ok).map((e) => ({ atMs: Math.round(e.at - t0), ms: Math.round(e.ms), err: e.err ?? '?' })),
    longestGapMs: Math.round(gap),
    takeoverMs: takeoverAt === undefined ? NaN : Math.round(takeoverAt - t0),
  };
}

/** Waits until lvsd on director `which` has started the `want` sync daemon (its connsync.change log event). */
async function waitSync(lab: Lab, which: 1 | 2, want: 'master' | 'backup', ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (lab.sync[which - 1] !== want) {
    if (Date.now() > deadline) throw new Error(`d${which} runs the ${lab.sync[which - 1] || 'no'} sync daemon, not the ${want} one`);
    await sleep(200);
  }
}

/** Waits until the client has answered `steadyMs` in a row without a failure, after `since`. */
async function waitSteady(lab: Lab, since: number, steadyMs: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const shorts = lab.events.filter((e) => e.kind === 'short' && e.at >= since);
    const lastFail = shorts.filter((e) => !e.ok).at(-1);
    const okSince = shorts.filter((e) => e.ok && e.at > (lastFail?.at ?? since));
    if (okSince.length > 0 && okSince.at(-1)!.at - okSince[0]!.at >= steadyMs) return;
    if (Date.now() > deadline) {
      throw new Error(`the client did not get ${steadyMs / 1000} s of answers in a row within ${ms / 1000} s ` +
        `(last: ${JSON.stringify(shorts.at(-1) ?? null)})`);
    }
    await sleep(200);
  }
}

/** Whether the long-lived connection answered after `after` (twice, the same server as before `before`). */
function longVerdict(lab: Lab, before: number, after: number): { verdict: 'survived' | 'reset'; server?: string | undefined; detail: string } {
  const longs = lab.events.filter((e) => e.kind === 'long');
  const prior = longs.filter((e) => e.at < before && e.ok).at(-1);
  const later = longs.filter((e) => e.at >= after);
  const failedLater = later.find((e) => !e.ok);
  if (!prior) return { verdict: 'reset', detail: 'it never answered before the failover' };
  if (failedLater) return { verdict: 'reset', server: prior.server, detail: `it failed: ${failedLater.err}` };
  const okLater = later.filter((e) => e.ok);
  if (okLater.length < 2) return { verdict: 'reset', server: prior.server, detail: 'it did not answer after the failover' };
  if (okLater.some((e) => e.server !== prior.server)) return { verdict: 'reset', server: prior.server, detail: 'another server answered on it' };
  return { verdict: 'survived', server: prior.server, detail: `${prior.server} still answers on it` };
}

/**
 * Waits until director `which` has the long-lived connection in its IPVS connection table (learnt from
 * the master's sync daemon, which sends a connection once it has seen 3 packets of it, and flushes its
 * buffer within about 2 s). Returns how long that took, ms.
 */
export async function waitSynced(lab: Lab, which: 1 | 2, ms: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const port = lab.longPort;
    if (port !== undefined && ipvsConns(which).some((l) => l.includes(`${node('client').address}:${port} `))) return Date.now() - t0;
    if (Date.now() - t0 > ms) {
      throw new Error(`d${which} has not learnt the long-lived connection (client port ${port ?? '?'}) within ${ms / 1000} s: ` +
        'is the sync daemon running on both (ipvsadm -L --daemon)?');
    }
    await sleep(500);
  }
}

function ipvsConns(which: 1 | 2): string[] {
  const r = spawnSync('ip', ['netns', 'exec', node(`d${which}`).ns, 'ipvsadm', '-Lnc'], { encoding: 'utf8', timeout: 60_000 });
  return (r.stdout ?? '').split('\n').filter((l) => l.includes(`${VIP}:80`));
}

function indent(text: string): string {
  return text.replace(/\s+$/, '').split('\n').map((l) => `      ${l}`).join('\n');
}

export async function runScenario(opts: ScenarioOptions, keep?: (lab: Lab, report: LabReport) => Promise<void>): Promise<LabReport> {
  const say = opts.say;
  const loopMs = opts.loopMs ?? 200;
  const steadyMs = opts.steadyMs ?? 4000;
  const report: LabReport = { steps: [], advertIntervalS: 1, ok: false };
  if (labExists()) {
    throw new StepFailure('build the network', `a lab is already running here (namespace ${SWITCH_NS}); ` +
      `end it, or remove it with: lvsd lab --clean`);
  }
  const mode = opts.mode ?? 'dr';
  const lab = new Lab(opts.dir, mode);
  const total = 7;
  const step = stepRunner(say, total, report.steps, (name, error) => new StepFailure(name, error, report));

  try {
    await step(`build the network: client, 2 directors, 3 web servers ${mode === 'nat' ? 'behind them on a second bridge' : 'on one bridge'} (namespaces lvs-*)`, async () => {
      const r = runScript(buildScript(mode));
      if (!r.ok) throw new Error(r.output);
      for (const x of nodes(mode)) say(`      ${x.ns.padEnd(11)} ${x.address}${x.inner ? ` + ${x.inner.address}` : ''}`);
      return mode === 'nat'
        ? `VIP ${VIP}, NAT forwarding, the web servers' gateway ${GATEWAY} (VRRP VI_GW, synced with VI_WEB)`
        : `VIP ${VIP}, DR forwarding`;
    });

    await step('start the web servers (node HTTP servers answering with their name)', async () => {
      for (const x of nodes(mode).filter((y) => y.name.startsWith('rs'))) {
        const p = startWebServer(lab.files, x);
        lab.web.push(p);
      }
      await Promise.all(lab.web.map((p) => p.waitFor((j) => j.event === 'listening', 60_000, `${p.name} listening`)));
      return `rs1, rs2, rs3 listening on :${webPort(mode)}`;
    });

    await step('start both directors: lvsd run (same services file, priorities 150 and 100)', async () => {
      // both at once, as two machines booting: the higher priority wins whichever is quicker
      lab.startDirector(1);
      lab.startDirector(2);
      const deadline0 = Date.now() + 120_000;
      while (lab.state(1) !== 'master' || lab.state(2) !== 'backup') {
        for (const d of lab.director) {
          if (d && d.child.exitCode !== null) {
            throw new Error(`lvsd on ${d.name} exited with status ${d.child.exitCode}: ${d.lines.at(-1) ?? ''} (log: ${lab.files.log(d.name)})`);
          }
        }
        if (Date.now() > deadline0) throw new Error(`no election after 120 s: d1 ${lab.state(1) ?? 'starting'}, d2 ${lab.state(2) ?? 'starting'}`);
        await sleep(200);
      }
      say('      d1: VI_WEB master, d2: VI_WEB backup');
      // the web servers come up after `rise` good probes; lvsd logs each change (health.change, connsync.change)
      const deadline = Date.now() + 90_000;
      for (const which of [1, 2] as const) {
        const want = which === 1 ? 'master' : 'backup';
        while (lab.up[which - 1].size < 3 || lab.sync[which - 1] !== want) {
          if (Date.now() > deadline) {
            throw new Error(`d${which}: ${lab.up[which - 1].size}/3 web servers up, sync daemon "${lab.sync[which - 1]}" (want ${want})`);
          }
          await sleep(200);
        }
        say(`      d${which}: 3 web servers up (health checks), ${want} sync daemon running`);
      }
    });

    await step('lvsd status on both directors', async () => {
      const both = await Promise.all([lvsdIn(lab.files, 1, ['status']), lvsdIn(lab.files, 2, ['status'])]);
      for (const which of [1, 2] as const) {
        const r = both[which - 1]!;
        say(`    lvs-d${which}# lvsd status`);
        say(indent(r.output));
        if (r.code !== 0) throw new Error(`lvsd status on d${which} exited ${r.code}`);
      }
    });

    const client = lab.startClient();
    await step(`requests through the VIP: 12 from the client (curl http://${VIP}/ would do the same)`, async () => {
      await client.waitFor((j) => j.kind === 'ready', 60_000, 'client ready');
      client.send('burst 12');
      const b = await client.waitFor((j) => j.kind === 'burst', 120_000, 'burst done');
      const counts = b.counts as Record<string, number>;
      report.distribution = counts;
      for (const [name, c] of Object.entries(counts).sort()) say(`      ${name.padEnd(4)} ${'#'.repeat(c)} ${c}`);
      if (Number(b.failed) > 0) throw new Error(`${String(b.failed)} of 12 requests failed`);
      if (Object.keys(counts).length !== 3) throw new Error(`only ${Object.keys(counts).join(', ')} answered (round robin should reach all 3)`);
      return 'every web server answered (rr)';
    });

    await step('failover: kill -9 the master\'s lvsd and take its link down while the client keeps asking', async () => {
      client.send(`loop ${loopMs}`);
      client.send('open');
      say(`      the client sends a request every ${loopMs} ms (a new connection each) and one a second on a long-lived connection`);
      const syncedMs = await waitSynced(lab, 2, 20_000);
      await sleep(2000); // a steady state before the kill
      const learnt = ipvsConns(2);
      say(`      d2 learnt the long-lived connection from d1's sync daemon ${(syncedMs / 1000).toFixed(1)} s after it opened; ` +
        `it knows ${learnt.length} connection(s) to the VIP (ipvsadm -Lnc in lvs-d2)`);
      const from = Date.now() - 2000;
      const t0 = Date.now();
      lab.director[0]!.kill('SIGKILL');
      lab.setLinks(1, 'down');
      // IPVS forwards in the kernel without lvsd: the traffic stops only with the link
      say(`      d1: lvsd killed (SIGKILL); ${lab.links().join(', ')} down ${((Date.now() - t0) / 1000).toFixed(2)} s later`);
      const took = await lab.waitState(2, 'master', 30_000, t0);
      say(`      d2: VI_WEB master after ${((took.at - t0) / 1000).toFixed(2)} s`);
      await waitSteady(lab, took.at, steadyMs, 60_000);
      const end = Date.now();
      const f = figures(lab.events, from, end, t0, took.at);
      const lv = longVerdict(lab, t0, took.at);
      report.failover = { ...f, longConnection: lv.verdict, longServer: lv.server };
      await waitSync(lab, 2, 'master', 20_000);
      say('      d2 now runs the master sync daemon (lvsd follows VRRP)');
      say(`      requests: ${f.requests}, failed: ${f.failed}, longest gap between answers: ${(f.longestGapMs / 1000).toFixed(2)} s`);
      say(`      long-lived connection: ${lv.verdict} (${lv.detail})`);
      if (lv.verdict !== 'survived') throw new Error(`the long-lived connection did not survive the failover: ${lv.detail}`);
    });

    await step('the old master returns: lvsd restarted on d1, link up; it preempts (priority 150 > 100)', async () => {
      const from = Date.now() - 2000;
      const since = Date.now();
      lab.startDirector(1);
      await lab.waitState(1, 'fault', 90_000, since).catch(() => undefined); // link still down: fault
      lab.setLinks(1, 'up');
      const t0 = Date.now();
      say(`      d1: lvsd started, ${lab.links().join(', ')} up`);
      const back = await lab.waitState(1, 'master', 60_000, t0);
      await lab.waitState(2, 'backup', 30_000, t0);
      say(`      d1: VI_WEB master again ${((back.at - t0) / 1000).toFixed(2)} s after link up, d2 backup`);
      const upAt = lab.allUpAt[0];
      const upWhen = upAt === undefined ? 'NOT' : upAt < t0 ? 'already (adopted from the kernel at restart, no probe failed)' : `${((upAt - t0) / 1000).toFixed(2)} s after link up`;
      say(`      d1's health checks had all 3 web servers up: ${upWhen} (preemptDelay 8s keeps it backup meanwhile)`);
      await waitSteady(lab, back.at, steadyMs, 60_000);
      const f = figures(lab.events, from, Date.now(), t0, back.at);
      const lv = longVerdict(lab, t0, back.at);
      report.failback = { ...f, longConnection: lv.verdict, longServer: lv.server, healthUpMs: upAt === undefined ? undefined : upAt - t0 };
      await waitSync(lab, 1, 'master', 20_000);
      await waitSync(lab, 2, 'backup', 20_000);
      say('      d1 runs the master sync daemon again, d2 the backup one');
      say(`      requests: ${f.requests}, failed: ${f.failed}, longest gap between answers: ${(f.longestGapMs / 1000).toFixed(2)} s`);
      say(`      long-lived connection: ${lv.verdict} (${lv.detail})`);
      client.send('stop');
      client.send('close');
    });
    report.ok = true;
    if (keep) await keep(lab, report);
  } finally {
    lab.stop();
  }
  return report;
}

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

/** The client gives up on a request after 2.5 s: wait that long before counting the last ones. */
const TIMEOUT_SLACK_MS = 3000;

/** The closing lines. */
export function summary(r: LabReport): string[] {
  const lines = ['', 'summary'];
  for (const s of r.steps) lines.push(`  ${s.ok ? 'ok    ' : 'FAILED'} ${s.name}${s.error ? `: ${s.error}` : ''}`);
  const phase = (label: string, f: PhaseFigures | undefined) => {
    if (!f) return;
    lines.push(`  ${label}: new master after ${(f.takeoverMs / 1000).toFixed(2)} s; ${f.failed} of ${f.requests} requests failed; ` +
      `longest gap ${(f.longestGapMs / 1000).toFixed(2)} s; long-lived connection ${f.longConnection}`);
  };
  phase('failover (kill -9 + link down)', r.failover);
  phase('failback (preemption)        ', r.failback);
  if (r.failover) {
    lines.push(`  VRRP bound: Master_Down_Interval = 3 x ${r.advertIntervalS} s + skew (${((256 - 100) / 256 * r.advertIntervalS).toFixed(2)} s) = ` +
      `${(3 * r.advertIntervalS + (256 - 100) / 256 * r.advertIntervalS).toFixed(2)} s`);
  }
  lines.push(r.ok ? 'lab: every step worked' : `lab: FAILED at "${r.steps.find((s) => !s.ok)?.name ?? '?'}"`);
  return lines;
}

export { execIn };
