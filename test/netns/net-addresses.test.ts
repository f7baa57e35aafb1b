/**
 * Addresses over rtnetlink, in a namespace: adds and removes show in `ip addr`, both are idempotent,
 * IPv6 VIPs are usable at once (IFA_F_NODAD even where DAD is on), and primaryAddress picks the VRRP source.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JsonChild, NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const agentScript = new URL('./fixtures/net-agent.js', import.meta.url);

interface IpAddr {
  family: string;
  local: string;
  prefixlen: number;
  secondary?: boolean;
  tentative?: boolean;
  nodad?: boolean;
}

describe('addresses over rtnetlink', { skip }, () => {
  let lab: NetnsLab;
  let a: string;
  let agent: JsonChild;
  const ipAddrs = () => lab.ipJson<Array<{ addr_info: IpAddr[] }>>(a, 'addr show dev a0')[0]!.addr_info;
  const find = (address: string) => ipAddrs().find((x) => x.local === address);

  before(async () => {
    lab = new NetnsLab();
    a = lab.namespace('a');
    const b = lab.namespace('b');
    lab.veth(a, 'a0', b, 'b0');
    // DAD on for a0, so that only IFA_F_NODAD makes a new IPv6 address usable at once
    lab.exec(a, ['sysctl', '-qw', 'net.ipv6.conf.a0.accept_dad=1']);
    lab.ip(a, 'addr add 10.79.0.1/24 dev a0');
    agent = lab.spawnJson(a, agentScript);
    await agent.next((m) => m.event === 'ready', 10_000);
  });
  after(() => lab?.cleanup());

  test('an IPv4 VIP added is in `ip addr` (secondary to the primary), and adding it again is not an error', async () => {
    assert.equal(await agent.call('addAddress', { interface: 'a0', address: '10.79.0.100', prefixLength: 24 }), true);
    assert.deepEqual(
      { prefixlen: find('10.79.0.100')?.prefixlen, secondary: find('10.79.0.100')?.secondary },
      { prefixlen: 24, secondary: true },
    );
    assert.equal(await agent.call('addAddress', { interface: 'a0', address: '10.79.0.100', prefixLength: 24 }), false);
    const listed = await agent.call<Array<{ address: string; secondary: boolean }>>('listAddresses', { interface: 'a0', family: 'ipv4' });
    assert.deepEqual(
      listed.map((x) => [x.address, x.secondary]),
      [
        ['10.79.0.1', false],
        ['10.79.0.100', true],
      ],
    );
    assert.equal(await agent.call('primaryAddress', { interface: 'a0', family: 'ipv4' }), '10.79.0.1');
  });

  test('an IPv4 VIP removed is gone from `ip addr`, and removing it again is not an error', async () => {
    assert.equal(await agent.call('removeAddress', { interface: 'a0', address: '10.79.0.100' }), true);
    assert.equal(find('10.79.0.100'), undefined);
    assert.equal(await agent.call('removeAddress', { interface: 'a0', address: '10.79.0.100', prefixLength: 24 }), false);
    assert.ok(find('10.79.0.1'), 'the primary address is untouched');
  });

  test('an IPv6 VIP is added with nodad and is not tentative even though DAD is on', async () => {
    assert.equal(await agent.call('addAddress', { interface: 'a0', address: 'fd79::100', prefixLength: 64 }), true);
    const x = find('fd79::100');
    assert.ok(x, 'in ip addr');
    assert.equal(x.nodad, true);
    assert.notEqual(x.tentative, true);
    assert.equal(await agent.call('addAddress', { interface: 'a0', address: 'FD79:0::100', prefixLength: 64 }), false);
  });

  test('an IPv6 VIP is removed without naming its prefix length, idempotently', async () => {
    assert.equal(await agent.call('removeAddress', { interface: 'a0', address: 'fd79::100' }), true);
    assert.equal(find('fd79::100'), undefined);
    assert.equal(await agent.call('removeAddress', { interface: 'a0', address: 'fd79::100' }), false);
    assert.equal(await agent.call('removeAddress', { interface: 'a0', address: 'fd79::100', prefixLength: 64 }), false);
  });

  test('the IPv6 VRRP source is the link-local address', async () => {
    // the kernel's link-local on a0 finishes DAD within about a second (DAD is on here)
    let ll: string | null = null;
    for (let i = 0; i < 50 && !ll; i++) {
      ll = await agent.call<string | null>('primaryAddress', { interface: 'a0', family: 'ipv6' });
      if (!ll) await new Promise((r) => setTimeout(r, 100));
    }
    const expected = ipAddrs().find((x) => x.family === 'inet6' && x.local.startsWith('fe80:'))?.local;
    assert.equal(ll, expected);
  });

  test('changing addresses on a missing interface is LVSD_NATIVE_UNAVAILABLE', async () => {
    await assert.rejects(agent.call('addAddress', { interface: 'nosuch0', address: '10.79.0.5', prefixLength: 24 }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'LVSD_NATIVE_UNAVAILABLE');
      assert.match(e.message, /no such interface/);
      return true;
    });
    await assert.rejects(agent.call('addAddress', { interface: 'a0', address: '10.79.0.5', prefixLength: 33 }), /prefix length/);
  });
});
