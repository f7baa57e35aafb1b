/**
 * User look-ups (src/users.ts): where NSS asks the files first, /etc/passwd is read in-process and its
 * answers kept only while it (and nsswitch.conf) are unchanged; other users are asked of NSS and kept a
 * minute at most; failures are never kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserResolver, passwdFilesFirst, passwdIds, type Ids } from '../../src/users.js';

test('nsswitch: files first only when `passwd:` starts with files and no action follows it', () => {
  assert.equal(passwdFilesFirst('# Debian\npasswd:         files systemd\ngroup: files systemd\n'), true);
  assert.equal(passwdFilesFirst('passwd: files'), true);
  assert.equal(passwdFilesFirst('passwd:files'), true);
  assert.equal(passwdFilesFirst('passwd: sss files'), false);
  assert.equal(passwdFilesFirst('passwd: compat'), false);
  assert.equal(passwdFilesFirst('passwd: files [SUCCESS=merge] ldap'), false);
  assert.equal(passwdFilesFirst('# passwd: files\ngroup: files'), false, 'no passwd line: NSS is asked');
  assert.equal(passwdFilesFirst('passwd: files\npasswd: ldap'), false, 'two lines: NSS is asked');
  assert.equal(passwdFilesFirst('passwd: files # comment'), true);
});

test('passwd: the first line of a name wins; broken lines are skipped', () => {
  const ids = passwdIds('root:x:0:0:root:/root:/bin/bash\nweb:x:1000:1001::/home/web:/bin/sh\nweb:x:5:5::/:/bin/sh\nbad:x:y:1::/:/bin/sh\n+::::::\nshort:x:1:2\n');
  assert.deepEqual([...ids], [['root', { uid: 0, gid: 0 }], ['web', { uid: 1000, gid: 1001 }]]);
});

function fixture(t: { after(fn: () => void): void }, nsswitch = 'passwd: files systemd\n') {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const passwd = join(dir, 'passwd');
  const nss = join(dir, 'nsswitch.conf');
  writeFileSync(nss, nsswitch);
  /** As useradd/userdel do: a new file renamed over the old. */
  const writePasswd = (lines: string[]) => {
    writeFileSync(`${passwd}+`, lines.join('\n') + '\n');
    renameSync(`${passwd}+`, passwd);
  };
  const directory = new Map<string, Ids>([['ldapuser', { uid: 7000, gid: 7000 }]]);
  let clock = 0;
  const asked: string[] = [];
  const resolver = new UserResolver({
    passwdFile: passwd, nsswitchFile: nss, nssTtlMs: 60_000, now: () => clock,
    nss: async (user) => {
      asked.push(user);
      const ids = directory.get(user);
      if (!ids) throw new Error(`unknown user ${user}`);
      return ids;
    },
  });
  return { resolver, writePasswd, directory, asked, advance: (ms: number) => (clock += ms), nss };
}

test('a user in /etc/passwd is read in-process and kept until the file changes: userdel, useradd and usermod are seen at once', async (t) => {
  const f = fixture(t);
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash', 'checker:x:1000:1000::/:/bin/sh']);
  assert.deepEqual(await f.resolver.lookup('checker'), { uid: 1000, gid: 1000 });
  assert.deepEqual(await f.resolver.lookup('checker'), { uid: 1000, gid: 1000 });
  assert.deepEqual(f.asked, [], 'NSS (id) never asked');
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash']); // userdel
  await assert.rejects(f.resolver.lookup('checker'), /unknown user checker/);
  assert.deepEqual(f.asked, ['checker'], 'not in the files: NSS asked (another source may know it)');
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash', 'checker:x:1001:50::/:/bin/sh']); // useradd, another uid
  assert.deepEqual(await f.resolver.lookup('checker'), { uid: 1001, gid: 50 });
  assert.deepEqual(f.asked, ['checker'], 'a failure is not kept, and the new entry is read from the file');
});

test('a user only NSS knows is asked again after a minute, or at once when the files change; a failure is not kept', async (t) => {
  const f = fixture(t);
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash']);
  assert.deepEqual(await f.resolver.lookup('ldapuser'), { uid: 7000, gid: 7000 });
  f.advance(30_000);
  assert.deepEqual(await f.resolver.lookup('ldapuser'), { uid: 7000, gid: 7000 });
  assert.deepEqual(f.asked, ['ldapuser'], 'kept within the minute');
  f.directory.delete('ldapuser'); // removed from the directory
  f.advance(31_000);
  await assert.rejects(f.resolver.lookup('ldapuser'), /unknown user/);
  assert.deepEqual(f.asked, ['ldapuser', 'ldapuser']);
  f.directory.set('ldapuser', { uid: 7001, gid: 7001 }); // back
  assert.deepEqual(await f.resolver.lookup('ldapuser'), { uid: 7001, gid: 7001 }, 'the failure was not kept');
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash', 'ldapuser:x:10:10::/:/bin/sh']); // now shadowed by the files
  assert.deepEqual(await f.resolver.lookup('ldapuser'), { uid: 10, gid: 10 });
});

test('where NSS does not ask the files first, every user is asked of NSS (kept a minute)', async (t) => {
  const f = fixture(t, 'passwd: sss files\n');
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash', 'ldapuser:x:10:10::/:/bin/sh']);
  assert.deepEqual(await f.resolver.lookup('ldapuser'), { uid: 7000, gid: 7000 }, 'sss answers first');
  await assert.rejects(f.resolver.lookup('root'));
  assert.deepEqual(f.asked, ['ldapuser', 'root']);
});

test('a process about to run as a user deleted under the daemon keeps its last ids (exec checks do not all fail); the check of the config says it is gone', async (t) => {
  const f = fixture(t);
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash', 'checker:x:1000:1000::/:/bin/sh']);
  assert.deepEqual(await f.resolver.lookupToRun('checker'), { uid: 1000, gid: 1000 });
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash']); // userdel
  await assert.rejects(f.resolver.lookup('checker'), /unknown user/, 'a reload or lvsd check refuses the config');
  assert.deepEqual(await f.resolver.lookupToRun('checker'), { uid: 1000, gid: 1000 }, 'a running check keeps going as before');
  await assert.rejects(f.resolver.lookupToRun('never-known'), /unknown user/);
  f.writePasswd(['root:x:0:0:root:/root:/bin/bash', 'checker:x:1005:1005::/:/bin/sh']); // usermod -u
  assert.deepEqual(await f.resolver.lookupToRun('checker'), { uid: 1005, gid: 1005 });
});
