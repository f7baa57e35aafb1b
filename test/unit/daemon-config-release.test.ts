/**
 * The config a daemon was started with is released once a reload replaced it: at 100,000 real servers a
 * config and its parse are tens of MiB, and the start options (which `lvsd run` hands the config it
 * loaded itself) live as long as the daemon. Over the in-memory IPVS model, with a forced GC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '../../src/config/index.js';
import { WEB, daemonLab } from './daemon-lab.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

test('a reload releases the config the daemon was started with', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [{ ...WEB, name: 'first' }] });
  let ref: WeakRef<object>;
  // in a function of its own, so that no local of this test holds the config
  const d = await (async () => {
    const config = await loadConfig(lab.configPath, { hostChecks: true });
    ref = new WeakRef(config);
    return lab.start({ config });
  })();
  lab.write({ services: [{ ...WEB, name: 'second' }] });
  assert.equal((await d.reload('control')).ok, true);
  assert.equal(d.currentConfig.services[0]!.name, 'second');
  for (let i = 0; i < 3 && ref!.deref() !== undefined; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
  assert.equal(ref!.deref(), undefined, 'the starting config is still held');
});
