/**
 * The PING check through the addon's ICMP socket, in namespaces: a (the director) and b (a real server)
 * on a veth. An address that answers echo is up (IPv4 and IPv6); one that does not is down with a
 * timeout: a host ignoring echo requests, an on-link address nobody holds, a server whose link went down;
 * an address with no route is down at once (send ENETUNREACH). Both kinds of socket are exercised: a raw
 * socket (the namespace's default ping_group_range lets no group have a ping socket) and a ping socket;
 * an unprivileged process outside ping_group_range gets a local failure (EPERM), inside it a ping socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const PROBE = fileURLToPath(new URL('./fixtures/ping-probe.js', import.meta.url));

interface Result { ok: boolean; reason: string; latencyMs: number; local?: string }

describe('PING check in namespaces', { skip }, () => {
  let lab: NetnsLab;
  const ns = { a: '', b: '' };

  before(async () => {
    lab = new NetnsLab();
    ns.a = lab.namespace('a');
    ns.b = lab.namespace('b');
    lab.veth(ns.a, 'a0', ns.b, 'b0', { indexA: 50, indexB: 60 });
    lab.ip(ns.a, 'addr add 10.91.0.1/24 dev a0');
    lab.ip(ns.b, 'addr add 10.91.0.2/24 dev b0');
    lab.ip(ns.a, 'addr add fd91::1/64 dev a0 nodad');
    lab.ip(ns.b, 'addr add fd91::2/64 dev b0 nodad');
    await lab.waitOperUp(ns.a, 'a0');
    await lab.waitOperUp(ns.b, 'b0');
  });
  after(() => lab?.cleanup());

  function ping(timeout: number, ...addresses: string[]): Record<string, Result> {
    return JSON.parse(lab.exec(ns.a, [process.execPath, PROBE, String(timeout), ...addresses])) as Record<string, Result>;
  }

  for (const socket of ['raw', 'ping'] as const) {
    test(`${socket} socket: an answering address is up (IPv4, IPv6); an on-link address nobody holds times out; no route is down at once`, () => {
      lab.exec(ns.a, ['sysctl', '-qw', `net.ipv4.ping_group_range=${socket === 'raw' ? '1 0' : '0 2147483647'}`]);
      const r = ping(1, '10.91.0.2', 'fd91::2', '10.91.0.9', 'fd91::9', '10.99.0.1', 'fd99::1');
      assert.equal(r['10.91.0.2']!.ok, true, r['10.91.0.2']!.reason);
      assert.equal(r['10.91.0.2']!.reason, 'echo reply');
      assert.equal(r['fd91::2']!.ok, true, r['fd91::2']!.reason);
      for (const a of ['10.91.0.9', 'fd91::9']) {
        assert.equal(r[a]!.ok, false, a);
        assert.equal(r[a]!.reason, 'timeout after 1000ms', a);
        assert.equal(r[a]!.local, undefined);
      }
      for (const a of ['10.99.0.1', 'fd99::1']) {
        assert.equal(r[a]!.ok, false, a);
        assert.equal(r[a]!.reason, 'send ENETUNREACH', a);
        assert.equal(r[a]!.local, undefined);
        assert.ok(r[a]!.latencyMs < 500, `${a}: ${r[a]!.latencyMs}ms: the failed send decides, not the timeout`);
      }
    });
  }

  test('a server that ignores echo requests is down (timeout), and up again when it answers', () => {
    lab.exec(ns.b, ['sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_all=1', 'net.ipv6.icmp.echo_ignore_all=1']);
    const down = ping(0.5, '10.91.0.2', 'fd91::2');
    lab.exec(ns.b, ['sysctl', '-qw', 'net.ipv4.icmp_echo_ignore_all=0', 'net.ipv6.icmp.echo_ignore_all=0']);
    for (const a of ['10.91.0.2', 'fd91::2']) {
      assert.equal(down[a]!.ok, false, a);
      assert.equal(down[a]!.reason, 'timeout after 500ms', a);
    }
    const up = ping(1, '10.91.0.2', 'fd91::2');
    assert.equal(up['10.91.0.2']!.ok, true);
    assert.equal(up['fd91::2']!.ok, true);
  });

  test('without CAP_NET_RAW and outside ping_group_range the socket cannot be opened: local (EPERM), not the server\'s fault; inside the range a ping socket works unprivileged', (t) => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    if (lab.execResult(ns.a, [...nobody, 'test', '-r', PROBE]).status !== 0) return t.skip('the checkout is not readable by nobody');
    const asNobody = () => JSON.parse(lab.exec(ns.a, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      process.execPath, PROBE, '1', '10.91.0.2', 'fd91::2'])) as Record<string, Result>;
    lab.exec(ns.a, ['sysctl', '-qw', 'net.ipv4.ping_group_range=1 0']);
    const denied = asNobody();
    for (const a of ['10.91.0.2', 'fd91::2']) {
      assert.equal(denied[a]!.ok, false, a);
      assert.equal(denied[a]!.reason, 'icmp socket EPERM', a);
      assert.equal(denied[a]!.local, 'EPERM', 'the scheduler keeps the server as it was and retries');
    }
    lab.exec(ns.a, ['sysctl', '-qw', 'net.ipv4.ping_group_range=65534 65534']);
    const allowed = asNobody();
    assert.equal(allowed['10.91.0.2']!.ok, true, allowed['10.91.0.2']!.reason);
    assert.equal(allowed['fd91::2']!.ok, true, allowed['fd91::2']!.reason);
  });

  test("a server whose link is down is down", () => {
    lab.ip(ns.b, 'link set b0 down');
    try {
      const r = ping(0.5, '10.91.0.2', 'fd91::2');
      for (const a of ['10.91.0.2', 'fd91::2']) {
        assert.equal(r[a]!.ok, false, a);
        assert.match(r[a]!.reason, /^(timeout after 500ms|send E[A-Z]+)$/, a);
        assert.equal(r[a]!.local, undefined);
      }
    } finally {
      lab.ip(ns.b, 'link set b0 up');
    }
  });
});
