/**
 * Interface facts and link notifications over rtnetlink, in a namespace: getLink agrees with `ip link`,
 * and watchLinks reports a link going down (admin or carrier) and up within milliseconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JsonChild, NetnsLab, netnsSkipReason, type JsonMessage } from './netns.js';

const skip = netnsSkipReason();
const agentScript = new URL('./fixtures/net-agent.js', import.meta.url);

interface IpLink {
  ifindex: number;
  ifname: string;
  address: string;
  mtu: number;
}

describe('links over rtnetlink', { skip }, () => {
  let lab: NetnsLab;
  let a: string;
  let b: string;
  let agent: JsonChild;

  before(async () => {
    lab = new NetnsLab();
    a = lab.namespace('a');
    b = lab.namespace('b');
    // distinct indexes: see NetnsLab.veth (else carrier changes are batched to one a second by the kernel)
    lab.veth(a, 'a0', b, 'b0', { macA: '02:00:00:79:00:0a', indexA: 50, indexB: 60 });
    lab.ip(a, 'link set a0 mtu 1400');
    agent = lab.spawnJson(a, agentScript);
    await agent.next((m) => m.event === 'ready', 10_000);
  });
  after(() => lab?.cleanup());

  test('getLink gives the index, MAC, MTU and usable state that `ip link` shows', async () => {
    const [ip] = lab.ipJson<IpLink[]>(a, 'link show dev a0');
    const link = await agent.call<Record<string, unknown>>('getLink', { interface: 'a0' });
    assert.equal(link.name, 'a0');
    assert.equal(link.index, ip!.ifindex);
    assert.equal(link.mac, '02:00:00:79:00:0a');
    assert.equal(link.mtu, 1400);
    assert.equal(link.up, true);
    assert.equal(link.carrier, true);
    assert.equal(link.operstate, 'up');
  });

  test('a link whose peer is down is admin-up but not usable', async () => {
    lab.ip(b, 'link set b0 down');
    try {
      const link = await agent.call<Record<string, unknown>>('getLink', { interface: 'a0' });
      assert.equal(link.adminUp, true);
      assert.equal(link.carrier, false);
      assert.equal(link.up, false);
    } finally {
      lab.ip(b, 'link set b0 up');
    }
  });

  test('getLink on a missing interface is LVSD_NATIVE_UNAVAILABLE naming it', async () => {
    await assert.rejects(agent.call('getLink', { interface: 'nosuch0' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'LVSD_NATIVE_UNAVAILABLE');
      assert.match(e.message, /no such interface: "nosuch0"/);
      return true;
    });
  });

  test('watchLinks sees a0 go down and up, and carrier loss, within milliseconds', async (t) => {
    await agent.call('watchLinks');
    const isA0 = (up: boolean) => (m: JsonMessage) => m.event === 'link' && m.name === 'a0' && m.up === up;
    agent.drain();

    // timed from when the command has returned: starting `ip` takes hundreds of ms on a loaded host, and
    // the change is made somewhere in that time; a notification that came before it returned counts as 0
    lab.ip(a, 'link set a0 down');
    let t0 = Date.now();
    const down = await agent.next(isA0(false), 2000);
    const downMs = Math.max(0, (down.at as number) - t0);
    assert.equal(down.adminUp, false);

    agent.drain();
    lab.ip(a, 'link set a0 up');
    t0 = Date.now();
    const up = await agent.next(isA0(true), 2000);
    const upMs = Math.max(0, (up.at as number) - t0);

    agent.drain();
    lab.ip(b, 'link set b0 down');
    t0 = Date.now();
    const lost = await agent.next(isA0(false), 2000);
    const lostMs = Math.max(0, (lost.at as number) - t0);
    assert.equal(lost.adminUp, true, 'carrier loss, not admin down');
    lab.ip(b, 'link set b0 up');
    await agent.next(isA0(true), 2000);

    t.diagnostic(`notification latency: down ${downMs} ms, up ${upMs} ms, carrier loss ${lostMs} ms`);
    for (const ms of [downMs, upMs, lostMs]) assert.ok(ms < 250, `latency ${ms} ms`);
  });

  test('watchLinks reports a deleted link as removed', async () => {
    lab.ip(a, 'link add d0 type veth peer name d1');
    await agent.next((m) => m.event === 'link' && m.name === 'd0' && m.removed === false, 2000);
    lab.ip(a, 'link del d0');
    await agent.next((m) => m.event === 'link' && m.name === 'd0' && m.removed === true, 2000);
  });

  test('a closed watcher does not keep the process alive', async () => {
    assert.equal(await agent.stop(3000), 0, agent.errorOutput);
  });
});
