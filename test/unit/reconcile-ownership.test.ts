import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlan, loadOwned, nextOwned, ownedAfterError, planReconcile, saveOwned } from '../../src/reconcile/index.js';
import { ModelClient } from './reconcile-model.js';
import { entry, tcp } from './reconcile-fixtures.js';
import { captureLog } from './log-capture.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lvsd-own-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('what is saved is loaded back, and the directory is created', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'var/lib/lvsd/state.json');
  await saveOwned(path, ['udp/192.0.2.53:53', 'tcp/192.0.2.10:80']);
  assert.deepEqual(await loadOwned(path), new Set(['tcp/192.0.2.10:80', 'udp/192.0.2.53:53']));
  assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { version: 1, services: ['tcp/192.0.2.10:80', 'udp/192.0.2.53:53'] });
});

test('saving replaces the file whole and leaves no temporary file behind', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  await saveOwned(path, ['a', 'b', 'c']);
  await saveOwned(path, ['d']);
  assert.deepEqual(await loadOwned(path), new Set(['d']));
  assert.deepEqual(await readdir(dir), ['state.json']);
});

test('a missing state file is the empty set with a warning', async (t) => {
  const dir = await tempDir(t);
  const { log, lines } = captureLog();
  assert.deepEqual(await loadOwned(join(dir, 'nope.json'), log), new Set());
  assert.equal(lines[0]!.event, 'reconcile.state_unreadable');
  assert.equal(lines[0]!.reason, 'missing');
});

test('a corrupt state file is the empty set with a warning, never a crash', async (t) => {
  const dir = await tempDir(t);
  for (const body of ['{"services": ["a", ', '[1,2]', '{"services": [1]}', 'null', '']) {
    const path = join(dir, 'state.json');
    await writeFile(path, body);
    const { log, lines } = captureLog();
    assert.deepEqual(await loadOwned(path, log), new Set(), body);
    assert.equal(lines[0]!.reason, 'corrupt');
    assert.equal(lines[0]!.level, 40);
  }
});

test('after an apply lvsd owns what it declares plus owned services it failed to remove', async () => {
  const keep = tcp('192.0.2.10', 80);
  const stuck = tcp('192.0.2.11', 80);
  const removed = tcp('192.0.2.12', 80);
  const client = new ModelClient([entry(stuck), entry(removed)]);
  client.refuseWith = (c) => (c.cmd === 'del-service' && c.key.kind === 'addr' && c.key.address === '192.0.2.11' ? { errno: 16, message: 'Device or resource busy' } : undefined);
  const previous = new Set(['tcp/192.0.2.11:80', 'tcp/192.0.2.12:80']);
  const desired = [{ service: keep, dests: [] }];
  const report = await applyPlan(client, planReconcile({ desired, kernel: await client.dump(), owned: previous, ownWholeTable: false }));
  assert.deepEqual(nextOwned(desired, previous, report), new Set(['tcp/192.0.2.10:80', 'tcp/192.0.2.11:80']));
});

test('a foreign service whose removal failed under ownWholeTable does not become owned', async () => {
  const client = new ModelClient([entry(tcp('198.51.100.1', 22))]);
  client.refuseWith = () => ({ errno: 16, message: 'Device or resource busy' });
  const report = await applyPlan(client, planReconcile({ desired: [], kernel: await client.dump(), owned: new Set(), ownWholeTable: true }));
  assert.equal(report.failed.length, 1);
  assert.deepEqual(nextOwned([], new Set(), report), new Set());
});

test('when an apply ends without a report, lvsd keeps owning the old services and the declared ones', () => {
  assert.deepEqual(ownedAfterError([{ service: tcp('192.0.2.10', 80), dests: [] }], new Set(['tcp/192.0.2.11:80'])), new Set(['tcp/192.0.2.10:80', 'tcp/192.0.2.11:80']));
});
