/**
 * A reload checks the users the config names against the host as it is now (src/users.ts): `lvsd run`
 * over the in-memory IPVS model, in a mount namespace of its own where a copy of /etc/passwd is bound
 * over /etc/passwd (the host's is never touched). A user removed while the daemon runs makes the next
 * reload refused at the config's pointer; added back, the reload is taken. Before, a user found once was
 * kept for the daemon's life, so the reload after userdel was taken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NetnsLab, netnsSkipReason } from './netns.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const DAEMON = fileURLToPath(new URL('./fixtures/model-daemon.js', import.meta.url));
const skip = netnsSkipReason();
const USER = 'lvsdreloaduser';

function reload(socket: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'reload', '--socket', socket], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('a user removed from the host while lvsd runs: the next reload is refused at the pointer; added back, taken',
  { skip, timeout: 120_000 }, async (t) => {
    const lab = new NetnsLab();
    t.after(() => lab.cleanup());
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-reload-users-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const host = readFileSync('/etc/passwd', 'utf8').replace(/\n?$/, '\n');
    const passwd = join(dir, 'passwd');
    const withUser = `${host}${USER}:x:4242:4243::/nonexistent:/usr/sbin/nologin\n`;
    writeFileSync(passwd, withUser);
    const config = join(dir, 'services.json');
    writeFileSync(config, JSON.stringify({
      health: { execUser: USER },
      services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.0.1', port: 8080 }] }],
    }));
    const socket = join(dir, 'lvsd.sock');
    // the copy is written in place from now on (a bind mount holds its inode), as vipw does
    const child = lab.spawn(lab.namespace('d'), ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/passwd && exec "$@"',
      passwd, process.execPath, DAEMON, config, socket, join(dir, 'state.json')]);
    t.after(() => child.kill('SIGTERM'));
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no daemon.started; stderr: ${stderr.slice(-2000)}`)), 60_000);
      createInterface({ input: child.stdout! }).on('line', (l) => {
        if (l.includes('"daemon.started"')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.deepEqual(await reload(socket), { code: 0, stdout: 'reloaded\n', stderr: '' });
    writeFileSync(passwd, host); // userdel
    const refused = await reload(socket);
    assert.equal(refused.code, 1, `refused: ${JSON.stringify(refused)}`);
    assert.match(refused.stderr, /\/health\/execUser/);
    assert.match(refused.stderr, new RegExp(`no user "${USER}"`));
    writeFileSync(passwd, withUser); // added back
    assert.deepEqual(await reload(socket), { code: 0, stdout: 'reloaded\n', stderr: '' });
  });
