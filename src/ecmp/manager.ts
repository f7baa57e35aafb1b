/**
 * Active-active ECMP on one director (docs/ecmp.md): puts the service addresses on the VIP interface,
 * sets the sysctls, runs BIRD (supervisor.ts) and keeps what it announces equal to decide()'s verdict
 * as health, quorum, the director drain and the stop change. Polls BIRD for its sessions (status, metrics).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { EcmpConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { timerDelay } from '../timer-delay.js';
import { bgpSession, birdTime, parseBfdSessions, parseProtocols } from './bird-control.js';
import { birdConfig, peerProtocol } from './bird-config.js';
import { announced, decide, type ServiceQuorum, type VipDecision } from './decide.js';
import { sessionChange } from './session-change.js';
import { BirdSupervisor, type DaemonStatus, type SupervisorOptions } from './supervisor.js';
import { applySysctls, type SysctlResult } from './sysctl.js';

export interface EcmpHost {
  /** Every ECMP service's address, real servers taking traffic and quorum, now. */
  quorums(): ServiceQuorum[];
  /** Why the director cannot serve, from outside this module (IPVS unreachable); empty when it can. */
  directorProblems(): string[];
}

export interface EcmpAddressPort {
  add(ifname: string, address: string, prefixLength: number): Promise<boolean>;
}

export interface EcmpOptions {
  config: EcmpConfig;
  log: Logger;
  host: EcmpHost;
  /** Where director.json (the director drain) is kept. */
  stateDir: string;
  /** /proc/sys unless a test says otherwise. */
  sysctlRoot?: string;
  addresses: EcmpAddressPort;
  pollMs?: number;
  backoff?: SupervisorOptions['backoff'];
}

export interface EcmpPeerStatus {
  address: string;
  as: number;
  /** BGP session state as BIRD reports it ('unknown' when BIRD does not answer). */
  bgp: string;
  /** BFD session state (Up, Down, Init, AdminDown), 'off' when the peer has no BFD, 'unknown' when BIRD does not answer. */
  bfd: string;
  /** BIRD's last error for the session ('' when none). */
  detail: string;
  /** When lvsd saw the BGP state change last. */
  since: string;
}

export interface EcmpStatus {
  daemon: DaemonStatus;
  drained: boolean;
  drainedSince: string | null;
  stopping: boolean;
  /** Why the director announces nothing (sysctls, IPVS); empty when it may. */
  problems: string[];
  peers: EcmpPeerStatus[];
  vips: Array<{ address: string; prefix: string; announced: boolean; reason: string | null }>;
}

const DRAIN_FILE = 'director.json';

export class Ecmp {
  private config: EcmpConfig;
  private readonly supervisor: BirdSupervisor;
  private drained = false;
  private drainedSince: string | null = null;
  private stopping = false;
  private sysctls: SysctlResult[] = [];
  private missing = new Set<string>();
  private decisions: VipDecision[] = [];
  /** What BIRD was last given to announce (sorted prefixes, joined). */
  private given: string | undefined;
  private peers = new Map<string, EcmpPeerStatus>();
  /** Per peer, when BIRD's protocol last changed state at the last read (BIRD's text), to tell a flap between reads. */
  private changedAt = new Map<string, string | undefined>();
  private pollTimer: NodeJS.Timeout | undefined;
  private pollFailing = false;
  private applying: Promise<void> = Promise.resolve();
  private evaluateQueued: Promise<void> | undefined;
  private closed = false;

  private constructor(private readonly opts: EcmpOptions) {
    this.config = opts.config;
    this.supervisor = new BirdSupervisor({
      path: opts.config.daemon.path, runDir: opts.config.daemon.runDir, log: opts.log,
      ...(opts.backoff && { backoff: opts.backoff }),
    });
    this.resetPeers();
  }

  static async start(opts: EcmpOptions): Promise<Ecmp> {
    const e = new Ecmp(opts);
    await e.loadDrain();
    e.sysctls = await applySysctls(opts.sysctlRoot);
    for (const s of e.sysctls) {
      if (s.ok) opts.log.info({ event: 'ecmp.sysctl', name: s.name }, `${s.name} set`);
      else opts.log[s.required ? 'error' : 'warn']({ event: 'ecmp.sysctl_failed', name: s.name, required: s.required, err: s.error }, s.error!);
    }
    await e.ensureAddresses();
    e.decisions = e.compute();
    e.logDecisions([], e.decisions);
    e.given = key(announced(e.decisions));
    await e.supervisor.start(birdConfig(e.config, announced(e.decisions)));
    e.schedulePoll();
    return e;
  }

  private vipAddresses(): string[] {
    return [...new Set(this.opts.host.quorums().map((q) => q.address))];
  }

  /** Every service address on the VIP interface; one that cannot be added is not announced. */
  private async ensureAddresses(): Promise<void> {
    const missing = new Set<string>();
    for (const a of this.vipAddresses()) {
      try {
        await this.opts.addresses.add(this.config.vipInterface, a, a.includes(':') ? 128 : 32);
      } catch (e) {
        missing.add(a);
        this.opts.log.error({ event: 'ecmp.address_failed', address: a, interface: this.config.vipInterface, err: (e as Error).message },
          `cannot put ${a} on ${this.config.vipInterface}: ${(e as Error).message}; it is not announced`);
      }
    }
    this.missing = missing;
  }

  private problems(): string[] {
    return [
      ...this.sysctls.filter((s) => s.required && !s.ok).map((s) => s.error!),
      ...this.opts.host.directorProblems(),
    ];
  }

  private compute(): VipDecision[] {
    return decide(this.opts.host.quorums(), {
      drained: this.drained, stopping: this.stopping, problems: this.problems(), missingAddresses: this.missing,
    });
  }

  private logDecisions(before: readonly VipDecision[], after: readonly VipDecision[]): void {
    const old = new Map(before.map((d) => [d.address, d]));
    for (const d of after) {
      const o = old.get(d.address);
      if (o && o.announce === d.announce && o.reason === d.reason) continue;
      if (!o && !d.announce && d.reason === '') continue;
      if (d.announce) {
        if (!o?.announce) this.opts.log.info({ event: 'ecmp.announce', vip: d.prefix }, `announcing ${d.prefix}`);
      } else {
        this.opts.log.warn({ event: 'ecmp.withdraw', vip: d.prefix, reason: d.reason }, `not announcing ${d.prefix}: ${d.reason}`);
      }
    }
  }

  /**
   * Decides again and, when what should be announced changed, gives BIRD the new set. Calls in the same
   * tick coalesce; the promise settles once BIRD was given the result. Never rejects.
   */
  evaluate(): Promise<void> {
    if (this.evaluateQueued) return this.evaluateQueued;
    const run = this.applying.then(() => {
      this.evaluateQueued = undefined;
      return this.applyNow();
    });
    this.evaluateQueued = run;
    this.applying = run;
    return run;
  }

  private async applyNow(): Promise<void> {
    const next = this.compute();
    this.logDecisions(this.decisions, next);
    this.decisions = next;
    const prefixes = announced(next);
    const k = key(prefixes);
    if (k === this.given) return;
    this.given = k;
    await this.giveBird(prefixes);
  }

  private async giveBird(prefixes: readonly string[]): Promise<void> {
    try {
      const how = await this.supervisor.reconfigure(birdConfig(this.config, prefixes));
      this.opts.log.info({ event: 'bgp.reconfigured', via: how, announced: prefixes }, `BIRD announces ${prefixes.length === 0 ? 'nothing' : prefixes.join(', ')} (${how})`);
    } catch (e) {
      this.given = undefined; // tried again at the next evaluation
      this.opts.log.error({ event: 'bgp.reconfigure_failed', err: (e as Error).message }, `BIRD did not take the new config: ${(e as Error).message}`);
    }
  }

  /** A reload: the new section (peers, timers) and the new services' addresses. */
  async update(config: EcmpConfig): Promise<void> {
    const changed = JSON.stringify({ ...config, origin: null }) !== JSON.stringify({ ...this.config, origin: null });
    this.config = config;
    if (changed) this.resetPeers();
    await this.ensureAddresses();
    if (changed) this.given = undefined; // rewrite the whole file
    await this.evaluate();
  }

  private resetPeers(): void {
    const old = this.peers;
    this.peers = new Map(this.config.peers.map((p) => [p.address, old.get(p.address) ?? {
      address: p.address, as: p.as, bgp: 'unknown', bfd: p.bfd ? 'unknown' : 'off', detail: '', since: new Date().toISOString(),
    }]));
    for (const p of this.config.peers) this.peers.get(p.address)!.as = p.as;
  }

  private anyAnnounced(): boolean {
    return this.decisions.some((d) => d.announce);
  }

  private wait(): Promise<void> {
    return new Promise((r) => setTimeout(r, timerDelay(this.config.withdrawWait * 1000)));
  }

  /** `lvsd drain --director` (on) / `lvsd undrain --director`: recorded first, then withdrawn and waited for. */
  async drain(on: boolean): Promise<{ changed: boolean }> {
    if (on === this.drained) return { changed: false };
    const since = on ? new Date().toISOString() : null;
    await writeFileAtomic(join(this.opts.stateDir, DRAIN_FILE), `${JSON.stringify({ drained: on, since })}\n`);
    this.drained = on;
    this.drainedSince = since;
    this.opts.log.info({ event: on ? 'ecmp.drain' : 'ecmp.undrain' }, on ? 'director drained: withdrawing every address' : 'director undrained');
    const had = this.anyAnnounced();
    await this.evaluate();
    if (on && had) await this.wait();
    return { changed: true };
  }

  private async loadDrain(): Promise<void> {
    const file = join(this.opts.stateDir, DRAIN_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      text = '';
    }
    try {
      const doc = JSON.parse(text) as { drained?: unknown; since?: unknown };
      if (typeof doc.drained !== 'boolean') throw new Error('no "drained"');
      this.drained = doc.drained;
      this.drainedSince = typeof doc.since === 'string' ? doc.since : null;
    } catch (e) {
      // fail safe: a director whose drain cannot be known does not announce until undrained
      this.drained = true;
      this.drainedSince = new Date().toISOString();
      this.opts.log.error({ event: 'ecmp.drain_file_unreadable', file, err: (e as Error).message },
        `${file} cannot be read (${(e as Error).message}): the director starts drained; lvsd undrain --director announces`);
    }
  }

  /** SIGTERM: withdraw everything, wait for the routers, then the caller stops. */
  async withdrawForStop(): Promise<void> {
    const had = this.anyAnnounced();
    this.stopping = true;
    await this.evaluate();
    if (had) await this.wait();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.closed = true;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    await this.supervisor.stop();
  }

  private schedulePoll(): void {
    if (this.closed) return;
    // the decision is taken again too: the director's own state (IPVS reachable) changes without an event
    this.pollTimer = setTimeout(() => void this.poll().then(() => this.evaluate()).finally(() => this.schedulePoll()), timerDelay(this.opts.pollMs ?? 1000));
    this.pollTimer.unref();
  }

  /** Reads the sessions from BIRD; a change is logged (bgp.session). */
  async poll(): Promise<void> {
    if (this.supervisor.pid === undefined) {
      this.setPeers(() => ({ bgp: 'Down', bfd: undefined, detail: 'BIRD is not running' }));
      return;
    }
    try {
      const rows = parseProtocols(await this.supervisor.command('show protocols'));
      const bfd = this.config.peers.some((p) => p.bfd) ? parseBfdSessions(await this.supervisor.command('show bfd sessions')) : new Map<string, string>();
      const byName = new Map(rows.map((r) => [r.name, r]));
      this.setPeers((address) => {
        const row = byName.get(peerProtocol(address));
        const s = row ? bgpSession(row) : { state: 'unknown', detail: 'not in BIRD' };
        return { bgp: s.state, bfd: bfd.get(address) ?? 'Down', detail: s.detail, changedAt: row?.since };
      });
      if (this.pollFailing) this.opts.log.info({ event: 'bgp.socket_ok' }, 'BIRD control socket answers again');
      this.pollFailing = false;
      this.supervisor.socketFailed(null);
    } catch (e) {
      if (!this.pollFailing) {
        this.opts.log.error({ event: 'bgp.poll_failed', err: (e as Error).message }, `cannot read BIRD's sessions: ${(e as Error).message}`);
      }
      this.pollFailing = true;
      this.supervisor.socketFailed((e as Error).message);
      this.setPeers(() => ({ bgp: 'unknown', bfd: 'unknown', detail: (e as Error).message }));
    }
  }

  private setPeers(read: (address: string) => { bgp: string; bfd: string | undefined; detail: string; changedAt?: string | undefined }): void {
    for (const p of this.config.peers) {
      const cur = this.peers.get(p.address)!;
      const r = read(p.address);
      const bfd = p.bfd ? (r.bfd ?? 'Down') : 'off';
      const change = sessionChange({ bgp: cur.bgp, bfd: cur.bfd, changedAt: this.changedAt.get(p.address) }, { bgp: r.bgp, bfd, changedAt: r.changedAt });
      if (change === 'changed') {
        this.opts.log[r.bgp === 'Established' ? 'info' : 'warn']({ event: 'bgp.session', peer: p.address, from: cur.bgp, to: r.bgp, bfd, detail: r.detail },
          `BGP session with ${p.address}: ${cur.bgp} -> ${r.bgp} (BFD ${bfd})${r.detail ? `: ${r.detail}` : ''}`);
        if (r.bgp !== cur.bgp) cur.since = new Date().toISOString();
      } else if (change === 'flapped') {
        const at = birdTime(r.changedAt!);
        const what = r.bgp === 'Established' ? 'went down and came back' : 'was restarted by BIRD (it may have been established meanwhile)';
        this.opts.log.warn({ event: 'bgp.session', peer: p.address, from: cur.bgp, to: r.bgp, bfd, detail: r.detail, flapped: true, changedAt: at ?? r.changedAt },
          `BGP session with ${p.address} ${what} between two reads: ${cur.bgp} -> ${r.bgp} since ${at ?? r.changedAt} (BFD ${bfd})${r.detail ? `: ${r.detail}` : ''}`);
        cur.since = at ?? new Date().toISOString();
      }
      this.changedAt.set(p.address, r.changedAt);
      cur.bgp = r.bgp;
      cur.bfd = bfd;
      cur.detail = r.detail;
    }
  }

  status(): EcmpStatus {
    return {
      daemon: this.supervisor.status(),
      drained: this.drained,
      drainedSince: this.drainedSince,
      stopping: this.stopping,
      problems: this.problems(),
      peers: this.config.peers.map((p) => ({ ...this.peers.get(p.address)! })),
      vips: this.decisions.map((d) => ({ address: d.address, prefix: d.prefix, announced: d.announce, reason: d.reason || null })),
    };
  }
}

function key(prefixes: readonly string[]): string {
  return [...prefixes].sort().join(',');
}
