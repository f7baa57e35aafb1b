/** `lvsd run` loads the config once and hands it to the daemon: the daemon does not read the file again at start. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadConfig } from '../../src/config/index.js';
import { WEB, daemonLab } from './daemon-lab.js';

test('a daemon handed its config starts from it without reading the file again', async (t) => {
  const lab = daemonLab(t);
  lab.write({ services: [{ ...WEB, healthCheck: { type: 'none' } }] });
  const config = await loadConfig(lab.configPath, { hostChecks: true });
  rmSync(lab.configPath); // a second read would fail now
  const d = await lab.start({ config });
  assert.equal(d.currentConfig, config);
  assert.deepEqual(Object.keys((await d.status()).services), ['0']);
});
