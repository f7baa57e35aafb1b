/**
 * keepalived's own doc/samples (GPL-2.0, read in place, never copied): each imports, or is refused with
 * FILE:LINE problems, and what is written always passes lvsd's validator (`lvsd check` in the CLI test).
 * Found at $LVSD_KEEPALIVED_SAMPLES, ../shared/corpus/keepalived-samples, or where Debian's keepalived
 * package puts them (/usr/share/doc/keepalived/samples, installed by .ci/setup). CI must find them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { formatProblem, importKeepalived, nodeFiles } from '../../src/import/index.js';
import { ROOT } from './config-fixtures.js';
import { samplesDir } from './keepalived-samples.js';

const dir = samplesDir();
const skip = dir === undefined ? (process.env.CI ? false : 'keepalived doc/samples not found') : false;

/**
 * Every sample and what the import says: 'ok' (exit 0, maybe with warnings) or the keywords refused.
 * (keepalived 2.2.7 `-t` accepts the first group on a host without eth1/eth2; see docs/migrating-from-keepalived.md.)
 */
const EXPECTED: Record<string, 'ok' | string[]> = {
  'keepalived.conf.HTTP_GET.port': 'ok',
  'keepalived.conf.IPv6': 'ok',
  'keepalived.conf.PING_CHECK': 'ok',
  'keepalived.conf.SMTP_CHECK': 'ok',
  'keepalived.conf.UDP_CHECK': 'ok',
  'keepalived.conf.inhibit': 'ok',
  'keepalived.conf.misc_check': 'ok',
  'keepalived.conf.misc_check_arg': 'ok',
  'keepalived.conf.quorum': 'ok',
  'keepalived.conf.sample': 'ok',
  'keepalived.conf.status_code': 'ok',
  'keepalived.conf.virtual_server_group': 'ok',
  'keepalived.conf.virtualhost': 'ok',
  'keepalived.conf.vrrp.scripts': 'ok',
  'keepalived.conf.SSL_GET': ['authentication'],
  'keepalived.conf.conditional_conf': ['vrrp_script', 'use_vmac'],
  'keepalived.conf.fwmark': 'ok',
  'keepalived.conf.track_interface': ['static_routes', 'virtual_routes', 'dev', 'dev'],
  'keepalived.conf.vrrp': 'ok',
  'keepalived.conf.vrrp.localcheck': 'ok',
  'keepalived.conf.vrrp.lvs_syncd': ['VI_2', 'VI_3', 'vrrp_sync_group'],
  'keepalived.conf.vrrp.routes': ['static_routes', 'virtual_routes', 'dev', 'dev'],
  'keepalived.conf.vrrp.rules': ['static_rules', 'virtual_rules', 'dev', 'dev'],
  'keepalived.conf.vrrp.static_ipaddress': ['static_ipaddress', 'virtual_routes'],
  'keepalived.conf.vrrp.sync': 'ok',
};

test('every keepalived sample imports or is refused at FILE:LINE, and the result passes lvsd validation', { skip }, () => {
  assert.ok(dir, 'the keepalived samples must be available in CI (.ci/setup installs keepalived)');
  const files = readdirSync(dir).filter((f) => f.startsWith('keepalived.conf.')).sort();
  assert.equal(files.length, 25);
  const seen: Record<string, 'ok' | string[]> = {};
  for (const f of files) {
    const r = importKeepalived(join(dir, f), nodeFiles, { configId: 'none' });
    const errors = r.problems.filter((p) => p.severity === 'error');
    seen[f] = errors.length === 0 ? 'ok' : errors.map((e) => e.keyword);
    for (const p of r.problems) {
      assert.ok(p.line > 0 && p.file === join(dir, f), formatProblem(p));
      assert.match(formatProblem(p), /^\/.+:\d+: \S+: \S/);
    }
    parseConfig([{ file: f, text: JSON.stringify(r.config) }]);
  }
  assert.deepEqual(seen, EXPECTED);
});

test('lvsd import keepalived: exit 0 and a config `lvsd check` accepts; a refused sample exits 1 and --partial still writes', { skip }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lvsd-import-'));
  try {
    const cli = join(ROOT, 'dist/src/cli/main.js');
    const out = join(tmp, 'sample.json');
    const ok = spawnSync(process.execPath, [cli, 'import', 'keepalived', join(dir!, 'keepalived.conf.sample'), '-o', out], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /keepalived\.conf\.sample:40: digest: /);
    assert.match(execFileSync(process.execPath, [cli, 'check', '-c', out], { encoding: 'utf8' }), /valid \(1 service, 1 real server, 1 VRRP instance\)/);
    const refused = spawnSync(process.execPath, [cli, 'import', 'keepalived', join(dir!, 'keepalived.conf.SSL_GET')], { encoding: 'utf8' });
    assert.equal(refused.status, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /not imported: .*keepalived\.conf\.SSL_GET:19: authentication: lvsd has no IPsec AH/);
    const partial = spawnSync(process.execPath, [cli, 'import', 'keepalived', join(dir!, 'keepalived.conf.SSL_GET'), '--partial'], { encoding: 'utf8' });
    assert.equal(partial.status, 1);
    assert.equal((JSON.parse(partial.stdout) as { services: unknown[] }).services.length, 2);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
