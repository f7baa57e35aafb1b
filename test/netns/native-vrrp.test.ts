/**
 * VRRP sockets between two namespaces joined by a veth pair: what one sends the other receives, with
 * TTL / hop limit 255 and the right addresses; packets from other senders keep their own TTL so the VRRP
 * layer can drop them; send failures are 'error' events; closed sockets let the process exit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isLvsdError } from '../../src/errors.js';
import { openVrrpSocket, VRRP_GROUP_IPV4, VRRP_GROUP_IPV6 } from '../../src/net/index.js';
import { JsonChild, NetnsLab, netnsSkipReason, type JsonMessage } from './netns.js';
import { agentPair } from './agent-pair.js';

const skip = netnsSkipReason();

const A_MAC = '02:00:00:0a:00:01';
const B_MAC = '02:00:00:0b:00:01';
const A_LL = 'fe80::aa';
const B_LL = 'fe80::bb';

test('opening a VRRP socket on a missing interface says so', () => {
  assert.throws(
    () => openVrrpSocket({ family: 'ipv4', interface: 'lvsdnosuch0', multicast: true }),
    (e: unknown) =>
      isLvsdError(e, 'LVSD_NATIVE_UNAVAILABLE') && /no such interface "lvsdnosuch0"/.test(e.message) && /ENODEV/.test(e.message),
  );
});

describe('VRRP sockets across a veth pair', { skip }, () => {
  let lab: NetnsLab;
  let a: string;
  let b: string;
  let agentA: JsonChild;
  let agentB: JsonChild;
  const payload = (tag: string) => Buffer.from(`vrrp-${tag}-${Date.now()}`).toString('hex');
  const packetOf = (hex: string) => (m: JsonMessage) => m.event === 'packet' && m.payload === hex;

  before(async () => {
    lab = new NetnsLab();
    ({ a, b, agentA, agentB } = await agentPair(lab, '10.77.0', {
      veth: { macA: A_MAC, macB: B_MAC, indexA: 50, indexB: 60 },
      // fixed link-locals (besides the automatic ones) so the expected source is known
      beforeUp: (a, b) => {
        lab.ip(a, `addr add ${A_LL}/64 dev a0`);
        lab.ip(b, `addr add ${B_LL}/64 dev b0`);
      },
    }));
  });
  after(() => lab?.cleanup());

  test('a socket opened before anything reads it keeps what arrives: adopted, drain() delivers all of it at once and counts no drop', async () => {
    await agentB.call('listen', { name: 'early', family: 'ipv4', interface: 'b0', multicast: true });
    await agentA.call('open', { name: 'early', family: 'ipv4', interface: 'a0', multicast: true, source: '10.77.0.1' });
    const sent = [payload('q1'), payload('q2'), payload('q3')];
    for (const p of sent) await agentA.call('send', { name: 'early', payload: p, destination: VRRP_GROUP_IPV4 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await agentB.call<{ drained: number; drops: number }>('adoptDrain', { name: 'early', family: 'ipv4', interface: 'b0', multicast: true });
    assert.deepEqual(r, { drained: 3, drops: 0 });
    const later = payload('after');
    await agentA.call('send', { name: 'early', payload: later, destination: VRRP_GROUP_IPV4 });
    await agentB.next(packetOf(later), 5000); // and it is read as any socket is from then on
    await agentA.call('close', { name: 'early' });
    await agentB.call('close', { name: 'early' });
  });

  test('adopting a descriptor that is no VRRP socket of the interface is refused, and the descriptor left alone', async () => {
    const r = await agentB.call<{ error: { code: string; message: string }; open: boolean }>('adoptNotASocket', { family: 'ipv4', interface: 'b0' });
    assert.equal(r.error.code, 'LVSD_NATIVE_UNAVAILABLE');
    assert.match(r.error.message, /not a VRRP socket/);
    assert.equal(r.open, true);
  });

  test('IPv4 multicast: received with TTL 255 from the chosen source to 224.0.0.18 on the right interface', async () => {
    const { ifindex } = await agentB.call<{ ifindex: number }>('open', { name: 'v4m', family: 'ipv4', interface: 'b0', multicast: true });
    await agentA.call('open', { name: 'v4m', family: 'ipv4', interface: 'a0', multicast: true, source: '10.77.0.1' });
    const hex = payload('v4m');
    await agentA.call('send', { name: 'v4m', payload: hex, destination: VRRP_GROUP_IPV4 });
    const got = await agentB.next(packetOf(hex));
    assert.equal(got.ttl, 255);
    assert.equal(got.source, '10.77.0.1');
    assert.equal(got.destination, '224.0.0.18');
    assert.equal(got.ifindex, ifindex);
    // multicast loop is off: the sender does not hear itself
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(agentA.drain(packetOf(hex)), []);
  });

  test('IPv6 multicast: received with hop limit 255 from the link-local source to ff02::12', async () => {
    const source = await agentA.call<string>('primaryAddress', { interface: 'a0', family: 'ipv6' });
    assert.match(source, /^fe80:/);
    await agentB.call('open', { name: 'v6m', family: 'ipv6', interface: 'b0', multicast: true });
    await agentA.call('open', { name: 'v6m', family: 'ipv6', interface: 'a0', multicast: true, source: A_LL });
    const hex = payload('v6m');
    await agentA.call('send', { name: 'v6m', payload: hex, destination: VRRP_GROUP_IPV6 });
    const got = await agentB.next(packetOf(hex));
    assert.equal(got.ttl, 255);
    assert.equal(got.source, A_LL);
    assert.equal(got.destination, 'ff02::12');
  });

  test('IPv4 unicast to a peer: received with TTL 255, destination the peer address', async () => {
    await agentB.call('open', { name: 'v4u', family: 'ipv4', interface: 'b0', multicast: false });
    await agentA.call('open', { name: 'v4u', family: 'ipv4', interface: 'a0', multicast: false, source: '10.77.0.1' });
    const hex = payload('v4u');
    await agentA.call('send', { name: 'v4u', payload: hex, destination: '10.77.0.2' });
    const got = await agentB.next((m) => packetOf(hex)(m) && m.socket === 'v4u');
    assert.equal(got.ttl, 255);
    assert.equal(got.source, '10.77.0.1');
    assert.equal(got.destination, '10.77.0.2');
  });

  test('IPv6 unicast to a peer link-local: received with hop limit 255', async () => {
    await agentB.call('open', { name: 'v6u', family: 'ipv6', interface: 'b0', multicast: false });
    await agentA.call('open', { name: 'v6u', family: 'ipv6', interface: 'a0', multicast: false, source: A_LL });
    const hex = payload('v6u');
    await agentA.call('send', { name: 'v6u', payload: hex, destination: B_LL });
    const got = await agentB.next((m) => packetOf(hex)(m) && m.socket === 'v6u');
    assert.equal(got.ttl, 255);
    assert.equal(got.source, A_LL);
    assert.equal(got.destination, B_LL);
  });

  test('protocol 112 sent by another tool with default TTLs arrives with TTL != 255 (so VRRP can drop it)', async () => {
    // python3's raw sockets use the kernel defaults: TTL 64 unicast, hop limit 1 for multicast
    const py4 = 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112); s.sendto(bytes.fromhex("HEX"), ("10.77.0.2", 0))';
    const hex4 = payload('py4');
    const r4 = lab.execResult(a, ['python3', '-c', py4.replace('HEX', hex4)]);
    assert.equal(r4.status, 0, r4.stderr);
    const got4 = await agentB.next((m) => packetOf(hex4)(m) && m.socket === 'v4u');
    assert.notEqual(got4.ttl, 255);
    assert.equal(got4.ttl, 64);

    const py6 =
      'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112); ' +
      'idx = socket.if_nametoindex("a0"); s.sendto(bytes.fromhex("HEX"), ("ff02::12", 0, 0, idx))';
    const hex6 = payload('py6');
    const r6 = lab.execResult(a, ['python3', '-c', py6.replace('HEX', hex6)]);
    assert.equal(r6.status, 0, r6.stderr);
    const got6 = await agentB.next((m) => packetOf(hex6)(m) && m.socket === 'v6m');
    assert.notEqual(got6.ttl, 255);
    assert.equal(got6.ttl, 1);
  });

  test('a send on a link that is down is an error event, and the socket keeps working afterwards', async () => {
    lab.ip(a, 'link set a0 down');
    try {
      await agentA.call('send', { name: 'v4m', payload: payload('down'), destination: VRRP_GROUP_IPV4 });
      const err = await agentA.next((m) => m.event === 'error' && m.socket === 'v4m');
      const e = err.error as { code: string; details: { code: string } };
      assert.equal(e.code, 'LVSD_NATIVE_UNAVAILABLE');
      assert.match(e.details.code, /^E/);
    } finally {
      lab.ip(a, 'link set a0 up');
    }
    // after the link is back the same socket sends again (IPv4 addresses survive a down/up)
    const hex = payload('again');
    for (let i = 0; i < 30; i++) {
      await agentA.call('send', { name: 'v4m', payload: hex, destination: VRRP_GROUP_IPV4 });
      try {
        await agentB.next(packetOf(hex), 200);
        return;
      } catch {
        /* link still coming up: carrier and multicast group re-join take a moment */
      }
    }
    assert.fail('no packet after the link came back up');
  });

  test('a listener that throws is an uncaught exception in JS, not a crash, and unref() lets the process exit', () => {
    const index = new URL('../../src/net/index.js', import.meta.url).pathname;
    const script = `
      import { openVrrpSocket } from ${JSON.stringify(index)};
      const s = openVrrpSocket({ family: 'ipv4', interface: 'lo', multicast: false });
      process.on('uncaughtException', (e) => { console.log('caught ' + e.message); s.unref(); });
      s.on('packet', (p) => { throw new Error('listener threw on ' + p.toString()); });
      s.send(Buffer.from('hello'), '127.0.0.1');`;
    const r = lab.execResult(a, [process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /caught listener threw on hello/);
  });

  test('sockets left open by a worker thread that ends are closed without a crash or a leaked fd', () => {
    const index = new URL('../../src/net/index.js', import.meta.url).href;
    const worker = `
      import { openVrrpSocket } from ${JSON.stringify(index)};
      import { parentPort } from 'node:worker_threads';
      for (const family of ['ipv4', 'ipv6']) openVrrpSocket({ family, interface: 'lo', multicast: true }).on('packet', () => {});
      parentPort.postMessage('open');`;
    const script = `
      import { Worker } from 'node:worker_threads';
      import { readdirSync } from 'node:fs';
      const fds = () => readdirSync('/proc/self/fd').length;
      let before = 0;
      for (let i = 0; i < 6; i++) {
        const w = new Worker(new URL('data:text/javascript,' + encodeURIComponent(${JSON.stringify(worker)})));
        await new Promise((resolve) => w.once('message', resolve));
        await w.terminate();
        if (i === 0) before = fds(); // the first worker leaves Node's own lasting fds behind
      }
      console.log(JSON.stringify({ before, after: fds() }));`;
    const r = lab.execResult(a, [process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    const { before, after: afterFds } = JSON.parse(r.stdout) as { before: number; after: number };
    assert.equal(afterFds, before);
  });

  test('closed sockets do not keep the process alive', async () => {
    const code = await agentA.stop(3000);
    assert.equal(code, 0, `agent A did not exit by itself: ${agentA.errorOutput}`);
    const codeB = await agentB.stop(3000);
    assert.equal(codeB, 0, `agent B did not exit by itself: ${agentB.errorOutput}`);
  });
});
