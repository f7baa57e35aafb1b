/** The Accept_Mode filter's nft script (pure) and its failures (src/net/accept-filter.ts); when the manager removes a crashed run's. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptFilterScript, setAcceptFilter } from '../../src/net/index.js';
import { isLvsdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { VrrpManager, filteredVips } from '../../src/vrrp/manager.js';
import { parse } from './config-fixtures.js';

test('no VIP to filter: the script only removes the table (whether or not it exists)', () => {
  assert.equal(acceptFilterScript([]), 'add table inet lvsd_vrrp\ndelete table inet lvsd_vrrp\n');
});

test('the script replaces the table in one transaction: IPv4 and IPv6 VIPs dropped after IPVS, neighbour discovery let through', () => {
  const s = acceptFilterScript(['192.0.2.1', '2001:db8::1', '192.0.2.2']);
  assert.match(s, /^add table inet lvsd_vrrp\ndelete table inet lvsd_vrrp\ntable inet lvsd_vrrp \{/);
  assert.match(s, /set vips4 \{ type ipv4_addr; elements = \{ 192\.0\.2\.1, 192\.0\.2\.2 \}; \}/);
  assert.match(s, /set vips6 \{ type ipv6_addr; elements = \{ 2001:db8::1 \}; \}/);
  assert.match(s, /type filter hook input priority 200; policy accept;/, 'after IPVS (LOCAL_IN 98/99)');
  assert.ok(s.indexOf('nd-neighbor-solicit') < s.indexOf('ip6 daddr @vips6 drop'), 'ND accepted before the drop');
  assert.match(acceptFilterScript(['192.0.2.1']), /set vips6 \{ type ipv6_addr; \}/, 'an empty set has no elements clause');
});

test('which VIPs are filtered: acceptMode false and not the address owner', () => {
  const c = parse({ vrrp: [
    { name: 'A', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1'], acceptMode: false },
    { name: 'B', interface: 'eth0', vrid: 2, addresses: ['192.0.2.2'], acceptMode: false, priority: 255 },
    { name: 'C', interface: 'eth0', vrid: 3, addresses: ['192.0.2.3'] },
    { name: 'D', interface: 'eth0', vrid: 4, addresses: ['2001:db8::4', '2001:db8::5'], acceptMode: false },
  ] });
  assert.deepEqual(c.vrrp.map((v) => v.acceptMode), [false, false, true, false], 'default true');
  assert.deepEqual(filteredVips(c.vrrp), ['192.0.2.1', '2001:db8::4', '2001:db8::5']);
});

test('nft missing: installing a filter fails with LVSD_FIREWALL naming the fix; removing none succeeds', async () => {
  await assert.rejects(setAcceptFilter(['192.0.2.1'], '/nonexistent/nft'), (e: unknown) => {
    assert.ok(isLvsdError(e, 'LVSD_FIREWALL'));
    assert.match(e.message, /192\.0\.2\.1.*not installed.*apt install nftables/);
    return true;
  });
  await setAcceptFilter([], '/nonexistent/nft');
});

test('nft refusing the rules: LVSD_FIREWALL with its reason', async () => {
  await assert.rejects(setAcceptFilter(['192.0.2.1'], '/bin/false'), (e: unknown) => isLvsdError(e, 'LVSD_FIREWALL') && /refused/.test(e.message));
});

describe('a crashed run\'s filter, removed at start', () => {
  // the manager with no instance: what it does with the filter at start, through an injected nft
  const calls = (): { writes: string[][]; filter: (vips: string[]) => Promise<void> } => {
    const writes: string[][] = [];
    return { writes, filter: async (vips) => void writes.push(vips) };
  };
  const settle = () => new Promise((r) => setTimeout(r, 50));

  test('with no table to program: removed once the instances listen', async (t) => {
    const nft = calls();
    const m = new VrrpManager(silentLogger, {}, nft.filter);
    t.after(() => m.stop());
    await m.start({ vrrp: [], syncGroups: [] });
    await settle();
    assert.deepEqual(nft.writes, [[]]);
  });

  test('with a table to program: removed only once it is in the kernel (nft\'s fork stalls the main thread on its way there)', async (t) => {
    const nft = calls();
    const m = new VrrpManager(silentLogger, {}, nft.filter);
    t.after(() => m.stop());
    await m.start({ vrrp: [], syncGroups: [] }, { waitForTable: true });
    await settle();
    assert.deepEqual(nft.writes, [], 'nothing while the table is programmed');
    m.tableReady(true);
    await settle();
    assert.deepEqual(nft.writes, [[]]);
    m.tableReady(true);
    await settle();
    assert.deepEqual(nft.writes, [[]], 'once');
  });

  test('a start stopped before its table was programmed still removes it', async () => {
    const nft = calls();
    const m = new VrrpManager(silentLogger, {}, nft.filter);
    await m.start({ vrrp: [], syncGroups: [] }, { waitForTable: true });
    await m.stop();
    await settle();
    assert.deepEqual(nft.writes, [[]]);
  });
});
