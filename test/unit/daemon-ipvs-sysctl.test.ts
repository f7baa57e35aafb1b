/**
 * lvsd sets IPVS's expire_nodest_conn and expire_quiescent_template (so a server taken out gets no new
 * connection through an old entry or a persistence template) at start, at a reload that asks for other
 * values (or after a failed attempt), and again at a drift tick where someone else changed them; it writes
 * only what differs, and keeps serving when /proc/sys cannot be written. The kernel behaviour these switches buy is
 * proven in the VM (test/kernel/inside/nat-connection.test.ts); here the daemon's side, over a directory
 * standing in for /proc/sys/net/ipv4/vs and the in-memory IPVS model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEB, daemonLab, until, weights } from './daemon-lab.js';
import { applyIpvsSysctls } from '../../src/ipvs/sysctl.js';

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8').trim();

/** A stand-in for /proc/sys/net/ipv4/vs under `root`, holding the two switches' values. */
function switchDir(root: string, nodestConn: number, quiescentTemplate: number): string {
  const dir = join(root, 'vs');
  mkdirSync(dir);
  writeFileSync(join(dir, 'expire_nodest_conn'), `${nodestConn}\n`);
  writeFileSync(join(dir, 'expire_quiescent_template'), `${quiescentTemplate}\n`);
  return dir;
}

test('start sets both switches, a reload that turns one off writes just that one, and each change is logged', async (t) => {
  const lab = daemonLab(t);
  const dir = switchDir(lab.dir, 0, 0);
  const d = await lab.start({ ipvsSysctlDir: dir });
  assert.equal(read(dir, 'expire_nodest_conn'), '1');
  assert.equal(read(dir, 'expire_quiescent_template'), '1');
  assert.deepEqual(lab.logs.filter((l) => l.event === 'ipvs.sysctl_set').map((l) => [l.name, l.from, l.to]),
    [['expire_nodest_conn', 0, 1], ['expire_quiescent_template', 0, 1]]);

  lab.write({ ipvs: { expireNodestConn: false }, services: [WEB] });
  assert.deepEqual(await d.reload('control'), { ok: true, applied: true });
  assert.equal(read(dir, 'expire_nodest_conn'), '0');
  assert.equal(read(dir, 'expire_quiescent_template'), '1');
  assert.equal(lab.logs.filter((l) => l.event === 'ipvs.sysctl_set').length, 3, 'the unchanged one is not written again');
});

test('a switch changed behind lvsd\'s back is set again at the next drift tick; a reload of a weight leaves the switches to it', async (t) => {
  const lab = daemonLab(t);
  const dir = switchDir(lab.dir, 0, 1);
  // no drift tick before the reload below (it arms them every second)
  lab.write({ ipvs: { driftInterval: '1h' }, services: [WEB] });
  const d = await lab.start({ ipvsSysctlDir: dir });
  assert.equal(read(dir, 'expire_nodest_conn'), '1');
  const setLines = () => lab.logs.filter((l) => l.event === 'ipvs.sysctl_set').map((l) => [l.name, l.from, l.to]);
  assert.deepEqual(setLines(), [['expire_nodest_conn', 0, 1]]);

  // someone turns one off; a reload that changes a weight (and no switch) does not read or write them
  writeFileSync(join(dir, 'expire_nodest_conn'), '0\n');
  lab.write({ ipvs: { driftInterval: '1s' }, services: [{ ...WEB, realServers: [{ ...WEB.realServers[0]!, weight: 7 }, ...WEB.realServers.slice(1)] }] });
  assert.deepEqual(await d.reload('control'), { ok: true, applied: true });
  assert.equal(read(dir, 'expire_nodest_conn'), '0', 'the reload left the switches alone');
  await until('the new weight in the kernel', 5000, () => weights(lab.kernel)['10.0.1.11:8080'] === 7);
  // the drift tick (every second here) reads them and sets it again, logged as any change
  await until('the drift tick set it again', 5000, () => read(dir, 'expire_nodest_conn') === '1');
  assert.deepEqual(setLines(), [['expire_nodest_conn', 0, 1], ['expire_nodest_conn', 0, 1]]);
  assert.equal(read(dir, 'expire_quiescent_template'), '1');
});

test('a switch lvsd cannot set is tried again at each reload, not at each drift tick (one warning per attempt)', async (t) => {
  const lab = daemonLab(t);
  const dir = join(lab.dir, 'vs');
  mkdirSync(join(dir, 'expire_nodest_conn'), { recursive: true }); // a directory: reading it fails with EISDIR
  writeFileSync(join(dir, 'expire_quiescent_template'), '1\n');
  lab.write({ ipvs: { driftInterval: '1s' }, services: [WEB] });
  const d = await lab.start({ ipvsSysctlDir: dir });
  const warnings = () => lab.logs.filter((l) => l.event === 'ipvs.sysctl_failed').length;
  assert.equal(warnings(), 1);
  await until('two drift passes', 5000, () => lab.logs.filter((l) => l.event === 'daemon.reconcile' && l.reason === 'drift').length >= 2);
  assert.equal(warnings(), 1, 'the drift ticks did not try (and warn) again');
  assert.deepEqual(await d.reload('control'), { ok: true, applied: true });
  assert.equal(warnings(), 2, 'the reload tried again');
});

test('a /proc/sys lvsd cannot write is a warning naming the switch; the table is still programmed and the daemon serves', async (t) => {
  const lab = daemonLab(t);
  const dir = join(lab.dir, 'vs');
  mkdirSync(join(dir, 'expire_nodest_conn'), { recursive: true }); // a directory: reading it fails with EISDIR
  writeFileSync(join(dir, 'expire_quiescent_template'), '0\n');
  await lab.start({ ipvsSysctlDir: dir });
  const warn = lab.logs.find((l) => l.event === 'ipvs.sysctl_failed');
  assert.equal(warn?.name, 'expire_nodest_conn');
  assert.equal(warn?.code, 'EISDIR');
  assert.equal(read(dir, 'expire_quiescent_template'), '1', 'the other one is still set');
  await until('the table programmed', 5000, () => Object.keys(weights(lab.kernel)).length === 3);
});

test('applyIpvsSysctls writes only values that differ and reports each failure without throwing', async (t) => {
  const lab = daemonLab(t);
  const dir = join(lab.dir, 'vs2');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a'), '1\n');
  writeFileSync(join(dir, 'b'), '0\n');
  // (procfs refuses to create an entry; here a missing directory stands for that)
  const out = await applyIpvsSysctls({ a: 1, b: 1, 'nodir/missing': 1 }, dir);
  assert.deepEqual(out.changed, { b: [0, 1] });
  assert.deepEqual(out.failed.map((f) => [f.name, f.code]), [['nodir/missing', 'ENOENT']]);
});
