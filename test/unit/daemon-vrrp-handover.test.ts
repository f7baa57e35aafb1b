/**
 * The VRRP worker started at exec handed to the daemon (src/daemon/vrrp-port.ts, earlyHandover): the daemon
 * takes it once; with the config it was started with nothing is sent to the thread on the way to the first
 * reconcile, with another config it is updated (and stopped if it refuses); later asks get new workers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { earlyHandover, type EarlyVrrp } from '../../src/daemon/vrrp-port.js';
import type { VrrpPort } from '../../src/daemon/daemon-types.js';
import type { Config } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { parse } from './config-fixtures.js';

const config = (priority: number): Config => parse({ vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority, addresses: ['192.0.2.1/24'] }] });

function fakePort(refuse = false): VrrpPort & { updates: Config[]; stopped: number } {
  const port = {
    updates: [] as Config[], stopped: 0,
    update: async (c: Config) => {
      port.updates.push(c);
      if (refuse) throw new Error('refused');
    },
    snapshot: () => [],
    stop: async () => { port.stopped++; },
    onTransition: () => undefined,
  };
  return port;
}

const earlyWith = (port: VrrpPort, c: Config): EarlyVrrp => ({ port: Promise.resolve(port), config: c, attachMetrics: () => undefined });

test('the daemon takes the worker started at exec without a round trip when its config is the one the worker started with', async () => {
  const port = fakePort();
  const c = config(100);
  const fresh: Config[] = [];
  const h = earlyHandover(earlyWith(port, c), async (cfg) => { fresh.push(cfg); return fakePort(); });
  assert.equal(await h.vrrp(c, silentLogger), port);
  assert.deepEqual(port.updates, []);
  await h.vrrp(c, silentLogger);
  assert.equal(fresh.length, 1, 'a later ask is a new worker');
});

test('another config updates the early worker; one it refuses stops it and fails the start', async () => {
  const port = fakePort();
  const other = config(150);
  assert.equal(await earlyHandover(earlyWith(port, config(100)), async () => fakePort()).vrrp(other, silentLogger), port);
  assert.deepEqual(port.updates, [other]);
  const refusing = fakePort(true);
  await assert.rejects(earlyHandover(earlyWith(refusing, config(100)), async () => fakePort()).vrrp(other, silentLogger), /refused/);
  assert.equal(refusing.stopped, 1);
});
