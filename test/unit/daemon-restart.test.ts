/**
 * The daemon over an in-memory kernel (ModelClient) and a scripted prober: a restarted daemon adopts the
 * table the previous one left (no command at all while the pool is healthy, even with initialState down),
 * still takes out a real server that died meanwhile, and drains survive the restart. The same flow against
 * Linux's IPVS is in test/kernel/inside/daemon-ops.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { destId, serviceId, type IpvsCommand } from '../../src/ipvs/types.js';
import type { Prober } from '../../src/health/index.js';
import { silentLogger } from '../../src/log.js';
import { ModelClient } from './reconcile-model.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'services.json');
  writeFileSync(configPath, JSON.stringify({
    services: [{
      name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: '100ms', timeout: '50ms', rise: 2, fall: 2 },
      realServers: [
        { address: '10.0.1.11', port: 8080, weight: 100 },
        { address: '10.0.1.12', port: 8080, weight: 100 },
        { address: '10.0.1.13', port: 8080, weight: 100 },
      ],
      sorryServer: { address: '10.0.1.99', port: 8080 },
    }],
  }));
  const alive = new Set(['10.0.1.11:8080', '10.0.1.12:8080', '10.0.1.13:8080']);
  const prober: Prober = async (_check, target) =>
    (alive.has(destId(target)) ? { ok: true, latencyMs: 1, reason: 'ok' } : { ok: false, latencyMs: 1, reason: 'connect ECONNREFUSED' });
  const kernel = new ModelClient();
  const start = () => Daemon.start({
    configPath, log: silentLogger, stateFile: join(dir, 'state.json'), ipvs: async () => kernel, prober,
  });
  return { kernel, alive, start };
}

function weights(kernel: ModelClient): Record<string, number> {
  const e = kernel.table.find((x) => serviceId(x.service.key) === 'tcp/192.0.2.10:80');
  return Object.fromEntries((e?.dests ?? []).map((d) => [destId(d), d.weight]).sort());
}

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const commands = (kernel: ModelClient, from: number): IpvsCommand[] => kernel.batches.slice(from).flat();

test('a restarted daemon adopts a healthy table without sending a command, then still takes out a dead real server', async (t) => {
  const { kernel, alive, start } = setup(t);
  const first = await start();
  // initialState down: inhibited plus the sorry server, then each rises after two probes
  await until('all up', 5000, () => JSON.stringify(weights(kernel)) === JSON.stringify({ '10.0.1.11:8080': 100, '10.0.1.12:8080': 100, '10.0.1.13:8080': 100 }));
  await first.stop();
  const table = JSON.stringify(kernel.table);

  const sent = kernel.batches.length;
  const second = await start();
  t.after(() => second.stop());
  await sleep(400); // four probe rounds: longer than rise x interval
  assert.deepEqual(commands(kernel, sent), [], 'no command while the pool is healthy');
  assert.equal(JSON.stringify(kernel.table), table);
  const snap = await second.status();
  assert.deepEqual(snap.services[0]!.realServers.map((r) => [r.id, r.health.state, r.weight.kernel]),
    [['10.0.1.11:8080', 'up', 100], ['10.0.1.12:8080', 'up', 100], ['10.0.1.13:8080', 'up', 100]]);

  alive.delete('10.0.1.12:8080');
  await until('10.0.1.12 inhibited', 3000, () => weights(kernel)['10.0.1.12:8080'] === 0);
  const after = commands(kernel, sent);
  assert.equal(after.length, 1, JSON.stringify(after));
  assert.equal(after[0]!.cmd, 'set-dest');
});

test('a real server that was down before the restart stays down, with the sorry server, until it is judged', async (t) => {
  const { kernel, alive, start } = setup(t);
  const first = await start();
  await until('all up', 5000, () => Object.values(weights(kernel)).every((w) => w === 100) && Object.keys(weights(kernel)).length === 3);
  for (const id of [...alive]) alive.delete(id);
  await until('sorry server in', 3000, () => weights(kernel)['10.0.1.99:8080'] === 1);
  await first.stop();
  const table = JSON.stringify(kernel.table);

  const sent = kernel.batches.length;
  const second = await start(); // the new checker starts them up; they are still dead
  t.after(() => second.stop());
  await sleep(600);
  assert.deepEqual(commands(kernel, sent), [], 'nobody was put back in, the sorry server stayed');
  assert.equal(JSON.stringify(kernel.table), table);

  alive.add('10.0.1.11:8080');
  // no verdict can come for a server the checker already thinks up: the settle timer hands over
  await until('10.0.1.11 back', 5000, () => weights(kernel)['10.0.1.11:8080'] === 100);
  await until('sorry server out', 2000, () => weights(kernel)['10.0.1.99:8080'] === undefined);
  assert.deepEqual(weights(kernel), { '10.0.1.11:8080': 100, '10.0.1.12:8080': 0, '10.0.1.13:8080': 0 });
});

test('a drain survives a restart', async (t) => {
  const { kernel, start } = setup(t);
  const first = await start();
  await until('all up', 5000, () => weights(kernel)['10.0.1.13:8080'] === 100 && weights(kernel)['10.0.1.11:8080'] === 100);
  assert.deepEqual(await first.drain({ service: 'web', realServer: '10.0.1.11:8080' }, true), { ok: true, changed: true });
  assert.equal(weights(kernel)['10.0.1.11:8080'], 0);
  await first.stop();
  const sent = kernel.batches.length;
  const second = await start();
  t.after(() => second.stop());
  await sleep(400);
  assert.deepEqual(commands(kernel, sent), []);
  const snap = await second.status();
  assert.equal(snap.services[0]!.realServers[0]!.drained, true);
  assert.deepEqual(snap.drains.map((d) => [d.service, d.realServer]), [['tcp/192.0.2.10:80', '10.0.1.11:8080']]);
  assert.deepEqual(await second.drain({ service: 'web', realServer: '10.0.1.11:8080' }, false), { ok: true, changed: true });
  assert.equal(weights(kernel)['10.0.1.11:8080'], 100);
});
