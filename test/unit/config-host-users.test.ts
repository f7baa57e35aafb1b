/**
 * The users a config names are looked up on this host at check, run and reload: where each is named (the
 * walker), and which are unknown (one look-up per name, the spawn failure of `id` told apart from a
 * missing user). The daemon side is in daemon-reload.test.ts, the CLI side below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unknownUsers, userMentions } from '../../src/config/host-users.js';

const LVSD = join(import.meta.dirname, '../../src/cli/main.js');

test('every place a config names a user is found with its file and pointer, and nothing else', () => {
  const data = {
    health: { execUser: 'checker' },
    services: [{
      name: 'web', healthCheck: { type: 'http', headers: { user: 'not-a-user' }, user: 'svc' },
      realServers: [{ address: '10.0.0.1', healthCheck: { type: 'exec', command: ['x'], user: 'rs/one' } }],
    }],
    vrrp: [{ name: 'vi', trackScripts: [{ name: 's', command: ['x'], user: 'tracker' }], notify: { user: 'notifier' } }],
    user: 'top-level-is-not-a-user-key',
  };
  assert.deepEqual(userMentions([{ file: 'a.json', data }]), [
    { user: 'checker', file: 'a.json', pointer: '/health/execUser' },
    { user: 'svc', file: 'a.json', pointer: '/services/0/healthCheck/user' },
    { user: 'rs/one', file: 'a.json', pointer: '/services/0/realServers/0/healthCheck/user' },
    { user: 'tracker', file: 'a.json', pointer: '/vrrp/0/trackScripts/0/user' },
    { user: 'notifier', file: 'a.json', pointer: '/vrrp/0/notify/user' },
  ]);
});

test('each name is looked up once; a failure to run `id` is reported as such, not as a missing user', async () => {
  const asked: string[] = [];
  const lookup = async (u: string) => {
    asked.push(u);
    if (u === 'ghost') throw new Error(`unknown user ${u}`);
    if (u === 'busy') throw Object.assign(new Error('cannot look up user busy: spawn EMFILE'), { code: 'EMFILE' });
    return { uid: 1, gid: 1 };
  };
  const problems = await unknownUsers([
    { user: 'nobody', file: 'a', pointer: '/1' }, { user: 'ghost', file: 'a', pointer: '/2' },
    { user: 'ghost', file: 'b', pointer: '/3' }, { user: 'busy', file: 'a', pointer: '/4' },
  ], lookup);
  assert.deepEqual(asked, ['nobody', 'ghost', 'busy']);
  assert.deepEqual(problems.map((p) => `${p.file}:${p.pointer}: ${p.message}`), [
    'a:/2: no user "ghost" on this host (exec checks, track scripts and notify commands run as it)',
    'b:/3: no user "ghost" on this host (exec checks, track scripts and notify commands run as it)',
    'a:/4: cannot look up user busy: spawn EMFILE',
  ]);
});

test('lvsd check refuses a notify user this host does not have, naming the file and pointer; nobody passes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-users-'));
  const file = join(dir, 'lvsd.json');
  const config = (user: string) => JSON.stringify({
    vrrp: [{ name: 'vi', interface: 'eth0', vrid: 5, addresses: ['192.0.2.5/24'], notify: { master: ['/bin/true'], user } }],
  });
  writeFileSync(file, config('lvsd-no-such-user-3'));
  const bad = spawnSync(process.execPath, [LVSD, 'check', '-c', file], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, new RegExp(`${file}: /vrrp/0/notify/user: no user "lvsd-no-such-user-3" on this host`));
  writeFileSync(file, config('nobody'));
  const good = spawnSync(process.execPath, [LVSD, 'check', '-c', file], { encoding: 'utf8' });
  assert.equal(good.status, 0, good.stderr);
});
