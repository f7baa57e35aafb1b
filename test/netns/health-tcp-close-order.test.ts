/**
 * Who closes first after a TCP check connects (native/src/tcp_socket.c, lvsd_tcp_close_connected): over a link inside
 * the host the handshake ends inside the prober's connect(), before the server has accepted. The prober holds
 * the connected socket for LVSD_TCP_CLOSE_AFTER_MS (default 5) and closes it at a later turn, so a server that
 * closes at accept closes first and keeps the TIME_WAIT, as with keepalived's checker; with 0 the prober
 * closes at once and the director keeps them. Either way the outcome is told at once, and a prober closed
 * while it holds sockets leaves none open.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';
import { nativeAvailable } from '../../src/net/index.js';

const skip = netnsSkipReason() ?? (nativeAvailable() ? undefined : 'native addon not built');
const PROBE = fileURLToPath(new URL('./fixtures/tcp-close-order-probe.js', import.meta.url));

interface Result {
  ok: number; failed: number; accepted: number; latencyMaxMs: number; probesMs: number;
  heldDuring: number; heldAtClose: number; timeWait: { server: number; prober: number }; fdsLeft: number;
  burstOk: number; burstHeld: number;
}

describe('a connected TCP check closes after the server', { skip }, () => {
  const lab = skip ? undefined : new NetnsLab();
  after(() => lab?.cleanup());
  const run = (label: string, holdMs: number, burst = 0): Result =>
    JSON.parse(lab!.exec(lab!.namespace(label), [process.execPath, PROBE, String(holdMs), '20', String(burst)])) as Result;

  test('held 1000 ms: the server closes first and keeps every TIME_WAIT; outcomes not delayed; nothing left open', () => {
    const r = run('corder-hold', 1000);
    assert.equal(r.ok, 20, `every probe connected (${JSON.stringify(r)})`);
    assert.ok(r.latencyMaxMs < 1000, `each outcome told at once, not after the hold (worst ${r.latencyMaxMs} ms)`);
    assert.equal(r.heldDuring, 20, 'each connected socket still open after its outcome');
    assert.equal(r.timeWait.prober, 0, `no TIME_WAIT on the prober's side (${JSON.stringify(r.timeWait)})`);
    assert.equal(r.timeWait.server, 20, `the server kept the TIME_WAIT of each probe (${JSON.stringify(r.timeWait)})`);
    assert.equal(r.heldAtClose, 20, 'the second prober held its sockets when it was closed');
    assert.equal(r.fdsLeft, 0, 'closing a prober closes the sockets it held');
  });

  test('a burst of 900 probes connected at once holds at most 512 sockets (the rest closed at once): no descriptor shortage', () => {
    // 900: within the server's listen backlog (1,024), so every handshake ends inside its connect(), none waits for a SYN's retry
    // before the cap, a start's burst in the test VM held thousands and its probes failed with EMFILE (4,096 descriptors)
    const r = run('corder-burst', 1000, 900);
    assert.equal(r.burstOk, 900, `every probe of the burst connected (${JSON.stringify(r)})`);
    assert.ok(r.burstHeld > 0 && r.burstHeld <= 512, `held at most 512 (${r.burstHeld})`);
    assert.equal(r.fdsLeft, 0);
  });

  test('LVSD_TCP_CLOSE_AFTER_MS=0: the prober closes inside its connect, first, and keeps the TIME_WAIT', () => {
    const r = run('corder-now', 0);
    assert.equal(r.ok, 20, `every probe connected (${JSON.stringify(r)})`);
    assert.equal(r.heldDuring, 0, 'nothing held');
    assert.ok(r.timeWait.prober >= 15, `the prober's side kept the TIME_WAITs (${JSON.stringify(r.timeWait)})`);
    assert.equal(r.fdsLeft, 0);
  });
});

interface ReuseResult {
  closingV4: { errnos: Record<string, number>; reused: number };
  twClosing: { server: number; prober: number };
  mixed: { errnos: Record<string, number>; reused: number };
  waiting: { errnos: Record<string, number>; reused: number; ends: number; resets: number; tw: { server: number; prober: number } };
  off: { errnos: Record<string, number>; reused: number };
  fdsLeft: number;
}

describe('a FIN check whose server closed first leaves its socket for the next check', { skip }, () => {
  const lab = skip ? undefined : new NetnsLab();
  after(() => lab?.cleanup());
  const REUSE = fileURLToPath(new URL('./fixtures/tcp-reuse-probe.js', import.meta.url));
  let r: ReuseResult | undefined;
  const result = (): ReuseResult => (r ??= JSON.parse(lab!.exec(lab!.namespace('reuse'), [process.execPath, REUSE])) as ReuseResult);

  test('against a server that closes at accept: every check after the first reuses a socket, and both ends still see a FIN close', () => {
    const { closingV4, twClosing } = result();
    assert.deepEqual(closingV4.errnos, { [`127.0.0.1:closing:0`]: 30 }, 'every check connected');
    assert.ok(closingV4.reused >= 27, `checks on a spare socket (${closingV4.reused} of 30)`);
    // the server's end in TIME_WAIT: it closed first and then got the prober's FIN (an RST would have ended it at once)
    assert.equal(twClosing.server, 30, `the server kept a TIME_WAIT for each check (${JSON.stringify(twClosing)})`);
    assert.equal(twClosing.prober, 0, 'none on the prober\'s side');
  });

  test('a reused socket tells each check its own outcome: IPv4, IPv6 and a refused port in turn', () => {
    const { mixed } = result();
    assert.deepEqual(mixed.errnos, { '127.0.0.1:closing:0': 10, '::1:closing:0': 10, '127.0.0.1:refused:111': 10 }, JSON.stringify(mixed));
    assert.ok(mixed.reused >= 15, `IPv4 and IPv6 checks on spare sockets of their family (${mixed.reused})`);
  });

  test('against a server that waits for the client: no socket kept, the server sees an orderly close (EOF), never a reset', () => {
    const { waiting } = result();
    assert.deepEqual(waiting.errnos, { '127.0.0.1:waiting:0': 20 });
    assert.equal(waiting.reused, 0, 'the prober closed first: nothing to reuse');
    assert.equal(waiting.ends, 20, `the server read EOF on each (${JSON.stringify(waiting)})`);
    assert.equal(waiting.resets, 0);
    assert.equal(waiting.tw.prober, 20, 'the prober closed first and kept the TIME_WAITs');
  });

  test('LVSD_TCP_REUSE=0: every check opens a socket of its own; closing the probers leaves no descriptor open', () => {
    const { off, fdsLeft } = result();
    assert.deepEqual(off.errnos, { '127.0.0.1:closing:0': 10 });
    assert.equal(off.reused, 0);
    assert.equal(fdsLeft, 0, 'spare sockets are closed with their prober');
  });
});
