/**
 * The bundled command line (packaging/bundle.ts, dist/bundle/lvsd.cjs: what /usr/bin/lvsd and package.json's
 * bin run) is the same program as dist/src/cli/main.js: the same output and exit status for the common
 * commands, its files found from its own directory (package.json, the validator, the native addon), and
 * none of dist/src loaded (a path that still pointed there would make the package depend on it silently).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bundled = fileURLToPath(new URL('../../bundle/lvsd.cjs', import.meta.url));
const unbundled = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const recorder = fileURLToPath(new URL('./load-recorder.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lvsd-bundle-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const good = join(dir, 'services.json');
writeFileSync(good, JSON.stringify({
  services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11' }] }],
}));
const bad = join(dir, 'bad.json');
writeFileSync(bad, JSON.stringify({
  services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.999', port: 80, schedular: 'wlc', realServers: [{ address: '10.0.1.11' }] }],
}));

function run(main: string, args: string[]): { status: number | null; stdout: string; stderr: string; files: string[] } {
  const log = join(dir, `load-${args[0]}-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', recorder, main, ...args], {
    encoding: 'utf8', env: { ...process.env, LVSD_LOAD_LOG: log, LVSD_LOG_LEVEL: 'warn' },
  });
  const files = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((u) => fileURLToPath(u));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, files };
}

const commands: Array<[string, string[]]> = [
  ['--version', ['--version']],
  ['check of a valid config', ['check', '-c', good]],
  ['check of a config with problems', ['check', '-c', bad]],
  // no daemon: exit 4 and the kernel table read directly (or why it cannot be: the native addon is found)
  ['status without a daemon', ['status', '--socket', join(dir, 'none.sock')]],
  // without IPVS (a plain host) exit 3 after the addon and the netlink client were loaded; with IPVS a dry run
  ['apply --dry-run', ['apply', '-c', good, '--dry-run', '--state-file', join(dir, 'state.json')]],
  ['reload without a daemon', ['reload', '--socket', join(dir, 'none.sock')]],
  // a command's own file hands what quick-argv does not take to yargs, imported through the launcher
  ['a mistake after a command', ['check', '--no-such-option']],
  ['run --help', ['run', '--help']],
  ['--help', ['--help']],
];

for (const [what, args] of commands) {
  test(`the bundled CLI answers ${what} as dist/src does, loading nothing from dist/src`, { skip: !existsSync(bundled) && 'no dist/bundle: run npm run build' }, () => {
    const b = run(bundled, args);
    const u = run(unbundled, args);
    assert.equal(b.status, u.status, b.stderr);
    assert.equal(b.stdout, u.stdout);
    assert.equal(b.stderr, u.stderr);
    assert.ok(b.files.some((f) => f.endsWith('/bundle/lvsd.cjs')), 'the recorder saw the bundle');
    assert.deepEqual(b.files.filter((f) => f.includes('/dist/src/')), [], 'nothing from dist/src');
  });
}

test('the bundled CLI finds the native addon and the validator from its own directory', { skip: !existsSync(bundled) && 'no dist/bundle' }, () => {
  const r = run(bundled, ['apply', '-c', good, '--dry-run', '--state-file', join(dir, 'state.json')]);
  assert.doesNotMatch(r.stderr, /native addon not built|cannot be loaded|cannot load the config validator/);
  assert.ok(r.files.some((f) => f.endsWith('/bundle/schema-validator.cjs')), 'the validator next to the bundle');
  assert.ok(r.files.some((f) => f.endsWith('/native/build/Release/lvsd_native.node')), 'the addon of the package root');
});
