import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPlan, formatApplyReport, formatPlan, planReconcile } from '../../src/reconcile/index.js';
import { SVC_F_PERSISTENT } from '../../src/ipvs/types.js';
import { ModelClient } from './reconcile-model.js';
import { entry, krs, rs, tcp, udp } from './reconcile-fixtures.js';

test('a dry-run plan reads as one line per change, grouped under its service', () => {
  const plan = planReconcile({
    desired: [
      { service: tcp('192.0.2.10', 80, { scheduler: 'wrr', flags: SVC_F_PERSISTENT, timeout: 300 }), dests: [rs('10.0.1.11', 8080, { weight: 100 })] },
      { service: tcp('192.0.2.11', 80, { scheduler: 'wrr' }), dests: [rs('10.0.1.11', 8080, { weight: 50 })] },
    ],
    kernel: [
      entry(tcp('192.0.2.11', 80), [krs('10.0.1.11', 8080, { weight: 100 }), krs('10.0.1.12', 8080)]),
      entry(udp('192.0.2.53', 53)),
      entry(tcp('198.51.100.1', 22)),
    ],
    owned: new Set(['udp/192.0.2.53:53']),
    ownWholeTable: false,
    timeouts: { desired: { tcp: 120 }, kernel: { tcp: 900, tcpFin: 120, udp: 300 } },
  });
  assert.equal(
    formatPlan(plan),
    [
      '~ timeouts tcp 900s -> 120s',
      '+ service tcp/192.0.2.10:80 wrr persistent 300s',
      '    + dest 10.0.1.11:8080 nat weight 100',
      '~ service tcp/192.0.2.11:80 scheduler wlc -> wrr',
      '    ~ dest 10.0.1.11:8080 weight 100 -> 50',
      '    - dest 10.0.1.12:8080 (not declared)',
      '- service udp/192.0.2.53:53 (no longer declared)',
      'left alone (not declared, not applied by lvsd): tcp/198.51.100.1:22',
      '7 operations; services: 1 added, 1 changed, 1 removed, 0 unchanged; real servers: 1 added, 1 changed, 1 removed, 0 unchanged; timeouts changed',
    ].join('\n'),
  );
});

test('a service with only real-server changes gets an unmarked header', () => {
  const svc = tcp('192.0.2.10', 80);
  const plan = planReconcile({ desired: [{ service: svc, dests: [rs('10.0.1.1', 80, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 6080 })] }], kernel: [entry(svc)], owned: new Set(), ownWholeTable: false });
  assert.deepEqual(formatPlan(plan).split('\n').slice(0, 2), ['  service tcp/192.0.2.10:80', '    + dest 10.0.1.1:80 tunnel gue:6080 nocsum weight 1']);
});

test('an empty plan says there is nothing to do', () => {
  const plan = planReconcile({ desired: [], kernel: [], owned: new Set(), ownWholeTable: false });
  assert.match(formatPlan(plan), /^nothing to do/);
});

test('an apply report names each failure and skip', async () => {
  const client = new ModelClient();
  client.refuseWith = (c) => (c.cmd === 'new-service' ? { errno: 2, message: 'No such file or directory' } : undefined);
  const plan = planReconcile({ desired: [{ service: tcp('192.0.2.10', 80, { scheduler: 'nope' }), dests: [rs('10.0.1.1', 80)] }], kernel: [], owned: new Set(), ownWholeTable: false });
  let t = 0;
  const text = formatApplyReport(await applyPlan(client, plan, { now: () => (t += 1.5) }));
  assert.deepEqual(text.split('\n'), [
    'applied 0 of 2 operations in 1.5 ms',
    'failed: new-service service tcp/192.0.2.10:80: No such file or directory',
    'skipped: new-dest dest 10.0.1.1:80 in service tcp/192.0.2.10:80: service tcp/192.0.2.10:80 was not created: No such file or directory',
  ]);
});

test('scheduler flags read as ipvsadm names them for sh and mh', () => {
  const svc = udp('192.0.2.53', 53, { scheduler: 'mh' });
  const plan = planReconcile({ desired: [{ service: { ...svc, flags: 0x8 | 0x10 }, dests: [] }], kernel: [], owned: new Set(), ownWholeTable: false });
  assert.equal(formatPlan(plan).split('\n')[0], '+ service udp/192.0.2.53:53 mh mh-fallback|mh-port');
  const edit = planReconcile({ desired: [{ service: { ...svc, scheduler: 'sh', flags: 0x8 }, dests: [] }], kernel: [entry(svc)], owned: new Set(), ownWholeTable: false });
  assert.equal(edit.ops[0]!.reason, 'scheduler mh -> sh, flags none -> sh-fallback');
});

test('names and messages read back from the kernel print with their control characters escaped: no ESC reaches the terminal, no newline forges a line', async () => {
  const hostile = 'wlc\x1b[2J\nfailed: everything';
  const plan = planReconcile({
    desired: [{ service: tcp('192.0.2.10', 80, { scheduler: 'wrr' }), dests: [rs('10.0.1.11', 8080)] }],
    kernel: [entry({ ...tcp('192.0.2.10', 80), scheduler: hostile, pe: 'sip\x07' }, [krs('10.0.1.11', 8080)])],
    owned: new Set(['tcp/192.0.2.10:80']),
    ownWholeTable: false,
  });
  const text = formatPlan(plan);
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f]/, 'no control character but the line breaks');
  const lines = text.split('\n');
  assert.equal(lines.length, 2, 'one line for the change, one summary');
  assert.match(lines[0]!, /^~ service tcp\/192\.0\.2\.10:80 scheduler wlc\\x1b\[2J\\nfailed: everything -> wrr/);
  assert.match(lines[0]!, /sip\\x07/);

  const client = new ModelClient();
  client.refuseWith = (c) => (c.cmd === 'new-service' ? { errno: 22, message: 'Invalid argument\x1b]0;pwned\x07\nok: fine' } : undefined);
  const add = planReconcile({ desired: [{ service: tcp('192.0.2.11', 80), dests: [] }], kernel: [], owned: new Set(), ownWholeTable: false });
  const report = formatApplyReport(await applyPlan(client, add, {}));
  assert.doesNotMatch(report, /[\x00-\x09\x0b-\x1f\x7f]/);
  assert.deepEqual(report.split('\n').slice(1), ['failed: new-service service tcp/192.0.2.11:80: Invalid argument\\x1b]0;pwned\\x07\\nok: fine']);
});
