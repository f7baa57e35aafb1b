/**
 * The lab's network: one bridge, a client, two directors and three web servers, each in its own network
 * namespace, all on 10.80.0.0/24 (private, never routed anywhere: the namespaces have no other link).
 *
 *   lvs-client 10.80.0.10 ─┐
 *   lvs-d1     10.80.0.2  ─┤            VIP 10.80.0.100: on the VRRP master's eth0,
 *   lvs-d2     10.80.0.3  ─┼─ br0 (lvs-sw)    and on every web server's lo (DR)
 *   lvs-rs1..3 10.80.0.11-13 ─┘
 *
 * With NAT (`--nat`) the web servers sit on a second bridge (br1, 10.81.0.0/24) whose only way out is
 * the directors' eth1: their default gateway 10.81.0.254 is a second VRRP address, in a sync group with
 * the VIP so both move together. The default is DR (direct routing): the master director rewrites only the destination MAC, the web
 * server (holding the VIP on lo, arp_ignore=1 / arp_announce=2 so it never answers ARP for it) replies
 * straight to the client. One bridge, no routing, and replies never pass a director, so what a failover
 * interrupts is only the client -> director leg.
 *
 * The commands are plain `ip`/`sysctl`, gathered into one bash script per step (one process instead of
 * dozens: under an emulated VM each exec costs up to a second); `script()` prints them for the curious.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, copyFileSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PREFIX = 'lvs';
export const VIP = '10.80.0.100';
export const SUBNET = '10.80.0';

/** DR: everything on one bridge. NAT: the web servers on a second bridge behind the directors. */
export type Forwarding = 'dr' | 'nat';

export interface LabNode {
  /** short name: client, d1, d2, rs1 ... */
  name: string;
  ns: string;
  /** eth0's address */
  address: string;
  /** the bridge eth0 is on */
  bridge: 'br0' | 'br1';
  /** bridge port name in the switch namespace */
  port: string;
  index: number;
  /** NAT directors: eth1 on br1, the web servers' side */
  inner?: { address: string; port: string; index: number };
}

/** NAT: the web servers' subnet and their default gateway (a VRRP address of the directors) */
export const INNER_SUBNET = '10.81.0';
export const GATEWAY = `${INNER_SUBNET}.254`;

const dist = dirname(fileURLToPath(import.meta.url)); // dist/src/lab
export const LVSD_MAIN = join(dist, '..', 'cli', 'main.js');
const WEB_SERVER = join(dist, 'web-server.js');
const CLIENT = join(dist, 'client.js');
/** examples/lab, from dist/src/lab */
export const EXAMPLES = join(dist, '..', '..', '..', 'examples', 'lab');

export const SWITCH_NS = `${PREFIX}-sw`;

export function nodes(mode: Forwarding = 'dr'): LabNode[] {
  const nat = mode === 'nat';
  const mk = (name: string, host: number, index: number): LabNode => {
    const rs = name.startsWith('rs');
    const dir = name.startsWith('d');
    return {
      name, ns: `${PREFIX}-${name}`, address: `${rs && nat ? INNER_SUBNET : SUBNET}.${host}`, bridge: rs && nat ? 'br1' : 'br0',
      port: `p-${name}`, index,
      ...(dir && nat ? { inner: { address: `${INNER_SUBNET}.${host}`, port: `q-${name}`, index: index + 20 } } : {}),
    };
  };
  return [mk('client', 10, 1), mk('d1', 2, 2), mk('d2', 3, 3), mk('rs1', 11, 4), mk('rs2', 12, 5), mk('rs3', 13, 6)];
}

export function node(name: string, mode: Forwarding = 'dr'): LabNode {
  const n = nodes(mode).find((x) => x.name === name);
  if (!n) throw new Error(`no lab node ${name}`);
  return n;
}

/** The bash text that builds the network (idempotence is not attempted: the lab refuses to start twice). */
export function buildScript(mode: Forwarding = 'dr'): string {
  const l: string[] = ['set -e'];
  l.push(`ip netns add ${SWITCH_NS}`, `ip -n ${SWITCH_NS} link set lo up`);
  // no multicast snooping: VRRP adverts and the sync daemon's messages flood like on a plain switch
  for (const br of mode === 'nat' ? ['br0', 'br1'] : ['br0']) {
    l.push(`ip -n ${SWITCH_NS} link add ${br} type bridge mcast_snooping 0`, `ip -n ${SWITCH_NS} link set ${br} up`);
  }
  for (const n of nodes(mode)) l.push(...nodeCommands(n, mode));
  return l.join('\n') + '\n';
}

/** The commands that make one node (its namespace, its link(s) to the switch, addresses, sysctls). */
export function nodeCommands(n: LabNode, mode: Forwarding = 'dr'): string[] {
  const l: string[] = [];
  l.push(`ip netns add ${n.ns}`, `ip -n ${n.ns} link set lo up`);
  // distinct indexes on the two ends: a veth whose index equals its peer's has its carrier changes batched
  l.push(`ip -n ${n.ns} link add eth0 index ${10 + n.index} type veth peer name ${n.port} index ${100 + n.index} netns ${SWITCH_NS}`);
  l.push(`ip -n ${SWITCH_NS} link set ${n.port} master ${n.bridge} up`);
  l.push(`ip -n ${n.ns} addr add ${n.address}/24 dev eth0`, `ip -n ${n.ns} link set eth0 up`);
  if (n.inner) {
    l.push(`ip -n ${n.ns} link add eth1 index ${10 + n.inner.index} type veth peer name ${n.inner.port} index ${100 + n.inner.index} netns ${SWITCH_NS}`);
    l.push(`ip -n ${SWITCH_NS} link set ${n.inner.port} master br1 up`);
    l.push(`ip -n ${n.ns} addr add ${n.inner.address}/24 dev eth1`, `ip -n ${n.ns} link set eth1 up`);
    // NAT: the web servers' replies pass through the director, which rewrites them back to the VIP
    l.push(`ip netns exec ${n.ns} sysctl -qw net.ipv4.ip_forward=1`);
  }
  if (n.name.startsWith('rs') && mode === 'nat') {
    l.push(`ip -n ${n.ns} route add default via ${GATEWAY}`);
  } else if (n.name.startsWith('rs')) {
    l.push(`ip -n ${n.ns} addr add ${VIP}/32 dev lo`);
    l.push(`ip netns exec ${n.ns} sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 ` +
      `net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2`);
  }
  return l;
}

/**
 * Replaces nodes with fresh ones (new namespaces: empty IPVS tables, no sync daemon, no VIP), the rest of
 * the lab untouched. Their processes must be gone. The switch ports go first, synchronously: deleting a
 * namespace frees its links later, and the new port of the same name and index would collide.
 */
export function renewScript(names: string[], mode: Forwarding = 'dr'): string {
  const ns = names.map((name) => node(name, mode));
  const l: string[] = ['set -e'];
  for (const n of ns) {
    l.push(`ip -n ${SWITCH_NS} link del ${n.port}`, ...(n.inner ? [`ip -n ${SWITCH_NS} link del ${n.inner.port}`] : []), `ip netns del ${n.ns}`);
  }
  for (const n of ns) l.push(...nodeCommands(n, mode));
  return l.join('\n') + '\n';
}

export function runScript(text: string): { ok: boolean; output: string } {
  const r = spawnSync('bash', ['-c', text], { encoding: 'utf8', timeout: 300_000 });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

export function labExists(): boolean {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').some((l) => l.split(' ')[0] === SWITCH_NS);
}

/** Kills every process in the lab's namespaces and deletes them (their links go with them). */
export function destroy(): void {
  const all = [...nodes().map((n) => n.ns), SWITCH_NS];
  for (const ns of all) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const ns of all) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

/** A process in a lab namespace whose stdout lines are JSON (or not), kept in a log file too. */
export class LabProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  private readonly listeners = new Set<(line: string, json: Record<string, unknown> | undefined) => void>();
  private readonly log: WriteStream;
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, ns: string, argv: string[], logFile: string) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.log.on('error', () => undefined);
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(signal ? null : code)));
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.log.write(line + '\n');
        this.lines.push(line);
        if (this.lines.length > 5000) this.lines.splice(0, 1000);
        let json: Record<string, unknown> | undefined;
        if (line.startsWith('{')) {
          try {
            json = JSON.parse(line) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
        }
        for (const l of this.listeners) l(line, json);
      });
    }
  }

  on(listener: (line: string, json: Record<string, unknown> | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first JSON line matching, rejects after `ms` (naming `what`) or when the process exits. */
  waitFor(match: (j: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const off = this.on((_line, j) => {
        if (j && match(j)) {
          done();
          resolve(j);
        }
      });
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: not seen within ${Math.round(ms / 1000)} s (last output of ${this.name}: ${this.lines.slice(-3).join(' | ')})`));
      }, ms);
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`${what}: ${this.name} exited (${code ?? 'killed'}) first; last output: ${this.lines.slice(-5).join(' | ')}`));
      };
      void this.exited.then(onExit);
      const done = () => {
        off();
        clearTimeout(timer);
      };
    });
  }

  send(line: string): void {
    this.child.stdin?.write(line + '\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  /** The pid of the program itself: `ip netns exec` execs it, so the child's pid is the program's. */
  get pid(): number | undefined {
    return this.child.pid;
  }
}

export function examplesDir(mode: Forwarding): string {
  return mode === 'nat' ? join(EXAMPLES, 'nat') : EXAMPLES;
}

export function webPort(mode: Forwarding): number {
  return mode === 'nat' ? 8080 : 80;
}

/** The address of director 1's or 2's status page, from its example config (undefined when it has none). */
export function statusPageUrl(which: 1 | 2, mode: Forwarding = 'dr'): string | undefined {
  try {
    const doc = JSON.parse(readFileSync(join(examplesDir(mode), `director-${which}`, 'vrrp.json'), 'utf8')) as { metrics?: { listen?: string; statusPage?: boolean } };
    return doc.metrics?.statusPage && doc.metrics.listen ? `http://${doc.metrics.listen}/` : undefined;
  } catch {
    return undefined;
  }
}

/** Where the lab keeps configs, sockets, state files and logs. */
export class LabFiles {
  constructor(readonly dir: string, readonly mode: Forwarding = 'dr') {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  /** The config directory of director 1 or 2: the shared services file plus that director's VRRP file. */
  directorConfig(which: 1 | 2): string {
    const d = join(this.dir, `d${which}`, 'config');
    mkdirSync(d, { recursive: true });
    copyFileSync(join(examplesDir(this.mode), 'services.json'), join(d, 'services.json'));
    copyFileSync(join(examplesDir(this.mode), `director-${which}`, 'vrrp.json'), join(d, 'vrrp.json'));
    return d;
  }

  socket(which: 1 | 2): string {
    return join(this.dir, `d${which}`, 'lvsd.sock');
  }

  stateFile(which: 1 | 2): string {
    return join(this.dir, `d${which}`, 'state.json');
  }

  log(name: string): string {
    return join(this.dir, `${name}.log`);
  }
}

export function startWebServer(files: LabFiles, n: LabNode): LabProcess {
  return new LabProcess(n.name, n.ns, [process.execPath, WEB_SERVER, n.name, String(webPort(files.mode))], files.log(n.name));
}

export function startClient(files: LabFiles): LabProcess {
  return new LabProcess('client', node('client').ns, [process.execPath, CLIENT, VIP, '80'], files.log('client'));
}

/** `lvsd run` in director 1 or 2, with the lab's socket and state file (and config: examples/lab unless given). */
export function startDirector(files: LabFiles, which: 1 | 2, configDir = files.directorConfig(which)): LabProcess {
  const argv = [process.execPath, LVSD_MAIN, 'run', '--config', configDir, '--socket', files.socket(which),
    '--state-file', files.stateFile(which), '--log-level', 'info'];
  return new LabProcess(`d${which}`, node(`d${which}`).ns, argv, files.log(`d${which}`));
}

/** `lvsd <args>` inside a director's namespace (status, reload ...); resolves with its output. */
export function lvsdIn(files: LabFiles, which: 1 | 2, args: string[]): Promise<{ code: number | null; output: string }> {
  return execIn(node(`d${which}`).ns, [process.execPath, LVSD_MAIN, ...args, '--socket', files.socket(which)]);
}

export function execIn(ns: string, argv: string[], timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, output: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
  });
}

export function ipIn(ns: string, args: string): { ok: boolean; output: string } {
  const r = spawnSync('ip', ['-n', ns, ...args.split(/\s+/)], { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

export function hasExamples(): boolean {
  return existsSync(join(EXAMPLES, 'services.json'));
}
