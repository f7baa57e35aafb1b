/**
 * A TCP check whose outcome the addon reads late (the event loop held past the probe's deadline) is
 * judged on the probe's own clock, as keepalived's checker judges it: a handshake that completed after
 * the deadline is a timeout, one that completed in time is a connection, whenever lvsd reads them.
 * Before, every completion found when the loop came back counted as connected, hiding a server that
 * answers too slowly exactly when the director is busy.
 */
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const skip = netnsSkipReason();
const PROBE = fileURLToPath(new URL('./fixtures/tcp-late-probe.js', import.meta.url));

describe('a TCP probe read after its deadline', { skip }, () => {
  const lab = skip ? undefined : new NetnsLab();
  after(() => lab?.cleanup());

  type Out = {
    late: { errno: number; latencyMs: number; establishedAtRelease: boolean; readAfterMs: number };
    timely: { errno: number; latencyMs: number };
  };

  test('engine on the event loop: a handshake completed after the deadline is a timeout; one completed in time is a connection', () => {
    const ns = lab!.namespace('late');
    const out = JSON.parse(lab!.exec(ns, [process.execPath, PROBE, 'loop'])) as Out;
    assert.equal(out.late.establishedAtRelease, true, `premise: the late handshake completed while the loop was held (${JSON.stringify(out)})`);
    assert.equal(out.late.errno, constants.errno.ETIMEDOUT, `late: errno ${out.late.errno} (0: counted as connected)`);
    assert.equal(out.timely.errno, 0, `timely: errno ${out.timely.errno}`);
  });

  test('engine on its own thread: the late probe times out at its deadline while the loop is held', () => {
    const ns = lab!.namespace('late-thread');
    const out = JSON.parse(lab!.exec(ns, [process.execPath, PROBE, 'thread'])) as Out;
    assert.equal(out.late.errno, constants.errno.ETIMEDOUT, `late: errno ${out.late.errno} (${JSON.stringify(out)})`);
    // judged by the engine when its deadline (500 ms) passed, not when the loop came back (1.8 s)
    assert.ok(out.late.latencyMs < 1500, `late: ${out.late.latencyMs} ms`);
    assert.equal(out.late.establishedAtRelease, false, 'the engine closed the probe at its deadline, before the handshake');
    assert.equal(out.timely.errno, 0, `timely: errno ${out.timely.errno}`);
  });
});
