/** The failover-gap bench's pure parts: the keepalived.conf it derives from the lab's files, and its parsers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/config/index.js';
import { keepalivedConf } from '../../src/lab/keepalived-conf.js';
import { addressEvent, ipvsadmWeights, linkDownAt, mdiMs, renderTable, stateFromLine, summarise, type GapTrial } from '../../src/lab/gap.js';
import { ROOT } from './config-fixtures.js';

function labConfig(which: 1 | 2, advertInterval?: string) {
  const vrrp = JSON.parse(readFileSync(`${ROOT}examples/lab/director-${which}/vrrp.json`, 'utf8')) as { vrrp: Array<Record<string, unknown>> };
  if (advertInterval) for (const v of vrrp.vrrp) v.advertInterval = advertInterval;
  return parseConfig([
    { file: 'services.json', text: readFileSync(`${ROOT}examples/lab/services.json`, 'utf8') },
    { file: 'vrrp.json', text: JSON.stringify(vrrp) },
  ]);
}

const opts = { routerId: 'd2', vrrpRtPriority: 10, vrrpRlimitRttime: 1_000_000 };

test('keepalived.conf from the lab files: the same instance, service, checks and sync daemon', () => {
  const text = keepalivedConf(labConfig(2, '100ms'), opts);
  for (const want of [
    /global_defs \{[^}]*vrrp_version 3[^}]*vrrp_rt_priority 10[^}]*vrrp_rlimit_rttime 1000000/,
    /lvs_sync_daemon eth0 VI_WEB id 80\n/,
    /vrrp_instance VI_WEB \{\n  state BACKUP\n  interface eth0\n  virtual_router_id 80\n  priority 100\n  advert_int 0\.1\n  version 3\n  preempt_delay 8\n/,
    /virtual_ipaddress \{\n    10\.80\.0\.100\/24 dev eth0\n  \}/,
    /virtual_server 10\.80\.0\.100 80 \{\n  delay_loop 2\n  lb_algo rr\n  lb_kind DR\n/,
    // fall 2 = the first failure and one retry an interval later; rise has no keepalived equivalent: alpha
    /connect_timeout 1\n      retry 1\n      delay_before_retry 2\n/,
    /\n  alpha\n/,
  ]) assert.match(text, want);
  for (const rs of ['10.80.0.11', '10.80.0.12', '10.80.0.13']) {
    assert.match(text, new RegExp(`real_server ${rs.replace(/\./g, '\\.')} 80 \\{\\n    weight 1\\n    inhibit_on_failure\\n    HTTP_GET`));
  }
  assert.match(keepalivedConf(labConfig(1), opts), /priority 150\n  advert_int 1\n/);
});

test('keepalived.conf refuses what it cannot translate instead of benchmarking something else', () => {
  const c = labConfig(1);
  c.services[0]!.realServers[0]!.healthCheck = { ...c.services[0]!.realServers[0]!.healthCheck, type: 'agent' } as never;
  assert.throws(() => keepalivedConf(c, opts), /cannot translate a agent health check/);
  const slow = labConfig(1);
  slow.services[0]!.slowStart = 10;
  assert.throws(() => keepalivedConf(slow, opts), /slow start/);
  const reset = labConfig(1);
  reset.services[0]!.realServers[0]!.healthCheck = { ...reset.services[0]!.realServers[0]!.healthCheck, type: 'tcp', close: 'reset' } as never;
  assert.throws(() => keepalivedConf(reset, opts), /cannot translate a tcp check closing with RST/);
});

test('director state from lvsd events and keepalived lines', () => {
  assert.equal(stateFromLine('lvsd', 'VI_WEB', '{}', { event: 'vrrp.transition', instance: 'VI_WEB', from: 'backup', to: 'master' }), 'master');
  assert.equal(stateFromLine('lvsd', 'VI_WEB', '{}', { event: 'vrrp.transition', instance: 'VI_GW', to: 'master' }), undefined);
  assert.equal(stateFromLine('keepalived', 'VI_WEB', 'Keepalived_vrrp[657]: (VI_WEB) Entering MASTER STATE'), 'master');
  assert.equal(stateFromLine('keepalived', 'VI_WEB', 'Keepalived_vrrp[657]: (VI_WEB) Entering BACKUP STATE (init)'), 'backup');
  assert.equal(stateFromLine('keepalived', 'VI_WEB', 'Keepalived_vrrp[657]: (VI_GW) Entering MASTER STATE'), undefined);
});

test('ipvsadm -Ln: the weights of one service only', () => {
  const out = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  10.80.0.100:80 rr',
    '  -> 10.80.0.11:80                Route   1      0          3',
    '  -> 10.80.0.13:80                Route   0      0          0',
    'TCP  10.80.0.100:443 rr',
    '  -> 10.80.0.12:443               Route   1      0          0',
  ].join('\n');
  assert.deepEqual([...ipvsadmWeights(out, '10.80.0.100:80')], [['10.80.0.11:80', 1], ['10.80.0.13:80', 0]]);
  assert.equal(ipvsadmWeights(out, '10.80.0.1:80').size, 0);
});

test('ip -ts monitor address lines: adds, deletes, their time', () => {
  const add = addressEvent('[2026-12-01T18:02:08.416796] 3: eth0    inet 10.80.0.100/24 scope global secondary eth0');
  assert.deepEqual({ ...add, at: undefined }, { at: undefined, added: true, address: '10.80.0.100', dev: 'eth0' });
  assert.ok(Math.abs(add!.at - new Date('2026-12-01T18:02:08').getTime() - 416.796) < 0.01, 'sub-ms, read as local time');
  assert.equal(addressEvent('[2026-12-01T18:02:08.419072] Deleted 3: eth0    inet 10.80.0.100/24 scope global eth0')?.added, false);
  assert.equal(addressEvent('       valid_lft forever preferred_lft forever'), undefined);
});

test('ip -ts monitor link lines: the moment a link went down, only that one', () => {
  const down = '[2026-12-01T18:06:56.402991] 12: eth0@if102: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noqueue state DOWN group default ';
  assert.ok(Math.abs(linkDownAt(down, 'eth0')! - new Date('2026-12-01T18:06:56').getTime() - 402.991) < 0.01);
  assert.equal(linkDownAt('[2026-12-01T18:06:56.399938] 12: eth0@if102: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 state LOWERLAYERDOWN', 'eth0'),
    undefined, 'no carrier but still up: not the cut');
  assert.equal(linkDownAt(down, 'eth1'), undefined);
  assert.equal(linkDownAt('    link/ether de:35:32:4c:a2:7f brd ff:ff:ff:ff:ff:ff', 'eth0'), undefined);
});

test('summary rows and the ratio of median gaps', () => {
  const t = (tool: 'lvsd' | 'keepalived', gap: number, extra: Partial<GapTrial> = {}): GapTrial => ({
    tool, intervalMs: 100, loopMs: 100, longestGapMs: gap, takeoverMs: gap - 200, linkDownMs: 100, requests: 50, failed: 2,
    flaps: 0, failedBefore: 0, ms: 1000, ...extra,
  });
  const trials = [t('lvsd', 600), t('lvsd', 800), t('lvsd', 700), t('keepalived', 900), t('keepalived', 700), t('keepalived', 0, { error: 'boom' })];
  const l = summarise(trials, 'lvsd', 100);
  assert.deepEqual([l.medianGapMs, l.maxGapMs, l.medianTakeoverMs, l.medianAfterTakeoverMs, l.failed, l.requests, l.errors], [700, 800, 500, 200, 6, 150, 0]);
  const k = summarise(trials, 'keepalived', 100);
  assert.deepEqual([k.medianGapMs, k.errors, k.trials], [800, 1, 3], 'a failed trial is counted, not averaged in');
  const table = renderTable(trials, [100], 100).join('\n');
  assert.match(table, /ratio of median gaps lvsd \/ keepalived: 0\.88 \(target <= 1: met\)/);
  assert.equal(Math.round(mdiMs(1000, 100)), 3609);
});
