/**
 * The start's steps run together where they wait on nothing of each other (Daemon.prepareStart: the state
 * file, the drains file, IPVS, the VRRP side), but nothing that changes the kernel runs before the drains
 * are known: a drained real server is never written with a weight above 0, and the sysctls are not set,
 * while the drains file is still being read (a FIFO here, so its read lasts until the test writes it) or
 * the control socket is opening (`lvsd run` hands that in as `beforeKernel`). A start that fails reports
 * the error of the first failed step in the order they used to run in.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LvsdError, isLvsdError } from '../../src/errors.js';
import { destId } from '../../src/ipvs/types.js';
import { daemonLab, until, weights } from './daemon-lab.js';

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8').trim();

test('a drained real server is never written with weight > 0 at start, though IPVS and VRRP start while the drains file is read', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  const sys = join(lab.dir, 'vs');
  mkdirSync(sys);
  writeFileSync(join(sys, 'expire_nodest_conn'), '0\n');
  writeFileSync(join(sys, 'expire_quiescent_template'), '0\n');
  const drains = join(lab.dir, 'drains.json');
  execFileSync('mkfifo', [drains]);
  let opened = false;
  const starting = lab.start({
    ipvsSysctlDir: sys,
    ipvs: async () => {
      opened = true;
      return lab.kernel;
    },
  });
  let settled = false;
  void starting.then(() => { settled = true; }, () => { settled = true; });
  await until('IPVS opened and VRRP asked while the drains file is still being read', 10_000, () => opened && lab.vrrp !== undefined);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(settled, false, 'the start waits for the drains');
  assert.equal(lab.kernel.batches.length, 0, 'nothing written to IPVS before the drains are known');
  assert.equal(lab.kernel.table.length, 0);
  assert.equal(read(sys, 'expire_nodest_conn'), '0', 'no sysctl set before the drains are known');
  assert.equal(lab.probed.length, 0, 'no probe before the drains are known');
  assert.equal(lab.vrrp!.tableReadyCalls.length, 0);

  // the reader has the FIFO open: this write ends its read
  writeFileSync(drains, JSON.stringify([{ service: 'web', realServer: '10.0.1.11:8080', since: '2026-12-05T00:00:00.000Z' }]));
  await starting;
  const written = lab.kernel.batches.flat()
    .filter((c) => (c.cmd === 'new-dest' || c.cmd === 'set-dest') && destId(c.dest) === '10.0.1.11:8080')
    .map((c) => (c.cmd === 'new-dest' || c.cmd === 'set-dest' ? c.dest.weight : -1));
  assert.ok(written.length > 0, 'the drained server is in the table');
  assert.deepEqual(written.filter((w) => w > 0), [], `the drained server was written with weights ${written.join(', ')}`);
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 0);
  assert.equal(read(sys, 'expire_nodest_conn'), '1');
  assert.deepEqual(lab.vrrp!.tableReadyCalls.map((c) => [c.ok, c.kernelServices]), [[true, 1]], 'VRRP told once, with the table in the kernel');
});

test('nothing changes in the kernel before the control socket listens; one that cannot open fails the start with its error, the kernel untouched', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  const sys = join(lab.dir, 'vs');
  mkdirSync(sys);
  writeFileSync(join(sys, 'expire_nodest_conn'), '0\n');
  writeFileSync(join(sys, 'expire_quiescent_template'), '0\n');
  let opened = false;
  let refuse!: (e: Error) => void;
  const beforeKernel = new Promise((_resolve, reject) => { refuse = reject; });
  const starting = lab.start({
    ipvsSysctlDir: sys,
    beforeKernel,
    ipvs: async () => {
      opened = true;
      return lab.kernel;
    },
  });
  await until('IPVS opened and VRRP asked while the control socket opens', 10_000, () => opened && lab.vrrp !== undefined);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(lab.kernel.batches.length, 0, 'nothing written to IPVS before the control socket listens');
  assert.equal(read(sys, 'expire_nodest_conn'), '0', 'no sysctl set before the control socket listens');
  assert.equal(lab.probed.length, 0, 'no probe before the control socket listens');
  refuse(new Error('the control socket is taken (test)'));
  await assert.rejects(starting, /control socket is taken/);
  assert.equal(lab.kernel.batches.length, 0);
  assert.equal(read(sys, 'expire_nodest_conn'), '0');
  assert.equal(lab.vrrp!.stopped, true, 'the VRRP side taken meanwhile is stopped');
});

test('IPVS that cannot be opened fails the start as before (VRRP stopped, no probe); with the drains unusable too, the drains\' error is the one reported', async (t) => {
  const lab = daemonLab(t, { vrrp: true });
  const refusing = async (): Promise<never> => {
    throw new LvsdError('LVSD_IPVS_UNAVAILABLE', 'IPVS is not available in this kernel (test)');
  };
  await assert.rejects(lab.start({ ipvs: refusing }), (e: unknown) => isLvsdError(e, 'LVSD_IPVS_UNAVAILABLE'));
  assert.equal(lab.vrrp!.stopped, true, 'the VRRP side taken meanwhile is stopped');
  assert.equal(lab.probed.length, 0);
  writeFileSync(join(lab.dir, 'drains.json'), 'not json');
  writeFileSync(join(lab.dir, 'drains.json.last-good'), '');
  await assert.rejects(lab.start({ ipvs: refusing }), (e: unknown) => isLvsdError(e, 'LVSD_STATE'));
  assert.equal(lab.probed.length, 0);
});
