/**
 * The BIRD side of ECMP: the bird.conf lvsd writes (parsed by the real BIRD when installed: `bird -p`),
 * and the parsers of BIRD's control-socket replies (the texts are BIRD 2.0.12's own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from './config-fixtures.js';
import { bgpSession, birdConfig, birdTime, parseBfdSessions, parseProtocols, peerProtocol } from '../../src/ecmp/index.js';

const BIRD = '/usr/sbin/bird';
const noBird = spawnSync(BIRD, ['--version']).error ? `${BIRD} is not installed` : false;

const config = parse({
  ecmp: {
    routerId: '10.1.0.11', localAs: 65011, bfd: { interval: '50ms', multiplier: 5 },
    peers: [{ address: '10.1.0.1', as: 65000 }, { address: 'fd00::1', as: 65000, bfd: false, holdTime: '9s', source: 'fd00::11' }],
  },
  services: [
    { name: 'a', protocol: 'tcp', address: '10.200.0.10', port: 80, scheduler: 'mh', forwarding: 'dr', realServers: [{ address: '10.2.0.1' }] },
    { name: 'b', protocol: 'tcp', address: 'fd00:200::10', port: 80, scheduler: 'mh', forwarding: 'tunnel', realServers: [{ address: 'fd00:2::1' }] },
  ],
}).ecmp!;

test('bird.conf: the announced prefixes as static routes, one BGP session per peer with its timers and BFD', () => {
  const text = birdConfig(config, ['10.200.0.10/32', 'fd00:200::10/128']);
  assert.match(text, /^router id 10\.1\.0\.11;$/m);
  assert.match(text, /^timeformat protocol "%s\.%6f";$/m, 'show protocols prints each change time as one token, epoch seconds');
  assert.match(text, /protocol static lvsd_vips4 \{ ipv4; route 10\.200\.0\.10\/32 blackhole; \}/);
  assert.match(text, /protocol static lvsd_vips6 \{ ipv6; route fd00:200::10\/128 blackhole; \}/);
  assert.match(text, /min rx interval 50 ms; min tx interval 50 ms; idle tx interval 1000 ms; multiplier 5;/);
  assert.match(text, /protocol bgp peer_10_1_0_1 \{\n  local as 65011;\n  neighbor 10\.1\.0\.1 as 65000;\n  hold time 3;\n  keepalive time 1;/);
  assert.match(text, /local fd00::11 as 65011;\n  neighbor fd00::1 as 65000;\n  hold time 9;\n  keepalive time 3;[^}]*bfd off;/);
  assert.match(text, /ipv4 \{ import none; export where proto = "lvsd_vips4"; next hop self; \}/);
  assert.doesNotMatch(text, /protocol kernel/, 'BIRD installs nothing on the director');
  const none = birdConfig(config, []);
  assert.match(none, /protocol static lvsd_vips4 \{ ipv4; \}/);
  assert.equal(peerProtocol('10.1.0.1'), 'peer_10_1_0_1');
  assert.equal(peerProtocol('2001:db8::1'), 'peer_2001_db8__1');
});

test('BIRD itself parses what lvsd writes, with and without announcements', { skip: noBird }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-birdconf-'));
  try {
    for (const announced of [[], ['10.200.0.10/32'], ['10.200.0.10/32', 'fd00:200::10/128']]) {
      const file = join(dir, 'bird.conf');
      writeFileSync(file, birdConfig(config, announced));
      const r = spawnSync(BIRD, ['-p', '-c', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `bird -p: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const lines = (text: string) => ({ code: 0, lines: text.split('\n') });

test('show protocols and show bfd sessions as BIRD 2.0.12 prints them', () => {
  const rows = parseProtocols(lines([
    'Name       Proto      Table      State  Since         Info',
    'device1    Device     ---        up     20:28:34.164  ',
    'lvsd_vips4 Static     master4    up     20:28:34.164  ',
    'peer_10_1_0_1 BGP        ---        up     20:18:29.371  Established   ',
    'peer_fd00__1 BGP        ---        start  20:28:34.164  Active        Socket: Connection refused',
    '',
  ].join('\n')));
  assert.deepEqual(rows.map((r) => r.name), ['device1', 'lvsd_vips4', 'peer_10_1_0_1', 'peer_fd00__1']);
  assert.deepEqual(bgpSession(rows[2]!), { state: 'Established', detail: '' });
  assert.deepEqual(bgpSession(rows[3]!), { state: 'Active', detail: 'Socket: Connection refused' });
  assert.equal(rows[2]!.since, '20:18:29.371');
  // what lvsd's own config makes BIRD print (timeformat protocol "%s.%6f"), seen from BIRD 2.0.12
  const own = parseProtocols(lines('peer_10_9_1_1 BGP        ---        start  1796460800.017186  Active        Socket: Connection refused'));
  assert.equal(own[0]!.since, '1796460800.017186');
  assert.equal(birdTime(own[0]!.since), '2026-12-05T08:53:20.017Z');
  assert.equal(birdTime('20:18:29.371'), undefined);
  assert.deepEqual(bgpSession({ name: 'x', proto: 'BGP', state: 'down', since: '', info: '' }), { state: 'Down', detail: '' });
  const bfd = parseBfdSessions(lines([
    'lvsd_bfd:',
    'IP address                Interface  State      Since         Interval  Timeout',
    '10.9.0.11                 r0         Up         20:18:25.384    0.100    0.300',
    'fd00::1                   r1         Down       20:18:25.384    1.000    0.000',
  ].join('\n')));
  assert.deepEqual([...bfd], [['10.9.0.11', 'Up'], ['fd00::1', 'Down']]);
});
