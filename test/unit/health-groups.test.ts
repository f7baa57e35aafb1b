/** A group's real servers are probed once for the whole group, and their verdict reaches every member. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { HealthScheduler, ManualClock, type ProbeResult, type Prober } from '../../src/health/index.js';
import { desiredEntry, realServerDrainKey } from '../../src/daemon/desired.js';
import type { DestSpec } from '../../src/table/index.js';
import { captureLog } from './log-capture.js';

const config = parseConfig([{ file: 'g.json', text: JSON.stringify({ services: [{
  name: 'web', protocol: 'tcp', scheduler: 'rr', initialState: 'up',
  // two VIPs on different ports and a fwmark: the destinations' ports differ per member (NAT keeps the member's)
  members: [{ address: '192.0.2.1', port: 80 }, { address: '192.0.2.2', port: 443 }, { fwmark: 9 }],
  realServers: [
    { address: '10.0.0.1', weight: 5, healthCheck: { type: 'tcp', port: 8080, interval: 1, timeout: 0.5, rise: 1, fall: 2 } },
    { address: '10.0.0.2', weight: 7, healthCheck: { type: 'tcp', port: 8080, interval: 1, timeout: 0.5, rise: 1, fall: 2 } },
  ],
}] }) }]);

function scripted() {
  const down = new Set<string>();
  const calls: string[] = [];
  const prober: Prober = async (check, target) => {
    calls.push(`${target.address}:${target.port}/${check.port}`);
    const ok = !down.has(target.address);
    return { ok, latencyMs: 1, reason: ok ? 'connected' : 'connect ECONNREFUSED' } satisfies ProbeResult;
  };
  return { down, calls, prober };
}

test('each real server is probed once per interval for the whole group, not once per member', async () => {
  assert.equal(config.services.length, 3);
  const clock = new ManualClock(0);
  const { calls, prober } = scripted();
  const s = new HealthScheduler({ services: config.services, health: config.health }, { clock, prober });
  s.start();
  await clock.advance(10_000);
  // 10 intervals x 2 real servers: 20 probes (one per member would be 60)
  assert.equal(calls.length, 20, calls.join(' '));
  assert.deepEqual([...new Set(calls)].sort(), ['10.0.0.1:8080/8080', '10.0.0.2:8080/8080']);
  await s.stop();
});

test('a server that fails goes to weight 0 in every member at once; the others keep their configured weight', async () => {
  const clock = new ManualClock(0);
  const { down, prober } = scripted();
  const latest = new Map<string, DestSpec[]>();
  const { log, lines } = captureLog();
  const s = new HealthScheduler({ services: config.services, health: config.health }, {
    clock, prober, logger: log, onChange: (service, dests) => latest.set(service, dests),
  });
  s.start();
  await clock.advance(3000);
  down.add('10.0.0.1');
  await clock.advance(3000);
  const weights = (name: string) => (latest.get(name) ?? []).map((d) => `${d.address}:${d.port}=${d.weight}`);
  assert.deepEqual([...latest.keys()].sort(), config.services.map((m) => m.name).sort(), 'every member was told');
  assert.deepEqual(weights('web[tcp/192.0.2.1:80]'), ['10.0.0.1:80=0', '10.0.0.2:80=7']);
  assert.deepEqual(weights('web[tcp/192.0.2.2:443]'), ['10.0.0.1:443=0', '10.0.0.2:443=7']);
  assert.deepEqual(weights('web[fwmark/ipv4/9]'), ['10.0.0.1:0=0', '10.0.0.2:0=7']);
  // one log line for the group (by its name and the server's shared id), not one per member
  const changes = lines.filter((l) => l.event === 'health.change');
  assert.deepEqual(changes.map((l) => [l.service, l.members, l.realServer, l.to]), [['web', 3, '10.0.0.1:8080', 'down']]);
  await s.stop();
});

test('a drain of the group\'s server (one key) puts it at weight 0 in every member\'s desired entry', () => {
  const [m0] = config.services;
  const key = realServerDrainKey(m0!, m0!.realServers[1]!);
  assert.equal(key, 'web/10.0.0.2:8080');
  for (const m of config.services) {
    const entry = desiredEntry(m, { drains: new Set([key]) });
    assert.deepEqual(entry.dests.map((d) => d.weight), [5, 0], m.name);
  }
  // a server of the same address in a plain service is not drained by it
  const plain = parseConfig([{ file: 'p.json', text: JSON.stringify({ services: [{ protocol: 'tcp', address: '192.0.2.9', port: 8080, realServers: [{ address: '10.0.0.2' }] }] }) }]);
  assert.deepEqual(desiredEntry(plain.services[0]!, { drains: new Set([key]) }).dests.map((d) => d.weight), [1]);
});
