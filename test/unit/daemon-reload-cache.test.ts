/**
 * The daemon keeps what it made of its config directory (config/cache.ts) from the start load on, so a
 * reload parses and normalises only the changed file, and it never trusts a file by its size and mtime:
 * an in-place rewrite reaches the kernel, a broken one is refused naming file and pointer while the old
 * config keeps serving. Over the in-memory IPVS model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WEB, daemonLab, until, weights } from './daemon-lab.js';

const other = (i: number) => ({
  name: `svc${i}`, protocol: 'tcp', address: '192.0.2.20', port: 1000 + i, initialState: 'up',
  realServers: [{ address: '10.0.2.1', port: 8080, weight: 10 }],
});

test('a reload of a config directory rebuilds only the changed file; an in-place rewrite of the same size and mtime is not missed', async (t) => {
  const lab = daemonLab(t);
  const conf = join(lab.dir, 'conf.d');
  mkdirSync(conf);
  for (let i = 1; i <= 9; i++) writeFileSync(join(conf, `${i}.json`), JSON.stringify({ services: [other(i)] }));
  const web = join(conf, '0-web.json');
  const stamp = () => utimesSync(web, 1_700_000_000, 1_700_000_000);
  writeFileSync(web, JSON.stringify({ services: [{ ...WEB, initialState: 'up' }] }));
  stamp();
  const d = await lab.start({ configPath: conf });
  await until('web up', 5000, () => weights(lab.kernel)['10.0.1.11:8080'] === 100);

  writeFileSync(web, readFileSync(web, 'utf8').replace('"weight":100', '"weight":300'));
  stamp();
  assert.deepEqual(await d.reload('control'), { ok: true, applied: true });
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 300);
  const reloaded = lab.logs.filter((l) => l.event === 'config.reloaded').pop()!;
  assert.equal(reloaded.filesRead, 10);
  assert.equal(reloaded.filesReused, 9, 'the start load\'s files were reused');
  assert.equal(reloaded.itemsBuilt, 1);
  assert.equal(typeof reloaded.loadMs, 'number');

  writeFileSync(web, readFileSync(web, 'utf8').replace('"weight":300', '"weight":-30'));
  stamp();
  const refused = await d.reload('control');
  assert.equal(refused.ok, false);
  assert.equal(refused.code, 'LVSD_CONFIG_INVALID');
  assert.deepEqual(refused.problems?.map((p) => [p.file, p.pointer]), [[web, '/services/0/realServers/0/weight']]);
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 300, 'the old config keeps serving');
  assert.equal(lab.kernel.table.length, 10);
});

test('a reload of one large file edited in one service parses that service alone; a bad edit is refused at its pointer and the old config keeps serving', async (t) => {
  const lab = daemonLab(t);
  const services = [{ ...WEB, initialState: 'up' }, ...Array.from({ length: 50 }, (_, i) => other(i + 1))];
  const write = () => writeFileSync(lab.configPath, JSON.stringify({ services }, null, 2));
  write();
  const d = await lab.start();
  await until('web up', 5000, () => weights(lab.kernel)['10.0.1.11:8080'] === 100);

  services[0] = { ...services[0]!, realServers: WEB.realServers.map((r, i) => (i === 0 ? { ...r, weight: 300 } : r)) };
  write();
  assert.deepEqual(await d.reload('control'), { ok: true, applied: true });
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 300);
  const reloaded = lab.logs.filter((l) => l.event === 'config.reloaded').pop()!;
  assert.equal(reloaded.filesPatched, 1, 'the file was patched, not parsed whole');
  assert.equal(reloaded.itemsBuilt, 1);
  assert.equal(reloaded.itemsReused, 50);

  services[0] = { ...services[0]!, realServers: WEB.realServers.map((r, i) => (i === 0 ? { ...r, weight: -30 } : r)) };
  write();
  const refused = await d.reload('control');
  assert.equal(refused.ok, false);
  assert.equal(refused.code, 'LVSD_CONFIG_INVALID');
  assert.deepEqual(refused.problems?.map((p) => [p.file, p.pointer]), [[lab.configPath, '/services/0/realServers/0/weight']]);
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 300, 'the old config keeps serving');
  assert.equal(lab.kernel.table.length, 51);
  const status = await d.status();
  assert.equal(status.lastLoad?.result, 'refused');
});

test('the warm-up after the start (Daemon.warm) switches nothing: an edit it read is the next reload\'s, in place and as one change; a bad one is still refused by the reload, the old config serving', async (t) => {
  const lab = daemonLab(t);
  const services = [{ ...WEB, initialState: 'up' }, ...Array.from({ length: 20 }, (_, i) => other(i + 1))];
  const write = () => writeFileSync(lab.configPath, JSON.stringify({ services }, null, 2));
  write();
  const d = await lab.start();
  await until('web up', 5000, () => weights(lab.kernel)['10.0.1.11:8080'] === 100);

  await d.warm();
  assert.equal(lab.logs.filter((l) => l.event === 'config.warmed').length, 1);
  assert.equal(lab.logs.filter((l) => l.event === 'config.reloaded').length, 0, 'a warm-up is not a reload');

  // an edit made before the warm-up reads the files: it stays out of the kernel until a reload
  services[0] = { ...services[0]!, realServers: WEB.realServers.map((r, i) => (i === 0 ? { ...r, weight: 300 } : r)) };
  write();
  const batches = lab.kernel.batches.length;
  await d.warm();
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 100, 'the warm-up switched nothing');
  assert.equal(lab.kernel.batches.length, batches, 'and sent nothing to the kernel');
  assert.equal(d.currentConfig.services[0]!.realServers[0]!.spec.weight, 100);
  assert.deepEqual(await d.reload('control'), { ok: true, applied: true });
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 300);
  const pass = lab.logs.filter((l) => l.event === 'daemon.reconcile' && l.reason === 'reload').pop();
  assert.equal(pass?.ops, 1, 'one operation: the edit was carried as a change of one service');

  services[0] = { ...services[0]!, port: 'eighty' } as unknown as typeof services[0];
  write();
  await d.warm();
  const refused = await d.reload('control');
  assert.equal(refused.ok, false);
  assert.equal(refused.code, 'LVSD_CONFIG_INVALID');
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 300, 'the old config keeps serving');
});
