import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderKernelTable, renderStatus } from '../../src/cli/status-render.js';
import { humanByteRate, humanCount, humanDuration } from '../../src/cli/terminal-text.js';
import { isLvsdError } from '../../src/errors.js';
import type { KernelEntry } from '../../src/ipvs/types.js';
import { fixtureSnapshot } from './status-fixture.js';

const GOLDEN = `lvsd 0.1.0 on lb1.example.net  up 3d02h  pid 4242  config /etc/lvsd/lvsd.json
last reload: ok 2m00s ago (2026-11-25T11:58:00.000Z)

VRRP
  INSTANCE  IF/VRID  STATE   PRIO eff/conf  MASTER         FOR    TRACK      VIPS
  vi_web    eth0/51  MASTER  150/150        this node      2h00m  -          192.0.2.10/24
  vi_dns6   eth0/52  BACKUP  50/100         fe80::1 (200)  5m00s  eth2 DOWN  2001:db8::53/64

health checks: running, last tick 0.2s ago, 3 probes in flight
connection sync: master on eth1 id 9
drained: 10.0.1.12:8080 in tcp/192.0.2.10:80

web  tcp/192.0.2.10:80  wlc persistent timeout 300s fwd dr
  conns 1.2M (1.2k/s)  in 3.4 MB/s  out 950 B/s
  REAL SERVER     FWD  WEIGHT c/e/k  HEALTH  FOR    LATENCY  ACTIVE  INACT  DRAIN    LAST CHECK
  10.0.1.11:8080  dr   100/100/100   UP      3h00m  1.3ms    1.5k    20              http: HTTP 200
  10.0.1.12:8080  dr   100/0/0       DOWN    5m00s  -        0       3      DRAINED  http: connect ECONNREFUSED

dns6  udp/[2001:db8::53]:53  sh sh-port fwd nat
  NOT IN KERNEL
  REAL SERVER                            FWD  WEIGHT c/e/k  HEALTH   FOR  LATENCY  ACTIVE  INACT  DRAIN  LAST CHECK
  [2001:db8:0:1234:5678:9abc:def0:1]:53  nat  10/10/-       UNKNOWN  -    -        -       -             dns: -
`;

const ESC = '\x1b[';

test('renders a fixed snapshot exactly as the golden text, without colour', () => {
  const text = renderStatus(fixtureSnapshot(), { color: false });
  assert.equal(text, GOLDEN);
  assert.ok(!text.includes(ESC), 'no ANSI escape codes when colour is off');
});

test('colour adds ANSI codes around states only when asked, and the text underneath is unchanged', () => {
  const text = renderStatus(fixtureSnapshot(), { color: true });
  assert.ok(text.includes(`${ESC}32mMASTER${ESC}0m`), 'MASTER in green');
  assert.ok(text.includes(`${ESC}33mBACKUP${ESC}0m`), 'BACKUP in yellow');
  assert.ok(text.includes(`${ESC}1;31mDOWN${ESC}0m`), 'DOWN in bold red');
  assert.ok(text.includes(`${ESC}32mUP${ESC}0m`), 'UP in green');
  assert.ok(text.includes(`${ESC}1;35mDRAINED${ESC}0m`), 'DRAINED marked');
  // eslint-disable-next-line no-control-regex
  assert.equal(text.replace(/\x1b\[[0-9;]*m/g, ''), GOLDEN, 'stripping colour gives the plain rendering');
});

test('a refused reload stands out with its error and every problem', () => {
  const s = fixtureSnapshot();
  s.lastLoad = {
    kind: 'reload', at: '2026-11-25T11:59:00.000Z', ok: false, error: 'config invalid: 2 problems',
    problems: [
      { file: '/etc/lvsd/lvsd.json', pointer: '/services/0/scheduler', message: 'unknown scheduler "wlcx"' },
      { file: '/etc/lvsd/conf.d/b.json', pointer: '', message: 'not JSON' },
    ],
  };
  const lines = renderStatus(s, { color: false }).split('\n');
  assert.equal(lines[1], 'last reload: REFUSED 1m00s ago (2026-11-25T11:59:00.000Z): config invalid: 2 problems');
  assert.equal(lines[2], '  the previous config is still in force');
  assert.equal(lines[3], '  /etc/lvsd/lvsd.json /services/0/scheduler: unknown scheduler "wlcx"');
  assert.equal(lines[4], '  /etc/lvsd/conf.d/b.json: not JSON');
  assert.ok(renderStatus(s, { color: true }).includes(`${ESC}1;31mREFUSED${ESC}0m`));
});

test('an incomplete reload says the new config is in force, and the failed IPVS operations show until repaired', () => {
  const s = fixtureSnapshot();
  s.lastLoad = {
    kind: 'reload', at: '2026-11-25T11:59:00.000Z', ok: false, result: 'partial', code: 'LVSD_NETLINK_OVERRUN',
    error: 'the new config is in force but 1 IPVS operation failed (first: new-dest web 10.0.1.14:8080: ENOBUFS); lvsd retries',
  };
  s.ipvs = {
    state: 'repairing', failedOps: 1,
    failures: [{ service: 'web', realServer: '10.0.1.14:8080', op: 'new-dest', reason: 'overrun', code: 'LVSD_NETLINK_OVERRUN', message: 'ENOBUFS', at: '2026-11-25T11:59:00.000Z' }],
    repair: { since: '2026-11-25T11:59:00.000Z', attempts: 2, nextAttemptAt: '2026-11-25T12:00:04.000Z' },
    lastReconcile: { at: '2026-11-25T11:59:30.000Z', reason: 'repair', result: 'partial', ops: 1, failed: 1, error: 'new-dest web 10.0.1.14:8080: ENOBUFS' },
  };
  const lines = renderStatus(s, { color: false }).split('\n');
  assert.match(lines[1]!, /^last reload: INCOMPLETE 1m00s ago \(2026-11-25T11:59:00.000Z\): the new config is in force/);
  assert.equal(lines[2], '  this config is in force; lvsd retries what the kernel did not take (see IPVS below)');
  const at = lines.findIndex((l) => l.startsWith('IPVS: '));
  assert.equal(lines[at], 'IPVS: REPAIRING 1 operation failed since 1m00s ago, 2 retries, next try in 4s');
  assert.equal(lines[at + 1], '  new-dest web 10.0.1.14:8080: overrun: ENOBUFS');
  s.lastLoad = { ...s.lastLoad, result: 'failed', error: 'vi_2: cannot open a VRRP socket' };
  assert.match(renderStatus(s, { color: false }).split('\n')[1]!, /^last reload: FAILED /);
  assert.equal(renderStatus(s, { color: false }).split('\n')[2], '  the previous config is still in force');
});

test('a stalled health checker loop is shown as STALLED, not hidden', () => {
  const s = fixtureSnapshot();
  s.health = { alive: false, lastTickAt: '2026-11-25T11:59:15.000Z', lagMs: 45_000, probesInFlight: 1 };
  assert.match(renderStatus(s, { color: false }), /^health checks: STALLED, last tick 45s ago, 1 probe in flight$/m);
});

test('the service filter shows that service only (by name or key) and leaves out VRRP', () => {
  for (const service of ['dns6', 'udp/[2001:db8::53]:53']) {
    const text = renderStatus(fixtureSnapshot(), { color: false, service });
    assert.match(text, /^dns6 {2}udp\/\[2001:db8::53\]:53/m);
    assert.ok(!text.includes('tcp/192.0.2.10:80  wlc'), 'the other service is left out');
    assert.ok(!text.includes('VRRP'), 'the VRRP table is left out');
  }
});

test('the instance filter shows that VRRP instance only and leaves out services', () => {
  const text = renderStatus(fixtureSnapshot(), { color: false, instance: 'vi_dns6' });
  assert.match(text, /^ {2}vi_dns6 +eth0\/52 +BACKUP/m);
  assert.ok(!text.includes('vi_web'));
  assert.ok(!text.includes('REAL SERVER'));
});

test('a filter that matches nothing is a usage error naming what exists', () => {
  assert.throws(() => renderStatus(fixtureSnapshot(), { color: false, service: 'mail' }), (e: unknown) =>
    isLvsdError(e, 'LVSD_USAGE') && e.message.includes('"mail"') && e.message.includes('web, dns6'));
  assert.throws(() => renderStatus(fixtureSnapshot(), { color: false, instance: 'vi_x' }),
    (e: unknown) => isLvsdError(e, 'LVSD_USAGE'));
});

test('columns stay aligned when a long IPv6 real server sits next to short IPv4 ones', () => {
  const s = fixtureSnapshot();
  const web = s.services[0]!;
  web.realServers.push({
    ...web.realServers[0]!,
    address: '2001:db8:ffff:ffff:ffff:ffff:ffff:fffe', id: '[2001:db8:ffff:ffff:ffff:ffff:ffff:fffe]:8080',
  });
  const lines = renderStatus(s, { color: false, service: 'web' }).split('\n');
  const head = lines.find((l) => l.includes('REAL SERVER'))!;
  const rows = lines.filter((l) => /^ {2}(\[|10\.)/.test(l));
  assert.equal(rows.length, 3);
  for (const col of ['FWD', 'WEIGHT', 'HEALTH', 'FOR', 'LATENCY', 'ACTIVE', 'INACT', 'DRAIN', 'LAST CHECK']) {
    const at = head.indexOf(col);
    for (const row of rows) {
      if (col !== 'DRAIN') assert.notEqual(row[at], ' ', `column ${col} starts at ${at} in: ${row}`);
      assert.equal(row[at - 1], ' ', `column ${col} is separated in: ${row}`);
    }
  }
});

test('width cuts the last column so lines fit the terminal', () => {
  const text = renderStatus(fixtureSnapshot(), { color: false, width: 100, service: 'web' });
  const row = text.split('\n').find((l) => l.startsWith('  10.0.1.12:8080'))!;
  assert.equal(row.length, 100);
  assert.ok(row.endsWith('…'));
});

test('human-readable numbers, rates and durations', () => {
  assert.deepEqual([0, 999, 1234, 56_789, 5_600_000, 7.8e9].map(humanCount), ['0', '999', '1.2k', '57k', '5.6M', '7.8G']);
  assert.deepEqual([0, 950, 3_400_000, 12_000_000].map(humanByteRate), ['0 B/s', '950 B/s', '3.4 MB/s', '12 MB/s']);
  assert.deepEqual([5, 312, 7380, 273600].map(humanDuration), ['5s', '5m12s', '2h03m', '3d04h']);
});

test('the kernel table renders without a daemon, with flags, weights and connections', () => {
  const zero = { conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n, cps: 0n, inpps: 0n, outpps: 0n, inbps: 0n, outbps: 0n };
  const entries: KernelEntry[] = [{
    service: {
      key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 443 },
      scheduler: 'mh', flags: 0x1 | 0x8, timeout: 60, netmask: 0xffffffff, pe: '',
      stats: { ...zero, conns: 2500n, cps: 12n, inbps: 2048n },
    },
    dests: [
      { family: 'ipv4', address: '10.0.0.1', port: 443, forwarding: 'dr', weight: 1, upperThreshold: 0, lowerThreshold: 0,
        tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0, activeConns: 42, inactiveConns: 7, persistentConns: 3 },
      { family: 'ipv4', address: '10.0.0.2', port: 443, forwarding: 'dr', weight: 0, upperThreshold: 0, lowerThreshold: 0,
        tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0, activeConns: 0, inactiveConns: 0, persistentConns: 0 },
    ],
  }];
  assert.equal(renderKernelTable(entries), [
    'tcp/192.0.2.10:443  mh persistent mh-fallback timeout 60s',
    '  conns 2.5k (12/s)  in 2.0 kB/s  out 0 B/s',
    '  REAL SERVER  FWD  WEIGHT  ACTIVE  INACT  PERSIST',
    '  10.0.0.1:443  dr   1       42      7      3',
    '  10.0.0.2:443  dr   0       0       0      0',
    '',
  ].join('\n').replace('  REAL SERVER  FWD', '  REAL SERVER   FWD'));
  assert.equal(renderKernelTable([]), 'the kernel has no IPVS services\n');
});

test('text from the config, a peer or the kernel is printed with control characters escaped: nothing forges a line', () => {
  const s = fixtureSnapshot();
  s.services[0]!.name = 'web\nlast reload: ok';
  s.services[0]!.realServers[0]!.health.lastResult = 'HTTP 200\r\n\u001b[2J\u001b[31mfake';
  s.vrrp[0]!.name = 'vi\u001b]0;title\u0007';
  s.lastLoad = { kind: 'reload', ok: false, at: s.generatedAt, error: 'bad\nlast reload: ok',
    problems: [{ file: 'c.json', pointer: '/services/0/name\n', message: 'x\u2028y' }] } as never;
  const plain = renderStatus(s, { color: false });
  const coloured = renderStatus(s, { color: true });
  assert.doesNotMatch(plain, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/, 'no control character but the line ends');
  assert.equal(plain.split('\n').filter((l) => l.startsWith('last reload')).length, 1, 'one "last reload" line');
  assert.match(plain, /^web\\nlast reload: ok  tcp\/192\.0\.2\.10:80/m);
  assert.match(plain, /http: HTTP 200\\r\\n\\x1b\[2J\\x1b\[31mfake/);
  assert.match(plain, /vi\\x1b\]0;title\\x07/);
  assert.match(plain, /bad\\nlast reload: ok/);
  assert.match(plain, /c\.json \/services\/0\/name\\n: x\\u2028y/);
  // with colour on, the only escape sequences are lvsd's own SGR codes
  assert.doesNotMatch(coloured.replace(/\u001b\[[0-9;]*m/g, ''), /\u001b/);
  const k = renderKernelTable([{ service: { key: { kind: 'fwmark', family: 'ipv4', fwmark: 1 }, scheduler: 'w\nrr', flags: 0, timeout: 0, netmask: 0, pe: '' }, dests: [] }] as never);
  assert.match(k, /w\\nrr/);
});

test('VRRP TRACK lists down interfaces and the tracked scripts, files and processes that move the priority or fault', () => {
  const s = fixtureSnapshot();
  s.vrrp[1]!.tracks = [
    { kind: 'script', name: 'chk', up: false, weight: -30, effect: -30, detail: 'exit 1' },
    { kind: 'file', name: '/run/w', up: true, value: 2, weight: -5, effect: -10 },
    { kind: 'process', name: 'haproxy', up: true, value: 1, weight: 0, effect: 0 },
    { kind: 'process', name: 'sshd', up: false, value: 0, weight: 0, effect: 'fault' },
    { kind: 'file', name: '/run/gone', up: false, weight: 1, effect: 0 },
  ];
  const text = renderStatus(s, { color: false });
  assert.match(text, /eth2 DOWN, script chk DOWN \(-30\), file \/run\/w=2 \(-10\), process sshd DOWN \(fault\), file \/run\/gone=unreadable \(0\)/);
  assert.ok(!/DOWN.*haproxy/.test(text.split('\n').find((l) => l.includes('vi_dns6  '))!), 'a neutral tracked object is not in the TRACK column');
  assert.ok(text.includes('  vi_dns6 tracks: script chk DOWN (-30, exit 1), file /run/w=2 (-10), process haproxy x1 up (0), process sshd x0 DOWN (fault), file /run/gone=unreadable (0)\n'),
    'every tracked object is listed below the table');
});

test('a group is shown once: its members with their kernel state, then one table of the shared real servers', () => {
  const snapshot = fixtureSnapshot();
  const web = snapshot.services[0]!;
  const members = [1, 2].map((n, index) => ({
    ...structuredClone(web),
    name: `g[tcp/192.0.2.${n}:80]`, key: `tcp/192.0.2.${n}:80`, group: { name: 'g', index, size: 2 },
    realServers: web.realServers.map((r) => ({ ...structuredClone(r), sharedId: r.id })),
  }));
  members[1]!.kernel = 'missing';
  members[1]!.stats = null;
  members[1]!.realServers[0]!.weight.kernel = 7;
  snapshot.services = [members[0]!, ...snapshot.services, members[1]!];
  const text = renderStatus(snapshot, { color: false, width: 200 });
  assert.equal(text.match(/^g {2}group of 2 /gm)?.length, 1, text);
  assert.match(text, /^ {2}tcp\/192\.0\.2\.1:80 {2}conns /m);
  assert.match(text, /^ {2}tcp\/192\.0\.2\.2:80 {2}NOT IN KERNEL/m);
  assert.equal(text.match(/^ {2}10\.0\.1\.11:8080 /gm)?.length, 2, 'once in the group table, once in web\'s');
  assert.doesNotMatch(text, /g\[tcp/, 'members are not listed as services of their own');
  const only = renderStatus(snapshot, { color: false, width: 200, service: 'g' });
  assert.match(only, /^g {2}group of 2 /m);
  assert.doesNotMatch(only, /^web /m);
});
