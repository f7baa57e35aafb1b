/**
 * Runs inside the kernel-test VM: VRRP `acceptMode: false` drops what is addressed to the VIP for the
 * director itself, and not what IPVS forwards (the nftables chain hooks input at priority 200, after IPVS's
 * LOCAL_IN hooks at 98/99: src/net/accept-filter.ts). One `lvsd run` director in its own namespace:
 *
 *   client (198.51.100.2) --veth-- director eth0 (198.51.100.1, VIP 198.51.100.100 by VRRP, master alone)
 *                                  director eth1 (10.8.1.1) --veth-- real server (10.8.1.11:8080, echo)
 *
 * A NAT service VIP:80 -> 10.8.1.11:8080, and a plain listener on the director at :8081.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { insideSkipReason } from '../vm.js';
import { run, tryRun } from './shell.js';

const skip = insideSkipReason() ?? (spawnSync('nft', ['--version']).status === 0 ? undefined : 'nft (nftables) is not installed');
const CLI = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const VIP = '198.51.100.100';
const [D, C, R] = ['lvsdam-d', 'lvsdam-c', 'lvsdam-r'];
const children: ChildProcess[] = [];
let dir: string | undefined;

/** A node script in a namespace, in the background. */
function background(ns: string, script: string): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/**
 * What TCP connects from the client to each address:port get back within 10 s ('' when nothing, or
 * refused); one process for all. A dropped connect never answers, however long it is given: the 10 s
 * only spare an answer that comes late on a loaded host (3 s once lost the director's own answer).
 */
function ask(targets: Array<[string, number]>): string[] {
  const script = `const net=require('net');Promise.all(${JSON.stringify(targets)}.map(([h,p])=>new Promise((res)=>{` +
    `const s=net.connect({host:h,port:p},()=>s.write('hi\\n'));let d='';s.setEncoding('utf8');` +
    `s.on('data',(b)=>{d+=b;if(d.includes('\\n')){s.destroy();res(d.trim())}});s.on('error',()=>res(''));` +
    `setTimeout(()=>{s.destroy();res('')},10000)}))).then((r)=>{console.log(JSON.stringify(r));process.exit(0)})`;
  const out = spawnSync('ip', ['netns', 'exec', C, process.execPath, '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.stdout) as string[];
}

const ECHO = (tag: string, port: number) =>
  `require('net').createServer((s)=>{s.setEncoding('utf8');s.on('data',(d)=>s.write('${tag} '+d));s.on('error',()=>{})}).listen(${port})`;

after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const ns of [D, C, R]) tryRun('ip', ['netns', 'del', ns]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('acceptMode false: a NAT service on the VIP still answers through IPVS; a listener on the director does not answer on the VIP, only on its own address', { skip }, async (t) => {
  const t0 = Date.now();
  for (const ns of [D, C, R]) {
    tryRun('ip', ['netns', 'del', ns]);
    run('ip', ['netns', 'add', ns]);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  run('ip', ['-n', D, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', C]);
  run('ip', ['-n', D, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', R]);
  for (const [ns, dev, addr] of [[D, 'eth0', '198.51.100.1/24'], [D, 'eth1', '10.8.1.1/24'], [C, 'eth0', '198.51.100.2/24'], [R, 'eth0', '10.8.1.11/24']] as const) {
    run('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
    run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
  run('ip', ['-n', R, 'route', 'add', 'default', 'via', '10.8.1.1']);
  run('ip', ['netns', 'exec', D, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  background(R, ECHO('rs', 8080));
  background(D, ECHO('director', 8081));

  // both echo servers listening before anything is asked of them (a node start under TCG: seconds to minutes)
  const listening = (ns: string, port: number): boolean => run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', `sport = :${port}`]).trim() !== '';
  const until = Date.now() + 120_000;
  while (!listening(R, 8080) || !listening(D, 8081)) {
    assert.ok(Date.now() < until, 'the echo servers listen within 120 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const setupMs = Date.now() - t0;
  dir = mkdtempSync(join(tmpdir(), 'lvsd-accept-'));
  const config = join(dir, 'lvsd.json');
  writeFileSync(config, JSON.stringify({
    ipvs: { stateFile: join(dir, 'state.json') },
    services: [{ name: 'web', protocol: 'tcp', address: VIP, port: 80, scheduler: 'rr', forwarding: 'nat', realServers: [{ address: '10.8.1.11', port: 8080 }] }],
    vrrp: [{ name: 'VI', interface: 'eth0', vrid: 9, version: 3, advertInterval: '100ms', addresses: [`${VIP}/24`], acceptMode: false }],
  }));
  const started = Date.now();
  const lvsd = spawn('ip', ['netns', 'exec', D, process.execPath, CLI, 'run', '--config', config, '--socket', join(dir, 'lvsd.sock'), '--state-file', join(dir, 'state.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(lvsd);
  let log = '';
  lvsd.stdout!.on('data', (b: Buffer) => { log += String(b); });
  lvsd.stderr!.on('data', (b: Buffer) => { log += String(b); });
  const deadline = Date.now() + 120_000;
  while (!/"to":"master"/.test(log) || !run('ip', ['-n', D, 'addr', 'show', 'dev', 'eth0']).includes(VIP)) {
    assert.ok(Date.now() < deadline, `no VRRP master within 120 s:\n${log}`);
    assert.equal(lvsd.exitCode, null, `lvsd exited:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(run('ip', ['netns', 'exec', D, 'nft', 'list', 'table', 'inet', 'lvsd_vrrp']), /ip daddr @vips4 drop/);
  // VRRP starts first (fast start), but claims mastership only once the first reconcile has programmed
  // the table (issue #11): a master with its VIP has its service in the kernel already
  assert.match(run('ip', ['netns', 'exec', D, 'ipvsadm', '-Ln']), /->\s+10\.8\.1\.11:8080\s+Masq\s+1\s/, `master before its table was programmed:\n${log}`);
  assert.match(log, /"event":"vrrp\.table_ready"/);

  const mastered = Date.now();
  const [service, own, vip] = ask([[VIP, 80], ['198.51.100.1', 8081], [VIP, 8081]]);
  t.diagnostic(`setup ${setupMs} ms, lvsd to master ${mastered - started} ms, connects ${Date.now() - mastered} ms`);
  assert.equal(service, 'rs hi', 'the virtual service on the VIP is forwarded by IPVS');
  assert.equal(own, 'director hi', 'the director\'s listener answers on its own address');
  assert.equal(vip, '', 'the director\'s listener does not answer on the VIP');

  lvsd.kill('SIGTERM');
  await new Promise((r) => lvsd.once('exit', r));
  assert.doesNotMatch(run('ip', ['netns', 'exec', D, 'nft', 'list', 'tables']), /lvsd_vrrp/, 'a clean stop removes the filter');
});
