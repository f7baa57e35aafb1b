/**
 * How the addon fails when it cannot help: not built (a package root without native/build), and a
 * process without CAP_NET_RAW. Both are LVSD_NATIVE_UNAVAILABLE with a message that says what to do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test/netns
const distSrc = join(here, '..', '..', 'src');

test('without a built addon, opening a socket says to run npm ci', (t) => {
  // a package root of its own (so no native/build), inside the tree so `netlink` still resolves
  const root = mkdtempSync(join(here, '.nobuild-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'package.json'), '{"type":"module"}');
  cpSync(distSrc, join(root, 'src'), { recursive: true });
  const script = `
    import { openVrrpSocket, nativeAvailable } from ${JSON.stringify(join(root, 'src', 'net', 'index.js'))};
    try { openVrrpSocket({ family: 'ipv4', interface: 'lo', multicast: false }); console.log('opened'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, available: nativeAvailable() })); }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    code: 'LVSD_NATIVE_UNAVAILABLE',
    message: 'native addon not built: run npm ci (needs python3, make, g++)',
    available: false,
  });
});

const notRoot = typeof process.getuid === 'function' && process.getuid() !== 0;
const noRunuser = spawnSync('runuser', ['--help']).error !== undefined;

test('without CAP_NET_RAW, opening a socket says it needs root', { skip: notRoot ? 'needs root to drop to nobody' : noRunuser ? 'no runuser' : false }, () => {
  const index = join(distSrc, 'net', 'index.js');
  const script = `
    import { openVrrpSocket } from ${JSON.stringify(index)};
    try { openVrrpSocket({ family: 'ipv6', interface: 'lo', multicast: true }); console.log('{}'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { code?: string; message?: string };
  assert.equal(out.code, 'LVSD_NATIVE_UNAVAILABLE');
  assert.match(out.message!, /cannot open ipv6 VRRP socket on lo: not permitted: raw sockets need root or CAP_NET_RAW \(EPERM, errno 1, socket\)/);
});
