/**
 * The `ecmp` section and what it asks of the services (issue #13 item 2): `lvsd check` refuses what cannot
 * work active-active, with the JSON pointer, and warns about what works but may differ between directors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, parse, problemsOf } from './config-fixtures.js';

const ecmp = { routerId: '10.1.0.11', localAs: 65011, peers: [{ address: '10.1.0.1', as: 65000 }] };
const svc = (extra: Record<string, unknown> = {}) => ({
  name: 'web', protocol: 'tcp', address: '10.200.0.10', port: 80, scheduler: 'mh', forwarding: 'dr',
  realServers: [{ address: '10.2.0.1' }, { address: '10.2.0.2' }], ...extra,
});

test('defaults: BFD 100 ms x 3, hold 3 s, VIPs on lo, withdrawWait 2 s, /usr/sbin/bird in /run/lvsd/bird', () => {
  const c = parse({ ecmp, services: [svc()] });
  assert.deepEqual({ ...c.ecmp!, origin: undefined }, {
    origin: undefined, routerId: '10.1.0.11', localAs: 65011,
    peers: [{ address: '10.1.0.1', family: 'ipv4', as: 65000, bfd: true, holdTime: 3 }],
    bfd: { interval: 0.1, multiplier: 3 }, vipInterface: 'lo', withdrawWait: 2,
    daemon: { path: '/usr/sbin/bird', runDir: '/run/lvsd/bird' },
  });
  assert.equal(c.warnings, undefined);
});

test('refused: a scheduler other than mh (the default wlc too), nat anywhere, a VRRP address that is a VIP, no peer of the family', () => {
  const p = problemsOf({
    ecmp,
    services: [
      svc({ scheduler: 'wrr' }),
      svc({ name: 'b', port: 81, scheduler: undefined }),
      svc({ name: 'c', port: 82, forwarding: undefined }),
      svc({ name: 'd', port: 83, realServers: [{ address: '10.2.0.1', forwarding: 'nat' }], sorryServer: { address: '10.3.0.1', forwarding: 'nat' } }),
      svc({ name: 'e', address: '2001:db8::10', realServers: [{ address: '2001:db8::21' }] }),
    ],
    vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['10.200.0.10/32'] }],
  });
  assertProblem(p, '/services/0/scheduler', /^is "wrr", but ecmp needs "mh"/);
  assertProblem(p, '/services/1/scheduler', /^is "wlc" \(the default\), but ecmp needs "mh"/);
  assertProblem(p, '/services/2/forwarding', /^is "nat" \(the default\): nat forwarding cannot work active-active/);
  assertProblem(p, '/services/3/realServers/0/forwarding', /^is "nat"/);
  assertProblem(p, '/services/3/sorryServer/forwarding', /^is "nat"/);
  assertProblem(p, '/vrrp/0/addresses/0', /10\.200\.0\.10 is a service address announced over BGP/);
  assertProblem(p, '/ecmp/peers', /has no ipv6 peer to announce 2001:db8::10/);
});

test('refused: bad router id, hold time, duplicate peers, interface names, paths', () => {
  const p = problemsOf({
    ecmp: {
      ...ecmp, routerId: '2001:db8::1', holdTime: '2s', vipInterface: 'a/b',
      peers: [{ address: '10.1.0.1', as: 65000 }, { address: '10.1.0.1', as: 65001, source: '2001:db8::1', holdTime: 0 }],
      daemon: { runDir: 'relative' },
    },
    services: [svc()],
  });
  assertProblem(p, '/ecmp/routerId', /is not IPv4/);
  assertProblem(p, '/ecmp/holdTime', /from 3s to 65535s/);
  assertProblem(p, '/ecmp/peers/1/address', /duplicate peer 10\.1\.0\.1 \(also \/peers\/0\)/);
  assertProblem(p, '/ecmp/peers/1/source', /is ipv6 but the peer 10\.1\.0\.1 is ipv4/);
  assertProblem(p, '/ecmp/peers/1/holdTime', /from 3s/);
  assertProblem(p, '/ecmp/vipInterface', /cannot be an interface name/);
  assertProblem(p, '/ecmp/daemon/runDir', /must be an absolute path/);
  const schema = problemsOf({ ecmp: { routerId: '10.1.0.11', localAs: 0, peers: [] }, services: [svc()] });
  assertProblem(schema, '/ecmp/localAs', /from 1 to 4294967295/);
});

test('warned, not refused: fwmark services (not announced), persistence, slowStart', () => {
  const c = parse({
    ecmp,
    services: [
      svc({ persistence: { timeout: 60 }, slowStart: '10s' }),
      { name: 'fw', fwmark: 7, scheduler: 'mh', forwarding: 'dr', realServers: [{ address: '10.2.0.1' }] },
    ],
  });
  assert.deepEqual(c.warnings!.map((w) => w.pointer), ['/services/0/persistence', '/services/0/slowStart', '/services/1']);
  assert.match(c.warnings![2]!.message, /no address for lvsd to announce/);
});

test('without ecmp nothing changes: wlc and nat stay valid', () => {
  const c = parse({ services: [svc({ scheduler: undefined, forwarding: undefined })] });
  assert.equal(c.ecmp, undefined);
});
