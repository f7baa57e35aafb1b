/**
 * The lab while it runs: what it started (web servers, directors, the client) and what it heard from them
 * (client answers, VRRP transitions, health and sync-daemon changes, from their JSON log lines), the waits
 * on those, and the figures of a disruption read from the client's events. scenario.ts tells the story
 * with it; disruptions.ts adds the runs the failover tests make after it.
 */
import { spawnSync } from 'node:child_process';
import type { StepRecord } from './steps.js';
import { LabFiles, LabProcess, VIP, destroy, node, nodes, runScript, startClient, startDirector, webPort, type Forwarding } from './topology.js';

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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
      // up at their first check: named in one line (the first 16; the lab has 3)
      if (j?.event === 'health.first_up' && Array.isArray(j.realServers)) {
        for (const r of j.realServers as Array<{ realServer: string }>) this.up[which - 1].add(String(r.realServer));
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
export async function waitSync(lab: Lab, which: 1 | 2, want: 'master' | 'backup', ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (lab.sync[which - 1] !== want) {
    if (Date.now() > deadline) throw new Error(`d${which} runs the ${lab.sync[which - 1] || 'no'} sync daemon, not the ${want} one`);
    await sleep(200);
  }
}

/** Waits until the client has answered `steadyMs` in a row without a failure, after `since`. */
export async function waitSteady(lab: Lab, since: number, steadyMs: number, ms: number): Promise<void> {
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
export function longVerdict(lab: Lab, before: number, after: number): { verdict: 'survived' | 'reset'; server?: string | undefined; detail: string } {
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

export function ipvsConns(which: 1 | 2): string[] {
  const r = spawnSync('ip', ['netns', 'exec', node(`d${which}`).ns, 'ipvsadm', '-Lnc'], { encoding: 'utf8', timeout: 60_000 });
  return (r.stdout ?? '').split('\n').filter((l) => l.includes(`${VIP}:80`));
}

/** The client gives up on a request after 2.5 s: wait that long before counting the last ones. */
export const TIMEOUT_SLACK_MS = 3000;
