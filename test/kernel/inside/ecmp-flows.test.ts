/**
 * Runs inside the kernel-test VM (issue #13 item 3): flows survive director changes. A client, a router
 * namespace running BIRD 2 (BGP + BFD, kernel ECMP with L4 hashing), two directors running `lvsd run` with
 * `ecmp` (mh, DR) and three web servers. A long-lived connection is opened; then the director that carries
 * it is drained (`lvsd drain --director`), undrained, and killed -9 (its BIRD dies with it), and the routers
 * move the flow each time. Asserted:
 * - lvsd set net.ipv4.vs.sloppy_tcp=1 in each director's namespace (real kernel);
 * - after each move the long-lived connection still answers, from the same web server, and the director
 *   it moved to has the connection in its IPVS table (picked up mid-stream: sloppy TCP + mh);
 * - new connections opened meanwhile all succeed;
 * - the counterfactual: with sloppy_tcp set back to 0 by hand on the director a flow moves to, the moved
 *   connection is reset (so the survival above is sloppy TCP's doing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { insideSkipReason } from '../vm.js';
import { run, tryRun } from './shell.js';

const skip = insideSkipReason();
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const MAIN = join(ROOT, 'dist/src/cli/main.js');
const WEB = join(ROOT, 'dist/src/lab/web-server.js');
const CLIENT = join(ROOT, 'dist/src/lab/client.js');
const BIRD = '/usr/sbin/bird';
const P = 'ecmpf';
const VIP = '10.200.0.10';
const DIR = '/tmp/lvsd-ecmp-flows';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ns = (n: string) => `${P}-${n}`;
const DIRECTORS = { d1: '10.91.0.11', d2: '10.91.0.12' } as const;
type D = keyof typeof DIRECTORS;

const SETUP = `
set -e
for n in sw c r d1 d2 rs1 rs2 rs3; do ip netns add ${P}-$n; ip -n ${P}-$n link set lo up; done
ip -n ${P}-sw link add br0 type bridge; ip -n ${P}-sw link set br0 up
port() { # ns ifname index
  ip link add $2 netns ${P}-$1 index $3 type veth peer name p-$1 netns ${P}-sw index $(( $3 + 100 ))
  ip -n ${P}-sw link set p-$1 master br0 up; ip -n ${P}-$1 link set $2 up
}
ip link add c0 netns ${P}-r index 11 type veth peer name eth0 netns ${P}-c index 12
ip -n ${P}-r link set c0 up; ip -n ${P}-c link set eth0 up
ip -n ${P}-r addr add 10.90.0.1/24 dev c0; ip -n ${P}-c addr add 10.90.0.2/24 dev eth0
ip -n ${P}-c route add default via 10.90.0.1
port r b0 21; ip -n ${P}-r addr add 10.91.0.1/24 dev b0
ip netns exec ${P}-r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
port d1 eth0 31; ip -n ${P}-d1 addr add ${DIRECTORS.d1}/24 dev eth0
port d2 eth0 32; ip -n ${P}-d2 addr add ${DIRECTORS.d2}/24 dev eth0
for n in 1 2 3; do
  port rs$n eth0 4$n; ip -n ${P}-rs$n addr add 10.91.0.2$n/24 dev eth0
  ip -n ${P}-rs$n addr add ${VIP}/32 dev lo
  ip netns exec ${P}-rs$n sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
done
for n in d1 d2 rs1 rs2 rs3; do
  ip -n ${P}-$n route add default via 10.91.0.1
  ip netns exec ${P}-$n sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
done
`;

const ROUTER_CONF = `router id 10.91.0.1;
log stderr all;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
${(Object.entries(DIRECTORS)).map(([n, a]) => `protocol bgp ${n} { local as 65000; neighbor ${a} as 65011; hold time 9; connect delay time 1; error wait time 1, 10; bfd off; ipv4 { import all; export none; }; }`).join('\n')}
`;

function directorConfig(d: D): unknown {
  return {
    ecmp: {
      routerId: DIRECTORS[d], localAs: 65011, // no BFD here: under an emulated CPU shared with other VMs, 100 ms x 3 flapped (measured: sessions
      // Ceased every few seconds), which moves flows for reasons this test is not about; a crash is seen
      // at once anyway (the dead BIRD's TCP session is closed by the kernel)
      peers: [{ address: '10.91.0.1', as: 65000, bfd: false }], holdTime: '9s', withdrawWait: '1s',
      daemon: { runDir: join(DIR, d, 'bird') },
    },
    services: [{
      name: 'web', protocol: 'tcp', address: VIP, port: 80, scheduler: 'mh', forwarding: 'dr',
      healthCheck: { type: 'tcp', interval: '1s', timeout: '500ms', rise: 1, fall: 2 },
      realServers: [{ address: '10.91.0.21' }, { address: '10.91.0.22' }, { address: '10.91.0.23' }],
    }],
  };
}

const children: ChildProcess[] = [];
/** The last lines each process printed (named by namespace and program), for a failure's message. */
const tails = new Map<string, string[]>();
function inNs(n: string, argv: string[]): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', ns(n), ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(c);
  const name = `${n} ${argv[argv.length > 1 && argv[0] === process.execPath ? 1 : 0]!.split('/').pop()}`;
  const lines: string[] = [];
  tails.set(name, lines);
  c.stderr!.on('data', (d: Buffer) => { lines.push(...d.toString().split('\n').filter(Boolean)); lines.splice(0, Math.max(0, lines.length - 15)); });
  if (argv[0] !== process.execPath || argv[1] === MAIN) {
    createInterface({ input: c.stdout! }).on('line', (l) => { lines.push(l.slice(0, 300)); lines.splice(0, Math.max(0, lines.length - 15)); });
  }
  return c;
}

function diagnostics(): string {
  let birds = '';
  try { birds = run('birdc', ['-s', join(DIR, 'router.ctl'), 'show', 'protocols']); } catch (e) { birds = String(e); }
  const sh = (n: string, cmd: string) => { try { return run('ip', ['netns', 'exec', ns(n), 'bash', '-c', cmd]); } catch (e) { return String(e); } };
  birds += sh('r', 'ip route; ip -s link show b0 | tail -4');
  for (const d of ['d1', 'd2']) birds += `\n${d}: ${sh(d, 'ip -br addr; ipvsadm -Ln; ipvsadm -Lnc | head; sysctl net.ipv4.ip_forward net.ipv4.vs.sloppy_tcp')}`;
  return `\nrouter: ${birds}\n${[...tails].map(([k, v]) => `--- ${k}\n${v.join('\n')}`).join('\n')}`;
}

interface ClientEvent { kind: string; ok?: boolean; server?: string; port?: number; at?: number; err?: string; counts?: Record<string, number>; failed?: number }

class Client {
  readonly events: ClientEvent[] = [];
  readonly proc = inNs('c', [process.execPath, CLIENT, VIP, '80']);
  constructor() {
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      try { this.events.push({ ...(JSON.parse(l) as ClientEvent), at: Date.now() }); } catch { /* not JSON */ }
    });
  }
  send(cmd: string): void {
    this.proc.stdin!.write(`${cmd}\n`);
  }
  async next(kind: string, from: number, ms = 15_000): Promise<ClientEvent> {
    const end = Date.now() + ms;
    for (;;) {
      const e = this.events.slice(from).find((x) => x.kind === kind);
      if (e) return e;
      if (Date.now() > end) throw new Error(`client: no ${kind} within ${ms} ms (events: ${JSON.stringify(this.events.slice(-3))})${diagnostics()}`);
      await sleep(100);
    }
  }
}

function lvsd(d: D): ChildProcess {
  const dir = join(DIR, d);
  return inNs(d, [process.execPath, MAIN, 'run', '--config', join(dir, 'services.json'), '--socket', join(dir, 'lvsd.sock'), '--state-file', join(dir, 'state.json')]);
}

function cli(d: D, args: string[]): string {
  return run('ip', ['netns', 'exec', ns(d), process.execPath, MAIN, ...args, '--socket', join(DIR, d, 'lvsd.sock')]);
}

function hops(): string[] {
  return [...run('ip', ['-n', ns('r'), 'route', 'show', `${VIP}/32`]).matchAll(/via (\S+)/g)].map((m) => m[1]!).sort();
}

async function waitHops(want: string[], ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const h = hops();
    if (JSON.stringify(h) === JSON.stringify([...want].sort())) return;
    if (Date.now() > end) throw new Error(`router next hops ${JSON.stringify(h)}, wanted ${JSON.stringify(want)}${diagnostics()}`);
    await sleep(200);
  }
}

/** The director whose IPVS table has the client's connection from `port` ESTABLISHED, and to which real server. */
function carrier(port: number): Array<{ d: D; rs: string }> {
  const out: Array<{ d: D; rs: string }> = [];
  for (const d of Object.keys(DIRECTORS) as D[]) {
    const table = run('ip', ['netns', 'exec', ns(d), 'ipvsadm', '-Lnc']);
    const m = new RegExp(`TCP\\s+\\S+\\s+ESTABLISHED\\s+10\\.90\\.0\\.2:${port}\\s+\\S+\\s+(\\S+)`).exec(table);
    if (m) out.push({ d, rs: m[1]! });
  }
  return out;
}

/** Long-lived requests after `from`: at least `n`, all answered by `server`. */
async function longAnswers(client: Client, from: number, n: number, server: string): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const longs = client.events.slice(from).filter((e) => e.kind === 'long');
    const bad = longs.filter((e) => !e.ok || e.server !== server);
    assert.deepEqual(bad, [], `the long-lived connection failed or changed server (expected ${server})`);
    if (longs.length >= n) return;
    if (Date.now() > end) throw new Error(`only ${longs.length} long-lived answers`);
    await sleep(200);
  }
}

/**
 * At least 8 new connections (one started every 250 ms): none refused or reset. A client timeout (no answer
 * in 2.5 s) is counted, not failed: under the emulated CPU shared with other VMs one in 12-20 timed out
 * even with both directors steady and nothing moving (measured here), so it says nothing about ECMP; the
 * lab's bench measures failed requests on real timing.
 */
async function burstOk(client: Client): Promise<number> {
  const from = client.events.length;
  const shorts = () => client.events.slice(from).filter((e) => e.kind === 'short');
  client.send('loop 250');
  const end = Date.now() + 60_000;
  while (shorts().length < 8 && Date.now() < end) await sleep(200);
  client.send('stop');
  await sleep(3000); // the ones under way finish (the client's timeout is 2.5 s)
  const all = shorts();
  assert.ok(all.length >= 8, `only ${all.length} new connections in 60 s`);
  const timeouts = all.filter((e) => !e.ok && /^no answer in/.test(e.err ?? ''));
  const failed = all.filter((e) => !e.ok && !timeouts.includes(e));
  assert.deepEqual(failed, [], `new connections failed (${failed.length} of ${all.length})${failed.length ? diagnostics() : ''}`);
  return timeouts.length;
}

test('ECMP: a long-lived connection keeps its web server when the routers move it (drain, return, crash); without sloppy TCP it is reset',
  { skip, timeout: 14 * 60_000 }, async (t) => {
    t.after(() => {
      for (const c of children) c.kill('SIGKILL');
      for (const n of ['sw', 'c', 'r', 'd1', 'd2', 'rs1', 'rs2', 'rs3']) tryRun('ip', ['netns', 'del', ns(n)]);
      rmSync(DIR, { recursive: true, force: true });
    });
    run('bash', ['-c', SETUP]);
    mkdirSync(DIR, { recursive: true });
    writeFileSync(join(DIR, 'router.conf'), ROUTER_CONF);
    inNs('r', [BIRD, '-f', '-c', join(DIR, 'router.conf'), '-s', join(DIR, 'router.ctl')]);
    for (const n of [1, 2, 3]) inNs(`rs${n}`, [process.execPath, WEB, `rs${n}`, '80']);
    const daemons = new Map<D, ChildProcess>();
    for (const d of Object.keys(DIRECTORS) as D[]) {
      mkdirSync(join(DIR, d), { recursive: true });
      writeFileSync(join(DIR, d, 'services.json'), JSON.stringify(directorConfig(d)));
      daemons.set(d, lvsd(d));
    }
    // lvsd's start, its health checks and BIRD's session under an emulated CPU: generous
    await waitHops(Object.values(DIRECTORS), 240_000);
    for (const d of Object.keys(DIRECTORS) as D[]) {
      assert.equal(run('ip', ['netns', 'exec', ns(d), 'sysctl', '-n', 'net.ipv4.vs.sloppy_tcp']).trim(), '1', `${d}: sloppy_tcp`);
    }

    let timedOut = 0;
    t.after(() => t.diagnostic(`new connections that timed out (emulated CPU): ${timedOut}`));
    const client = new Client();
    client.send('open');
    const open = await client.next('long-open', 0);
    const first = await client.next('long', 0);
    assert.ok(first.ok, JSON.stringify(first));
    const server = first.server!;
    const port = open.port!;
    timedOut += await burstOk(client);

    const other = (d: D): D => (d === 'd1' ? 'd2' : 'd1');
    const holder = async (): Promise<D> => {
      for (let i = 0; i < 50; i++) {
        const c = carrier(port);
        if (c.length > 0) return c[c.length - 1]!.d;
        await sleep(200);
      }
      throw new Error('no director has the connection');
    };

    // 1. drain the director that carries the flow: the other picks it up mid-stream
    const a = await holder();
    const b = other(a);
    cli(a, ['drain', '--director']);
    await waitHops([DIRECTORS[b]]);
    let mark = client.events.length;
    await longAnswers(client, mark, 3, server);
    assert.ok(carrier(port).some((c) => c.d === b), `${b} picked the flow up mid-stream`);
    timedOut += await burstOk(client);

    // 2. undrain: the flow hashes back to the director it started on, which still knows it
    cli(a, ['undrain', '--director']);
    await waitHops(Object.values(DIRECTORS));
    mark = client.events.length;
    await longAnswers(client, mark, 3, server);
    timedOut += await burstOk(client);

    // 3. the carrier crashes (lvsd killed -9; its BIRD dies with it): the survivor carries the flow on
    const c = await holder();
    const survivor = other(c);
    daemons.get(c)!.kill('SIGKILL');
    await waitHops([DIRECTORS[survivor]], 20_000);
    mark = client.events.length;
    await longAnswers(client, mark, 3, server);
    timedOut += await burstOk(client);

    // 4. it comes back: the flow hashes back to it and keeps its server
    daemons.set(c, lvsd(c));
    await waitHops(Object.values(DIRECTORS), 240_000);
    mark = client.events.length;
    await longAnswers(client, mark, 3, server);

    // 5. counterfactual: a new long-lived connection (no director has seen it but its own), sloppy_tcp set
    // back to 0 where it is about to go: moved there, it is reset
    mark = client.events.length;
    client.send('close');
    client.send('open');
    const reopened = await client.next('long-open', mark);
    await client.next('long', mark);
    const newPort = reopened.port!;
    let seen: Array<{ d: D; rs: string }> = [];
    for (let i = 0; i < 50 && seen.length === 0; i++) { seen = carrier(newPort); if (seen.length === 0) await sleep(200); }
    assert.equal(seen.length, 1, `one director carries the new connection: ${JSON.stringify(seen)}`);
    const now = seen[0]!.d;
    const to = other(now);
    run('ip', ['netns', 'exec', ns(to), 'sysctl', '-qw', 'net.ipv4.vs.sloppy_tcp=0']);
    cli(now, ['drain', '--director']);
    await waitHops([DIRECTORS[to]]);
    mark = client.events.length;
    const failed = await (async () => {
      const end = Date.now() + 15_000;
      while (Date.now() < end) {
        const f = client.events.slice(mark).find((e) => e.kind === 'long' && !e.ok);
        if (f) return f;
        await sleep(200);
      }
      return undefined;
    })();
    assert.ok(failed, 'without sloppy TCP the moved connection should have failed');
  });
