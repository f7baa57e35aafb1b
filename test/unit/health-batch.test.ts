/**
 * 10,000 real servers rising in one batch of the addon's outcomes (issue #11: `lvsd run` at 10,000 real
 * servers in the TCG VM held its event loop for minutes at start). The addon delivers the outcomes of
 * many watches in one callback; the scheduler folds them into one recomputed list per service, and the
 * daemon plans each service once. A fake addon (FakeWatcher) delivers the batch, so the batch is exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { HealthCheckConfig, HealthGlobalConfig, ServiceConfig } from '../../src/config/types.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { HealthScheduler, type HealthChange } from '../../src/health/index.js';
import { FakeWatcher } from './fake-tcp-watcher.js';
import { FIRST_UP_EVERY_MS } from '../../src/health/first-up-log.js';
import { silentLogger } from '../../src/log.js';
import type { DestSpec } from '../../src/ipvs/types.js';
import { ModelClient } from './reconcile-model.js';
import { until } from './daemon-lab.js';

const health: HealthGlobalConfig = { execUser: 'nobody', maxConcurrent: 65536, execOutputLimit: 4096 };
const SERVICES = 100;
const PER = 100;

function dest(s: number, r: number): DestSpec {
  return {
    family: 'ipv4', address: `10.${s >> 8}.${s & 255}.${r + 1}`, port: 8080, forwarding: 'nat', weight: 5,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
  };
}

function services(): ServiceConfig[] {
  return Array.from({ length: SERVICES }, (_, s) => ({
    name: `s${s}`,
    origin: { file: 't.json', pointer: `/services/${s}` },
    spec: { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `192.0.${s >> 8}.${s & 255}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' },
    realServers: Array.from({ length: PER }, (_, r) => {
      const spec = dest(s, r);
      return {
        spec,
        healthCheck: { type: 'tcp', interval: 10, timeout: 1, rise: 1, fall: 2, address: spec.address, port: spec.port } as HealthCheckConfig,
      };
    }),
    onFailure: 'inhibit', slowStart: 0, initialState: 'down',
  }));
}

/** A logger whose every line costs 1 ms while `on()`: the scheduler then reads a large batch a slice (~10 outcomes) per turn. */
function slowLogger(on: () => boolean = () => true) {
  return pino({ level: 'info' }, { write: () => { if (!on()) return; const t = performance.now(); while (performance.now() - t < 1); } });
}

/**
 * Every real server seen failing first (down, no change): its rise is then logged as a health.change of its
 * own, 1 ms each with slowLogger, so a batch of rises is read over many turns. Up at the first check, they
 * would be counted in a few health.first_up lines and read in a turn or two.
 */
async function seenFailing(watcher: FakeWatcher): Promise<void> {
  watcher.failAll();
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

describe('10,000 real servers rising in one batch of outcomes', () => {
  test('up at their first check, they are told in a few health.first_up lines (a count, the first 16 named), not a health.change line each', async () => {
    const watcher = new FakeWatcher();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const s = new HealthScheduler({ services: services(), health }, { watcher, logger: log });
    s.start();
    try {
      watcher.riseAll();
      const up = () => s.snapshot().services.reduce((n, x) => n + x.up, 0);
      while (up() < SERVICES * PER) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, FIRST_UP_EVERY_MS + 100)); // the last line, a second after the first it counts
      assert.equal(lines.filter((l) => l.event === 'health.change').length, 0, 'no health.change line for a real server up at its first check');
      const firstUps = lines.filter((l) => l.event === 'health.first_up');
      // before: 10,000 health.change lines; now one a second at most (FIRST_UP_EVERY_MS)
      assert.ok(firstUps.length >= 1 && firstUps.length <= 10, `${firstUps.length} health.first_up lines`);
      assert.equal(firstUps.reduce((n, l) => n + (l.count as number), 0), SERVICES * PER, 'every real server counted once');
      for (const l of firstUps) {
        const named = l.realServers as Array<{ service: string; realServer: string; weight: number }>;
        assert.equal(named.length, Math.min(16, l.count as number));
        assert.equal(l.more ?? 0, (l.count as number) - named.length);
        assert.ok(named.every((r) => /^s\d+$/.test(r.service) && r.realServer.endsWith(':8080') && r.weight === 5), JSON.stringify(named));
      }
      assert.ok(firstUps.every((l) => (l.services as number) >= 1 && (l.services as number) <= SERVICES && (l.services as number) <= (l.count as number)));
    } finally {
      await s.stop();
    }
  });

  test('the scheduler folds them into a few new lists per service, with every transition', async () => {
    const watcher = new FakeWatcher();
    const events: Array<{ service: string; dests: DestSpec[]; change: HealthChange }> = [];
    const s = new HealthScheduler({ services: services(), health }, {
      watcher, onChange: (service, dests, change) => events.push({ service, dests, change }),
    });
    s.start();
    try {
      assert.equal(watcher.watches.size, SERVICES * PER);
      watcher.riseAll();
      const up = () => s.snapshot().services.reduce((n, x) => n + x.up, 0);
      while (up() < SERVICES * PER) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      // one per real server before: 10,000 lists of 100 computed and sent on
      assert.ok(events.length <= (SERVICES * PER) / 10, `${events.length} change events for ${SERVICES * PER} transitions`);
      assert.equal(events.reduce((n, e) => n + e.change.transitions.length, 0), SERVICES * PER, 'every transition told once');
      const last = new Map(events.map((e) => [e.service, e]));
      assert.equal(last.size, SERVICES);
      for (const e of last.values()) {
        assert.ok(e.change.transitions.every((t) => t.from === 'down' && t.to === 'up'));
        assert.equal(e.dests.length, PER);
        assert.ok(e.dests.every((d) => d.weight === 5), `${e.service}: every real server in at its weight`);
      }
    } finally {
      await s.stop();
    }
  });

  test('a batch that takes long to read does not hold the event loop: the rest is read turn by turn', async () => {
    const watcher = new FakeWatcher();
    const n = 1000;
    // a log that costs 1 ms a line (as a slow disk, or the TCG VM): reading 1,000 outcomes at once took a second
    const slow = slowLogger();
    const s = new HealthScheduler({ services: services().slice(0, n / PER), health }, { watcher, logger: slow });
    s.start();
    try {
      await seenFailing(watcher);
      const up = () => s.snapshot().services.reduce((k, x) => k + x.up, 0);
      let upWhenTimerRan = -1;
      setTimeout(() => (upWhenTimerRan = up()), 0);
      await new Promise((r) => setImmediate(r)); // the timer is due
      watcher.riseAll();
      const upAfterBatch = up();
      while (up() < n) await new Promise((r) => setImmediate(r));
      assert.ok(upAfterBatch < n, `the addon's callback read ${upAfterBatch} of ${n} outcomes before returning`);
      assert.ok(upWhenTimerRan >= 0 && upWhenTimerRan < n, `a timer ran while outcomes were waiting (it saw ${upWhenTimerRan} up)`);
    } finally {
      await s.stop();
    }
  });

  test('a batch read over many turns is held until it is read: one new list per service, not one per turn', async () => {
    const watcher = new FakeWatcher();
    const n = 500;
    // 1 ms a line: the batch is read ~10 outcomes a turn (TOLD_SLICE_MS), 50 turns; the hold (set far
    // above the ~0.5 s of reading) lets the lists be recomputed only after the last turn
    const slow = slowLogger();
    const events: Array<{ service: string; change: HealthChange }> = [];
    const s = new HealthScheduler({ services: services().slice(0, n / PER), health }, {
      watcher, logger: slow, foldHoldMs: 600_000, onChange: (service, _dests, change) => events.push({ service, change }),
    });
    s.start();
    try {
      await seenFailing(watcher);
      watcher.riseAll();
      const up = () => s.snapshot().services.reduce((k, x) => k + x.up, 0);
      assert.ok(up() < n, 'the batch is read over more than one turn');
      while (up() < n) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      // before: one per service per turn that read some of its outcomes (~50 here)
      assert.equal(events.length, n / PER, `${events.length} change events for ${n / PER} services`);
      assert.equal(events.reduce((k, e) => k + e.change.transitions.length, 0), n, 'every transition told once');
    } finally {
      await s.stop();
    }
  });

  test('a reload while a batch is held tells its transitions against the lists they changed first', async () => {
    const watcher = new FakeWatcher();
    const n = 300;
    const slow = slowLogger();
    const events: Array<{ service: string; change: HealthChange }> = [];
    const svcs = services().slice(0, n / PER);
    const s = new HealthScheduler({ services: svcs, health }, {
      watcher, logger: slow, foldHoldMs: 600_000, onChange: (service, _dests, change) => events.push({ service, change }),
    });
    s.start();
    try {
      await seenFailing(watcher);
      watcher.riseAll();
      await new Promise((r) => setImmediate(r)); // a turn more of the batch read, the rest waiting
      assert.equal(events.length, 0, 'held while the batch waits');
      s.update({ services: svcs, health }); // the same config: its commit tells what was held
      const told = events.reduce((k, e) => k + e.change.transitions.length, 0);
      assert.ok(told > 0 && told < n, `the transitions read before the reload told at its commit (${told})`);
      const up = () => s.snapshot().services.reduce((k, x) => k + x.up, 0);
      while (up() < n) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      assert.equal(events.reduce((k, e) => k + e.change.transitions.length, 0), n, 'every transition told once');
    } finally {
      await s.stop();
    }
  });

  test('a batch read over many turns reaches the kernel in a few health passes', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-batch-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'lvsd.json');
    const n = 1000;
    writeFileSync(configPath, JSON.stringify({
      services: services().slice(0, n / PER).map((svc) => ({
        name: svc.name, protocol: 'tcp', address: svc.spec.key.kind === 'addr' ? svc.spec.key.address : '', port: 80, scheduler: 'wrr', forwarding: 'nat',
        healthCheck: { type: 'tcp', interval: '10s', timeout: '1s', rise: 1, fall: 2 },
        realServers: svc.realServers.map((r) => ({ address: r.spec.address, port: r.spec.port, weight: 5 })),
      })),
    }));
    // 1 ms a line (the daemon logs each health.change): the batch is read ~10 outcomes a turn, 100 turns
    let slowLines = false;
    const log = slowLogger(() => slowLines);
    const watcher = new FakeWatcher();
    const kernel = new ModelClient();
    const d = await Daemon.start({ configPath, stateFile: join(dir, 'state.json'), log, ipvs: async () => kernel, healthWatcher: watcher });
    try {
      const weighted = () => kernel.table.reduce((k, e) => k + e.dests.filter((x) => x.weight === 5).length, 0);
      assert.equal(weighted(), 0);
      await seenFailing(watcher);
      const before = kernel.batches.length;
      slowLines = true;
      watcher.riseAll();
      await until('every real server weighted', 60_000, () => weighted() === n);
      const sets = kernel.batches.slice(before).flat().filter((c) => c.cmd === 'set-dest').length;
      assert.equal(sets, n, 'one set-dest per real server');
      // before: a pass per turn or two that read some of the batch (~40 here); now one per hold (500 ms of
      // reading at most: 2 or 3 for the ~1 s of reading this batch, more only on a host that stalls the test)
      const passes = kernel.batches.length - before;
      assert.ok(passes <= 10, `${passes} health passes for ${n} outcomes read over ~100 turns`);
    } finally {
      slowLines = false;
      await d.stop();
    }
  });

  test('the daemon programs the kernel with them in a few health passes, each real server once', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-batch-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const configPath = join(dir, 'lvsd.json');
    writeFileSync(configPath, JSON.stringify({
      services: services().map((svc) => ({
        name: svc.name, protocol: 'tcp', address: svc.spec.key.kind === 'addr' ? svc.spec.key.address : '', port: 80, scheduler: 'wrr', forwarding: 'nat',
        healthCheck: { type: 'tcp', interval: '10s', timeout: '1s', rise: 1, fall: 2 },
        realServers: svc.realServers.map((r) => ({ address: r.spec.address, port: r.spec.port, weight: 5 })),
      })),
    }));
    const watcher = new FakeWatcher();
    const kernel = new ModelClient();
    const d = await Daemon.start({ configPath, stateFile: join(dir, 'state.json'), log: silentLogger, ipvs: async () => kernel, healthWatcher: watcher });
    try {
      const dests = () => kernel.table.reduce((n, e) => n + e.dests.length, 0);
      const weighted = () => kernel.table.reduce((n, e) => n + e.dests.filter((x) => x.weight === 5).length, 0);
      assert.equal(dests(), SERVICES * PER, 'every real server programmed, inhibited until its first verdict');
      assert.equal(weighted(), 0);
      const before = kernel.batches.length;
      watcher.riseAll();
      await until('every real server weighted', 60_000, () => weighted() === SERVICES * PER);
      const sets = kernel.batches.slice(before).flat().filter((c) => c.cmd === 'set-dest').length;
      assert.equal(sets, SERVICES * PER, 'one set-dest per real server');
      const passes = kernel.batches.length - before;
      assert.ok(passes <= (SERVICES * PER) / 10, `${passes} batches for ${SERVICES * PER} changes`);
    } finally {
      await d.stop();
    }
  });
});
