/**
 * A BGP session that goes down and comes back between two of lvsd's reads of BIRD shows the same state
 * both times: lvsd tells it by BIRD's protocol `since` moving, logs it (`bgp.session`, `flapped`) and
 * shows the new time in status. BIRD is a stand-in here (a script speaking BIRD's control protocol on a
 * real Unix socket, answering `show protocols` with what the test wrote), so the flap falls exactly
 * between two reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse } from './config-fixtures.js';
import { Ecmp, sessionChange } from '../../src/ecmp/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers `show protocols` with the file `rows` beside its socket, `show bfd sessions` with nothing, `configure` with Reconfigured. */
const FAKE_BIRD = `#!${process.execPath}
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const sock = process.argv[process.argv.indexOf('-s') + 1];
try { fs.unlinkSync(sock); } catch {}
net.createServer((c) => {
  c.write('0001 BIRD 2.0.12 ready.\\n');
  let buf = '';
  c.on('data', (d) => {
    buf += d;
    const nl = buf.indexOf('\\n');
    if (nl < 0) return;
    const cmd = buf.slice(0, nl);
    if (cmd === 'show protocols') {
      const rows = fs.readFileSync(path.join(path.dirname(sock), 'rows'), 'utf8').trim().split('\\n');
      c.end(['2002-Name       Proto      Table      State  Since         Info', ...rows.map((r) => '1002-' + r), '0000 '].join('\\n') + '\\n');
    } else if (cmd === 'configure') {
      c.end('0003 Reconfigured\\n');
    } else {
      c.end('0000 \\n');
    }
  });
}).listen(sock);
process.on('SIGTERM', () => process.exit(0));
`;

test('sessionChange: a state change, a flap (same state, BIRD changed state in between), nothing', () => {
  const r = (bgp: string, changedAt?: string) => ({ bgp, bfd: 'off', changedAt });
  assert.equal(sessionChange(r('Established', '1.000000'), r('Active', '2.000000')), 'changed');
  assert.equal(sessionChange(r('Established', '1.000000'), r('Established', '2.000000')), 'flapped');
  assert.equal(sessionChange(r('Active', '1.000000'), r('Active', '2.000000')), 'flapped');
  assert.equal(sessionChange(r('Established', '1.000000'), r('Established', '1.000000')), 'same');
  // BIRD prints the same change a few microseconds apart from read to read (2.0.12, two reads 40 ms apart)
  assert.equal(sessionChange(r('Established', '1796462516.267609'), r('Established', '1796462516.267613')), 'same');
  assert.equal(sessionChange(r('Established', '1796462516.267609'), r('Established', '1796462516.367609')), 'same', 'or 100 ms on a loaded host');
  assert.equal(sessionChange(r('unknown'), r('unknown', '2.000000')), 'same', 'no earlier time: nothing to compare');
  assert.equal(sessionChange(r('Established', '20:18:29.371'), r('Established', '20:18:31.371')), 'same', 'a time lvsd cannot read: nothing to compare');
  assert.equal(sessionChange({ bgp: 'Established', bfd: 'Up', changedAt: '1.000000' }, { bgp: 'Established', bfd: 'Down', changedAt: '1.000000' }), 'changed');
});

test('a session that goes down and comes back between two reads of BIRD is logged as a flap and shown in status', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-flap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bird = join(dir, 'bird');
  writeFileSync(bird, FAKE_BIRD);
  chmodSync(bird, 0o755);
  const runDir = join(dir, 'run');
  // written beside and renamed over: the stand-in reads the file at any moment, and a read that met a
  // write in place saw no rows (a session gone and back: one bgp.session line too many, seen in CI)
  const rows = (state: string, info: string, since: string) => {
    writeFileSync(join(runDir, 'rows.new'), `peer_10_1_0_1 BGP        ---        ${state}  ${since}  ${info}\n`);
    renameSync(join(runDir, 'rows.new'), join(runDir, 'rows'));
  };
  const config = parse({
    ecmp: { routerId: '10.1.0.11', localAs: 65011, peers: [{ address: '10.1.0.1', as: 65000 }], daemon: { path: bird, runDir } },
    services: [{ name: 'a', protocol: 'tcp', address: '10.200.0.10', port: 80, scheduler: 'mh', forwarding: 'dr', realServers: [{ address: '10.2.0.1' }] }],
  }).ecmp!;
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const sessions = () => logs.filter((l) => l.event === 'bgp.session');
  const waitSessions = async (n: number) => {
    for (let i = 0; sessions().length < n; i++) {
      if (i > 500) assert.fail(`${n} bgp.session lines wanted: ${JSON.stringify(sessions())}`);
      await sleep(10);
    }
  };
  mkdirSync(runDir, { recursive: true });
  rows('up', 'Established', '1796460000.000000');
  const ecmp = await Ecmp.start({
    config, log, stateDir: dir, sysctlRoot: join(dir, 'sys'), pollMs: 20,
    host: { quorums: () => [], directorProblems: () => [] },
    addresses: { add: async () => true },
  });
  t.after(() => ecmp.stop());
  await waitSessions(1);
  assert.deepEqual([sessions()[0]!.from, sessions()[0]!.to], ['unknown', 'Established']);

  // down and up again between two reads: the same state, BIRD's time moved
  rows('up', 'Established', '1796460007.250000');
  await waitSessions(2);
  const flap = sessions()[1]!;
  assert.deepEqual([flap.from, flap.to, flap.flapped, flap.changedAt], ['Established', 'Established', true, '2026-12-05T08:40:07.250Z']);
  assert.equal(flap.level, 40, 'a warning');
  assert.equal(ecmp.status().peers[0]!.since, '2026-12-05T08:40:07.250Z');

  // reads that see nothing new log nothing, also when BIRD prints the same change a few microseconds apart
  await sleep(200);
  rows('up', 'Established', '1796460007.250004');
  await sleep(200);
  assert.equal(sessions().length, 2);

  // down for good: a change; then restarted by BIRD between two reads (it may have been up meanwhile)
  rows('start', 'Active        Received: Administrative shutdown', '1796460010.000000');
  await waitSessions(3);
  assert.deepEqual([sessions()[2]!.from, sessions()[2]!.to, sessions()[2]!.flapped], ['Established', 'Active', undefined]);
  rows('start', 'Active        Socket: Connection refused', '1796460012.000000');
  await waitSessions(4);
  assert.deepEqual([sessions()[3]!.from, sessions()[3]!.to, sessions()[3]!.flapped], ['Active', 'Active', true]);
  assert.match(String(sessions()[3]!.msg), /was restarted by BIRD/);
});
