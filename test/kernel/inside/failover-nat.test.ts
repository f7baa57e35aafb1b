/**
 * Runs inside the kernel-test VM: the lab's NAT topology (examples/lab/nat) end to end. The web servers
 * sit on a second bridge behind the directors; their default gateway 10.81.0.254 is a second VRRP
 * instance (VI_GW, on eth1) in a sync group with the VIP's (VI_WEB, on eth0), so both addresses move
 * together: a director holding the VIP but not the gateway would send requests whose answers never
 * come back through it.
 *
 * The master is killed (SIGKILL) and both its links cut while the client keeps asking; asserted as for
 * DR (failover-dr.test.ts): takeover within Master_Down_Interval + margin, the longest gap within MDI + one
 * client period + margin, the long-lived connection kept (the replies of a NAT connection need the
 * synced entry on the new master to be rewritten back to the VIP), at most the request or two caught in
 * the failback's handover lost (see below), and at the end both addresses on d1 and neither on d2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { insideSkipReason } from '../vm.js';
import { runScenario, summary, type LabReport } from '../../../src/lab/scenario.js';

const skip = insideSkipReason();
const INTERVAL_MS = 1000;
const MDI_MS = 3 * INTERVAL_MS + ((256 - 100) * INTERVAL_MS) / 256;
const LOOP_MS = 200;
const MARGIN_MS = 1500;

function holds(ns: string, ifname: string, address: string): boolean {
  const r = spawnSync('ip', ['-n', ns, '-o', '-4', 'addr', 'show', 'dev', ifname], { encoding: 'utf8' });
  return (r.stdout ?? '').includes(` ${address}/`);
}

test('NAT: the VIP and the web servers\' gateway fail over together, connections kept', { skip, timeout: 20 * 60_000 }, async () => {
  const lines: string[] = [];
  let addresses: Record<string, boolean> = {};
  let report: LabReport;
  try {
    report = await runScenario({ dir: '/tmp/lvsd-lab-nat-test', say: (l) => lines.push(l), loopMs: LOOP_MS, mode: 'nat' }, async () => {
      addresses = {
        'd1 VIP': holds('lvs-d1', 'eth0', '10.80.0.100'), 'd1 gateway': holds('lvs-d1', 'eth1', '10.81.0.254'),
        'd2 VIP': holds('lvs-d2', 'eth0', '10.80.0.100'), 'd2 gateway': holds('lvs-d2', 'eth1', '10.81.0.254'),
      };
    });
  } catch (e) {
    assert.fail(`${(e as Error).message}\n${lines.join('\n')}`);
  }
  for (const l of [...lines, ...summary(report)]) console.log(`# ${l}`);
  const fo = report.failover!;
  const fb = report.failback!;
  console.log(`# measured (NAT): takeover ${fo.takeoverMs} ms, longest gap ${fo.longestGapMs} ms, failed ${fo.failed}/${fo.requests}; ` +
    `failback after ${fb.takeoverMs} ms, gap ${fb.longestGapMs} ms, failed ${fb.failed}/${fb.requests}`);

  assert.ok(fo.takeoverMs <= MDI_MS + MARGIN_MS, `takeover ${fo.takeoverMs} ms > MDI ${MDI_MS} + ${MARGIN_MS}`);
  assert.ok(fo.longestGapMs <= MDI_MS + LOOP_MS + MARGIN_MS, `longest gap ${fo.longestGapMs} ms`);
  assert.equal(fo.longConnection, 'survived', 'the long-lived NAT connection survives the failover (connection sync)');
  assert.equal(fb.longConnection, 'survived', 'and the failback');
  // Unlike DR, a NAT handover can lose a request caught in it: the client's ARP still points at d2 while
  // the web servers' already points at d1 (two GARP bursts on two links), so the request is rewritten by
  // d2 and the reply reaches d1, which learns a connection from d2's sync daemon only up to ~2 s after
  // its 3rd packet. Measured: 0-1 failed of ~300.
  assert.ok(fb.failed <= 2, `failback: ${fb.failed} failed requests (at most the one or two caught in the handover)`);
  assert.ok(fb.longestGapMs <= MDI_MS + LOOP_MS + MARGIN_MS, `failback gap ${fb.longestGapMs} ms`);
  assert.deepEqual(addresses, { 'd1 VIP': true, 'd1 gateway': true, 'd2 VIP': false, 'd2 gateway': false },
    'after the failback d1 holds both addresses of the sync group, d2 neither');
});
