/**
 * Address takeover announcements on a bridged segment of three hosts (namespaces a, b, c on a bridge in
 * a fourth): c talks to a VIP held by b, the VIP moves to a, and a's gratuitous ARP (IPv4) or unsolicited
 * NA (IPv6) makes c's neighbour entry for the VIP point to a's MAC, where it did not move by itself.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JsonChild, NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const agentScript = new URL('./fixtures/net-agent.js', import.meta.url);

const MAC = { a: '02:00:00:78:00:0a', b: '02:00:00:78:00:0b', c: '02:00:00:78:00:0c' };

interface Neigh {
  dst: string;
  lladdr?: string;
  state?: string[];
}

describe('gratuitous ARP and unsolicited NA on a bridge', { skip }, () => {
  let lab: NetnsLab;
  const ns = { a: '', b: '', c: '', sw: '' };
  let agentA: JsonChild;

  before(async () => {
    lab = new NetnsLab();
    ns.sw = lab.namespace('sw');
    lab.bridge(ns.sw, 'br0');
    for (const [i, h] of (['a', 'b', 'c'] as const).entries()) {
      ns[h] = lab.namespace(h);
      lab.veth(ns[h], `${h}0`, ns.sw, `p${h}`, { macA: MAC[h], indexA: 50 + i, indexB: 60 + i });
      lab.attach(ns.sw, `p${h}`, 'br0');
      lab.ip(ns[h], `addr add 10.78.0.${i + 1}/24 dev ${h}0`);
      lab.ip(ns[h], `addr add fd78::${i + 1}/64 dev ${h}0 nodad`);
    }
    for (const h of ['a', 'b', 'c'] as const) await lab.waitOperUp(ns[h], `${h}0`);
    agentA = lab.spawnJson(ns.a, agentScript);
    await agentA.next((m) => m.event === 'ready', 10_000);
  });
  after(() => lab?.cleanup());

  function neighbour(family: '-4' | '-6', address: string): Neigh | undefined {
    return lab.ipJson<Neigh[]>(ns.c, `${family} neigh show ${address} dev c0`)[0];
  }

  /** c sends a datagram to the VIP (resolving it), and we wait until its entry has a MAC. */
  async function learn(family: '-4' | '-6', address: string): Promise<string | undefined> {
    const af = family === '-4' ? 'AF_INET' : 'AF_INET6';
    const py = `import socket; s = socket.socket(socket.${af}, socket.SOCK_DGRAM); s.sendto(b"x", ("${address}", 9))`;
    for (let i = 0; i < 40; i++) {
      lab.execResult(ns.c, ['python3', '-c', py]);
      const n = neighbour(family, address);
      if (n?.lladdr) return n.lladdr;
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }

  async function waitFor(family: '-4' | '-6', address: string, mac: string, ms = 2000): Promise<string | undefined> {
    const until = Date.now() + ms;
    let seen: string | undefined;
    while (Date.now() < until) {
      seen = neighbour(family, address)?.lladdr;
      if (seen === mac) return seen;
      await new Promise((r) => setTimeout(r, 20));
    }
    return seen;
  }

  test('IPv4: a gratuitous ARP from the new owner repoints the neighbour entry of another host', async () => {
    const vip = '10.78.0.100';
    lab.ip(ns.b, `addr add ${vip}/24 dev b0`);
    assert.equal(await learn('-4', vip), MAC.b, 'c learnt the VIP at b');
    lab.ip(ns.b, `addr del ${vip}/24 dev b0`);
    assert.equal(await agentA.call('addAddress', { interface: 'a0', address: vip, prefixLength: 24 }), true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(neighbour('-4', vip)?.lladdr, MAC.b, 'without an announcement c still points at b');
    await agentA.call('garp', { interface: 'a0', address: vip });
    assert.equal(await waitFor('-4', vip, MAC.a), MAC.a);
  });

  test('IPv4: the reply form of gratuitous ARP moves the entry too (VIP back from a to b)', async () => {
    const vip = '10.78.0.100';
    const agentB = lab.spawnJson(ns.b, agentScript);
    await agentB.next((m) => m.event === 'ready', 10_000);
    assert.equal(await agentA.call('removeAddress', { interface: 'a0', address: vip }), true);
    assert.equal(await agentB.call('addAddress', { interface: 'b0', address: vip, prefixLength: 24 }), true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(neighbour('-4', vip)?.lladdr, MAC.a, 'without an announcement c still points at a');
    await agentB.call('garp', { interface: 'b0', address: vip, arpOp: 'reply' });
    assert.equal(await waitFor('-4', vip, MAC.b), MAC.b);
    await agentB.stop();
  });

  test('IPv6: an unsolicited NA (Override) from the link-local of the new owner repoints the entry', async () => {
    const vip = 'fd78::100';
    lab.ip(ns.b, `-6 addr add ${vip}/64 dev b0 nodad`);
    assert.equal(await learn('-6', vip), MAC.b, 'c learnt the VIP at b');
    lab.ip(ns.b, `-6 addr del ${vip}/64 dev b0`);
    assert.equal(await agentA.call('addAddress', { interface: 'a0', address: vip, prefixLength: 64 }), true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(neighbour('-6', vip)?.lladdr, MAC.b, 'without an announcement c still points at b');
    await agentA.call('na', { interface: 'a0', address: vip });
    assert.equal(await waitFor('-6', vip, MAC.a), MAC.a);
  });

  test('announcing on a missing interface is a clear error', async () => {
    await assert.rejects(agentA.call('garp', { interface: 'nosuch0', address: '10.78.0.100' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'LVSD_NATIVE_UNAVAILABLE');
      assert.match(e.message, /no such interface/);
      return true;
    });
  });
});
