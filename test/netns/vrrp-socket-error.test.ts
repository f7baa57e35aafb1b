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
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { JsonChild, NetnsLab, netnsSkipReason, type JsonMessage } from './netns.js';

const skip = netnsSkipReason();
const agentScript = new URL('./fixtures/net-agent.js', import.meta.url);

/** Sets IP_RECVERR on the raw protocol-112 socket(s) of process `pid` (through a duplicate: the socket is shared). */
function enableRecvErr(pid: number): number {
  const py = `
import ctypes, os, socket, sys
pid = int(sys.argv[1])
inodes = set()
with open(f"/proc/{pid}/net/raw") as f:
    next(f)
    for line in f:
        cols = line.split()
        if cols[1].endswith(":0070"):
            inodes.add(cols[9])
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
done = 0
for name in os.listdir(f"/proc/{pid}/fd"):
    try:
        target = os.readlink(f"/proc/{pid}/fd/{name}")
    except OSError:
        continue
    if target.startswith("socket:[") and target[8:-1] in inodes:
        fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
        if fd < 0:
            sys.exit("pidfd_getfd: " + os.strerror(ctypes.get_errno()))
        s = socket.socket(fileno=fd)
        s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
        s.close()
        done += 1
print(done)
`;
  const r = spawnSync('python3', ['-c', py, String(pid)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

describe('a VRRP socket after a socket error', { skip }, () => {
  let lab: NetnsLab;
  let agentA: JsonChild;
  let agentB: JsonChild;
  const packetOf = (hex: string) => (m: JsonMessage) => m.event === 'packet' && m.payload === hex;

  before(async () => {
    lab = new NetnsLab();
    const a = lab.namespace('a');
    const b = lab.namespace('b');
    lab.veth(a, 'a0', b, 'b0', { up: false });
    lab.ip(a, 'addr add 10.78.0.1/24 dev a0');
    lab.ip(b, 'addr add 10.78.0.2/24 dev b0');
    lab.ip(a, 'link set a0 up');
    lab.ip(b, 'link set b0 up');
    await lab.waitOperUp(a, 'a0');
    await lab.waitOperUp(b, 'b0');
    agentA = lab.spawnJson(a, agentScript);
    agentB = lab.spawnJson(b, agentScript);
    await agentA.next((m) => m.event === 'ready', 10_000);
    await agentB.next((m) => m.event === 'ready', 10_000);
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
