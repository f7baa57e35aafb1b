/**
 * Runs inside the kernel-test VM (root, ip_vs loaded): the real `lvsd apply` / `lvsd check` command line
 * against Linux's IPVS, checked with ipvsadm. The config is examples/full.json (every feature of the config),
 * with its own state file and timeouts that differ from the kernel's defaults. The tests run in order: each
 * starts from the table the previous one left.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { insideSkipReason } from '../vm.js';
import { run, tryRun } from './shell.js';

const skip = insideSkipReason();
const LINK = 'lvsdac0';
const CLI = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../../examples/full.json', import.meta.url));
const SCHEMA = fileURLToPath(new URL('../../../../schemas/lvsd.schema.json', import.meta.url));

/** `ipvsadm -Sn`, one rule a line, whitespace collapsed, sorted (the kernel's order is not ours to assert). */
function saved(): string[] {
  return run('ipvsadm', ['-Sn']).split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '').sort();
}
/** The rows of an `ipvsadm -Ln <flag>` listing below its headers, whitespace collapsed. */
function listing(flag: string): string[] {
  return run('ipvsadm', ['-Ln', flag]).split('\n').slice(3).map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');
}
function timeouts(): string {
  return run('ipvsadm', ['-Ln', '--timeout']).trim();
}

interface Cli {
  status: number | null;
  stdout: string;
  stderr: string;
}
function lvsd(...args: string[]): Cli {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, LVSD_LOG_LEVEL: 'warn' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const show = (r: Cli) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

type Json = Record<string, unknown> & { services: Array<Record<string, unknown>> };

let dir: string;
let stateFile: string;
let configFile: string;
/** examples/full.json, everything but the services the running kernel has no scheduler for */
let full: Json;
/** Schedulers of the schema that this kernel has neither built in nor as a module (6.1: twos). */
let missingSchedulers: string[];

function writeConfig(config: Json, file = configFile): string {
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

function kernelHasScheduler(name: string): boolean {
  const release = run('uname', ['-r']).trim();
  const root = `/lib/modules/${release}`;
  const builtin = existsSync(`${root}/modules.builtin`) ? readFileSync(`${root}/modules.builtin`, 'utf8') : '';
  const dep = existsSync(`${root}/modules.dep`) ? readFileSync(`${root}/modules.dep`, 'utf8') : '';
  const re = new RegExp(`/ip_vs_${name}\\.ko`);
  return re.test(builtin) || re.test(dep);
}

before(() => {
  if (skip) return;
  tryRun('ip', ['link', 'del', LINK]);
  run('ip', ['link', 'add', LINK, 'type', 'dummy']);
  // routes for every real server of the example: 10.0.0.0/8 and 2001:db8::/32
  run('ip', ['addr', 'add', '10.0.0.254/8', 'dev', LINK]);
  run('ip', ['-6', 'addr', 'add', '2001:db8::fe/32', 'dev', LINK, 'nodad']);
  run('ip', ['link', 'set', LINK, 'up']);
  run('ipvsadm', ['-C']);
  run('ipvsadm', ['--set', '900', '120', '300']);
  dir = mkdtempSync(join(tmpdir(), 'lvsd-apply-cli-'));
  stateFile = join(dir, 'state.json');
  configFile = join(dir, 'lvsd.json');

  const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as unknown;
  const schedulers = new Set<string>();
  JSON.stringify(schema, (k, v: unknown) => {
    if (k === 'enum' && Array.isArray(v) && v.includes('wlc')) for (const s of v) schedulers.add(String(s));
    return v;
  });
  assert.ok(schedulers.size >= 10, 'the schema lists the schedulers');
  missingSchedulers = [...schedulers].filter((s) => !kernelHasScheduler(s));

  full = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Json;
  const ipvs = full.ipvs as Record<string, unknown>;
  ipvs.ownWholeTable = false; // so a service made by ipvsadm is left alone
  ipvs.stateFile = stateFile;
  ipvs.timeouts = { tcp: '10m', tcpFin: '1m', udp: '2m' }; // the kernel's defaults are 900 120 300
  full.services = full.services.filter((s) => !missingSchedulers.includes(String(s.scheduler ?? 'wlc')));
  writeConfig(full);
});

after(() => {
  if (skip) return;
  tryRun('ipvsadm', ['-C']);
  tryRun('ipvsadm', ['--set', '900', '120', '300']);
  tryRun('ip', ['link', 'del', LINK]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** examples/full.json as ipvsadm -Sn prints it, written from the config by hand. */
const FULL_TABLE = [
  '-A -t 192.0.2.10:80 -s wrr -p 300 -M 255.255.255.0',
  '-a -t 192.0.2.10:80 -r 10.0.1.11:8080 -m -w 100',
  '-a -t 192.0.2.10:80 -r 10.0.1.12:8080 -m -w 50',
  '-a -t 192.0.2.10:80 -r 10.0.1.13:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum',
  '-A -t [2001:db8::10]:443 -s lc',
  '-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:443 -g -w 1',
  '-a -t [2001:db8::10]:443 -r [2001:db8:1::12]:443 -g -w 0',
  '-a -t [2001:db8::10]:443 -r 10.0.1.21:443 -i -w 1 --tun-type gre --tun-csum',
  '-A -u [2001:db8::53]:53 -s mh -o -b mh-fallback,mh-port',
  '-a -u [2001:db8::53]:53 -r [2001:db8:1::1]:53 -g -w 1',
  '-a -u [2001:db8::53]:53 -r [2001:db8:1::2]:53 -g -w 1',
  '-A -u 192.0.2.20:5060 -s sh -p 120 -M 255.255.255.0 --pe sip -b sh-port',
  '-a -u 192.0.2.20:5060 -r 10.0.3.1:5060 -i -w 1 --tun-type gre --tun-nocsum',
  '-a -u 192.0.2.20:5060 -r 10.0.3.2:5060 -i -w 1 --tun-type gre --tun-nocsum',
  '-A --sctp-service 192.0.2.30:0 -s sed -p 300',
  '-a --sctp-service 192.0.2.30:0 -r 10.0.4.1:0 -g -w 1',
  '-a --sctp-service 192.0.2.30:0 -r 10.0.4.2:0 -g -w 1',
  '-A -f 7 -s sh -o -b sh-fallback',
  '-a -f 7 -r 10.0.2.1:0 -g -w 1',
  '-a -f 7 -r 10.0.2.2:0 -g -w 1',
  '-A -f 8 -6 -s fo -p 300 -M 64',
  '-a -f 8 -6 -r [2001:db8:2::1]:8443 -m -w 10',
  '-A -t 192.0.2.40:1001 -s rr',
  '-A -t 192.0.2.40:1002 -s wlc',
  '-A -t 192.0.2.40:1003 -s lblc',
  '-A -t 192.0.2.40:1004 -s lblcr',
  '-A -t 192.0.2.40:1005 -s dh',
  '-A -t 192.0.2.40:1006 -s nq',
  '-A -t 192.0.2.40:1007 -s ovf',
];
/** The rule of the example's twos service, when this kernel has the twos scheduler. */
const TWOS = '-A -t 192.0.2.40:1008 -s twos';
const expectedFull = () => [...FULL_TABLE, ...(missingSchedulers.includes('twos') ? [] : [TWOS])].sort();

test('apply --dry-run prints the whole plan and changes nothing: no rule, same timeouts, no state file', { skip, timeout: 300_000 }, () => {
  const before = timeouts();
  const r = lvsd('apply', '--config', configFile, '--state-file', stateFile, '--dry-run');
  assert.equal(r.status, 0, show(r));
  const lines = r.stdout.split('\n');
  for (const want of [
    '~ timeouts tcp 900s -> 600s, tcpfin 120s -> 60s, udp 300s -> 120s',
    '+ service tcp/192.0.2.10:80 wrr persistent 300s netmask 255.255.255.0',
    '    + dest 10.0.1.12:8080 nat weight 50 upper 1000 lower 800',
    '    + dest 10.0.1.13:80 tunnel gue:6080 remcsum weight 1',
    '+ service udp/192.0.2.20:5060 sh persistent 120s netmask 255.255.255.0 pe sip sh-port',
    '+ service fwmark/ipv6/8 fo persistent 300s netmask /64',
  ]) {
    assert.ok(lines.includes(want), `plan line ${JSON.stringify(want)} missing:\n${r.stdout}`);
  }
  const ops = expectedFull().length + 1;
  assert.ok(lines.some((l) => l.startsWith(`${ops} operations; services: ${expectedFull().filter((l) => l.startsWith('-A')).length} added`)), r.stdout);
  assert.doesNotMatch(r.stdout, /^applied /m, 'a dry run reports no apply');
  assert.deepEqual(saved(), []);
  assert.equal(timeouts(), before);
  assert.equal(existsSync(stateFile), false, 'a dry run writes no state file');
});

test('apply programs every feature of examples/full.json exactly as declared (ipvsadm -Sn, --stats, --thresholds, --persistent-conn, --timeout)', { skip, timeout: 300_000 }, () => {
  const r = lvsd('apply', '--config', configFile, '--state-file', stateFile);
  assert.equal(r.status, 0, show(r));
  const ops = expectedFull().length + 1;
  assert.match(r.stdout, new RegExp(`^applied ${ops} of ${ops} operations`, 'm'), r.stdout);
  assert.doesNotMatch(r.stdout, /warning|failed/);

  assert.deepEqual(saved(), expectedFull());
  assert.equal(timeouts(), 'Timeout (tcp tcpfin udp): 600 60 120');

  // -Sn leaves out thresholds; --thresholds shows them (and 0 for the others)
  const thresholds = listing('--thresholds');
  assert.ok(thresholds.includes('-> 10.0.1.12:8080 1000 800 0 0'), thresholds.join('\n'));
  assert.ok(thresholds.includes('-> 10.0.1.11:8080 0 0 0 0'), thresholds.join('\n'));
  assert.ok(thresholds.includes('UDP [2001:db8::53]:53 mh (mh-fallback,mh-port) ops'), thresholds.join('\n'));

  // --persistent-conn: weights per real server and the persistence of each persistent service
  const persistent = listing('--persistent-conn');
  for (const want of [
    'TCP 192.0.2.10:80 wrr persistent 300 mask 255.255.255.0',
    '-> 10.0.1.11:8080 100 0 0 0',
    '-> [2001:db8:1::12]:443 0 0 0 0',
    'UDP 192.0.2.20:5060 sh (sh-port) persistent 120 mask 255.255.255.0 pe sip',
    'SCTP 192.0.2.30:0 sed persistent 300',
    'FWM 8 IPv6 fo persistent 300 mask 64',
    '-> [2001:db8:2::1]:8443 10 0 0 0',
  ]) {
    assert.ok(persistent.includes(want), `--persistent-conn row ${JSON.stringify(want)} missing:\n${persistent.join('\n')}`);
  }

  // --stats: exactly the declared services and real servers, every counter at zero (nothing carried traffic)
  const stats = listing('--stats');
  const objects = stats.map((l) => l.replace(/( \d+){5}$/, ''));
  const expectedObjects = expectedFull().length;
  assert.equal(objects.length, expectedObjects, stats.join('\n'));
  assert.ok(stats.every((l) => / 0 0 0 0 0$/.test(l)), stats.join('\n'));
  for (const o of ['TCP 192.0.2.10:80', '-> 10.0.1.13:80', 'FWM 7', 'FWM 8 IPv6', 'SCTP 192.0.2.30:0', '-> 10.0.1.21:443']) {
    assert.ok(objects.includes(o), `--stats row ${o} missing:\n${stats.join('\n')}`);
  }

  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { services: string[] };
  assert.equal(state.services.length, expectedFull().filter((l) => l.startsWith('-A')).length);
  assert.ok(state.services.includes('fwmark/ipv6/8') && state.services.includes('udp/[2001:db8::53]:53'));
});

test('a second apply of the same config prints an empty plan, exits 0 and changes nothing', { skip, timeout: 300_000 }, () => {
  const before = saved();
  const r = lvsd('apply', '--config', configFile, '--state-file', stateFile);
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /^nothing to do: the kernel table matches the configuration$/m);
  assert.match(r.stdout, /^0 operations; /m);
  assert.match(r.stdout, /^applied 0 of 0 operations/m);
  assert.deepEqual(saved(), before);
});

test('weights, added and removed real servers and services are applied; a service made by ipvsadm -A is left alone', { skip, timeout: 300_000 }, () => {
  run('ipvsadm', ['-A', '-t', '198.51.100.1:22', '-s', 'rr']);
  run('ipvsadm', ['-a', '-t', '198.51.100.1:22', '-r', '10.0.9.9:22', '-m', '-w', '7']);

  const changed = structuredClone(full);
  const web = changed.services.find((s) => s.name === 'web')!;
  const rss = web.realServers as Array<Record<string, unknown>>;
  rss[0]!.weight = 60; // 10.0.1.11: 100 -> 60
  rss.splice(1, 1); // 10.0.1.12 goes
  rss.push({ address: '10.0.1.14', port: 8080, weight: 5 });
  changed.services = changed.services.filter((s) => s.name !== 'nq'); // tcp/192.0.2.40:1006 goes
  changed.services.push({ name: 'new', protocol: 'tcp', address: '192.0.2.50', port: 8000, scheduler: 'rr', realServers: [{ address: '10.0.5.1' }] });
  writeConfig(changed);

  const r = lvsd('apply', '--config', configFile, '--state-file', stateFile, '--verify');
  assert.equal(r.status, 0, show(r));
  assert.doesNotMatch(r.stdout, /still differs/, 'with --verify the re-read finds the kernel converged');
  const lines = r.stdout.split('\n');
  for (const want of [
    '  service tcp/192.0.2.10:80',
    '    ~ dest 10.0.1.11:8080 weight 100 -> 60',
    '    + dest 10.0.1.14:8080 nat weight 5',
    '+ service tcp/192.0.2.50:8000 rr',
    '    + dest 10.0.5.1:8000 nat weight 1',
    'left alone (not declared, not applied by lvsd): tcp/198.51.100.1:22',
  ]) {
    assert.ok(lines.includes(want), `plan line ${JSON.stringify(want)} missing:\n${r.stdout}`);
  }
  assert.ok(lines.some((l) => l.startsWith('    - dest 10.0.1.12:8080 (')), r.stdout);
  assert.ok(lines.some((l) => l.startsWith('- service tcp/192.0.2.40:1006 (')), r.stdout);
  assert.match(r.stdout, /^applied 6 of 6 operations/m);

  const expected = expectedFull()
    .filter((l) => l !== '-a -t 192.0.2.10:80 -r 10.0.1.12:8080 -m -w 50' && l !== '-A -t 192.0.2.40:1006 -s nq')
    .map((l) => (l === '-a -t 192.0.2.10:80 -r 10.0.1.11:8080 -m -w 100' ? '-a -t 192.0.2.10:80 -r 10.0.1.11:8080 -m -w 60' : l))
    .concat([
      '-a -t 192.0.2.10:80 -r 10.0.1.14:8080 -m -w 5',
      '-A -t 192.0.2.50:8000 -s rr',
      '-a -t 192.0.2.50:8000 -r 10.0.5.1:8000 -m -w 1',
      '-A -t 198.51.100.1:22 -s rr',
      '-a -t 198.51.100.1:22 -r 10.0.9.9:22 -m -w 7',
    ])
    .sort();
  assert.deepEqual(saved(), expected);
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { services: string[] };
  assert.ok(state.services.includes('tcp/192.0.2.50:8000'));
  assert.ok(!state.services.includes('tcp/192.0.2.40:1006') && !state.services.includes('tcp/198.51.100.1:22'));
});

test('lvsd check (and apply) on a bad config exit 1 listing every problem as file: /pointer: message; the kernel is untouched', { skip, timeout: 300_000 }, () => {
  const before = saved();
  const beforeTimeouts = timeouts();
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, '10-web.json'), JSON.stringify({
    ipvs: { timeouts: { tcp: '1s' } },
    services: [
      { protocol: 'tcp', address: '192.0.2.10', port: 80, scheduller: 'wrr', realServers: [{ address: '10.0.1.11', weight: 70000 }] },
      { protocol: 'udp', address: '192.0.2.99', port: 53, persistence: { timeout: '30s1m' } },
    ],
  }));
  writeFileSync(join(bad, '20-more.json'), JSON.stringify({
    services: [{ protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11', port: 8080, lowerThreshold: 5 }] }],
  }));
  const f1 = join(bad, '10-web.json');
  const f2 = join(bad, '20-more.json');

  for (const cmd of [['check', '--config', bad], ['apply', '--config', bad, '--state-file', stateFile]]) {
    const r = lvsd(...cmd);
    assert.equal(r.status, 1, show(r));
    const problems = r.stderr.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim());
    assert.ok(problems.includes(`${f1}: /services/0/scheduller: unknown key "scheduller" (did you mean "scheduler"?)`), r.stderr);
    assert.ok(problems.includes(`${f1}: /services/0/realServers/0/weight: must be an integer from 0 to 65535`), r.stderr);
    assert.ok(problems.some((p) => p.startsWith(`${f1}: /services/1/persistence/timeout: `) && p.includes('"30s1m"')), r.stderr);
    assert.ok(problems.some((p) => p.startsWith(`${f2}: /services/0/realServers/0`) && /lowerThreshold/.test(p)), r.stderr);
    assert.ok(problems.every((p) => /^\/\S+: \/\S*: \S/.test(p)), `every problem reads file: /pointer: message:\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^lvsd: invalid config: ${problems.length} problems$`, 'm'));
    assert.equal(r.stdout, '');
  }
  assert.deepEqual(saved(), before);
  assert.equal(timeouts(), beforeTimeouts);
});

test('a kernel refusal (a scheduler this kernel lacks) names the object and the reason, exits 1, and the rest is applied', { skip: skip ?? false, timeout: 300_000 }, (t) => {
  const scheduler = missingSchedulers[0];
  if (scheduler === undefined) {
    t.skip(`this kernel has every scheduler of the schema (${readdirSync('/lib/modules').join(', ')})`);
    return;
  }
  run('ipvsadm', ['-C']);
  rmSync(stateFile, { force: true });
  const withRefused = structuredClone(full);
  withRefused.services.push({ name: 'refused', protocol: 'tcp', address: '192.0.2.60', port: 80, scheduler, realServers: [{ address: '10.0.6.1' }] });
  writeConfig(withRefused);

  const r = lvsd('apply', '--config', configFile, '--state-file', stateFile);
  assert.equal(r.status, 1, show(r));
  assert.match(r.stdout, new RegExp(`^failed: new-service service tcp/192\\.0\\.2\\.60:80: scheduler "${scheduler}" is not available: load module ip_vs_${scheduler}$`, 'm'));
  assert.match(r.stdout, /^skipped: new-dest dest 10\.0\.6\.1:80 in service tcp\/192\.0\.2\.60:80: service tcp\/192\.0\.2\.60:80 was not created: /m);
  const ops = expectedFull().length + 2; // the refused service and its real server; the timeouts are already set
  assert.match(r.stdout, new RegExp(`^applied ${ops - 2} of ${ops} operations`, 'm'));
  assert.deepEqual(saved(), expectedFull(), 'everything else is applied');
});
