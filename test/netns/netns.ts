/**
 * Network-namespace lab for tests that need real links and real packets (shared by every test/netns test).
 *
 *   import { NetnsLab, netnsSkipReason } from './netns.js';
 *   const skip = netnsSkipReason();              // a string (the reason) when not root or no `ip netns`
 *   test('a packet crosses a veth', { skip }, async (t) => {
 *     const lab = new NetnsLab();
 *     t.after(() => lab.cleanup());              // always: deletes every namespace (and so every link) it made
 *     const a = lab.namespace('a'), b = lab.namespace('b');
 *     lab.veth(a, 'a0', b, 'b0', { indexA: 50, indexB: 60 }); // a0 in a <-> b0 in b, both up
 *     await lab.waitOperUp(a, 'a0');             // carrier: before sending anything (IPv6 is not ready before)
 *     lab.ip(a, 'addr add 10.0.0.1/24 dev a0');  // `ip -n <a> addr add ...`, throws with stderr on failure
 *     lab.exec(a, ['ping', '-c1', '10.0.0.2']);  // any command inside the namespace (sync)
 *     const agent = lab.spawnJson(a, fixture);   // a node script in the namespace speaking JSON lines
 *     const r = await agent.call('op', { ... }); await agent.next((m) => m.event === 'packet');
 *   });
 *
 * Names are unique per run (`lvsd-<pid>-<random>-<label>`) so parallel runs and leftovers never collide;
 * interfaces live only inside the lab's namespaces, so their names need not be unique. Namespaces are
 * created with loopback up and IPv6 DAD off (link-local addresses usable at once). cleanup() is idempotent
 * and also runs on process exit, so a failing or crashing test leaves nothing behind.
 * Code that must run inside a namespace runs as a child process (`ip netns exec NS node script.js`); the
 * test process itself never switches namespaces.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

/** Why netns tests cannot run here (not root, no `ip netns`), or false when they can. */
export function netnsSkipReason(): string | false {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespace tests need root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `\`ip netns\` is unavailable: ${r.error?.message ?? r.stderr.trim()}`;
  return false;
}

export interface ExecResult {
  status: number;
  stdout: string;
  stderr: string;
}

const labs = new Set<NetnsLab>();
let exitHookInstalled = false;

export class NetnsLab {
  readonly id: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();

  constructor(prefix = 'lvsd') {
    this.id = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    labs.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const lab of labs) lab.cleanup();
      });
    }
  }

  /** Create a namespace; returns its name. Loopback up, DAD off, forwarding as the kernel defaults. */
  namespace(label: string): string {
    const name = `${this.id}-${label}`;
    run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    this.ip(name, 'link set lo up');
    this.exec(name, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    return name;
  }

  /**
   * A veth pair: `ifA` in `nsA`, `ifB` in `nsB`, both brought up unless `up: false`. Give different
   * `indexA` / `indexB` when link-state timing matters: the kernel treats a veth whose index equals its
   * peer's (likely in fresh namespaces) like a physical NIC and batches its carrier changes to one a second.
   */
  veth(
    nsA: string,
    ifA: string,
    nsB: string,
    ifB: string,
    options: { up?: boolean; macA?: string; macB?: string; indexA?: number; indexB?: number } = {},
  ): void {
    const a = ['-n', nsA, 'link', 'add', ifA];
    if (options.indexA) a.push('index', String(options.indexA));
    if (options.macA) a.push('address', options.macA);
    a.push('type', 'veth', 'peer', 'name', ifB);
    if (options.indexB) a.push('index', String(options.indexB));
    if (options.macB) a.push('address', options.macB);
    a.push('netns', nsB);
    run('ip', a);
    if (options.up !== false) {
      this.ip(nsA, `link set ${ifA} up`);
      this.ip(nsB, `link set ${ifB} up`);
    }
  }

  /** Wait until the interface is operationally up (carrier; IPv6 on it is ready), or throw after `ms`. */
  async waitOperUp(ns: string, ifname: string, ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    for (;;) {
      const [link] = this.ipJson<Array<{ operstate?: string }>>(ns, `link show dev ${ifname}`);
      if (link?.operstate === 'UP') return;
      if (Date.now() > until) throw new Error(`${ifname} in ${ns} not up after ${ms} ms (operstate ${link?.operstate})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A bridge `name` in `ns`, up; attach ports with attach(). */
  bridge(ns: string, name: string): void {
    this.ip(ns, `link add ${name} type bridge`);
    this.ip(ns, `link set ${name} up`);
  }

  attach(ns: string, ifname: string, bridge: string): void {
    this.ip(ns, `link set ${ifname} master ${bridge}`);
    this.ip(ns, `link set ${ifname} up`);
  }

  /** `ip -n ns <args>` (args split on spaces); returns stdout, throws with stderr on failure. */
  ip(ns: string, args: string): string {
    return run('ip', ['-n', ns, ...args.split(/\s+/).filter(Boolean)]);
  }

  /** `ip -n ns -j <args>` parsed. */
  ipJson<T = unknown>(ns: string, args: string): T {
    const out = run('ip', ['-n', ns, '-j', ...args.split(/\s+/).filter(Boolean)]);
    return JSON.parse(out || '[]') as T;
  }

  /** Run a command inside the namespace; throws (with stderr) on a non-zero exit. */
  exec(ns: string, argv: string[]): string {
    return run('ip', ['netns', 'exec', ns, ...argv]);
  }

  /** Run a command inside the namespace and return its status and output, whatever they are. */
  execResult(ns: string, argv: string[], input?: string): ExecResult {
    const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', input, timeout: 30_000 });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') };
  }

  /** Start a long-running process inside the namespace; killed by cleanup(). */
  spawn(ns: string, argv: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Start `node script args...` inside the namespace, talking JSON lines (see JsonChild). */
  spawnJson(ns: string, script: string | URL, args: string[] = []): JsonChild {
    const path = script instanceof URL ? script.pathname : script;
    return new JsonChild(this.spawn(ns, [process.execPath, path, ...args]));
  }

  /** Kill children and delete every namespace this lab made (their links go with them). Idempotent. */
  cleanup(): void {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    for (const ns of this.namespaces.splice(0)) {
      spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
        .stdout?.split('\n')
        .filter(Boolean)
        .forEach((pid) => {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            /* already gone */
          }
        });
      spawnSync('ip', ['netns', 'del', ns]);
    }
    labs.delete(this);
  }
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

export type JsonMessage = Record<string, unknown>;

/**
 * A child process that reads one JSON object per line on stdin and writes one per line on stdout.
 * call(op, args) sends `{ id, op, ...args }` and resolves with the reply `{ id, ok: true, result }` (rejects
 * on `{ id, ok: false, error }`); other lines (events) are queued for next(). stderr is kept for messages.
 */
export class JsonChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly events: JsonMessage[] = [];
  private readonly waiters: Array<{ match: (m: JsonMessage) => boolean; resolve: (m: JsonMessage) => void }> = [];
  private stderr = '';
  private exited: number | null | undefined;
  readonly exit: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exit = new Promise((resolve) =>
      child.on('exit', (code) => {
        this.exited = code;
        for (const p of this.pending.values()) p.reject(new Error(`child exited (${code}) before replying: ${this.stderr}`));
        this.pending.clear();
        resolve(code);
      }),
    );
  }

  private onLine(line: string): void {
    let msg: JsonMessage;
    try {
      msg = JSON.parse(line) as JsonMessage;
    } catch {
      this.stderr += `${line}\n`;
      return;
    }
    if (typeof msg.id === 'number' && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id)!;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else {
        const err = msg.error as { message?: string; code?: string } | undefined;
        const e = new Error(err?.message ?? 'failed') as Error & { code?: string; remote?: unknown };
        if (err?.code) e.code = err.code;
        e.remote = err;
        p.reject(e);
      }
      return;
    }
    const i = this.waiters.findIndex((w) => w.match(msg));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
    else this.events.push(msg);
  }

  call<T = unknown>(op: string, args: JsonMessage = {}): Promise<T> {
    if (this.exited !== undefined) return Promise.reject(new Error(`child exited (${this.exited}): ${this.stderr}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** The first queued or future event matching `match`; rejects after `timeoutMs`. */
  next(match: (m: JsonMessage) => boolean = () => true, timeoutMs = 3000): Promise<JsonMessage> {
    const i = this.events.findIndex(match);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (m: JsonMessage) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        const j = this.waiters.indexOf(waiter);
        if (j >= 0) this.waiters.splice(j, 1);
        reject(new Error(`no matching event within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Events received so far and not yet taken by next() (removed from the queue). */
  drain(match: (m: JsonMessage) => boolean = () => true): JsonMessage[] {
    const out = this.events.filter(match);
    for (const m of out) this.events.splice(this.events.indexOf(m), 1);
    return out;
  }

  get errorOutput(): string {
    return this.stderr;
  }

  /** Close stdin (a well-behaved child then exits) and wait for exit, killing it after `timeoutMs`. */
  async stop(timeoutMs = 2000): Promise<number | null> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }
}
