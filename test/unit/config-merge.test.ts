import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFiles, loadConfig, type Problem } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';
import { ROOT } from './config-fixtures.js';

function withDir(files: Record<string, unknown>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-config-'));
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

const service = (name: string, port: number) => ({ name, protocol: 'tcp', address: '192.0.2.1', port });
const instance = (name: string, vrid: number) => ({ name, interface: 'eth0', vrid, addresses: [`192.0.2.${vrid}/24`] });

test('a directory merges its *.json files by name: lists concatenated, origins per file', async () => {
  await withDir({
    '20-web.json': { services: [service('web', 80)], vrrp: [instance('B', 2)] },
    '10-base.json': { ipvs: { ownWholeTable: true }, services: [service('ssh', 22)], vrrp: [instance('A', 1)] },
    '30-groups.json': { syncGroups: [{ name: 'G', instances: ['A', 'B'] }], metrics: { listen: '127.0.0.1:9650' } },
    'README.txt': 'not config',
    'notes.json.bak': '{',
  }, async (dir) => {
    const c = await loadConfig(dir);
    assert.deepEqual(c.files, ['10-base.json', '20-web.json', '30-groups.json'].map((n) => join(dir, n)));
    assert.deepEqual(c.services.map((s) => [s.name, s.origin]), [
      ['ssh', { file: join(dir, '10-base.json'), pointer: '/services/0' }],
      ['web', { file: join(dir, '20-web.json'), pointer: '/services/0' }],
    ]);
    assert.deepEqual(c.vrrp.map((v) => [v.name, v.syncGroup]), [['A', 'G'], ['B', 'G']]);
    assert.equal(c.ipvs.ownWholeTable, true);
    assert.deepEqual(c.metrics, { listen: '127.0.0.1:9650', statusPage: false });
  });
});

test('two files setting the same top-level object is an error naming both', async () => {
  await withDir({ 'a.json': { ipvs: {}, control: {} }, 'b.json': { ipvs: { ownWholeTable: true } } }, async (dir) => {
    await assert.rejects(loadConfig(dir), (e) => {
      assert.ok(isLvsdError(e, 'LVSD_CONFIG_INVALID'));
      assert.deepEqual(e.details as Problem[], [{
        file: join(dir, 'b.json'), pointer: '/ipvs', message: `"ipvs" is also set in ${join(dir, 'a.json')}; set it in one file only`,
      }]);
      return true;
    });
  });
});

test('duplicates across files name the other file', async () => {
  await withDir({ 'a.json': { services: [service('web', 80)] }, 'b.json': { services: [service('web', 80)] } }, async (dir) => {
    await assert.rejects(loadConfig(dir), (e) => {
      const problems = (e as { details: Problem[] }).details;
      assert.ok(problems.some((p) => p.file === join(dir, 'b.json') && p.pointer === '/services/0'
        && p.message === `duplicate service tcp/192.0.2.1:80 (also ${join(dir, 'a.json')} /services/0)`));
      return true;
    });
  });
});

test('problems from several files are all reported, each with its own file', async () => {
  await withDir({ 'a.json': { services: [{ ...service('a', 80), port: -1 }] }, 'b.json': { vrrp: [{ ...instance('V', 0) }] } }, async (dir) => {
    await assert.rejects(loadConfig(dir), (e) => {
      assert.deepEqual((e as { details: Problem[] }).details.map((p) => [p.file, p.pointer]), [
        [join(dir, 'a.json'), '/services/0/port'],
        [join(dir, 'b.json'), '/vrrp/0/vrid'],
      ]);
      return true;
    });
  });
});

test('a bad JSON file in a directory is named with line and column', async () => {
  await withDir({ 'a.json': {}, 'b.json': '{\n  "services": [,]\n}' }, async (dir) => {
    await assert.rejects(loadConfig(dir), (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE')
      && e.message.startsWith(`${join(dir, 'b.json')}:2:16:`));
  });
});

test('a missing path, or a directory without *.json files, is LVSD_CONFIG_UNREADABLE', async () => {
  await assert.rejects(loadConfig('/nonexistent/lvsd.json'), (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE') && /ENOENT/.test(e.message));
  await withDir({ 'x.txt': 'x' }, async (dir) => {
    await assert.rejects(loadConfig(dir), (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE') && /no \*\.json files/.test(e.message));
    mkdirSync(join(dir, 'sub.json'));
    writeFileSync(join(dir, 'real.json'), '{}');
    assert.deepEqual(await configFiles(dir), [join(dir, 'real.json'), join(dir, 'sub.json')], 'every *.json entry is listed');
    await assert.rejects(loadConfig(dir), (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE')
      && e.message === `${join(dir, 'sub.json')}: cannot read: not a regular file`, 'a directory named *.json is refused, not skipped');
  });
});

test('loadConfig reads a single file', async () => {
  const c = await loadConfig(join(ROOT, 'examples', 'services.json'));
  assert.deepEqual(c.services.map((s) => s.name), ['web', 'dns', 'marked']);
});
