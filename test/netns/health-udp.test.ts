/**
 * The UDP check (no reply required: silence is up) against servers it cannot reach, in namespaces: a (the
 * director) and r (a router with no route onwards). The router's ICMP net unreachable (IPv4 and IPv6) and
 * the director's own failed ARP for an on-link address nobody holds must make the check down. Through the
 * addon (IP_RECVERR) they do; a Node dgram socket hears only port unreachable and reports silence, i.e. up
 * (kept here as the reason the addon path exists).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const PROBE = fileURLToPath(new URL('./fixtures/udp-probe.js', import.meta.url));

interface Result { ok: boolean; reason: string; latencyMs: number; local?: string }

describe('UDP check and ICMP errors from the path', { skip }, () => {
  let lab: NetnsLab;
  const ns = { a: '', r: '' };

  before(async () => {
    lab = new NetnsLab();
    ns.a = lab.namespace('a');
    ns.r = lab.namespace('r');
    lab.veth(ns.a, 'a0', ns.r, 'r0', { indexA: 50, indexB: 60 });
    lab.ip(ns.a, 'addr add 10.93.0.1/24 dev a0');
    lab.ip(ns.r, 'addr add 10.93.0.2/24 dev r0');
    lab.ip(ns.a, 'addr add fd93::1/64 dev a0 nodad');
    lab.ip(ns.r, 'addr add fd93::2/64 dev r0 nodad');
    lab.exec(ns.r, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await lab.waitOperUp(ns.a, 'a0');
    await lab.waitOperUp(ns.r, 'r0');
    lab.ip(ns.a, 'route add 10.99.0.0/24 via 10.93.0.2');
    lab.ip(ns.a, '-6 route add fd99::/64 via fd93::2');
  });
  after(() => lab?.cleanup());

  const run = (mode: 'native' | 'socket', timeout: number, ...targets: string[]) =>
    JSON.parse(lab.exec(ns.a, [process.execPath, PROBE, mode, String(timeout), ...targets.flatMap((t) => [t, '53'])])) as Record<string, Result>;

  test("a router's net unreachable is down at once (IPv4, IPv6); the director's failed ARP is down (host unreachable)", () => {
    const r = run('native', 5, '10.99.0.1', 'fd99::1', '10.93.0.7');
    for (const a of ['10.99.0.1', 'fd99::1']) {
      assert.equal(r[a]!.ok, false, `${a}: ${r[a]!.reason}`);
      assert.match(r[a]!.reason, /^udp E(NET|HOST)UNREACH$/, a);
      assert.equal(r[a]!.local, undefined);
      assert.ok(r[a]!.latencyMs < 2000, `${a}: ${r[a]!.latencyMs} ms: the ICMP error decided, not the timeout`);
    }
    assert.equal(r['10.93.0.7']!.ok, false, r['10.93.0.7']!.reason);
    assert.equal(r['10.93.0.7']!.reason, 'udp EHOSTUNREACH');
  });

  test('a Node dgram socket (the fallback without the addon) does not hear them: silence, counted up', () => {
    const r = run('socket', 1, '10.99.0.1');
    assert.equal(r['10.99.0.1']!.ok, true, r['10.99.0.1']!.reason);
    assert.equal(r['10.99.0.1']!.reason, 'no reply, no ICMP error in 1000ms');
  });
});
