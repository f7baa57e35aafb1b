/**
 * Drains survive damage to their file: the daemon over an in-memory kernel (ModelClient) and a scripted
 * prober, the drains file truncated or corrupted between two runs, as a crash during a non-atomic write
 * or a bad disk would leave it. A drain is never lost without an error line; when it cannot be known at
 * all the daemon refuses to start. Also the shared atomic writer every kept file goes through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { parseDrains } from '../../src/daemon/drains-file.js';
import { isLvsdError } from '../../src/errors.js';
import type { Prober } from '../../src/health/index.js';
import { destId, serviceId } from '../../src/ipvs/types.js';
import { ModelClient } from './reconcile-model.js';
import { captureLog } from './log-capture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-drains-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'services.json');
  writeFileSync(configPath, JSON.stringify({
    services: [{
      name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: '100ms', timeout: '50ms', rise: 1, fall: 1 },
      realServers: [
        { address: '10.0.1.11', port: 8080, weight: 7 },
        { address: '10.0.1.12', port: 8080, weight: 7 },
      ],
    }],
  }));
  const prober: Prober = async () => ({ ok: true, latencyMs: 1, reason: 'connected' });
  const kernel = new ModelClient();
  const logs = captureLog();
  const start = () => Daemon.start({
    configPath, log: logs.log, stateFile: join(dir, 'lib', 'state.json'), ipvs: async () => kernel, prober,
  });
  return { dir, kernel, start, logs, drains: join(dir, 'lib', 'drains.json') };
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

/** Runs a daemon, drains 10.0.1.11, stops: the drains file and its copy hold the drain. */
async function drainedRun(s: ReturnType<typeof setup>): Promise<void> {
  const d = await s.start();
  await until('both up', 5000, () => weights(s.kernel)['10.0.1.11:8080'] === 7 && weights(s.kernel)['10.0.1.12:8080'] === 7);
  assert.deepEqual(await d.drain({ service: 'web', realServer: '10.0.1.11:8080' }, true), { ok: true, changed: true });
  assert.equal(weights(s.kernel)['10.0.1.11:8080'], 0);
  await d.stop();
}

test('a truncated drains file at restart: the drain holds (from the last good copy) and an error says so', async (t) => {
  const s = setup(t);
  await drainedRun(s);
  truncateSync(s.drains, 10); // what a crash during a plain write leaves
  const d = await s.start();
  t.after(() => d.stop());
  await sleep(500); // five probe rounds: the healthy drained server is judged up again and again
  assert.equal(weights(s.kernel)['10.0.1.11:8080'], 0, 'still drained');
  assert.equal(weights(s.kernel)['10.0.1.12:8080'], 7);
  const snap = await d.status();
  assert.deepEqual(snap.drains.map((x) => x.realServer), ['10.0.1.11:8080']);
  const line = s.logs.lines.find((l) => l.event === 'daemon.drains_recovered');
  assert.ok(line, 'an error line names the recovery');
  assert.equal(line.level, 50);
  assert.equal(line.file, s.drains);
  assert.match(String(line.reason), /not JSON/);
  assert.ok(existsSync(`${s.drains}.corrupt`), 'the bad file is kept aside');
  assert.deepEqual((parseDrains(readFileSync(s.drains, 'utf8')) as Array<{ realServer: string }>).map((x) => x.realServer), ['10.0.1.11:8080'],
    'the main file is written again from the copy');
});

test('a drains file that is JSON but not drains, and no good copy: the daemon refuses to start, naming the file', async (t) => {
  const s = setup(t);
  await drainedRun(s);
  writeFileSync(s.drains, '{"service":"web"}\n');
  writeFileSync(`${s.drains}.last-good`, '');
  const sent = s.kernel.batches.length;
  await assert.rejects(s.start(), (e: unknown) => {
    assert.ok(isLvsdError(e, 'LVSD_STATE'));
    assert.match(e.message, new RegExp(`drains file ${s.drains} is not a JSON array and its last good copy ${s.drains}.last-good is empty`));
    return true;
  });
  assert.equal(s.kernel.batches.length, sent, 'nothing was sent to the kernel');
  const line = s.logs.lines.find((l) => l.event === 'daemon.drains_unusable');
  assert.equal(line?.level, 50);
});

test('a deleted drains file comes back from its copy, loudly; with neither file the start is a first start', async (t) => {
  const s = setup(t);
  await drainedRun(s);
  rmSync(s.drains);
  const d = await s.start();
  await sleep(300);
  assert.equal(weights(s.kernel)['10.0.1.11:8080'], 0);
  assert.equal(s.logs.lines.find((l) => l.event === 'daemon.drains_recovered')?.reason, 'missing');
  await d.stop();
  rmSync(s.drains);
  rmSync(`${s.drains}.last-good`);
  const fresh = await s.start();
  t.after(() => fresh.stop());
  await until('undrained', 3000, () => weights(s.kernel)['10.0.1.11:8080'] === 7);
});

test('a drain that cannot be written down is refused and not applied', async (t) => {
  const s = setup(t);
  const d = await s.start();
  t.after(() => d.stop());
  await until('both up', 5000, () => weights(s.kernel)['10.0.1.11:8080'] === 7);
  mkdirSync(join(s.drains, 'blocker'), { recursive: true }); // rename over a non-empty directory fails
  await assert.rejects(d.drain({ service: 'web', realServer: '10.0.1.11:8080' }, true), (e: unknown) => {
    assert.ok(isLvsdError(e, 'LVSD_STATE'));
    assert.match(e.message, /cannot record the drain in .*drains\.json/);
    return true;
  });
  assert.equal(weights(s.kernel)['10.0.1.11:8080'], 7);
  assert.deepEqual((await d.status()).drains, []);
  assert.equal(s.logs.lines.find((l) => l.event === 'daemon.drains_save_failed')?.level, 50);
});

test('writeFileAtomic: concurrent writers leave one whole content and no temp file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'sub', 'f.json');
  const bodies = Array.from({ length: 20 }, (_, i) => `${String(i).repeat(10_000)}\n`);
  await Promise.all(bodies.map((b) => writeFileAtomic(file, b)));
  assert.ok(bodies.includes(readFileSync(file, 'utf8')));
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['f.json']);
});
