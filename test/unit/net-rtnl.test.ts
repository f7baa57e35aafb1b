/**
 * The rtnetlink decoder takes whatever bytes a socket hands it (truncated, garbage, error replies) and returns
 * values: it never throws, so nothing read from the kernel can escape as an exception on the event loop.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import fc from 'fast-check';
import {
  addressRequest, decodeRtnl, dumpLinksRequest, getLinkRequest, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
  NLM_F_REQUEST, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK,
} from '../../src/net/rtnl.js';

const LE = endianness() === 'LE';
const u16 = (v: number) => { const b = Buffer.alloc(2); LE ? b.writeUInt16LE(v) : b.writeUInt16BE(v); return b; };
const u32 = (v: number) => { const b = Buffer.alloc(4); LE ? b.writeUInt32LE(v >>> 0) : b.writeUInt32BE(v >>> 0); return b; };
const s32 = (v: number) => { const b = Buffer.alloc(4); LE ? b.writeInt32LE(v) : b.writeInt32BE(v); return b; };
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
const attr = (type: number, payload: Buffer) => pad(Buffer.concat([u16(4 + payload.length), u16(type), payload]));
const msg = (type: number, seq: number, payload: Buffer, flags = 0) =>
  pad(Buffer.concat([u32(16 + payload.length), u16(type), u16(flags), u32(seq), u32(0), payload]));

/** An RTM_NEWLINK as the kernel sends it: ifinfomsg, IFNAME, ADDRESS, MTU, OPERSTATE, CARRIER. */
function linkMessage(type: number, seq: number, o: { index: number; name: string; flags: number; mtu: number; operstate: number; carrier: number }): Buffer {
  const ifinfo = Buffer.concat([Buffer.of(0, 0), u16(1), s32(o.index), u32(o.flags), u32(0)]);
  return msg(type, seq, Buffer.concat([
    ifinfo,
    attr(3, Buffer.concat([Buffer.from(o.name), Buffer.of(0)])),
    attr(1, Buffer.from('020000000001', 'hex')),
    attr(4, u32(o.mtu)),
    attr(16, Buffer.of(o.operstate)),
    attr(33, Buffer.of(o.carrier)),
  ]));
}

const eth0 = { index: 2, name: 'eth0', flags: 0x1 | 0x40, mtu: 1500, operstate: 6, carrier: 1 };

describe('rtnetlink decoder', () => {
  it('decodes a link notification and a deletion', () => {
    const items = decodeRtnl(Buffer.concat([linkMessage(RTM_NEWLINK, 0, eth0), linkMessage(RTM_DELLINK, 0, { ...eth0, flags: 0x1 })]));
    assert.equal(items.length, 2);
    const [a, b] = items;
    assert.ok(a?.kind === 'link' && b?.kind === 'link');
    assert.deepEqual({ ...a.link, address: a.link.address.toString('hex') }, {
      name: 'eth0', index: 2, address: '020000000001', mtu: 1500, up: true, adminUp: true, carrier: true, operstate: 'up',
    });
    assert.equal(a.removed, false);
    assert.equal(b.removed, true);
    assert.equal(b.link.up, false, 'IFF_UP without IFF_RUNNING is not usable');
  });

  it('turns error replies, acknowledgements and dump ends into values', () => {
    const items = decodeRtnl(Buffer.concat([
      msg(NLMSG_ERROR, 7, Buffer.concat([s32(-19), msg(RTM_GETLINK, 7, Buffer.alloc(0))])),
      msg(NLMSG_ERROR, 8, Buffer.concat([s32(0), msg(RTM_NEWADDR, 8, Buffer.alloc(0))])),
      msg(NLMSG_DONE, 9, s32(0)),
      msg(NLMSG_DONE, 10, s32(-16)),
      msg(NLMSG_DONE, 11, Buffer.alloc(0)),
      msg(999, 12, Buffer.alloc(3)),
    ]));
    assert.deepEqual(items, [
      { kind: 'error', seq: 7, errno: 19 },
      { kind: 'error', seq: 8, errno: 0 },
      { kind: 'done', seq: 9, errno: 0 },
      { kind: 'done', seq: 10, errno: 16 },
      { kind: 'done', seq: 11, errno: 0 },
      { kind: 'other', seq: 12, type: 999 },
    ]);
  });

  it('says what is wrong with a short error reply, a short header, a length past the end, a bad attribute', () => {
    assert.deepEqual(decodeRtnl(msg(NLMSG_ERROR, 3, Buffer.of(1, 2))), [{ kind: 'malformed', seq: 3, why: 'error message of 2 bytes, needs 4' }]);
    assert.deepEqual(decodeRtnl(Buffer.alloc(10)), [{ kind: 'malformed', why: '10 bytes left, below the 16-byte message header' }]);
    const long = linkMessage(RTM_NEWLINK, 4, eth0);
    const [item] = decodeRtnl(long.subarray(0, 40));
    assert.equal(item?.kind, 'malformed');
    assert.match((item as { why: string }).why, /message length \d+ does not fit the 40 bytes left/);
    const badAttr = msg(RTM_NEWLINK, 5, Buffer.concat([Buffer.alloc(16), u16(2), u16(3)]));
    assert.deepEqual(decodeRtnl(badAttr), [{ kind: 'malformed', seq: 5, why: 'attribute 3 has length 2, below its 4-byte header' }]);
    assert.deepEqual(decodeRtnl(msg(RTM_NEWLINK, 6, Buffer.alloc(8))), [{ kind: 'malformed', seq: 6, why: 'link message of 8 bytes, below the 16-byte ifinfomsg' }]);
    assert.deepEqual(decodeRtnl(Buffer.concat([u32(3), Buffer.alloc(12)])), [{ kind: 'malformed', seq: 0, why: 'message length 3 does not fit the 16 bytes left' }]);
  });

  it('never throws on a datagram cut anywhere', () => {
    const good = Buffer.concat([linkMessage(RTM_NEWLINK, 1, eth0), msg(NLMSG_ERROR, 2, s32(-1)), msg(NLMSG_DONE, 3, s32(0))]);
    for (let n = 0; n <= good.length; n++) {
      const items = decodeRtnl(good.subarray(0, n));
      for (const i of items) assert.ok(['link', 'error', 'done', 'malformed'].includes(i.kind));
      assert.ok(items.filter((i) => i.kind === 'malformed').length <= 1, 'decoding stops at the first unreadable byte');
    }
  });

  it('never throws on garbage, and every item it returns is a value of a known kind', () => {
    const kinds = new Set(['link', 'address', 'error', 'done', 'other', 'malformed']);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const items = decodeRtnl(Buffer.from(bytes));
      for (const i of items) assert.ok(kinds.has(i.kind));
    }), { numRuns: 3000 });
    // garbage behind a valid header, of every type lvsd reads
    fc.assert(fc.property(fc.constantFrom(RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, NLMSG_ERROR, NLMSG_DONE), fc.uint8Array({ maxLength: 200 }), (type, body) => {
      const items = decodeRtnl(msg(type, 1, Buffer.from(body)));
      assert.equal(items.length, 1);
    }), { numRuns: 3000 });
  });
});

describe('rtnetlink requests', () => {
  const header = (b: Buffer) => ({
    len: LE ? b.readUInt32LE(0) : b.readUInt32BE(0),
    type: LE ? b.readUInt16LE(4) : b.readUInt16BE(4),
    flags: LE ? b.readUInt16LE(6) : b.readUInt16BE(6),
    seq: LE ? b.readUInt32LE(8) : b.readUInt32BE(8),
  });

  it('get one link by name, dump every link', () => {
    const get = getLinkRequest(5, 'eth0');
    assert.deepEqual(header(get), { len: get.length, type: RTM_GETLINK, flags: NLM_F_REQUEST, seq: 5 });
    assert.ok(get.includes(Buffer.from('eth0\0')));
    const dump = dumpLinksRequest(6);
    assert.deepEqual(header(dump), { len: dump.length, type: RTM_GETLINK, flags: NLM_F_REQUEST | NLM_F_DUMP, seq: 6 });
  });

  it('add an address: create-exclusive and acknowledged, with its flags in the header byte and IFA_FLAGS', () => {
    const add = addressRequest(9, 'add', { af: 10, prefixLength: 64, index: 3, flags: 0x02, address: Buffer.alloc(16, 1) });
    assert.deepEqual(header(add), { len: add.length, type: RTM_NEWADDR, flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq: 9 });
    assert.deepEqual([...add.subarray(16, 20)], [10, 64, 0x02, 0]);
    const items = decodeRtnl(add);
    assert.ok(items[0]?.kind === 'address');
    assert.deepEqual({ ...items[0].address, address: items[0].address.address?.length }, { af: 10, prefixLength: 64, flags: 0x02, scope: 0, index: 3, address: 16 });
  });
});
