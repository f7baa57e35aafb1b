/**
 * VRRP Accept_Mode (RFC 5798 6.4.3) with a real `lvsd run` in a namespace and a client on the bridge: with
 * `acceptMode: false` a master that is not the address owner drops what is addressed to its VIP (a TCP
 * connect to a listener on the director fails while the same listener answers on the director's own
 * address); with `acceptMode: true` (the default) it succeeds; the address owner (priority 255) always
 * accepts; a reload switches it in place; a clean stop, and a start after a crash, leave no filter behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { LVSD_MAIN, sleep, VrrpLab, type Node, START_MS } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason() || (spawnSync('nft', ['--version']).status === 0 ? false : 'nft (nftables) is not installed');
const LISTEN = fileURLToPath(new URL('./fixtures/tcp-listen.js', import.meta.url));
const VIP = '10.61.0.100';
const VIP6 = 'fd00:61::100';

function instance(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'VI_1', interface: 'eth0', vrid: 81, priority: 100, version: 3, advertInterval: '100ms',
    addresses: [`${VIP}/24`], garp: { count: 1, interval: '0s', refresh: '0s' }, ...extra,
  };
}

/** Does a TCP connect from `from` to address:8080 get the listener's answer within 1.5 s? */
function connects(vlab: VrrpLab, from: Node, address: string): boolean {
  const script = `const s=require('net').connect({host:${JSON.stringify(address)},port:8080});let d='';` +
    `s.on('data',(b)=>d+=b);s.on('end',()=>process.exit(d==='ok'?0:1));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),1500)`;
  return vlab.lab.execResult(from.ns, [process.execPath, '-e', script]).status === 0;
}

const nftTables = (vlab: VrrpLab, node: Node) => vlab.lab.execResult(node.ns, ['nft', 'list', 'tables']).stdout;

async function listener(vlab: VrrpLab, node: Node): Promise<void> {
  const child = vlab.spawn(node, [process.execPath, LISTEN, '8080']);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => { if (String(b).includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`listener exited ${code}`)));
  });
}

describe('VRRP Accept_Mode', { skip }, () => {
  test('acceptMode false: the master (not the owner) drops packets to its VIP, not to its own address; a reload to true lets them in; a clean stop removes the filter', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const client = vlab.node('client');
    await listener(vlab, d1);
    const l1 = vlab.lvsd(d1, { vrrp: [instance({ acceptMode: false })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    await vlab.until(() => vlab.holds(d1, VIP), 'the master holds the VIP');
    assert.ok(vlab.holds(d1, VIP), 'the master holds the VIP');
    assert.ok(connects(vlab, client, d1.ipv4), 'the listener answers on the director\'s own address');
    assert.equal(connects(vlab, client, VIP), false, 'a TCP connect to the VIP must fail with acceptMode false');
    assert.ok(vlab.neighbour(client, VIP), 'the client resolved the VIP: the master answers ARP for it');
    const line = l1.events('vrrp.accept_filter').at(-1);
    assert.deepEqual(line?.vips, [VIP]);

    // reload: acceptMode true (the default) takes the filter away without moving the VIP
    const path = `${vlab.dir}/d1.json`;
    const doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const since = Date.now();
    vlab.file('d1.json', JSON.stringify({ ...doc, vrrp: [instance()] }, null, 2));
    l1.signal('SIGHUP');
    await l1.waitFor((e) => e.event === 'config.reloaded', 10_000, since);
    assert.ok(connects(vlab, client, VIP), 'with acceptMode true the VIP accepts');
    assert.deepEqual(l1.events('vrrp.transition').filter((e) => e.at >= since), [], 'no transition');
    assert.doesNotMatch(nftTables(vlab, d1), /lvsd_vrrp/);

    // back to false, then a clean stop: the table goes with the VIP
    vlab.file('d1.json', JSON.stringify({ ...doc, vrrp: [instance({ acceptMode: false })] }, null, 2));
    const again = Date.now();
    l1.signal('SIGHUP');
    await l1.waitFor((e) => e.event === 'config.reloaded', 10_000, again);
    assert.equal(connects(vlab, client, VIP), false);
    assert.match(nftTables(vlab, d1), /lvsd_vrrp/);
    assert.equal(await l1.stop(), 0);
    assert.doesNotMatch(nftTables(vlab, d1), /lvsd_vrrp/, 'a clean stop removes the filter');
  });

  test('the address owner (priority 255) accepts with acceptMode false; IPv6: the VIP is dropped, neighbour discovery still works', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const client = vlab.node('client');
    vlab.ip(d1, 'addr add fd00:61::1/64 dev eth0 nodad');
    vlab.ip(client, 'addr add fd00:61::2/64 dev eth0 nodad');
    await listener(vlab, d1);
    const l1 = vlab.lvsd(d1, { vrrp: [
      instance({ priority: 255, acceptMode: false }),
      instance({ name: 'VI_6', vrid: 82, addresses: [`${VIP6}/64`], acceptMode: false }),
    ] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    await l1.transition('VI_6', 'master', START_MS);
    await vlab.until(() => vlab.holds(d1, VIP), 'the master holds the VIP');
    assert.ok(connects(vlab, client, VIP), 'the owner accepts whatever acceptMode says');
    assert.ok(connects(vlab, client, 'fd00:61::1'), 'the listener answers on the director\'s own IPv6 address');
    assert.equal(connects(vlab, client, VIP6), false, 'a TCP connect to the IPv6 VIP of a non-owner fails');
    const neigh = vlab.lab.ipJson<Array<{ dst: string; lladdr?: string }>>(client.ns, `-6 neigh show to ${VIP6} dev eth0`);
    assert.equal(neigh.find((n) => n.dst === VIP6)?.lladdr, d1.mac, 'the VIP resolved to the master by neighbour discovery');
    // the control: the same VIP with acceptMode true answers (so it was the filter, not the address)
    const path = `${vlab.dir}/d1.json`;
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { vrrp: Array<Record<string, unknown>> };
    const since = Date.now();
    vlab.file('d1.json', JSON.stringify({ ...doc, vrrp: doc.vrrp.map((v) => ({ ...v, acceptMode: true })) }, null, 2));
    l1.signal('SIGHUP');
    await l1.waitFor((e) => e.event === 'config.reloaded', 10_000, since);
    assert.ok(connects(vlab, client, VIP6), 'with acceptMode true the IPv6 VIP accepts');
    assert.equal(await l1.stop(), 0);
  });

  test('a filter left by a crashed run is removed at start when no instance wants one', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const client = vlab.node('client');
    await listener(vlab, d1);
    const l1 = vlab.lvsd(d1, { vrrp: [instance({ acceptMode: false })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    l1.signal('SIGKILL');
    await l1.exit;
    assert.match(nftTables(vlab, d1), /lvsd_vrrp/, 'kill -9 leaves the table');
    const l2 = vlab.lvsd(d1, { vrrp: [instance()] }, 'd1b');
    await l2.transition('VI_1', 'master', START_MS);
    assert.doesNotMatch(nftTables(vlab, d1), /lvsd_vrrp/);
    await vlab.until(() => vlab.holds(d1, VIP), 'the master holds the VIP');
    assert.ok(connects(vlab, client, VIP));
    assert.equal(await l2.stop(), 0);
  });

  test('nft missing: a director with acceptMode false refuses to start (LVSD_FIREWALL) and never adds the VIP unfiltered', async (t) => {
    const vlab = new VrrpLab();
    t.after(() => vlab.cleanup());
    const d1 = vlab.node('d1');
    const config = vlab.file('d1.json', JSON.stringify({ vrrp: [instance({ acceptMode: false })], control: { socket: `${vlab.dir}/d1.sock` } }));
    // nft lives in /usr/sbin: a PATH without it
    const child = vlab.spawn(d1, ['env', 'PATH=/usr/bin:/bin', process.execPath, LVSD_MAIN, 'run', '--config', config,
      '--socket', `${vlab.dir}/d1.sock`, '--state-file', `${vlab.dir}/d1.state`]);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => { out += String(b); });
    child.stderr!.on('data', (b: Buffer) => { out += String(b); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 1, out);
    assert.match(out, /acceptMode.*needs nft|nft is not installed/, out);
    assert.equal(vlab.holds(d1, VIP), false, 'no VIP without its filter');
  });
});
