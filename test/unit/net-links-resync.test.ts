/**
 * watchLinks repairs lost notifications: after an overrun (or a datagram it cannot read) it re-reads every
 * link once its socket's queue is drained and reports what differs from what it reported last (a vanished
 * link as removed); a socket that stops reading is reported and replaced, then the links are re-read.
 * The notification socket is a fake fed by the test; the re-read is the host's real rtnetlink dump.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { watchLinks, type LinkEvent, type WatchLinksOptions } from '../../src/net/links.js';
import type { NetlinkItem } from '../../src/net/netlink.js';
import { RTM_NEWLINK } from '../../src/net/rtnl.js';

const LE = endianness() === 'LE';
const u16 = (v: number) => { const b = Buffer.alloc(2); LE ? b.writeUInt16LE(v) : b.writeUInt16BE(v); return b; };
const u32 = (v: number) => { const b = Buffer.alloc(4); LE ? b.writeUInt32LE(v >>> 0) : b.writeUInt32BE(v >>> 0); return b; };
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
const attr = (type: number, payload: Buffer) => pad(Buffer.concat([u16(4 + payload.length), u16(type), payload]));

/** An RTM_NEWLINK notification for a link that does not exist on the host. */
function fakeLink(index: number, name: string): Buffer {
  const body = Buffer.concat([Buffer.of(0, 0), u16(1), u32(index), u32(0x41), u32(0), attr(3, Buffer.concat([Buffer.from(name), Buffer.of(0)]))]);
  return Buffer.concat([u32(16 + body.length), u16(RTM_NEWLINK), u16(0), u32(0), u32(0), body]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Fake {
  push(items: NetlinkItem[], drained: boolean): void;
  closed: boolean;
}

function harness() {
  const sockets: Fake[] = [];
  const events: LinkEvent[] = [];
  const overruns: Array<Parameters<NonNullable<WatchLinksOptions['onOverrun']>>[0]> = [];
  const errors: Error[] = [];
  const watcher = watchLinks((e) => events.push(e), {
    openSocket: (onBatch) => {
      const s: Fake = { push: onBatch, closed: false };
      sockets.push(s);
      return { close: () => void (s.closed = true), ref: () => undefined };
    },
    onOverrun: (o) => overruns.push(o),
    onError: (e) => errors.push(e),
  });
  return { sockets, events, overruns, errors, watcher };
}

describe('watchLinks: lost notifications are re-read', () => {
  it('an overrun waits for the queue to drain, then re-reads: a link gone meanwhile is reported removed', async () => {
    const h = harness();
    try {
      await sleep(200); // the watcher's own first read of the links
      h.sockets[0]!.push([fakeLink(99_999, 'fake0')], true);
      assert.deepEqual(h.events.map((e) => [e.name, e.removed]), [['fake0', false]]);

      h.sockets[0]!.push([{ kind: 'overrun', errno: 105, code: 'ENOBUFS', message: 'recvmsg: No buffer space available' }], false);
      assert.deepEqual(h.overruns, [{ phase: 'lost', lost: 'overrun' }]);
      await sleep(200);
      assert.equal(h.overruns.length, 1, 'no re-read while older notifications are still queued');

      h.sockets[0]!.push([], true);
      await until('the re-read', () => h.overruns.length === 2);
      const done = h.overruns[1]!;
      assert.equal(done.phase, 'resynced');
      assert.ok(done.phase === 'resynced' && done.links >= 1 && done.changed >= 1, JSON.stringify(done));
      const removed = h.events.slice(1).filter((e) => e.removed).map((e) => e.name);
      assert.deepEqual(removed, ['fake0'], 'fake0 is not in the dump: removed (and no real link is)');
    } finally {
      h.watcher.close();
    }
  });

  it('an unreadable datagram counts as lost notifications too', async () => {
    const h = harness();
    try {
      await sleep(100);
      h.sockets[0]!.push([Buffer.from([1, 2, 3])], true);
      await until('the re-read', () => h.overruns.length === 2);
      assert.deepEqual(h.overruns[0], { phase: 'lost', lost: 'truncated' });
    } finally {
      h.watcher.close();
    }
  });

  it('a socket that stopped reading is reported, replaced a second later, and the links are re-read', async () => {
    const h = harness();
    try {
      await sleep(100);
      h.sockets[0]!.push([{ kind: 'broken', errno: 9, code: 'EBADF', message: 'uv_poll (socket keeps failing): Bad file descriptor' }], false);
      assert.equal(h.sockets[0]!.closed, true);
      assert.equal(h.errors.length, 1);
      assert.match(h.errors[0]!.message, /link notification socket failed: .*subscribing again/);
      await until('a new socket and the re-read', () => h.sockets.length === 2 && h.overruns.some((o) => o.phase === 'resynced'), 5000);
      assert.deepEqual(h.overruns[0], { phase: 'lost', lost: 'error' });
      // and the new socket is the one listened to
      h.sockets[1]!.push([fakeLink(99_998, 'fake1')], true);
      assert.equal(h.events.at(-1)?.name, 'fake1');
    } finally {
      h.watcher.close();
    }
  });
});
