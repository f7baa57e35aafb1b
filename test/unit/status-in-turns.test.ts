/**
 * `lvsd status` at a large table does not hold the daemon (issue #11): the snapshot is built and written a
 * slice of services per turn of the event loop, `-s NAME` builds only that service (its health included),
 * and what the slices make is what one block made.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonInTurns } from '../../src/daemon/control-server.js';
import { buildSnapshotInTurns, type SnapshotInput } from '../../src/daemon/snapshot.js';
import type { StatusSnapshot } from '../../src/daemon/status.js';
import { TurnBudget } from '../../src/turn-budget.js';
import { daemonLab, until } from './daemon-lab.js';

function doc(services: number, dests: number) {
  return {
    services: Array.from({ length: services }, (_, i) => ({
      name: `svc-${i}`, protocol: 'tcp', address: `172.16.${i >> 8}.${i & 255}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
      // probes far apart: the test is about status, not about probing 20,000 real servers
      healthCheck: { type: 'tcp', interval: '1h', timeout: '1s', rise: 1, fall: 1 },
      realServers: Array.from({ length: dests }, (_, j) => ({ address: `10.${i >> 8}.${i & 255}.${j + 1}`, port: 8080, weight: 1 + j })),
    })),
  };
}

/** Turns of the event loop that ran while `work` did. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let on = true;
  const tick = (): void => {
    if (!on) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const result = await work();
  on = false;
  return { result, turns };
}

test('a whole status at 2,000 x 10 is built and written in many turns, with every real server\'s health, and -s NAME is that same service', async (t) => {
  const lab = daemonLab(t);
  lab.write(doc(2000, 10));
  const d = await lab.start();
  await until('the table in the model', 60_000, () => lab.kernel.table.length === 2000);

  const whole = await turnsDuring(() => d.status());
  const snap = whole.result;
  assert.equal(snap.services.length, 2000);
  assert.equal(snap.services.reduce((n, s) => n + s.realServers.length, 0), 20_000);
  // at 5 ms a slice, 20,000 rows take several slices on any machine (one block: 1-2 turns, the awaits)
  assert.ok(whole.turns >= 4, `turns while the status was built: ${whole.turns}`);

  const one = await d.status({ service: 'svc-1234' });
  assert.deepEqual(one.services.map((s) => s.name), ['svc-1234']);
  const inWhole = snap.services.find((s) => s.name === 'svc-1234')!;
  // -s reads its own counters and health now: the same service, as of a moment later
  const strip = (s: StatusSnapshot['services'][number]) => ({ ...s, realServers: s.realServers.map((r) => ({ ...r, health: { ...r.health, since: null, latencyMs: null } })) });
  assert.deepEqual(strip(one.services[0]!), strip(inWhole));
  assert.ok(one.services[0]!.realServers.every((r) => r.health.check === 'tcp'));

  const written = await turnsDuring(() => jsonInTurns(snap));
  assert.equal(written.result, JSON.stringify(snap), 'the text is JSON.stringify\'s');
  assert.ok(written.turns >= 2, `turns while the status was written: ${written.turns}`);
});

test('the sliced snapshot is the one-block snapshot, and yields between services', async () => {
  const services = Array.from({ length: 5 }, (_, i) => ({
    name: `s${i}`,
    spec: { key: { family: 'inet', protocol: 'tcp', address: `192.0.2.${i + 1}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 32 },
    realServers: [{ spec: { address: '10.0.0.1', port: 80, weight: 3, forwarding: 'nat' }, healthCheck: { type: 'none' } }],
  }));
  const input = {
    nowMs: 1_000_000, startedAtMs: 0, node: 'n', version: '1', configPath: '/c',
    config: { services } as unknown as SnapshotInput['config'],
    lastLoad: null, kernel: undefined, daemons: [], health: undefined, vrrp: [],
    drains: [{ service: 's2', realServer: '10.0.0.1:80', since: 'x' }],
  } as unknown as SnapshotInput;
  const budget = new TurnBudget(0);
  const sliced = await buildSnapshotInTurns(input, budget);
  const oneBlock = new TurnBudget(Infinity);
  assert.deepEqual(sliced, await buildSnapshotInTurns(input, oneBlock));
  assert.equal(oneBlock.turns, 0, 'an unbounded budget builds it in one block');
  assert.equal(budget.turns, 5, 'a turn after each service with a budget of 0');
});

test('jsonInTurns writes what JSON.stringify writes, keys without a value left out', async () => {
  const bodies: unknown[] = [
    { a: 1, services: [{ x: 1 }, { y: [2, undefined] }], b: undefined, c: 'z', d: null },
    { services: [] },
    { error: { code: 'E', message: 'm' } },
    [1, 2],
    'text',
    { services: 'not a list', n: 2 },
  ];
  for (const body of bodies) assert.equal(await jsonInTurns(body, new TurnBudget(0)), JSON.stringify(body));
});
