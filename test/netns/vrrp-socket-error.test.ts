/**
 * A socket error on a VRRP socket (POLLERR) must not leave it deaf. libuv stops a poll on POLLERR and
 * reports EBADF; the addon used to pass that on as an 'error' and never poll again, so a backup stopped
 * hearing adverts and made itself master. With lvsd's socket options the kernel reports an ICMP error to
 * an unconnected raw socket only with IP_RECVERR; the test turns that on from outside (pidfd_getfd on the
 * agent's socket, then setsockopt) and sends a unicast advert to an address nobody listens on for
 * protocol 112: the ICMP protocol-unreachable that comes back sets the socket's error (ENOPROTOOPT) and
 * queues an entry in its error queue, a real POLLERR. (The kernel ignores an ICMP error quoting fewer than 8
 * bytes after the IP header, so the payloads are 16 bytes, as real adverts are.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { JsonChild, NetnsLab, netnsSkipReason, type JsonMessage } from './netns.js';
import { agentPair } from './agent-pair.js';
import { enableRecvErr } from './fixtures/recverr.js';
import { startPair, type Pair } from './fixtures/vrrp-pair.js';
import { sleep, START_MS } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();

describe('a VRRP socket after a socket error', { skip }, () => {
  let lab: NetnsLab;
  let agentA: JsonChild;
  let agentB: JsonChild;
  const packetOf = (hex: string) => (m: JsonMessage) => m.event === 'packet' && m.payload === hex;

  before(async () => {
    lab = new NetnsLab();
    ({ agentA, agentB } = await agentPair(lab, '10.78.0'));
  });
  after(() => lab?.cleanup());

  test('an ICMP error reported on the socket is an error event, and the socket still hears adverts afterwards', async () => {
    // B: the director whose socket gets the error. A has no VRRP socket yet: its kernel answers B's
    // unicast advert with ICMP protocol unreachable.
    await agentB.call('open', { name: 'u', family: 'ipv4', interface: 'b0', multicast: false, source: '10.78.0.2' });
    assert.equal(enableRecvErr(await agentB.call<number>('pid', {})), 1, 'one raw VRRP socket in the agent');
    await agentB.call('send', { name: 'u', payload: 'aa'.repeat(16), destination: '10.78.0.1' });
    const err = await agentB.next((m) => m.event === 'error' || m.event === 'broken', 5000);
    assert.equal(err.event, 'error', 'reported, not given up');

    // now A speaks VRRP to B: B must hear it
    await agentA.call('open', { name: 'u', family: 'ipv4', interface: 'a0', multicast: false, source: '10.78.0.1' });
    for (let i = 0; i < 3; i++) {
      const hex = `bb0${i}`.repeat(8);
      await agentA.call('send', { name: 'u', payload: hex, destination: '10.78.0.2' });
      const got = await agentB.next(packetOf(hex), 3000);
      assert.equal(got.source, '10.78.0.1');
    }
    assert.match(JSON.stringify(err.error), /ENOPROTOOPT/, 'the socket error itself (ICMP protocol unreachable), not libuv\'s EBADF');
    // and a second error later is handled the same way (the poll was restarted, the error queue drained)
    await agentA.call('close', { name: 'u' });
    await new Promise((r) => setTimeout(r, 1100)); // ICMP errors are rate-limited to one a second per peer
    await agentB.call('send', { name: 'u', payload: 'cc'.repeat(16), destination: '10.78.0.1' });
    const err2 = await agentB.next((m) => (m.event === 'error' || m.event === 'broken') && m !== err, 5000);
    assert.equal(err2.event, 'error');
    await agentA.call('open', { name: 'u2', family: 'ipv4', interface: 'a0', multicast: false, source: '10.78.0.1' });
    await agentA.call('send', { name: 'u2', payload: 'dd'.repeat(16), destination: '10.78.0.2' });
    await agentB.next(packetOf('dd'.repeat(16)), 3000);
    assert.deepEqual(agentB.drain((m) => m.event === 'broken'), [], 'never given up');
  });
});

describe('a unicast backup whose VRRP socket got an error', { skip }, () => {
  let pair: Pair | undefined;
  after(() => pair?.vlab.cleanup());

  test('still hears its peer: the peer that comes back with a higher priority takes over and this one goes backup (no two masters)', async () => {
    // d2 alone (priority 100): it becomes master and sends unicast adverts to d1's address, where no VRRP
    // socket exists yet, so d1's kernel answers each (one a second, rate-limited) with protocol unreachable
    const unicast = (me: 1 | 2) => ({ unicast: { source: `10.61.0.${me}`, peers: [`10.61.0.${3 - me}`] } });
    pair = await startPair({ startD1: false, priorities: [150, 100], interval: '100ms', extra: [unicast(1), unicast(2)] });
    const { vlab, d1, l2 } = pair;
    await l2.transition('VI_1', 'master', 10_000);
    assert.equal(enableRecvErr(l2.child.pid!), 1, 'the daemon has one raw VRRP socket');
    const err = await l2.waitFor((l) => l.event === 'vrrp.socket_error', 5000, 0, 'a vrrp.socket_error line');
    await sleep(1500); // another error or two: each is read and the socket goes on
    const since = Date.now();
    const l1 = vlab.lvsd(d1, pair.config(1), 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    await l2.transition('VI_1', 'backup', 5000, since);
    assert.equal(l2.vrrp('VI_1').state, 'backup');
    assert.equal(err.code, 'ENOPROTOOPT', 'the socket error itself, not libuv\'s EBADF');
    assert.ok(l2.events('vrrp.socket_error').length >= 1);
    assert.deepEqual(l2.events('vrrp.socket_reopened'), [], 'no socket had to be replaced');
  });
});
