/**
 * Runs inside the kernel-test VM (root, ip_vs loaded): the reconciler against the real kernel through the
 * netlink client, checked with ipvsadm -Sn. Each test starts from an empty table and cleans up after.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insideSkipReason } from '../vm.js';
import { createIpvsClient, SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, TUN_F_CSUM, type IpvsClient } from '../../../src/ipvs/index.js';
import { Reconciler, canonicalServiceId, loadOwned, nextOwned, reconcile, saveOwned, type DesiredEntry } from '../../../src/reconcile/index.js';
import { silentLogger } from '../../../src/log.js';
import { fwmark, rs, tcp, udp } from '../../unit/reconcile-fixtures.js';
import { run, tryRun } from './shell.js';

const skip = insideSkipReason();
const LINK = 'lvsdrc0';

/** `ipvsadm -Sn`, one rule a line, sorted (the kernel's order is not ours to assert). */
function saved(): string[] {
  return run('ipvsadm', ['-Sn']).split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '').sort();
}
const sorted = (lines: string[]) => [...lines].sort();

let client: IpvsClient;

before(async () => {
  if (skip) return;
  tryRun('ip', ['link', 'del', LINK]);
  run('ip', ['link', 'add', LINK, 'type', 'dummy']);
  run('ip', ['addr', 'add', '10.0.1.254/24', 'dev', LINK]);
  run('ip', ['addr', 'add', '192.0.2.1/32', 'dev', LINK]); // a real server "on the director"
  run('ip', ['-6', 'addr', 'add', '2001:db8:1::fe/64', 'dev', LINK, 'nodad']);
  run('ip', ['link', 'set', LINK, 'up']);
  client = await createIpvsClient();
});

after(() => {
  if (skip) return;
  client?.close();
  tryRun('ipvsadm', ['-C']);
  tryRun('ip', ['link', 'del', LINK]);
});

beforeEach(() => {
  if (!skip) run('ipvsadm', ['-C']);
});

const web = tcp('192.0.2.10', 80, { scheduler: 'wrr' });
const dns = udp('192.0.2.53', 53, { scheduler: 'rr', flags: SVC_F_PERSISTENT | SVC_F_ONEPACKET, timeout: 300, netmask: 0xffffff00 });
const mark = fwmark(7, { scheduler: 'mh', flags: SVC_F_SCHED1 | SVC_F_SCHED2 });
const v6 = tcp('2001:db8::10', 443, { scheduler: 'sh', flags: SVC_F_PERSISTENT, timeout: 60, netmask: 64 });

const desired: DesiredEntry[] = [
  {
    service: web,
    dests: [
      rs('10.0.1.11', 8080, { weight: 100 }),
      rs('10.0.1.12', 8080, { weight: 50, upperThreshold: 500, lowerThreshold: 100 }),
      rs('192.0.2.1', 8080, { weight: 1 }),
    ],
  },
  { service: dns, dests: [rs('10.0.1.21', 53, { forwarding: 'dr', weight: 2 }), rs('10.0.1.22', 53, { forwarding: 'dr' })] },
  {
    service: mark,
    dests: [
      rs('10.0.1.31', 0, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: TUN_F_CSUM }),
      rs('10.0.1.32', 0, { forwarding: 'tunnel' }),
    ],
  },
  { service: v6, dests: [rs('2001:db8:1::11', 443, { weight: 10 }), rs('2001:db8:1::12', 8443, { forwarding: 'dr' })] },
];

const ids = (d: DesiredEntry[]) => new Set(d.map((e) => canonicalServiceId(e.service.key)));

const expectedFirst = sorted([
  '-A -t 192.0.2.10:80 -s wrr',
  '-a -t 192.0.2.10:80 -r 10.0.1.11:8080 -m -w 100',
  '-a -t 192.0.2.10:80 -r 10.0.1.12:8080 -m -w 50', // ipvsadm -S does not print thresholds: checked below
  '-a -t 192.0.2.10:80 -r 192.0.2.1:8080 -m -w 1',
  '-A -u 192.0.2.53:53 -s rr -p 300 -M 255.255.255.0 -o',
  '-a -u 192.0.2.53:53 -r 10.0.1.21:53 -g -w 2',
  '-a -u 192.0.2.53:53 -r 10.0.1.22:53 -g -w 1',
  '-A -f 7 -s mh -b mh-fallback,mh-port',
  '-a -f 7 -r 10.0.1.31:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
  '-a -f 7 -r 10.0.1.32:0 -i -w 1 --tun-type ipip',
  '-A -t [2001:db8::10]:443 -s sh -p 60 -M 64',
  '-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:443 -m -w 10',
  '-a -t [2001:db8::10]:443 -r [2001:db8:1::12]:8443 -g -w 1',
]);

test('a table with every kind of service and real server lands as declared; the second apply plans nothing', { skip, timeout: 120_000 }, async () => {
  const first = await reconcile(client, desired, { owned: new Set(), ownWholeTable: false, verify: true });
  assert.deepEqual(first.report.failed.map((f) => `${f.op.command.cmd} ${f.op.serviceId} ${f.op.destId ?? ''}: ${f.reason}`), []);
  assert.equal(first.report.sent, 4 + 9);
  assert.deepEqual(saved(), expectedFirst);
  assert.match(run('ipvsadm', ['-Ln', '--thresholds', '-t', '192.0.2.10:80']), /10\.0\.1\.12:8080\s+500\s+100\s/);
  // Kernel 6.x keeps the declared method for a real server on the director (older kernels said Local).
  assert.match(run('ipvsadm', ['-Ln', '-t', '192.0.2.10:80']), /192\.0\.2\.1:8080\s+Masq\s+1\s/);
  assert.equal(first.converged, true, `left to do: ${first.remaining?.ops.map((o) => `${o.command.cmd} ${o.serviceId} ${o.destId ?? ''} ${o.reason}`).join('; ')}`);

  const second = await reconcile(client, desired, { owned: ids(desired), ownWholeTable: false });
  assert.equal(second.plan.ops.length, 0);
  assert.equal(second.report.sent, 0);
});

test('weights, real servers and services changed in the config change in the kernel, and only those', { skip, timeout: 120_000 }, async () => {
  await reconcile(client, desired, { owned: new Set(), ownWholeTable: false });
  const changed: DesiredEntry[] = [
    {
      service: { ...web, scheduler: 'wlc' },
      dests: [rs('10.0.1.11', 8080, { weight: 50 }), rs('10.0.1.13', 8080, { weight: 100 }), rs('192.0.2.1', 8080, { weight: 1 })],
    },
    { service: dns, dests: [rs('10.0.1.21', 53, { forwarding: 'dr', weight: 2 }), rs('10.0.1.22', 53, { forwarding: 'nat' })] },
    { service: v6, dests: [rs('2001:db8:1::11', 443, { weight: 10 }), rs('2001:db8:1::12', 8443, { forwarding: 'dr' })] },
    { service: tcp('192.0.2.11', 443, { scheduler: 'lc' }), dests: [rs('10.0.1.41', 443)] },
  ];
  const r = await reconcile(client, changed, { owned: ids(desired), ownWholeTable: false, verify: true });
  assert.deepEqual(r.report.failed, []);
  assert.deepEqual(
    r.plan.ops.map((o) => `${o.command.cmd} ${o.serviceId}${o.destId ? ` ${o.destId}` : ''}`),
    [
      'set-service tcp/192.0.2.10:80',
      'new-service tcp/192.0.2.11:443',
      'new-dest tcp/192.0.2.10:80 10.0.1.13:8080',
      'new-dest tcp/192.0.2.11:443 10.0.1.41:443',
      'set-dest tcp/192.0.2.10:80 10.0.1.11:8080',
      'set-dest udp/192.0.2.53:53 10.0.1.22:53',
      'del-dest tcp/192.0.2.10:80 10.0.1.12:8080',
      'del-service fwmark/ipv4/7',
    ],
  );
  assert.equal(r.converged, true);
  assert.deepEqual(saved(), sorted([
    '-A -t 192.0.2.10:80 -s wlc',
    '-a -t 192.0.2.10:80 -r 10.0.1.11:8080 -m -w 50',
    '-a -t 192.0.2.10:80 -r 10.0.1.13:8080 -m -w 100',
    '-a -t 192.0.2.10:80 -r 192.0.2.1:8080 -m -w 1',
    '-A -t 192.0.2.11:443 -s lc',
    '-a -t 192.0.2.11:443 -r 10.0.1.41:443 -m -w 1',
    '-A -u 192.0.2.53:53 -s rr -p 300 -M 255.255.255.0 -o',
    '-a -u 192.0.2.53:53 -r 10.0.1.21:53 -g -w 2',
    '-a -u 192.0.2.53:53 -r 10.0.1.22:53 -m -w 1',
    '-A -t [2001:db8::10]:443 -s sh -p 60 -M 64',
    '-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:443 -m -w 10',
    '-a -t [2001:db8::10]:443 -r [2001:db8:1::12]:8443 -g -w 1',
  ]));
  const again = await reconcile(client, changed, { owned: ids(changed), ownWholeTable: false });
  assert.equal(again.plan.ops.length, 0);
});

test('a service added with ipvsadm is left alone, unless lvsd owns the whole table', { skip, timeout: 120_000 }, async () => {
  run('ipvsadm', ['-A', '-t', '198.51.100.1:22', '-s', 'rr']);
  run('ipvsadm', ['-a', '-t', '198.51.100.1:22', '-r', '10.0.1.99:22', '-m', '-w', '7']);
  const foreign = ['-A -t 198.51.100.1:22 -s rr', '-a -t 198.51.100.1:22 -r 10.0.1.99:22 -m -w 7'];
  const r = await reconcile(client, desired, { owned: new Set(['tcp/192.0.2.99:80']), ownWholeTable: false, verify: true });
  assert.deepEqual(r.plan.summary.foreign, ['tcp/198.51.100.1:22']);
  assert.equal(r.converged, true);
  assert.deepEqual(saved(), sorted([...expectedFirst, ...foreign]));

  const whole = await reconcile(client, desired, { owned: ids(desired), ownWholeTable: true });
  assert.deepEqual(whole.plan.ops.map((o) => `${o.command.cmd} ${o.serviceId}`), ['del-service tcp/198.51.100.1:22']);
  assert.deepEqual(saved(), expectedFirst);
});

test('drift: a service deleted and real servers edited behind lvsd\'s back are restored', { skip, timeout: 120_000 }, async () => {
  await reconcile(client, desired, { owned: new Set(), ownWholeTable: false });
  run('ipvsadm', ['-D', '-u', '192.0.2.53:53']);
  run('ipvsadm', ['-e', '-t', '192.0.2.10:80', '-r', '10.0.1.11:8080', '-m', '-w', '0']);
  run('ipvsadm', ['-a', '-t', '192.0.2.10:80', '-r', '10.0.1.77:8080', '-m']);
  run('ipvsadm', ['-E', '-t', '192.0.2.10:80', '-s', 'rr']);
  const r = await reconcile(client, desired, { owned: ids(desired), ownWholeTable: false, verify: true });
  assert.deepEqual(r.report.failed, []);
  assert.deepEqual(
    r.plan.ops.map((o) => `${o.command.cmd} ${o.serviceId}${o.destId ? ` ${o.destId}` : ''} ${o.reason}`),
    [
      'set-service tcp/192.0.2.10:80 scheduler rr -> wrr',
      'new-service udp/192.0.2.53:53 declared',
      'new-dest udp/192.0.2.53:53 10.0.1.21:53 declared',
      'new-dest udp/192.0.2.53:53 10.0.1.22:53 declared',
      'set-dest tcp/192.0.2.10:80 10.0.1.11:8080 weight 0 -> 100',
      'del-dest tcp/192.0.2.10:80 10.0.1.77:8080 not declared',
    ],
  );
  assert.equal(r.converged, true);
  assert.deepEqual(saved(), expectedFirst);
});

test('the ownership file follows applies: a service dropped from the config is removed on the next run', { skip, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-rc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'lib/state.json');
  const owned0 = await loadOwned(state);
  const r1 = await reconcile(client, desired, { owned: owned0, ownWholeTable: false });
  await saveOwned(state, nextOwned(desired, owned0, r1.report));

  const fewer = desired.filter((e) => e.service !== mark);
  const owned1 = await loadOwned(state);
  assert.ok(owned1.has('fwmark/ipv4/7'));
  const r2 = await reconcile(client, fewer, { owned: owned1, ownWholeTable: false, verify: true });
  assert.deepEqual(r2.plan.ops.map((o) => `${o.command.cmd} ${o.serviceId}`), ['del-service fwmark/ipv4/7']);
  assert.equal(r2.converged, true);
  await saveOwned(state, nextOwned(fewer, owned1, r2.report));
  assert.equal((await loadOwned(state)).has('fwmark/ipv4/7'), false);
  assert.ok(!saved().some((l) => l.includes('-f 7')));
});

test('every service and real-server attribute is edited in place and converges', { skip, timeout: 120_000 }, async () => {
  const sip = udp('192.0.2.60', 5060, { scheduler: 'rr', flags: SVC_F_PERSISTENT, timeout: 120, pe: 'sip' });
  const before: DesiredEntry[] = [
    { service: sip, dests: [rs('10.0.1.51', 5060, { weight: 3 })] },
    { service: web, dests: [rs('10.0.1.11', 8080)] },
  ];
  const r0 = await reconcile(client, before, { owned: new Set(), ownWholeTable: false, verify: true });
  assert.deepEqual(r0.report.failed.map((f) => f.reason), []);
  assert.equal(r0.converged, true);

  const afterwards: DesiredEntry[] = [
    { service: { ...sip, scheduler: 'sh', flags: SVC_F_PERSISTENT | SVC_F_SCHED1, timeout: 600, netmask: 0xffff0000, pe: '' }, dests: [rs('10.0.1.51', 5060, { weight: 9, upperThreshold: 10, lowerThreshold: 5 })] },
    { service: web, dests: [rs('10.0.1.11', 8080, { forwarding: 'tunnel', tunnelType: 'gue', tunnelPort: 7777, tunnelFlags: TUN_F_CSUM })] },
  ];
  const r1 = await reconcile(client, afterwards, { owned: ids(before), ownWholeTable: false, verify: true });
  assert.deepEqual(r1.report.failed.map((f) => f.reason), []);
  assert.deepEqual(
    r1.plan.ops.map((o) => `${o.command.cmd} ${o.reason}`),
    [
      'set-service scheduler rr -> sh, flags persistent -> persistent|sh-fallback, timeout 120s -> 600s, netmask 255.255.255.255 -> 255.255.0.0, pe sip -> none',
      'set-dest weight 3 -> 9, upper 0 -> 10, lower 0 -> 5',
      'set-dest forwarding nat -> tunnel, tunnel ipip -> gue, tunnel-port 0 -> 7777, tunnel-flags nocsum -> csum',
    ],
  );
  assert.equal(r1.converged, true, `left to do: ${r1.remaining?.ops.map((o) => o.reason).join('; ')}`);
  assert.deepEqual(saved(), sorted([
    '-A -u 192.0.2.60:5060 -s sh -p 600 -M 255.255.0.0 -b sh-fallback',
    '-a -u 192.0.2.60:5060 -r 10.0.1.51:5060 -m -w 9',
    '-A -t 192.0.2.10:80 -s wrr',
    '-a -t 192.0.2.10:80 -r 10.0.1.11:8080 -i -w 1 --tun-type gue --tun-port 7777 --tun-csum',
  ]));
});

test('declared timeouts are set, and only the ones that differ', { skip, timeout: 120_000 }, async (t) => {
  const original = await client.getTimeouts();
  t.after(() => client.execute([{ cmd: 'set-timeouts', timeouts: original }]));
  const want = { tcp: original.tcp === 123 ? 124 : 123, udp: original.udp };
  const r = await reconcile(client, [], { owned: new Set(), ownWholeTable: false, timeouts: want, verify: true });
  assert.deepEqual(r.plan.ops.map((o) => o.command), [{ cmd: 'set-timeouts', timeouts: { tcp: want.tcp, tcpFin: 0, udp: 0 } }]);
  assert.equal(r.converged, true);
  assert.deepEqual(await client.getTimeouts(), { ...original, tcp: want.tcp });
});

test('refusals in the middle of a large pipelined apply are each reported with their service and real server; everything else lands', { skip, timeout: 300_000 }, async () => {
  // 300 services x 10 real servers: several datagrams and more than one acknowledged batch; three refusals
  // the config would have caught, put where they sit between accepted changes of the same datagram
  const big: DesiredEntry[] = Array.from({ length: 300 }, (_, i) => ({
    service: tcp(`192.0.3.${i % 250}`, 1000 + i, { scheduler: i === 200 ? 'nosuch' : 'wrr' }),
    dests: Array.from({ length: 10 }, (_, j) => rs(`10.1.${i % 250}.${j + 1}`, 8000 + i, { weight: j + 1 })),
  }));
  big[40]!.dests[3] = rs('10.1.40.4', 8040, { upperThreshold: 5, lowerThreshold: 10 }); // ERANGE
  big[150]!.dests[5] = rs('224.0.0.5', 8150); // EINVAL: multicast
  const result = await reconcile(client, big, { owned: new Set(), ownWholeTable: false });
  const r = result.report;
  assert.deepEqual(r.failed.map((f) => [f.op.command.cmd, f.op.serviceId, f.op.destId, f.errno]), [
    ['new-service', 'tcp/192.0.3.200:1200', undefined, 2],
    ['new-dest', 'tcp/192.0.3.40:1040', '10.1.40.4:8040', 34],
    ['new-dest', 'tcp/192.0.3.150:1150', '224.0.0.5:8150', 22],
  ]);
  assert.equal(r.failed[0]!.reason, 'scheduler "nosuch" is not available: load module ip_vs_nosuch');
  assert.match(r.failed[1]!.reason, /^real server 10\.1\.40\.4:8040 in service tcp\/192\.0\.3\.40:1040: weight or connection thresholds out of range/);
  assert.match(r.failed[2]!.reason, /^real server 224\.0\.0\.5:8150 in service tcp\/192\.0\.3\.150:1150 was refused as invalid/);
  // the refused service's real servers are not sent (the kernel would refuse each with ESRCH)
  assert.equal(r.skipped.length, 10);
  assert.ok(r.skipped.every((s) => s.op.serviceId === 'tcp/192.0.3.200:1200' && /was not created: scheduler "nosuch"/.test(s.reason)), r.skipped.map((s) => s.reason).join('\n'));
  assert.equal(r.sent, 300 + 3000 - 10);
  assert.equal(r.succeeded, r.sent - 3);
  assert.equal(r.ok, false);

  const lines = saved();
  assert.equal(lines.length, 299 + 2990 - 2, 'every other service and real server is in the kernel');
  assert.ok(lines.includes('-a -t 192.0.3.40:1040 -r 10.1.40.3:8040 -m -w 3') && lines.includes('-a -t 192.0.3.40:1040 -r 10.1.40.5:8040 -m -w 5'), lines.filter((l) => l.includes('192.0.3.40:')).join('\n'));
  assert.ok(lines.includes('-a -t 192.0.3.150:1150 -r 10.1.150.5:8150 -m -w 5') && lines.includes('-a -t 192.0.3.150:1150 -r 10.1.150.7:8150 -m -w 7'), lines.filter((l) => l.includes('192.0.3.150:')).join('\n'));
  assert.ok(!lines.some((l) => l.includes('224.0.0.5') || l.includes('10.1.40.4:8040') || l.includes('192.0.3.200:1200')), 'nothing refused is in the kernel');

  // a second pass plans exactly what was refused, and nothing else
  const again = await reconcile(client, big, { owned: ids(big), ownWholeTable: false, dryRun: true });
  assert.deepEqual(again.plan.ops.map((o) => `${o.command.cmd} ${o.serviceId} ${o.destId ?? ''}`).sort(), [
    'new-dest tcp/192.0.3.150:1150 224.0.0.5:8150',
    'new-dest tcp/192.0.3.40:1040 10.1.40.4:8040',
    'new-service tcp/192.0.3.200:1200 ',
    ...Array.from({ length: 10 }, (_, j) => `new-dest tcp/192.0.3.200:1200 10.1.200.${j + 1}:8200`),
  ].sort());
});

test('the reconciler\'s full pass sent in chunks (sinkOps) programs the kernel as declared, removes the undeclared last, and a read finds nothing to do', { skip, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-chunks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const table = (services: number, weight: number): DesiredEntry[] => Array.from({ length: services }, (_, s) => ({
    service: tcp(`192.0.2.${100 + s}`, 80, { scheduler: 'wrr' }),
    dests: Array.from({ length: 10 }, (_, d) => rs(`10.0.1.${10 + d}`, 8000 + s, { weight: weight + d })),
  }));
  const r = new Reconciler({
    log: silentLogger, client: async () => client, stateFile: () => join(dir, 'state.json'),
    internalError: (_w, e) => { throw e; }, sinkOps: 50,
  });
  t.after(() => r.stop());
  const want = (entries: DesiredEntry[]) => sorted(entries.flatMap((e) => {
    const k = e.service.key as { address: string; port: number };
    return [`-A -t ${k.address}:${k.port} -s wrr`, ...e.dests.map((d) => `-a -t ${k.address}:${k.port} -r ${d.address}:${d.port} -m -w ${d.weight}`)];
  }));
  const first = table(40, 1);
  const start = await r.applyDesired({ entries: first, names: new Map(), ownWholeTable: false }, 'start', 'start');
  assert.equal(start.result, 'ok');
  assert.equal(start.ops, 40 * 11);
  assert.deepEqual(saved(), want(first));
  // a start of another table (the first 30 services, other weights): edits in chunks, then the removals
  const second = table(30, 5);
  const again = await r.applyDesired({ entries: second, names: new Map(), ownWholeTable: false }, 'start', 'start');
  assert.equal(again.result, 'ok');
  assert.equal(again.ops, 30 * 10 + 10);
  assert.deepEqual(saved(), want(second));
  const drift = await r.repairDrift();
  assert.equal(drift.ops, 0, 'the kept view and a fresh read agree');
});

test('a reload during a drift pass\'s read goes ahead of it (applied before the read ends); the pass repairs drift made behind lvsd\'s back and undoes nothing the reload did', { skip, timeout: 900_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-ahead-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // 300 services x 10: the read (a dump of real servers per service) takes many turns in the VM
  const SERVICES = 300;
  const addr = (s: number) => `10.200.${s >> 8}.${s & 255}`;
  const table = (weight: (s: number) => number, without: number[] = [], plus: number[] = []): DesiredEntry[] =>
    [...Array.from({ length: SERVICES }, (_, s) => s).filter((s) => !without.includes(s)), ...plus].map((s) => ({
      service: tcp(addr(s), 80, { scheduler: 'wrr' }),
      dests: Array.from({ length: 10 }, (_, d) => rs(`10.0.1.${10 + d}`, 8000 + s, { weight: weight(s) })),
    }));
  const want = (entries: DesiredEntry[]) => sorted(entries.flatMap((e) => {
    const k = e.service.key as { address: string; port: number };
    return [`-A -t ${k.address}:${k.port} -s wrr`, ...e.dests.map((d) => `-a -t ${k.address}:${k.port} -r ${d.address}:${d.port} -m -w ${d.weight}`)];
  }));
  const marks: string[] = [];
  let during: (() => void) | undefined;
  let reload: Promise<unknown> | undefined;
  // the kernel's own read, through the netlink client; the reload starts once 10 services were handed over
  const watched: IpvsClient = {
    info: () => client.info(), getTimeouts: () => client.getTimeouts(), getDaemons: () => client.getDaemons(),
    dump: (only, o) => client.dump(only, o), execute: (c) => client.execute(c), close: () => undefined,
    dumpEach: async (each, o, only) => {
      if (only) {
        // the pass's rounds outside the queue: what the reload touched after the read reached it
        const count = await client.dumpEach!(each, o, only);
        marks.push('again');
        return count;
      }
      let n = 0;
      const count = await client.dumpEach!((e) => {
        each(e);
        if (++n === 10) during?.();
      }, o);
      // the read holds until the reload begun during it has been applied (60 s at most: a reload that waits
      // for the pass never is), so the order below does not depend on how fast the VM reads the rest
      if (reload) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([reload, new Promise((res) => { timer = setTimeout(res, 60_000); })]);
        clearTimeout(timer);
      }
      marks.push('read-end');
      return count;
    },
  };
  const r = new Reconciler({ log: silentLogger, client: async () => watched, stateFile: () => join(dir, 'state.json'), internalError: (_w, e) => { throw e; } });
  t.after(() => r.stop());
  const first = table(() => 5);
  assert.equal((await r.applyDesired({ entries: first, names: new Map(), ownWholeTable: false }, 'start', 'start')).result, 'ok');
  marks.length = 0;
  // drift behind lvsd's back: a service deleted, a real server's weight edited
  run('ipvsadm', ['-D', '-t', `${addr(150)}:80`]);
  run('ipvsadm', ['-e', '-t', `${addr(2)}:80`, '-r', `10.0.1.10:8002`, '-m', '-w', '77']);
  // the reload: one service's weights, one service removed, one added (the read listed neither change)
  const next = table((s) => (s === 200 ? 9 : 5), [250], [SERVICES + 1]);
  during = () => {
    during = undefined;
    reload = r.applyDesired({ entries: next, names: new Map(), ownWholeTable: false }, 'reload', 'reload').then((o) => {
      marks.push('reload');
      return o;
    });
  };
  const pass = await r.repairDrift();
  marks.push('pass');
  const reloaded = await reload as { result: string };
  assert.equal(reloaded.result, 'ok');
  // the services the reload removed and added (changed after the service list was read) are read again
  // outside the queue, not in it
  assert.deepEqual(marks, ['reload', 'read-end', 'again', 'pass'], 'the reload waited for the drift pass, or what it touched was not read again outside the queue');
  assert.equal(pass.result, 'ok', JSON.stringify(pass.failures));
  assert.equal(pass.ops, 11 + 1, 'the pass sent the deleted service and the edited weight back, nothing else');
  assert.deepEqual(saved(), want(next));
  assert.equal((await r.repairDrift()).ops, 0, 'the kept view and a fresh read agree');
  run('ipvsadm', ['-C']);
});
