/**
 * Who a child process runs as: a user name's uid and gid (what `id -u`/`id -g` say), and the PATH every
 * child lvsd starts gets instead of the daemon's own environment.
 *
 * Looked up by every `lvsd check`/`apply`, every reload (the users a config names must exist:
 * config/host-users.ts) and every exec check or hook spawned, so answers are kept, but only while what
 * they came from is unchanged:
 * - where NSS asks the files first (`passwd: files ...` in /etc/nsswitch.conf, Debian's default), a user
 *   in /etc/passwd is read from it in-process, as glibc's files module would (the first line with that
 *   name; NSS stops at the first source that knows the user), and kept until /etc/passwd or
 *   /etc/nsswitch.conf changes (device, inode, size, mtime, ctime: useradd, userdel and usermod replace
 *   the file, vipw rewrites it);
 * - any other user (LDAP, sssd, systemd's dynamic users, a numeric id) is asked of NSS itself (`id`) and
 *   kept for a minute at most: nothing on this host says when a directory changed, and sssd keeps its
 *   own answers far longer (entry_cache_timeout, 90 min by default), so a shorter life would only cost
 *   spawns. A failed look-up is not kept: a user added is found at the next one.
 * /etc/group plays no part: the gid is the user's primary group, from its passwd entry.
 */
import { readFileSync, statSync } from 'node:fs';

export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Ids {
  uid: number;
  gid: number;
}

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

/** uid and gid as NSS gives them (`id`). */
async function idsFromNss(user: string): Promise<Ids> {
  const [uid, gid] = await Promise.all([idOf('-u', user), idOf('-g', user)]);
  return { uid, gid };
}

/**
 * Whether NSS asks /etc/passwd first and stops there when it knows the user: the `passwd:` line of
 * nsswitch.conf starts with `files` and no action (`[...]`) follows it. Anything unusual (no such line,
 * two of them, `compat`) is false: `id` is asked then. Pure.
 */
export function passwdFilesFirst(nsswitch: string): boolean {
  const lines = nsswitch.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => /^passwd\s*:/.test(l));
  if (lines.length !== 1) return false;
  const sources = lines[0]!.replace(/^passwd\s*:/, '').trim().split(/\s+/);
  return sources[0] === 'files' && !(sources[1] ?? '').startsWith('[');
}

/** Every user of a passwd file with its uid and gid, the first line of a name winning (as glibc's files module). Pure. */
export function passwdIds(passwd: string): Map<string, Ids> {
  const out = new Map<string, Ids>();
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || out.has(f[0]!)) continue;
    if (!/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.set(f[0]!, { uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

export interface UserResolverOptions {
  passwdFile?: string;
  nsswitchFile?: string;
  /** Asks NSS (default: `id -u` and `id -g`). */
  nss?: (user: string) => Promise<Ids>;
  /** How long an answer from NSS is kept, ms (default 60 000). */
  nssTtlMs?: number;
  now?: () => number;
}

interface Kept {
  ids: Promise<Ids>;
  stamp: string;
  at: number;
  fromFiles: boolean;
}

/** The identity of a file as far as a change goes (useradd & co. write a new file and rename it over it). */
function fileStamp(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return 'none';
  }
}

export class UserResolver {
  private readonly kept = new Map<string, Kept>();
  /** The last answer each user had, for `lookupToRun`. */
  private readonly lastGood = new Map<string, Ids>();
  private files: { stamp: string; filesFirst: boolean; users: Map<string, Ids> } | undefined;
  private readonly passwdFile: string;
  private readonly nsswitchFile: string;
  private readonly nss: (user: string) => Promise<Ids>;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(o: UserResolverOptions = {}) {
    this.passwdFile = o.passwdFile ?? '/etc/passwd';
    this.nsswitchFile = o.nsswitchFile ?? '/etc/nsswitch.conf';
    this.nss = o.nss ?? idsFromNss;
    this.ttlMs = o.nssTtlMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  /** uid and gid of `user`; rejects when it is unknown (or `id` could not run: the error has a `code` then). */
  lookup(user: string): Promise<Ids> {
    const stamp = `${fileStamp(this.passwdFile)}|${fileStamp(this.nsswitchFile)}`;
    const now = this.now();
    const hit = this.kept.get(user);
    if (hit && hit.stamp === stamp && (hit.fromFiles || now - hit.at < this.ttlMs)) return hit.ids;
    const local = this.fromFiles(stamp).get(user);
    if (local) {
      this.lastGood.set(user, local);
      const ids = Promise.resolve({ ...local });
      this.kept.set(user, { ids, stamp, at: now, fromFiles: true });
      return ids;
    }
    const entry: Kept = { ids: this.nss(user), stamp, at: now, fromFiles: false };
    this.kept.set(user, entry);
    entry.ids.then((ids) => this.lastGood.set(user, ids), () => {
      if (this.kept.get(user) === entry) this.kept.delete(user);
    });
    return entry.ids;
  }

  /**
   * For a process about to run as `user` (an exec check, a hook): as `lookup`, but a user this resolver
   * knew and the host no longer has keeps its last uid and gid. Taking every real server out (each exec
   * check failing) because a user was deleted under a running daemon would not be failing safe; the
   * config naming it is refused at the next check or reload, which names the user and the pointer.
   */
  async lookupToRun(user: string): Promise<Ids> {
    try {
      return await this.lookup(user);
    } catch (e) {
      const last = this.lastGood.get(user);
      if (last === undefined || (e as NodeJS.ErrnoException).code !== undefined) throw e;
      return { ...last };
    }
  }

  /** The users /etc/passwd answers for (none when NSS does not ask it first), read again when `stamp` changed. */
  private fromFiles(stamp: string): Map<string, Ids> {
    if (this.files?.stamp !== stamp) {
      let filesFirst = false;
      let users = new Map<string, Ids>();
      try {
        filesFirst = passwdFilesFirst(readFileSync(this.nsswitchFile, 'utf8'));
        if (filesFirst) users = passwdIds(readFileSync(this.passwdFile, 'utf8'));
      } catch {
        filesFirst = false; // unreadable: NSS itself is asked
      }
      this.files = { stamp, filesFirst, users };
    }
    return this.files.filesFirst ? this.files.users : new Map();
  }
}

const resolver = new UserResolver();

/**
 * uid and gid of a user a process is about to run as (as `id -u`/`id -g` say), kept while what they came
 * from is unchanged; a user deleted since keeps its last ids (UserResolver.lookupToRun says why).
 */
export function lookupUser(user: string): Promise<Ids> {
  return resolver.lookupToRun(user);
}

/** Whether `user` exists on this host now (the users a config names: config/host-users.ts); rejects when it does not. */
export function userExists(user: string): Promise<Ids> {
  return resolver.lookup(user);
}
