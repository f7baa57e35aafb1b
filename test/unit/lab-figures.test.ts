import { test } from 'node:test';
import assert from 'node:assert/strict';
import { figures, type ClientEvent } from '../../src/lab/scenario.js';
import { parseLabArgs } from '../../src/lab/main.js';
import { buildScript, nodes } from '../../src/lab/topology.js';

const short = (at: number, ok: boolean, ms = 10): ClientEvent => ({ kind: 'short', at, ok, ms, ...(ok ? { server: 'rs1' } : { err: 'timeout' }) });

test('failover figures: failed requests in the window and the longest gap between two answers', () => {
  const events: ClientEvent[] = [
    short(0, true), short(200, true), short(400, false, 2500), short(600, false, 2500), short(800, true, 3000),
    short(1000, true), { kind: 'long', at: 500, ok: false, ms: 0, err: 'ECONNRESET' }, short(9000, false),
  ];
  const f = figures(events, 0, 5000, 300, 2000);
  assert.equal(f.requests, 6, 'only short requests inside the window count');
  assert.equal(f.failed, 2);
  // answers ended at 10, 210, 1010, 3800: the longest gap is 1010 -> 3800
  assert.equal(f.longestGapMs, 2790);
  assert.equal(f.takeoverMs, 1700);
  assert.ok(Number.isNaN(figures(events, 0, 5000, 0, undefined).takeoverMs), 'no takeover: NaN, not 0');
});

test('lab flags: defaults, values, and refusals', () => {
  assert.deepEqual(parseLabArgs([]), { keep: false, forwarding: 'dr', loopMs: 200, clean: false, ecmp: false, json: false, here: false, dir: '/tmp/lvsd-lab' });
  const a = parseLabArgs(['--keep', '--vm', '--loop-ms', '100']);
  assert.ok(typeof a !== 'string' && a.keep && a.mode === 'vm' && a.loopMs === 100);
  assert.match(String(parseLabArgs(['--loop-ms', '5'])), /at least 20/);
  assert.match(String(parseLabArgs(['--bogus'])), /unknown option --bogus/);
  const e = parseLabArgs(['--ecmp', '--json', '--pool', '30', '--bfd', '200']);
  assert.ok(typeof e !== 'string');
  assert.deepEqual([e.ecmp, e.json, e.pool, e.bfdMs, e.loopMs, e.dir], [true, true, 30, 200, 200, '/tmp/lvsd-lab-ecmp'], 'ECMP: its own directory');
  assert.equal((parseLabArgs(['--ecmp', '--loop-ms', '300']) as { loopMs: number }).loopMs, 300);
  assert.match(String(parseLabArgs(['--ecmp', '--nat'])), /do not go together/);
  assert.match(String(parseLabArgs(['--json'])), /go with --ecmp/);
  assert.match(String(parseLabArgs(['--ecmp', '--pool', '0'])), /--pool needs a whole number/);
});

test('the lab network: private addresses only, DR real servers hold the VIP on lo and never answer ARP for it', () => {
  for (const n of nodes()) assert.match(n.address, /^10\.80\.0\.\d+$/);
  const script = buildScript();
  for (const rs of ['rs1', 'rs2', 'rs3']) {
    assert.match(script, new RegExp(`ip -n lvs-${rs} addr add 10\\.80\\.0\\.100/32 dev lo`));
    assert.match(script, new RegExp(`ip netns exec lvs-${rs} sysctl -qw .*arp_ignore=1 .*arp_announce=2`));
  }
  assert.doesNotMatch(script, /lvs-d[12] addr add 10\.80\.0\.100/, 'the directors get the VIP from VRRP only');
});
