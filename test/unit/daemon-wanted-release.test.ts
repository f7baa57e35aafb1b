/**
 * The daemon's per-config maps (Wanted's by-name and table-name maps, the series labels) go when a reload
 * switches to another config, not when next asked: asked only on a health change, which may never come,
 * they held the old config (at 100,000 real servers tens of MiB). WeakRef + forced GC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../../src/config/index.js';
import type { Config } from '../../src/config/types.js';
import { SeriesNames } from '../../src/daemon/health-wiring.js';
import { Wanted } from '../../src/daemon/wanted.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const build = (name: string): Config => parseConfig([{ file: 'c.json', text: JSON.stringify({
  services: [{ name, protocol: 'tcp', address: '192.0.2.20', port: 80, realServers: [{ address: '10.0.1.1', port: 80, weight: 1 }] }],
}) }]);

test('a switch to another config lets the old one go: no per-config map keeps it', async () => {
  let current = build('first');
  const wanted = new Wanted(() => current);
  const series = new SeriesNames();
  const old = new WeakRef(current);
  // every map made per config, made for the first one
  wanted.service('first');
  wanted.table();
  series.of(current, 'first');
  // a reload switches to another config (the daemon's followServices, without a delta), in a function of
  // its own so that no local of this test holds the old one
  (() => {
    const before = current;
    current = build('second');
    wanted.refreshHealth(() => undefined);
    series.switched(before, current, false);
  })();
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.equal(old.deref(), undefined, 'the old config is still held');
  assert.equal(wanted.service('second')?.name, 'second');
});
