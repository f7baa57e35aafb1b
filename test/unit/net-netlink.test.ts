/**
 * The addon's netlink socket against the host's kernel (generic netlink controller and rtnetlink reads: no
 * privilege, no namespace needed): a real receive-buffer overflow arrives as a value and the socket goes on;
 * a send on a closed socket, a handler that throws, and a refused request are values too, never a crash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLvsdError } from '../../src/errors.js';
import { NETLINK_GENERIC, NetlinkSocket, rtnlRequest, type NetlinkItem } from '../../src/net/netlink.js';
import { getLinkRequest } from '../../src/net/rtnl.js';
import { getFamilyMessage } from '../../src/ipvs/messages.js';
import { parseNlmsgs } from '../../src/ipvs/nlattr-read.js';

/** Collects batches until `until` says stop or `ms` pass. */
function collect(onBatch: (fn: (items: NetlinkItem[]) => void) => NetlinkSocket, until: (all: NetlinkItem[]) => boolean, ms = 5000) {
  const all: NetlinkItem[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const timer = setTimeout(() => done(), ms);
  const socket = onBatch((items) => {
    all.push(...items);
    if (until(all)) {
      clearTimeout(timer);
      done();
    }
  });
  return { socket, all, finished };
}

describe('native netlink socket (host kernel)', () => {
  it('overflows a tiny receive buffer for real (ENOBUFS), hands the overrun over as a value, and keeps working', async () => {
    const replies = (all: NetlinkItem[]) => all.filter((i) => Buffer.isBuffer(i)).flatMap((b) => parseNlmsgs(b as Buffer));
    let step = 1;
    const c = collect((fn) => new NetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 1024, onBatch: fn }),
      (all) => (step === 1 ? all.some((i) => !Buffer.isBuffer(i)) : replies(all).some((m) => m.seq === 100_000)));
    try {
      // 400 requests sent before the loop can read one reply: the kernel drops what does not fit
      for (let seq = 1; seq <= 400; seq++) assert.equal(c.socket.send(getFamilyMessage(seq, 'nlctrl')), undefined);
      await c.finished;
      const failure = c.all.find((i) => !Buffer.isBuffer(i));
      assert.ok(failure && !Buffer.isBuffer(failure), 'an overrun was reported');
      assert.deepEqual({ kind: failure.kind, code: failure.code }, { kind: 'overrun', code: 'ENOBUFS' });
      const got = replies(c.all).length;
      assert.ok(got < 400, `only ${got} of 400 replies fit`);

      step = 2;
      const again = new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (replies(c.all).some((m) => m.seq === 100_000)) {
            clearInterval(t);
            resolve();
          }
        }, 10);
      });
      // drain what is left, then the socket answers a new request
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(c.socket.send(getFamilyMessage(100_000, 'nlctrl')), undefined);
      await again;
    } finally {
      c.socket.close();
    }
  });

  it('a send on a closed socket is an errno value; close is idempotent', () => {
    const s = new NetlinkSocket(NETLINK_GENERIC, { onBatch: () => undefined });
    s.close();
    s.close();
    assert.equal(s.send(getFamilyMessage(1, 'nlctrl')), 'EBADF');
    assert.equal(s.closed, true);
  });

  it('a batch handler that throws is reported, not fatal, and the socket goes on', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const s = new NetlinkSocket(NETLINK_GENERIC, {
      onBatch: () => {
        calls++;
        throw new Error('handler bug');
      },
      onCallbackError: (e) => errors.push(e),
    });
    try {
      s.send(getFamilyMessage(1, 'nlctrl'));
      await new Promise((r) => setTimeout(r, 100));
      s.send(getFamilyMessage(2, 'nlctrl'));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(calls, 2);
      assert.equal(errors.length, 2);
      assert.match((errors[0] as Error).message, /handler bug/);
    } finally {
      s.close();
    }
  });

  it('a refused rtnetlink request resolves with the errno (ENODEV), not a throw', async () => {
    const r = await rtnlRequest((seq) => getLinkRequest(seq, 'nosuch-lvsd0'), 'get', 'RTM_GETLINK nosuch-lvsd0');
    assert.equal(r.errno, 19);
    assert.deepEqual(r.items, []);
  });

  it('a request whose encoder throws rejects with that error, and nothing is left open', async () => {
    await assert.rejects(rtnlRequest(() => {
      throw new RangeError('cannot encode');
    }, 'ack', 'bad'), RangeError);
  });

  it('a request the kernel never answers fails with LVSD_NETLINK_OVERRUN after its timeout', async () => {
    // RTM_GETLINK without NLM_F_REQUEST: the kernel ignores it
    const silent = (seq: number) => {
      const m = getLinkRequest(seq, 'lo');
      m.writeUInt16LE(0, 6);
      return m;
    };
    await assert.rejects(rtnlRequest(silent, 'get', 'silent', 200), (e) => isLvsdError(e, 'LVSD_NETLINK_OVERRUN') && /within 200 ms/.test((e as Error).message));
  });
});
