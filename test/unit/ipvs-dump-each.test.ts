/**
 * The netlink client's table read a service at a time (IpvsClient.dumpEach), over sockets that answer from
 * the kernel's messages built here, each reply after a random number of turns (so the parallel
 * destination dumps finish out of order): every service is handed over once, in the service dump's order,
 * with what dump() reads; a destination dump that fails rejects the read, and nothing is handed over or
 * asked for after it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ipvsClientOver } from '../../src/ipvs/client.js';
import { commandMessage, dumpDestsMessage, dumpServicesMessage } from '../../src/ipvs/messages.js';
import type { NlMsg } from '../../src/ipvs/nlattr-read.js';
import { NetlinkErrno } from '../../src/ipvs/kernel-errors.js';
import type { GenlSocket } from '../../src/ipvs/socket.js';
import type { KernelEntry } from '../../src/ipvs/types.js';
import type { DestSpec, ServiceSpec } from '../../src/table/index.js';

function svc(s: number): ServiceSpec {
  return { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `172.16.2.${s}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
}
function dest(s: number, d: number): DestSpec {
  return { family: 'ipv4', address: `10.2.${s}.${d + 1}`, port: 8080, forwarding: 'nat', weight: 1 + ((s + d) % 7), upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}

const withoutSeq = (b: Buffer) => {
  b.writeUInt32LE(0, 8);
  return b.toString('latin1');
};

/** Sockets that answer the dumps of `dests.length` services from messages built here. */
function memSockets(dests: number[], delays: number[], failAt?: number) {
  const replies = new Map<string, { parts: Buffer[]; service?: number }>();
  const payload = (b: Buffer) => b.subarray(16);
  replies.set(withoutSeq(dumpServicesMessage(1, 0)), { parts: dests.map((_, s) => payload(commandMessage(1, 0, { cmd: 'new-service', service: svc(s) }))) });
  dests.forEach((n, s) => replies.set(withoutSeq(dumpDestsMessage(1, 0, svc(s).key)), {
    parts: Array.from({ length: n }, (_, d) => payload(commandMessage(1, 0, { cmd: 'new-dest', service: svc(s).key, dest: dest(s, d) }))), service: s,
  }));
  const asked: number[] = [];
  const socket = {
    isClosed: false, ackWindow: 1024, close: () => undefined, recvBufferSize: () => 8 << 20,
    async dump(build: (seq: number) => Buffer): Promise<NlMsg[]> {
      const r = replies.get(withoutSeq(build(0)));
      if (!r) throw new Error('no reply for this request');
      if (r.service !== undefined) asked.push(r.service);
      for (let i = 0; i < (r.service === undefined ? 1 : delays[r.service % delays.length]!); i++) await new Promise((res) => setImmediate(res));
      if (r.service !== undefined && r.service === failAt) throw new NetlinkErrno(105);
      return r.parts.map((p) => ({ type: 1, flags: 2, seq: 0, port: 0, payload: p }));
    },
  } as unknown as GenlSocket;
  return { client: ipvsClientOver(socket, 1, { openSocket: () => socket, dumpSockets: 4 }), asked };
}

test('dumpEach hands every service over once, in the service dump\'s order, as dump() reads it, however the replies interleave', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 40 }),
    fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 8 }),
    async (dests, delays) => {
      const { client } = memSockets(dests, delays);
      const handed: KernelEntry[] = [];
      const count = await client.dumpEach!((e) => void handed.push(e), { stats: false });
      assert.equal(count, dests.length);
      assert.deepEqual(handed.map((e) => e.service.key), dests.map((_, s) => svc(s).key));
      assert.deepEqual(handed.map((e) => e.dests.map((d) => [d.address, d.weight])), dests.map((n, s) => Array.from({ length: n }, (_, d) => [dest(s, d).address, dest(s, d).weight])));
      assert.deepEqual(handed, await client.dump(undefined, { stats: false }));
    },
  ), { numRuns: 60 });
});

test('a destination dump that fails rejects the read: nothing is handed over after it, and no more dumps are asked for', async () => {
  const dests = Array.from({ length: 30 }, () => 2);
  const { client, asked } = memSockets(dests, [1, 3, 2], 12);
  const handed: number[] = [];
  let settled = false;
  let late = 0;
  const read = client.dumpEach!((e) => {
    if (settled) late++;
    handed.push(Number(e.service.key.kind === 'addr' ? e.service.key.address.split('.')[3] : -1));
  }, { stats: false });
  await assert.rejects(read, (e: Error) => /IPVS_CMD_GET_DEST dump of .*172\.16\.2\.12/.test(e.message));
  settled = true;
  const askedThen = asked.length;
  for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
  assert.equal(late, 0, 'services were handed over after the read failed');
  assert.ok(handed.every((s) => s < 12), `handed over past the failed service: ${handed.join(',')}`);
  assert.ok(askedThen < dests.length, 'every service was asked for although the read had failed');
  assert.equal(asked.length, askedThen, 'dumps were asked for after the read failed');
});
