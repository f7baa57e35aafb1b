/**
 * Runs inside the kernel-test VM (root, ip_vs loaded): a service group (`members`) run by `lvsd run` against
 * Linux's IPVS. Two VIPs share two real servers; one server's check fails and it goes to weight 0 in both
 * members' IPVS services (read with ipvsadm -Ln); a reload that removes one member and adds another
 * touches only those two, and a TCP connection held through the kept member goes on echoing.
 *
 *   client netns (198.51.100.2) --veth-- director = the VM's root netns (198.51.100.1, VIPs 192.0.2.101-103,
 *   ip_forward on) --veth-- real server netns (10.8.1.11, 10.8.1.12; echo on :8080, check port :9000 per address)
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
const NS_CLIENT = 'lvsdg-client';
const NS_RS = 'lvsdg-rs';
const RS = ['10.8.1.11', '10.8.1.12'] as const;
const VIPS = ['192.0.2.101', '192.0.2.102', '192.0.2.103'] as const;
const LINKS = ['lvsdg-c', 'lvsdg-r'];

/** Echo on 8080 (any address); a check listener on ADDR:9000 per real server, closed by a "close ADDR" line on stdin. */
const SERVERS = `
const net = require('node:net');
const readline = require('node:readline');
net.createServer((s) => {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\\n')) >= 0) { s.write(s.localAddress + ' ' + buf.slice(0, i) + '\\n'); buf = buf.slice(i + 1); }
  });
  s.on('error', () => {});
}).listen(8080, '0.0.0.0');
const checks = new Map();
let pending = ${RS.length};
for (const a of ${JSON.stringify(RS)}) {
  const srv = net.createServer((s) => { s.on('error', () => {}); s.end(); });
  srv.listen(9000, a, () => { if (--pending === 0) console.log('listening'); });
  checks.set(a, srv);
}
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  const [cmd, a] = l.split(' ');
  if (cmd === 'close') checks.get(a).close(() => console.log('closed ' + a));
});
`;



let dir: string;
let configFile: string;
let socket: string;
const children: ChildProcessWithoutNullStreams[] = [];
let servers: Lines;
let daemon: Lines;

function spawnLines(cmd: string, args: string[]): Lines {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  return new Lines(child);
}

function inNs(ns: string, name: string, script: string): Lines {
  const file = join(dir, `${name}.cjs`);
  writeFileSync(file, script);
  return spawnLines('ip', ['netns', 'exec', ns, process.execPath, file]);
}

function veth(host: string, ns: string, hostAddr: string, nsAddrs: readonly string[]): void {
  run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  run('ip', ['addr', 'add', `${hostAddr}/24`, 'dev', host]);
  run('ip', ['link', 'set', host, 'up']);
  for (const a of nsAddrs) run('ip', ['-n', ns, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
  run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  run('ip', ['-n', ns, 'route', 'add', 'default', 'via', hostAddr]);
}

function writeConfig(vips: readonly string[]): void {
  writeFileSync(configFile, JSON.stringify({
    ipvs: { stateFile: join(dir, 'state.json'), driftInterval: '60s' },
    control: { socket },
    services: [{
      name: 'web', protocol: 'tcp', scheduler: 'wrr', forwarding: 'nat', initialState: 'up',
      members: vips.map((address) => ({ address, port: 80 })),
      healthCheck: { type: 'tcp', port: 9000, interval: '1s', timeout: '900ms', rise: 1, fall: 2 },
      realServers: RS.map((address) => ({ address, port: 8080 })),
    }],
  }, null, 2));
}

/** `ipvsadm -Ln`: VIP -> real server -> weight, for the VIPs of this test. */
function table(): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  let svc: Map<string, number> | undefined;
  for (const line of run('ipvsadm', ['-Ln']).split('\n')) {
    const s = /^TCP\s+(\S+):80\s/.exec(line);
    if (s) { svc = VIPS.includes(s[1] as never) ? new Map() : undefined; if (svc) out.set(s[1]!, svc); continue; }
    const d = /^\s+->\s+(\S+):8080\s+Masq\s+(\d+)\s/.exec(line);
    if (d && svc) svc.set(d[1]!, Number(d[2]));
  }
  return out;
}

const show = (t: Map<string, Map<string, number>>) => JSON.stringify([...t].map(([v, d]) => [v, [...d]]));

async function waitTable(what: string, want: (t: Map<string, Map<string, number>>) => boolean, ms = 60_000): Promise<Map<string, Map<string, number>>> {
  const until = Date.now() + ms;
  for (;;) {
    const t = table();
    if (want(t)) return t;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; ipvsadm -Ln:\n${run('ipvsadm', ['-Ln'])}\ndaemon:\n${daemon.seen.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The daemon's JSON log lines from index `from` with this event. */
function events(event: string, from = 0): Array<Record<string, unknown>> {
  return daemon.seen.slice(from).flatMap((l) => {
    try {
      const j = JSON.parse(l) as Record<string, unknown>;
      return j.event === event ? [j] : [];
    } catch {
      return [];
    }
  });
}

before(async () => {
  if (skip) return;
  for (const ns of [NS_CLIENT, NS_RS]) {
    tryRun('ip', ['netns', 'del', ns]);
    run('ip', ['netns', 'add', ns]);
  }
  for (const l of LINKS) tryRun('ip', ['link', 'del', l]);
  dir = mkdtempSync(join(tmpdir(), 'lvsd-groups-'));
  configFile = join(dir, 'lvsd.json');
  socket = join(dir, 'lvsd.sock');
  run('ipvsadm', ['-C']);
  run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  veth('lvsdg-c', NS_CLIENT, '198.51.100.1', ['198.51.100.2']);
  veth('lvsdg-r', NS_RS, '10.8.1.1', RS);
  for (const v of VIPS) run('ip', ['addr', 'add', `${v}/32`, 'dev', 'lvsdg-c']);
  servers = inNs(NS_RS, 'servers', SERVERS);
  assert.equal(await servers.next(120_000), 'listening');
});

after(() => {
  if (skip) return;
  for (const c of children) c.kill('SIGKILL');
  tryRun('ipvsadm', ['-C']);
  for (const l of LINKS) tryRun('ip', ['link', 'del', l]);
  for (const ns of [NS_CLIENT, NS_RS]) tryRun('ip', ['netns', 'del', ns]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a group of 2 VIPs: one failing real server goes to weight 0 in both members; a reload that swaps a member leaves the other member and its connection alone', { skip, timeout: 600_000 }, async () => {
  writeConfig(VIPS.slice(0, 2));
  daemon = spawnLines(process.execPath, [CLI, 'run', '--config', configFile, '--log-level', 'debug']);
  const all = (t: Map<string, Map<string, number>>, vips: readonly string[], w: Record<string, number>) =>
    t.size === vips.length && vips.every((v) => RS.every((r) => t.get(v)?.get(r) === w[r]));
  await waitTable('both members with both real servers at weight 1', (t) => all(t, VIPS.slice(0, 2), { [RS[0]]: 1, [RS[1]]: 1 }), 120_000);

  // a connection held through the first member
  const client = inNs(NS_CLIENT, 'client', relayClientScript(VIPS[0]));
  const hello = await client.next(120_000);
  const port = /^connected (\d+)$/.exec(hello)?.[1];
  assert.ok(port, `the client did not connect: ${hello}`);
  client.child.stdin.write('one\n');
  const carrier = /^reply (\S+) one$/.exec(await client.next())?.[1];
  assert.ok(carrier && RS.includes(carrier as never), `reply from ${carrier}`);

  // the other real server's check fails: weight 0 in both members' IPVS services, from one probe
  const failing = RS.find((r) => r !== carrier)!;
  const t0 = Date.now();
  servers.child.stdin.write(`close ${failing}\n`);
  assert.equal(await servers.next(), `closed ${failing}`);
  const inhibited = await waitTable(`${failing} at weight 0 in both members`, (t) => all(t, VIPS.slice(0, 2), { [carrier]: 1, [failing]: 0 }));
  assert.equal(show(inhibited), show(new Map(VIPS.slice(0, 2).map((v) => [v, new Map(RS.map((r) => [r, r === failing ? 0 : 1]))]))));
  // the log line may reach us after the kernel changed (pino writes asynchronously): wait for it a little
  const downs = () => events('health.change').filter((e) => e.realServer === `${failing}:8080` && e.to === 'down');
  for (let i = 0; i < 40 && downs().length === 0; i++) await new Promise((r) => setTimeout(r, 250));
  const changes = downs();
  assert.equal(changes.length, 1, `one health.change for the group, not one per member: ${JSON.stringify(changes)}; health lines: ${daemon.seen.filter((l) => l.includes('health')).slice(-10).join('\n')}`);
  assert.equal(changes[0]!.service, 'web');
  console.log(`# ${failing} down in both members ${Date.now() - t0} ms after its check closed`);

  // reload: drop the second member, add a third; the first member (and its connection) is not touched
  const connsBefore = Number(/^TCP\s+\S+\s+(\d+)/m.exec(run('ipvsadm', ['-Ln', '--stats', '-t', `${VIPS[0]}:80`]))?.[1]);
  const from = daemon.seen.length;
  writeConfig([VIPS[0], VIPS[2]]);
  const r = spawnSync(process.execPath, [CLI, 'reload', '--socket', socket], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `lvsd reload: ${r.stdout}${r.stderr}`);
  await waitTable('the members swapped', (t) => all(t, [VIPS[0], VIPS[2]], { [carrier]: 1, [failing]: 0 }));
  // the reload's pass planned the two members that changed (the removed and the added one), not the kept one
  const reloadPasses = () => events('daemon.reconcile', from).filter((e) => (e.ops as number) > 0);
  for (let i = 0; i < 40 && reloadPasses().length === 0; i++) await new Promise((r) => setTimeout(r, 250));
  const passes = reloadPasses();
  assert.equal(passes.length, 1, `${JSON.stringify(events('daemon.reconcile', from))}; daemon since the reload:\n${daemon.seen.slice(from).join('\n').slice(-3000)}`);
  const pass = passes[0] as { reason: string; services: number; ops: number };
  assert.match(pass.reason, /reload/, JSON.stringify(pass));
  assert.equal(pass.services, 2, `services planned: ${JSON.stringify(pass)}`);
  // new-service and its 2 destinations for the added member, del-service for the removed one
  assert.ok(pass.ops >= 2 && pass.ops <= 4, JSON.stringify(pass));
  client.child.stdin.write('two\n');
  assert.equal(await client.next(), `reply ${carrier} two`, 'the held connection through the kept member still echoes');
  const entry = run('ipvsadm', ['-Lnc']).split('\n').filter((l) => l.includes(`198.51.100.2:${port}`) && l.includes(`${VIPS[0]}:80`));
  assert.equal(entry.length, 1, `its connection entry is still there:\n${run('ipvsadm', ['-Lnc'])}`);
  const connsAfter = Number(/^TCP\s+\S+\s+(\d+)/m.exec(run('ipvsadm', ['-Ln', '--stats', '-t', `${VIPS[0]}:80`]))?.[1]);
  assert.ok(connsAfter >= connsBefore, `the kept member's counters were not reset (a re-created service starts at 0): ${connsBefore} -> ${connsAfter}`);
  client.child.kill('SIGKILL');
});
