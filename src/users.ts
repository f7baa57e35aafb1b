/**
 * Who a child process runs as: a user name's uid and gid (as `id -u`/`id -g` say, cached), and the
 * PATH every child lvsd starts gets instead of the daemon's own environment.
 */

export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Ids {
  uid: number;
  gid: number;
}
const idCache = new Map<string, Promise<Ids>>();

/** (node:child_process is imported when first used: the VRRP thread loads this module at start, and child_process brings net, dgram and streams, which cost seconds to compile under the test VM's emulation) */
async function idOf(flag: '-u' | '-g', user: string): Promise<number> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile('id', [flag, '--', user], { timeout: 5000 }, (err, stdout) => {
      const n = Number(String(stdout).trim());
      // `id` could not even run (EMFILE, EAGAIN ...): say so, with the code, rather than blame the name
      if (err && typeof err.code === 'string') reject(Object.assign(new Error(`cannot look up user ${user}: spawn ${err.code}`), { code: err.code }));
      else if (err || !Number.isInteger(n)) reject(new Error(`unknown user ${user}`));
      else resolve(n);
    });
  });
}

/** uid and gid of a user name (as `id -u`/`id -g` say), cached; a failed look-up is retried next time. */
export function lookupUser(user: string): Promise<Ids> {
  let p = idCache.get(user);
  if (!p) {
    p = Promise.all([idOf('-u', user), idOf('-g', user)]).then(([uid, gid]) => ({ uid, gid }));
    idCache.set(user, p);
    p.catch(() => idCache.delete(user));
  }
  return p;
}

