/**
 * The ECMP lab while it runs (ecmp-scenario.ts tells the story): the router's BIRD and the monitor of its
 * routes, the directors (`lvsd run` on examples/lab/ecmp), the web servers and the client, and what they
 * said: the route's next hops over time, client answers, health changes, announcements and withdrawals;
 * the pool's figures and the directors' IPVS connection tables on demand.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ECMP_EXAMPLES, directorAs, isAnnounce, setRunDir } from './ecmp-config.js';
import { hopChangeAt, routeEvent, type PooledConn } from './ecmp-figures.js';
import { CLIENT, DIRECTORS, ECMP_PORT, ECMP_VIP, ROUTER, director, ecmpDestroy, routerBirdConf, type DirectorIndex } from './ecmp-topology.js';
import type { ClientEvent } from './running-lab.js';
import { LVSD_MAIN, LabProcess } from './topology.js';

const CLIENT_JS = fileURLToPath(new URL('./client.js', import.meta.url));
export const WEB_SERVER_JS = fileURLToPath(new URL('./web-server.js', import.meta.url));
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** the client gives up on a request after 2.5 s: wait that long before counting the last ones */
export const TIMEOUT_SLACK_MS = 3000;

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
      // up at their first check: named in one line (the first 16; the lab has a few)
      if (j?.event === 'health.first_up' && Array.isArray(j.realServers)) {
        for (const r of j.realServers as Array<{ realServer: string }>) up.add(String(r.realServer));
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
