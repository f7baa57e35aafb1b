/**
 * A TCP check's FIN close when the director's TIME_WAIT table is full (net.ipv4.tcp_max_tw_buckets reached:
 * at about max/60 FIN probes a second, 136 a second on a 2 GiB host): the kernel skips the TIME_WAIT of each
 * further close (TcpExtTCPTimeWaitOverflow) and the probes are judged as before, every one connected, none
 * counted as a failure (docs/health.md, `close`).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';
import { nativeAvailable } from '../../src/net/index.js';

const skip = netnsSkipReason() ?? (nativeAvailable() ? undefined : 'native addon not built');
const PROBE = fileURLToPath(new URL('./fixtures/tcp-tw-full-probe.js', import.meta.url));

describe('FIN close with the TIME_WAIT table full', { skip }, () => {
  const lab = skip ? undefined : new NetnsLab();
  after(() => lab?.cleanup());

  test('every probe connected and counted up; the closes past the full table are counted by the kernel', () => {
    const ns = lab!.namespace('twfull');
    lab!.exec(ns, ['sysctl', '-qw', 'net.ipv4.tcp_max_tw_buckets=8']);
    const overflows = () => {
      const lines = lab!.exec(ns, ['cat', '/proc/net/netstat']).split('\n').filter((l) => l.startsWith('TcpExt:'));
      const names = lines[0]!.split(/\s+/), values = lines[1]!.split(/\s+/);
      return Number(values[names.indexOf('TCPTimeWaitOverflow')]);
    };
    const before = overflows();
    const r = JSON.parse(lab!.exec(ns, [process.execPath, PROBE, '10', '1500', '50'])) as { ok: number; failed: number; up: number; accepted: number };
    const skipped = overflows() - before;
    assert.ok(skipped > 0, `the TIME_WAIT table was full (${skipped} closes past it)`);
    assert.equal(r.failed, 0, `no probe failed (${JSON.stringify(r)})`);
    assert.equal(r.up, 10, 'every watch up');
    assert.ok(r.ok >= 2 * 10, `${r.ok} probes connected (10 watches every 50 ms for 1.5 s)`);
  });
});
