/**
 * The netlink socket layer against the host's real kernel, through the generic netlink controller (always
 * present, needs no privilege): pipelining, errno kept, overrun and timeout handling, and the missing-IPVS error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { isLvsdError } from '../../src/errors.js';
import { createIpvsClient } from '../../src/ipvs/client.js';
import { NetlinkErrno } from '../../src/ipvs/kernel-errors.js';
import { GenlSocket } from '../../src/ipvs/socket.js';
import { decodeFamilyId, getFamilyMessage } from '../../src/ipvs/messages.js';
import { genlmsg, nlmsg, str } from '../../src/ipvs/nlattr.js';
import * as C from '../../src/ipvs/constants.js';

const hasIpvs = existsSync('/proc/net/ip_vs');

describe('ipvs socket layer (host kernel, generic netlink controller)', () => {
  it('pipelines 2,000 requests and matches every reply to its own request', async () => {
    const sock = new GenlSocket();
    try {
      const names = Array.from({ length: 2000 }, (_, i) => (i % 2 ? 'nlctrl' : 'no-such-family'));
      const results = await Promise.allSettled(names.map((n) => sock.get((seq) => getFamilyMessage(seq, n), n)));
      results.forEach((r, i) => {
        if (i % 2) {
          assert.equal(r.status, 'fulfilled');
          const parts = (r as PromiseFulfilledResult<Awaited<ReturnType<GenlSocket['get']>>>).value;
          assert.deepEqual(decodeFamilyId(parts[0]!.payload), { id: C.GENL_ID_CTRL, name: 'nlctrl' });
        } else {
          assert.equal(r.status, 'rejected');
          const e = (r as PromiseRejectedResult).reason;
          assert.ok(e instanceof NetlinkErrno && e.errno === 2, `expected ENOENT, got ${e}`);
        }
      });
      assert.equal(sock.inFlight, 0);
    } finally {
      sock.close();
    }
  });

  it('batches changes without acknowledgements behind one barrier and matches each refusal to its change', async () => {
    const sock = new GenlSocket({ window: 64 });
    try {
      const quiet = (name: string) => (seq: number) => genlmsg(C.GENL_ID_CTRL, C.NLM_F_REQUEST, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, name)]);
      const names = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? `missing-${i}` : 'nlctrl'));
      const builders = names.map(quiet);
      builders[4] = () => {
        throw new TypeError('cannot encode');
      };
      const outcomes = await sock.batch(builders.length, (i, seq, w) => {
        if (i === 7) {
          // a change that fails half written leaves nothing of itself in the datagram
          w.beginGenlmsg(C.GENL_ID_CTRL, C.NLM_F_REQUEST, seq, C.CTRL_CMD_GETFAMILY, 1);
          w.u16(C.CTRL_ATTR_FAMILY_ID, 70000, 'FAMILY_ID');
        }
        w.raw(builders[i]!(seq));
      });
      outcomes.forEach((e, i) => {
        if (i === 4) assert.ok(e instanceof TypeError);
        else if (i === 7) assert.ok(isLvsdError(e, 'LVSD_IPVS_ENCODE'), String(e));
        else if (i % 3 === 0) assert.ok(e instanceof NetlinkErrno && e.errno === 2, `#${i}: ${e}`);
        else assert.equal(e, undefined, `#${i}`);
      });
      assert.equal(sock.inFlight, 0);
    } finally {
      sock.close();
    }
  });

  it('several batches in flight at once: each refusal lands on its own change, the others succeed', async () => {
    const sock = new GenlSocket({ window: 256 });
    try {
      // NLMSG_NOOP without NLM_F_ACK: the kernel takes it silently (a change it accepts); a GETFAMILY of a
      // missing family: refused with ENOENT (a change it refuses)
      const refused = (i: number) => i % 97 === 13;
      const build = (b: number) => (i: number, seq: number) => refused(b * 1000 + i)
        ? genlmsg(C.GENL_ID_CTRL, C.NLM_F_REQUEST, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, `missing-${b}-${i}`)])
        : nlmsg(C.NLMSG_NOOP, C.NLM_F_REQUEST, seq, Buffer.alloc(8));
      const all = await Promise.all([0, 1, 2].map((b) => sock.batch(1000, (i, seq, w) => void w.raw(build(b)(i, seq)))));
      all.forEach((outcomes, b) => {
        assert.equal(outcomes.length, 1000);
        outcomes.forEach((e, i) => {
          if (refused(b * 1000 + i)) assert.ok(e instanceof NetlinkErrno && e.errno === 2, `batch ${b} #${i}: ${e}`);
          else assert.equal(e, undefined, `batch ${b} #${i}`);
        });
      });
      assert.equal(sock.inFlight, 0);
    } finally {
      sock.close();
    }
  });

  it('never overruns even a tiny receive buffer: requests wait until their replies fit', async () => {
    // Without the budget the 400 replies (~8 KiB of buffer each) overflow at once and all fail as overrun.
    const sock = new GenlSocket({ recvBufferSize: 1024 }); // the kernel rounds up to its minimum (~2.3 KiB)
    try {
      assert.equal(sock.ackWindow, 1);
      const results = await Promise.all(Array.from({ length: 400 }, () => sock.get((seq) => getFamilyMessage(seq, 'nlctrl'), 'nlctrl')));
      assert.equal(results.length, 400);
      for (const parts of results) assert.equal(decodeFamilyId(parts[0]!.payload).id, C.GENL_ID_CTRL);
      assert.equal(sock.overruns, 0);
    } finally {
      sock.close();
    }
  });

  it('fails the requests in flight with LVSD_NETLINK_OVERRUN on ENOBUFS, halves its window, and goes on', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    let counted = 0;
    const sock = new GenlSocket({ timeoutMs: 60_000, logger, onOverrun: () => counted++ });
    try {
      const window = sock.ackWindow;
      const silent = (seq: number) => genlmsg(C.GENL_ID_CTRL, 0, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, 'nlctrl')]);
      const lost = [sock.ack(silent, 'lost 1'), sock.ack(silent, 'lost 2')];
      await new Promise((r) => setImmediate(r));
      // what the addon's socket hands over on ENOBUFS (a real one is provoked in net-netlink.test.ts)
      (sock as unknown as { onBatch(items: unknown[]): void }).onBatch([{ kind: 'overrun', errno: 105, code: 'ENOBUFS', message: 'recvmsg: No buffer space available' }]);
      for (const p of lost) await assert.rejects(p, (e) => isLvsdError(e, 'LVSD_NETLINK_OVERRUN') && /must be re-read/.test((e as Error).message));
      assert.equal(sock.overruns, 1);
      assert.equal(counted, 1, 'onOverrun (the daemon counts it in lvsd_netlink_overruns_total{socket="ipvs"})');
      assert.equal(sock.ackWindow, Math.max(1, Math.floor(window / 2)));
      const logged = lines.map((l) => JSON.parse(l) as { event: string; component: string; inFlight: number });
      assert.deepEqual(logged.map((l) => [l.event, l.component, l.inFlight]), [['ipvs.netlink.overrun', 'ipvs', 2]]);
      assert.equal(sock.inFlight, 0);
      const again = await sock.get((seq) => getFamilyMessage(seq, 'nlctrl'), 'nlctrl');
      assert.equal(decodeFamilyId(again[0]!.payload).id, C.GENL_ID_CTRL);
    } finally {
      sock.close();
    }
  });

  it('a window option bounds the acknowledgements owed', () => {
    const sock = new GenlSocket({ window: 4 });
    try {
      assert.equal(sock.ackWindow, 4);
    } finally {
      sock.close();
    }
  });

  it('fails a request the kernel never answers after its timeout', async () => {
    const sock = new GenlSocket({ timeoutMs: 200 });
    try {
      // no NLM_F_REQUEST and no NLM_F_ACK: the kernel drops it silently
      const silent = (seq: number) => genlmsg(C.GENL_ID_CTRL, 0, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, 'nlctrl')]);
      const started = Date.now();
      await assert.rejects(sock.get(silent, 'a silent request'), (e) => isLvsdError(e, 'LVSD_NETLINK_OVERRUN') && /no reply .* within 200 ms/.test((e as Error).message));
      assert.ok(Date.now() - started < 2000);
    } finally {
      sock.close();
    }
  });

  it('runs dumps one after another on one socket', async () => {
    const sock = new GenlSocket();
    try {
      const dumpFamilies = (seq: number) => genlmsg(C.GENL_ID_CTRL, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, C.CTRL_CMD_GETFAMILY, 1, []);
      const all = await Promise.all(Array.from({ length: 5 }, () => sock.dump(dumpFamilies, 'family dump')));
      for (const parts of all) {
        const names = parts.map((m) => decodeFamilyId(m.payload).name);
        assert.ok(names.includes('nlctrl'));
        assert.equal(parts.length, all[0]!.length);
      }
    } finally {
      sock.close();
    }
  });

  it('rejects requests after close instead of hanging', async () => {
    const sock = new GenlSocket();
    sock.close();
    await assert.rejects(sock.get((seq) => getFamilyMessage(seq, 'nlctrl'), 'x'), (e) => isLvsdError(e, 'LVSD_IPVS_UNAVAILABLE'));
  });

  it('a truncated or unreadable reply fails what is in flight as an overrun (re-read), and the socket goes on', async () => {
    const sock = new GenlSocket({ timeoutMs: 60_000 });
    const batch = (sock as unknown as { onBatch(items: unknown[]): void }).onBatch.bind(sock);
    try {
      const silent = (seq: number) => genlmsg(C.GENL_ID_CTRL, 0, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, 'nlctrl')]);
      const a = sock.ack(silent, 'a');
      await new Promise((r) => setImmediate(r));
      batch([{ kind: 'truncated', errno: 90, code: 'EMSGSIZE', message: 'recvmsg (datagram truncated): Message too long' }]);
      await assert.rejects(a, (e) => isLvsdError(e, 'LVSD_NETLINK_OVERRUN') && /truncated/.test((e as Error).message));
      const b = sock.ack(silent, 'b');
      await new Promise((r) => setImmediate(r));
      batch([Buffer.from([0xff, 0xff, 0, 0, 1, 2, 3])]); // garbage: a length past the end
      await assert.rejects(b, (e) => isLvsdError(e, 'LVSD_NETLINK_OVERRUN') && /unreadable/.test((e as Error).message));
      assert.equal(sock.overruns, 2);
      const again = await sock.get((seq) => getFamilyMessage(seq, 'nlctrl'), 'nlctrl');
      assert.equal(decodeFamilyId(again[0]!.payload).id, C.GENL_ID_CTRL);
    } finally {
      sock.close();
    }
  });

  it('a broken socket fails everything with LVSD_IPVS_UNAVAILABLE and closes itself (the client opens a new one)', async () => {
    const sock = new GenlSocket({ timeoutMs: 60_000 });
    const silent = (seq: number) => genlmsg(C.GENL_ID_CTRL, 0, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, 'nlctrl')]);
    const a = sock.ack(silent, 'a');
    (sock as unknown as { onBatch(items: unknown[]): void }).onBatch([{ kind: 'broken', errno: 9, code: 'EBADF', message: 'uv_poll (socket keeps failing): Bad file descriptor' }]);
    await assert.rejects(a, (e) => isLvsdError(e, 'LVSD_IPVS_UNAVAILABLE') && /socket failed/.test((e as Error).message));
    assert.equal(sock.isClosed, true);
    await assert.rejects(sock.get((seq) => getFamilyMessage(seq, 'nlctrl'), 'x'), (e) => isLvsdError(e, 'LVSD_IPVS_UNAVAILABLE'));
  });

  it('createIpvsClient says how to get IPVS when the kernel has none', { skip: hasIpvs && 'this kernel has IPVS' }, async () => {
    await assert.rejects(createIpvsClient(), (e) => isLvsdError(e, 'LVSD_IPVS_UNAVAILABLE') && (e as Error).message === 'IPVS is not available in this kernel (modprobe ip_vs)');
  });
});
