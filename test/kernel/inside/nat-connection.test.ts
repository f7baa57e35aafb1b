/**
 * Runs inside the kernel-test VM (root, ip_vs loaded): a TCP connection held open through a NAT service
 * survives `lvsd apply` runs that change the other real servers, and a reapply of the same config touches
 * nothing (the connection's entry and the kernel's counters stay).
 *
 *   client netns (198.51.100.2) --veth-- director = the VM's root netns (198.51.100.1, VIP 192.0.2.100,
 *   ip_forward on) --veth-- real server netns 1 (10.7.1.11, 10.7.1.12)
 *                  --veth-- real server netns 2 (10.7.2.21, 10.7.2.22, 10.7.2.23)
 *
 * Each real server netns runs one node echo server on port 8080 that answers a line with the address the
 * connection reached, so the client knows which real server carries it. The real servers' default route
 * is the director (NAT needs the replies back through it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { insideSkipReason } from '../vm.js';
import { run, tryRun } from './shell.js';
import { Lines, relayClientScript } from './lines.js';

const skip = insideSkipReason();
const CLI = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const VIP = '192.0.2.100';
const NS_CLIENT = 'lvsdnc-client';
const NS = ['lvsdnc-rs1', 'lvsdnc-rs2'] as const;
/** Real server addresses per real-server netns. */
const ADDRS: Record<(typeof NS)[number], string[]> = { 'lvsdnc-rs1': ['10.7.1.11', '10.7.1.12'], 'lvsdnc-rs2': ['10.7.2.21', '10.7.2.22', '10.7.2.23'] };


const ECHO_SERVER = `
const net = require('node:net');
net.createServer((s) => {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      s.write(s.localAddress + ' ' + line + '\\n');
    }
  });
  s.on('error', () => {});
}).listen(8080, '0.0.0.0', () => console.log('listening'));
`;



let dir: string;
let stateFile: string;
let configFile: string;
const children: ChildProcessWithoutNullStreams[] = [];

function inNs(ns: string, script: string): Lines {
  const file = join(dir, `${ns}.cjs`);
  writeFileSync(file, script);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, file], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  return new Lines(child);
}

function veth(host: string, ns: string, hostAddr: string, nsAddrs: string[], prefix: number): void {
  run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  run('ip', ['addr', 'add', `${hostAddr}/${prefix}`, 'dev', host]);
  run('ip', ['link', 'set', host, 'up']);
  for (const a of nsAddrs) run('ip', ['-n', ns, 'addr', 'add', `${a}/${prefix}`, 'dev', 'eth0']);
  run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'route', 'add', 'default', 'via', hostAddr]);
}

function writeConfig(realServers: Array<{ address: string; weight: number }>): void {
  writeFileSync(configFile, JSON.stringify({
    ipvs: { stateFile },
    services: [{
      name: 'web', protocol: 'tcp', address: VIP, port: 80, scheduler: 'wrr', forwarding: 'nat',
      realServers: realServers.map((r) => ({ ...r, port: 8080 })),
    }],
  }, null, 2));
}

function apply(): string {
  const r = spawnSync(process.execPath, [CLI, 'apply', '--config', configFile, '--state-file', stateFile], { encoding: 'utf8' });
  assert.equal(r.status, 0, `lvsd apply exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `ipvsadm -Lnc` rows as [proto, expire, state, source, virtual, destination]. */
function connections(): string[][] {
  return run('ipvsadm', ['-Lnc']).split('\n').slice(2).map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 6);
}

/** Conns counter of the service and of each real server, from `ipvsadm -Ln --stats -t VIP:80`. */
function conns(): Map<string, number> {
  const out = new Map<string, number>();
  // (a listing of one service has no version line: pick rows by their first word)
  for (const line of run('ipvsadm', ['-Ln', '--stats', '-t', `${VIP}:80`]).split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'TCP') out.set('service', Number(f[2]));
    else if (f[0] === '->') out.set(f[1]!.replace(/:8080$/, ''), Number(f[2]));
  }
  return out;
}

/**
 * The counters once the kernel shows the connection at the real server and the service: IPVS folds its per-CPU
 * counters into what ipvsadm reads on its estimator tick (every 2 s), so a fresh connection shows up to a tick
 * later, and the service's and the real server's are separate estimators that can fold in different ticks
 * (the CI once read the real server's 1 beside the service's 0).
 */
async function connsOnceCounted(carrier: string): Promise<Map<string, number>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = conns();
    if (((c.get(carrier) ?? 0) > 0 && (c.get('service') ?? 0) > 0) || Date.now() > deadline) return c;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function realServers(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of run('ipvsadm', ['-Ln', '-t', `${VIP}:80`]).split('\n')) {
    const m = /^\s*->\s+(\S+):8080\s+Masq\s+(\d+)\s/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

before(async () => {
  if (skip) return;
  for (const ns of [NS_CLIENT, ...NS]) {
    tryRun('ip', ['netns', 'del', ns]);
    run('ip', ['netns', 'add', ns]);
  }
  for (const l of ['lvsdnc-c', 'lvsdnc-r1', 'lvsdnc-r2']) tryRun('ip', ['link', 'del', l]);
  dir = mkdtempSync(join(tmpdir(), 'lvsd-nat-'));
  stateFile = join(dir, 'state.json');
  configFile = join(dir, 'lvsd.json');
  run('ipvsadm', ['-C']);
  run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  veth('lvsdnc-c', NS_CLIENT, '198.51.100.1', ['198.51.100.2'], 24);
  veth('lvsdnc-r1', NS[0], '10.7.1.1', ADDRS[NS[0]], 24);
  veth('lvsdnc-r2', NS[1], '10.7.2.1', ADDRS[NS[1]], 24);
  run('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lvsdnc-c']);
  const servers = NS.map((ns) => inNs(ns, ECHO_SERVER));
  for (const s of servers) assert.equal(await s.next(120_000), 'listening');
});

after(() => {
  if (skip) return;
  for (const c of children) c.kill('SIGKILL');
  tryRun('ipvsadm', ['-C']);
  for (const l of ['lvsdnc-c', 'lvsdnc-r1', 'lvsdnc-r2']) tryRun('ip', ['link', 'del', l]);
  for (const ns of [NS_CLIENT, ...NS]) tryRun('ip', ['netns', 'del', ns]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a connection through a NAT service keeps echoing across applies that change, add and remove the other real servers; a reapply touches nothing', { skip, timeout: 600_000 }, async () => {
  const initial = [
    { address: '10.7.1.11', weight: 1 },
    { address: '10.7.2.21', weight: 1 },
    { address: '10.7.1.12', weight: 1 },
  ];
  writeConfig(initial);
  apply();
  assert.deepEqual(realServers(), new Map(initial.map((r) => [r.address, r.weight])));

  const client = inNs(NS_CLIENT, relayClientScript(VIP));
  const hello = await client.next(120_000);
  const port = /^connected (\d+)$/.exec(hello)?.[1];
  assert.ok(port, `the client did not connect: ${hello}\n${client.seen.join('\n')}`);
  client.child.stdin.write('one\n');
  const first = await client.next();
  const m = /^reply (\S+) one$/.exec(first);
  assert.ok(m, `unexpected reply: ${first}`);
  const carrier = m[1]!;
  assert.ok(initial.some((r) => r.address === carrier), `the connection reached ${carrier}, not a real server`);

  const entry = () => connections().filter((f) => f[0] === 'TCP' && f[3] === `198.51.100.2:${port}` && f[4] === `${VIP}:80`);
  assert.deepEqual(entry().map((f) => [f[2], f[5]]), [['ESTABLISHED', `${carrier}:8080`]]);
  const countsBefore = await connsOnceCounted(carrier);
  assert.equal(countsBefore.get('service'), 1);
  assert.equal(countsBefore.get(carrier), 1);

  // the other two: one gets a new weight, one is removed; a fourth is added
  const [reweighted, removed] = initial.filter((r) => r.address !== carrier).map((r) => r.address) as [string, string];
  const added = '10.7.2.23';
  const next = [
    { address: carrier, weight: 1 },
    { address: reweighted, weight: 5 },
    { address: added, weight: 2 },
  ];
  writeConfig(next);
  const out = apply();
  assert.match(out, new RegExp(`~ dest ${reweighted.replace(/\./g, '\\.')}:8080 weight 1 -> 5`));
  assert.match(out, new RegExp(`- dest ${removed.replace(/\./g, '\\.')}:8080`));
  assert.match(out, new RegExp(`\\+ dest ${added.replace(/\./g, '\\.')}:8080 nat weight 2`));
  assert.doesNotMatch(out, new RegExp(`${carrier.replace(/\./g, '\\.')}:8080`), 'the carrying real server is not touched');
  assert.match(out, /^3 operations;/m);
  assert.deepEqual(realServers(), new Map(next.map((r) => [r.address, r.weight])));

  client.child.stdin.write('two\n');
  assert.equal(await client.next(), `reply ${carrier} two`);
  assert.deepEqual(entry().map((f) => [f[2], f[5]]), [['ESTABLISHED', `${carrier}:8080`]]);
  const countsAfter = conns();
  assert.equal(countsAfter.get('service'), 1, 'the service was edited in place, its counters kept');
  assert.equal(countsAfter.get(carrier), 1, "the carrying real server's entry (and counter) kept");

  // the same config again: nothing to do, nothing touched
  const again = apply();
  assert.match(again, /^nothing to do: the kernel table matches the configuration$/m);
  assert.match(again, /^applied 0 of 0 operations/m);
  client.child.stdin.write('three\n');
  assert.equal(await client.next(), `reply ${carrier} three`);
  assert.deepEqual(entry().map((f) => [f[2], f[5]]), [['ESTABLISHED', `${carrier}:8080`]]);
  const countsAgain = conns();
  assert.equal(countsAgain.get('service'), 1, 'conns counter not reset by the reapply');
  assert.equal(countsAgain.get(carrier), 1);
  assert.deepEqual(realServers(), new Map(next.map((r) => [r.address, r.weight])));

  client.child.stdin.end();
  assert.equal(await client.next(), 'closed');
});

/** One connection to VIP:port: sends a line, prints the real server that answered, then closes. */
function oneShot(port: number): string {
  const script = `
const s = require('node:net').connect({ host: ${JSON.stringify(VIP)}, port: ${port} });
s.setEncoding('utf8');
s.setTimeout(5000, () => { console.log('timeout'); process.exit(1); });
s.on('connect', () => s.write('x\\n'));
s.on('data', (d) => { console.log(d.split(' ')[0]); s.end(); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });`;
  const r = spawnSync('ip', ['netns', 'exec', NS_CLIENT, process.execPath, '-e', script], { encoding: 'utf8', timeout: 120_000 });
  return r.stdout.trim().split('\n')[0] ?? `no output (${r.stderr})`;
}

/**
 * Two connections to VIP:port from the same local port: the first is reset right after its answer, the second
 * starts when a line arrives on stdin. Prints each answering server ('timeout' when none answers in 5 s).
 */
const REUSE_CLIENT = (port: number, localPort: number) => `
const net = require('node:net');
function once(rst) {
  const s = net.connect({ host: ${JSON.stringify(VIP)}, port: ${port}, localPort: ${localPort} });
  s.setEncoding('utf8');
  s.setTimeout(5000, () => { console.log('timeout'); s.destroy(); });
  s.on('connect', () => s.write('x\\n'));
  s.on('data', (d) => { console.log(d.split(' ')[0]); rst ? s.resetAndDestroy() : s.end(); });
  s.on('error', (e) => console.log('error ' + e.code));
}
once(true);
require('node:readline').createInterface({ input: process.stdin }).once('line', () => once(false));
`;

/**
 * A client that vanished without a trace (its reset never reaches the director: dropped in the client's
 * netns), then comes back from the same source port: IPVS still holds the ESTABLISHED entry to `carrier`.
 * `between` runs once the first connection is gone. Returns the first and second answering servers.
 */
async function reusedPort(port: number, localPort: number, between: (carrier: string) => void): Promise<[string, string]> {
  const nft = spawnSync('ip', ['netns', 'exec', NS_CLIENT, 'nft', '-f', '-'], {
    encoding: 'utf8',
    input: 'table inet lvsdnc {\n chain out {\n  type filter hook output priority 0; policy accept;\n  tcp flags & rst == rst drop\n }\n}\n',
  });
  assert.equal(nft.status, 0, `nft in ${NS_CLIENT}: ${nft.stderr}`);
  try {
    const c = inNs(NS_CLIENT, REUSE_CLIENT(port, localPort));
    const carrier = await c.next(120_000);
    between(carrier);
    c.child.stdin.write('go\n');
    const second = await c.next(60_000);
    c.child.kill();
    return [carrier, second];
  } finally {
    tryRun('ip', ['netns', 'exec', NS_CLIENT, 'nft', 'delete', 'table', 'inet', 'lvsdnc']);
  }
}

test('a real server at weight 0 gets no new connection: not through a persistent client\'s template, not through a reused client port (lvsd sets expire_quiescent_template and expire_nodest_conn)', { skip, timeout: 600_000 }, async () => {
  const quietState = join(dir, 'quiesce-state.json');
  const quietConfig = join(dir, 'quiesce.json');
  const SERVERS = ['10.7.1.11', '10.7.2.21'];
  writeFileSync(quietConfig, JSON.stringify({
    ipvs: { stateFile: quietState },
    services: [
      { name: 'sticky', protocol: 'tcp', address: VIP, port: 81, scheduler: 'rr', forwarding: 'nat', persistence: { timeout: '300s' },
        realServers: SERVERS.map((address) => ({ address, port: 8080 })) },
      { name: 'plain', protocol: 'tcp', address: VIP, port: 82, scheduler: 'rr', forwarding: 'nat',
        realServers: SERVERS.map((address) => ({ address, port: 8080 })) },
    ],
  }));
  const r = spawnSync(process.execPath, [CLI, 'apply', '--config', quietConfig, '--state-file', quietState], { encoding: 'utf8' });
  assert.equal(r.status, 0, `lvsd apply exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  const sysctl = (name: string) => run('cat', [`/proc/sys/net/ipv4/vs/${name}`]).trim();
  assert.deepEqual([sysctl('expire_nodest_conn'), sysctl('expire_quiescent_template')], ['1', '1'], 'lvsd apply set both');
  const other = (s: string) => SERVERS.find((x) => x !== s)!;
  const weigh = (port: number, server: string, weight: number) => run('ipvsadm', ['-e', '-t', `${VIP}:${port}`, '-r', `${server}:8080`, '-m', '-w', String(weight)]);

  // 1. persistence: the client's template points at `first`; once `first` is at weight 0 the client's next connection goes elsewhere
  const first = oneShot(81);
  assert.ok(SERVERS.includes(first), `the sticky service answered: ${first}`);
  assert.equal(oneShot(81), first, 'persistence holds while the server is in service');
  weigh(81, first, 0);
  assert.equal(oneShot(81), other(first), 'a persistent client leaves a server at weight 0');

  // 2. a reused source port: a new SYN from the port of an (ESTABLISHED) entry to a server now at weight 0 is scheduled afresh
  const [carrier, next] = await reusedPort(82, 40123, (c) => weigh(82, c, 0));
  assert.ok(SERVERS.includes(carrier), `the plain service answered: ${carrier}`);
  assert.equal(next, other(carrier), 'a SYN reusing the port of an entry to a server at weight 0 is scheduled afresh');

  // the same two with the kernel's defaults (what lvsd no longer leaves): both land on the server at weight 0
  run('sysctl', ['-qw', 'net.ipv4.vs.expire_nodest_conn=0', 'net.ipv4.vs.expire_quiescent_template=0']);
  try {
    weigh(81, first, 1);
    const template = oneShot(81); // the client's template, whichever server it names
    weigh(81, template, 0);
    weigh(81, other(template), 1);
    assert.equal(oneShot(81), template, 'counterfactual: without expire_quiescent_template the template still sends the client to the server at weight 0');
    weigh(82, carrier, 1);
    const [reused, followed] = await reusedPort(82, 40125, (c) => { weigh(82, c, 0); weigh(82, other(c), 1); });
    // the SYN follows the entry to `reused`, whose socket for that port is still open: no handshake, no answer
    assert.equal(followed, 'timeout', 'counterfactual: without expire_nodest_conn the reused port follows its stale entry and gets no answer');
    assert.deepEqual(connections().filter((f) => f[3] === '198.51.100.2:40125' && f[4] === `${VIP}:82`).map((f) => f[5]), [`${reused}:8080`],
      'counterfactual: the entry of the reused port points at the server at weight 0');
  } finally {
    run('sysctl', ['-qw', 'net.ipv4.vs.expire_nodest_conn=1', 'net.ipv4.vs.expire_quiescent_template=1']);
  }
});
