/**
 * The control commands (lvsd reload, status, drain) find the daemon's socket in the config without
 * validating it: the daemon validates on a reload and names every problem. Before, the CLI validated the
 * whole config first (as costly as the daemon's reload at 22,000 objects) and, when it was invalid, went
 * to the default socket instead of the daemon the config names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSocket } from '../../src/cli/socket-path.js';
import { DEFAULT_SOCKET } from '../../src/cli/defaults.js';

function withDir(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-socket-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('the socket a config directory names is found even when another file breaks the schema (the daemon will say what)', async () => {
  await withDir({
    '00-global.json': JSON.stringify({ control: { socket: '/run/lvsd-test/a.sock' } }),
    '10-web.json': JSON.stringify({ services: [{ protocol: 'tcp', address: '192.0.2.1', port: 'eighty' }] }),
  }, async (dir) => {
    assert.equal(await resolveSocket({ config: dir }), '/run/lvsd-test/a.sock');
    assert.equal(await resolveSocket({ config: join(dir, '00-global.json') }), '/run/lvsd-test/a.sock');
    assert.equal(await resolveSocket({ config: dir, socket: '/tmp/given.sock' }), '/tmp/given.sock', '--socket wins');
  });
});

test('no control section, a relative socket, bad JSON or a missing config: the default socket', async () => {
  await withDir({
    'none.json': JSON.stringify({ services: [] }),
    'relative.json': JSON.stringify({ control: { socket: 'lvsd.sock' } }),
    'bad.json': '{"control": {"socket": "/run/x.sock"',
  }, async (dir) => {
    assert.equal(await resolveSocket({ config: join(dir, 'none.json') }), DEFAULT_SOCKET);
    assert.equal(await resolveSocket({ config: join(dir, 'relative.json') }), DEFAULT_SOCKET);
    assert.equal(await resolveSocket({ config: join(dir, 'bad.json') }), DEFAULT_SOCKET);
    assert.equal(await resolveSocket({ config: join(dir, 'gone.json') }), DEFAULT_SOCKET);
  });
});
