import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planReconcile, planCommands, type PlanInput } from '../../src/reconcile/index.js';
import { SVC_F_HASHED, SVC_F_PERSISTENT, TUN_F_CSUM, type IpvsCommand } from '../../src/ipvs/types.js';
import { entry, fwmark, krs, rs, tcp, udp } from './reconcile-fixtures.js';

const none = new Set<string>();

function plan(over: Partial<PlanInput>) {
  return planReconcile({ desired: [], kernel: [], owned: none, ownWholeTable: false, ...over });
}

test('an empty kernel gets each declared service and its real servers, services first', () => {
  const p = plan({
    desired: [
      { service: tcp('192.0.2.10', 80), dests: [rs('10.0.1.11', 8080), rs('10.0.1.12', 8080)] },
      { service: udp('192.0.2.53', 53), dests: [rs('10.0.1.21', 53)] },
    ],
  });
  assert.deepEqual(planCommands(p).map((c) => c.cmd), ['new-service', 'new-service', 'new-dest', 'new-dest', 'new-dest']);
  assert.equal(p.summary.servicesAdded, 2);
  assert.equal(p.summary.destsAdded, 3);
});

test('a table that already matches plans nothing, whatever the counters and dump order say', () => {
  const svc = tcp('192.0.2.10', 80, { scheduler: 'wrr', flags: SVC_F_PERSISTENT, timeout: 300 });
  const p = plan({
    desired: [{ service: svc, dests: [rs('10.0.1.11', 8080, { weight: 5 }), rs('10.0.1.12', 8080)] }],
    kernel: [entry(svc, [krs('10.0.1.12', 8080, { activeConns: 99 }), krs('10.0.1.11', 8080, { weight: 5 })])],
  });
  assert.deepEqual(p.ops, []);
  assert.equal(p.summary.servicesUnchanged, 1);
  assert.equal(p.summary.destsUnchanged, 2);
});

test('a scheduler change edits the service in place, never delete and add', () => {
  const p = plan({
    desired: [{ service: tcp('192.0.2.10', 80, { scheduler: 'wrr' }), dests: [] }],
    kernel: [entry(tcp('192.0.2.10', 80, { scheduler: 'wlc' }))],
    owned: new Set(['tcp/192.0.2.10:80']),
  });
  assert.equal(p.ops.length, 1);
  assert.equal(p.ops[0]!.command.cmd, 'set-service');
  assert.equal(p.ops[0]!.reason, 'scheduler wlc -> wrr');
});

test('persistence, netmask and pe changes are named in the reason', () => {
  const p = plan({
    desired: [{ service: tcp('192.0.2.10', 5060, { flags: SVC_F_PERSISTENT, timeout: 300, netmask: 0xffffff00, pe: 'sip' }), dests: [] }],
    kernel: [entry(tcp('192.0.2.10', 5060))],
  });
  assert.equal(p.ops[0]!.reason, 'flags none -> persistent, timeout 0s -> 300s, netmask 255.255.255.255 -> 255.255.255.0, pe none -> sip');
});

test('an IPv6 netmask is compared and shown as a prefix length', () => {
  const p = plan({
    desired: [{ service: tcp('2001:db8::10', 443, { netmask: 64 }), dests: [] }],
    kernel: [entry(tcp('2001:db8::10', 443, { netmask: 128 }))],
  });
  assert.equal(p.ops[0]!.reason, 'netmask /128 -> /64');
});

test('a weight change is one set-dest with the reason "weight 100 -> 50"', () => {
  const svc = tcp('192.0.2.10', 80);
  const p = plan({
    desired: [{ service: svc, dests: [rs('10.0.1.11', 8080, { weight: 50 })] }],
    kernel: [entry(svc, [krs('10.0.1.11', 8080, { weight: 100 })])],
  });
  assert.equal(p.ops.length, 1);
  assert.deepEqual(p.ops[0]!.command, { cmd: 'set-dest', service: svc.key, dest: rs('10.0.1.11', 8080, { weight: 50 }) });
  assert.equal(p.ops[0]!.reason, 'weight 100 -> 50');
  assert.equal(p.summary.destsChanged, 1);
});

test('within a service: new real servers, then weight edits, then removals, so it is never empty', () => {
  const svc = tcp('192.0.2.10', 80);
  const p = plan({
    desired: [{ service: svc, dests: [rs('10.0.1.12', 8080, { weight: 0 }), rs('10.0.1.13', 8080)] }],
    kernel: [entry(svc, [krs('10.0.1.11', 8080), krs('10.0.1.12', 8080)])],
  });
  assert.deepEqual(p.ops.map((o) => `${o.command.cmd} ${o.destId}`), [
    'new-dest 10.0.1.13:8080',
    'set-dest 10.0.1.12:8080',
    'del-dest 10.0.1.11:8080',
  ]);
});

test('across services: timeouts, services, new dests, edits, dest removals, then service removals', () => {
  const a = tcp('192.0.2.10', 80);
  const b = tcp('192.0.2.11', 80);
  const gone = tcp('192.0.2.12', 80);
  const p = plan({
    desired: [
      { service: a, dests: [rs('10.0.1.1', 80, { weight: 2 })] },
      { service: { ...b, scheduler: 'rr' }, dests: [rs('10.0.1.2', 80)] },
      { service: tcp('192.0.2.13', 80), dests: [rs('10.0.1.3', 80)] },
    ],
    kernel: [entry(gone), entry(b, [krs('10.0.1.9', 80)]), entry(a, [krs('10.0.1.1', 80)])],
    owned: new Set(['tcp/192.0.2.12:80']),
    timeouts: { desired: { tcp: 120 }, kernel: { tcp: 900, tcpFin: 120, udp: 300 } },
  });
  assert.deepEqual(p.ops.map((o) => o.command.cmd), [
    'set-timeouts', 'set-service', 'new-service', 'new-dest', 'new-dest', 'set-dest', 'del-dest', 'del-service',
  ]);
});

test('a kernel service neither declared nor owned is left alone and listed as foreign', () => {
  const p = plan({ kernel: [entry(tcp('198.51.100.1', 22), [krs('10.9.9.9', 22)])] });
  assert.deepEqual(p.ops, []);
  assert.deepEqual(p.summary.foreign, ['tcp/198.51.100.1:22']);
});

test('a service lvsd applied last time and no longer declares is removed, without deleting its dests one by one', () => {
  const p = plan({ kernel: [entry(tcp('192.0.2.10', 80), [krs('10.0.1.11', 80)])], owned: new Set(['tcp/192.0.2.10:80']) });
  assert.deepEqual(planCommands(p), [{ cmd: 'del-service', key: tcp('192.0.2.10', 80).key }]);
  assert.equal(p.ops[0]!.reason, 'no longer declared');
});

test('with ownWholeTable every undeclared service goes', () => {
  const p = plan({ kernel: [entry(fwmark(7)), entry(udp('192.0.2.53', 53))], ownWholeTable: true });
  assert.deepEqual(p.ops.map((o) => o.serviceId), ['fwmark/ipv4/7', 'udp/192.0.2.53:53']);
  assert.ok(p.ops.every((o) => o.command.cmd === 'del-service'));
});

test('an undeclared real server inside a declared service is removed even when the service is foreign-made', () => {
  const svc = tcp('192.0.2.10', 80);
  const p = plan({ desired: [{ service: svc, dests: [] }], kernel: [entry(svc, [krs('10.0.1.11', 80)])] });
  assert.deepEqual(planCommands(p), [{ cmd: 'del-dest', service: svc.key, dest: { family: 'ipv4', address: '10.0.1.11', port: 80 } }]);
});

test('the kernel reporting `local` for a real server on the director matches any declared forwarding', () => {
  const svc = tcp('192.0.2.10', 80);
  for (const forwarding of ['nat', 'dr', 'tunnel'] as const) {
    const p = plan({
      desired: [{ service: svc, dests: [rs('192.0.2.1', 80, { forwarding })] }],
      kernel: [entry(svc, [krs('192.0.2.1', 80, { forwarding: 'local' })])],
    });
    assert.deepEqual(p.ops, [], forwarding);
  }
});

test('a forwarding change from nat to dr is a set-dest', () => {
  const svc = tcp('192.0.2.10', 80);
  const p = plan({ desired: [{ service: svc, dests: [rs('10.0.1.1', 80, { forwarding: 'dr' })] }], kernel: [entry(svc, [krs('10.0.1.1', 80)])] });
  assert.equal(p.ops[0]!.reason, 'forwarding nat -> dr');
});

test('tunnel parameters count for tunnel forwarding only', () => {
  const svc = tcp('192.0.2.10', 80);
  const kernelDr = krs('10.0.1.1', 80, { forwarding: 'dr', tunnelType: 'gue', tunnelPort: 6080 });
  assert.deepEqual(plan({ desired: [{ service: svc, dests: [rs('10.0.1.1', 80, { forwarding: 'dr' })] }], kernel: [entry(svc, [kernelDr])] }).ops, []);

  const want = rs('10.0.1.1', 80, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: TUN_F_CSUM });
  const have = krs('10.0.1.1', 80, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 5555 });
  const p = plan({ desired: [{ service: svc, dests: [want] }], kernel: [entry(svc, [have])] });
  assert.equal(p.ops[0]!.reason, 'tunnel-port 5555 -> 6080, tunnel-flags nocsum -> csum');
});

test('thresholds are compared', () => {
  const svc = tcp('192.0.2.10', 80);
  const p = plan({
    desired: [{ service: svc, dests: [rs('10.0.1.1', 80, { upperThreshold: 500, lowerThreshold: 100 })] }],
    kernel: [entry(svc, [krs('10.0.1.1', 80)])],
  });
  assert.equal(p.ops[0]!.reason, 'upper 0 -> 500, lower 0 -> 100');
});

test('IPv6 addresses written differently still name the same service and real server', () => {
  const p = plan({
    desired: [{ service: tcp('2001:DB8:0::10', 443), dests: [rs('2001:db8:0:0::1:1', 443)] }],
    kernel: [entry(tcp('2001:db8::10', 443), [krs('2001:db8::1:1', 443)])],
  });
  assert.deepEqual(p.ops, []);
});

test('fwmark services of different families are different services', () => {
  const p = plan({ desired: [{ service: fwmark(7, {}, 'ipv6'), dests: [] }], kernel: [entry(fwmark(7))], owned: new Set(['fwmark/ipv4/7']) });
  assert.deepEqual(p.ops.map((o) => `${o.command.cmd} ${o.serviceId}`), ['new-service fwmark/ipv6/7', 'del-service fwmark/ipv4/7']);
});

test('duplicate declarations produce one command and a warning', () => {
  const svc = tcp('192.0.2.10', 80);
  const p = plan({
    desired: [
      { service: svc, dests: [rs('10.0.1.1', 80), rs('10.0.1.1', 80, { weight: 9 })] },
      { service: { ...svc, scheduler: 'rr' }, dests: [] },
    ],
  });
  assert.deepEqual(planCommands(p), [
    { cmd: 'new-service', service: svc },
    { cmd: 'new-dest', service: svc.key, dest: rs('10.0.1.1', 80) },
  ] satisfies IpvsCommand[]);
  assert.equal(p.warnings.length, 2);
});

test('timeouts: only the declared fields that differ are sent; 0 means leave as is', () => {
  const kernel = { tcp: 900, tcpFin: 120, udp: 300 };
  assert.deepEqual(plan({ timeouts: { desired: { tcp: 900, udp: 0 }, kernel } }).ops, []);
  const p = plan({ timeouts: { desired: { tcpFin: 30, udp: 300 }, kernel } });
  assert.deepEqual(planCommands(p), [{ cmd: 'set-timeouts', timeouts: { tcp: 0, tcpFin: 30, udp: 0 } }]);
  assert.equal(p.ops[0]!.reason, 'tcpfin 120s -> 30s');
  assert.equal(p.summary.timeoutsChanged, true);
});

test('timeouts are set when the kernel values are unknown', () => {
  const p = plan({ timeouts: { desired: { udp: 60 } } });
  assert.deepEqual(planCommands(p), [{ cmd: 'set-timeouts', timeouts: { tcp: 0, tcpFin: 0, udp: 60 } }]);
});

test('the kernel-internal HASHED flag is never a difference, even if a dump keeps it', () => {
  const p = plan({
    desired: [{ service: tcp('192.0.2.10', 80, { flags: SVC_F_PERSISTENT, timeout: 60 }), dests: [] }],
    kernel: [entry(tcp('192.0.2.10', 80, { flags: SVC_F_PERSISTENT | SVC_F_HASHED, timeout: 60 }))],
  });
  assert.deepEqual(p.ops, []);
});
