/**
 * One lvsd per network namespace. Two daemons in one namespace would both run VRRP for the same VIPs
 * (both master) and both program IPVS; a control socket path cannot prevent that, since each can be
 * given its own. So `lvsd run` first binds the abstract Unix socket `@lvsd`: abstract names belong to the
 * network namespace (the kernel scopes them to it), so whatever its control socket, a second daemon in
 * the same namespace fails to bind and one in another namespace does not. The kernel releases the name
 * when the process dies, however it dies (kill -9 included): there is no lock file to go stale.
 *
 * The holder answers every connection with one JSON line `{ lvsd, pid, socket, version }` and closes it,
 * so the refused daemon can name the one running. Abstract sockets have no permissions: a process that
 * squats the name makes lvsd refuse to start, and the error says so and how to find it.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { LvsdError } from '../errors.js';

export const GUARD_NAME = '\0lvsd';
/** As `ss -xlp` shows it. */
export const GUARD_DISPLAY = '@lvsd';

export interface Holder {
  pid: number;
  socket: string;
  version: string;
}

export interface NetnsGuard {
  release(): Promise<void>;
}

/** Claims this network namespace for the daemon; rejects with LVSD_ALREADY_RUNNING naming the holder. */
export async function claimNetns(self: Holder, name = GUARD_NAME): Promise<NetnsGuard> {
  const hello = `${JSON.stringify({ lvsd: true, ...self })}\n`;
  const server: Server = createServer((conn) => {
    conn.on('error', () => undefined);
    conn.end(hello, () => conn.destroy());
  });
  server.maxConnections = 4; // a client that never reads costs one descriptor at most this many times
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: name }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EADDRINUSE') {
      throw new LvsdError('LVSD_ALREADY_RUNNING', `cannot bind the namespace guard ${display(name)}: ${e.message}`, { cause: e });
    }
    const holder = await askHolder(name);
    throw new LvsdError('LVSD_ALREADY_RUNNING', holder
      ? `another lvsd (pid ${holder.pid}, control socket ${holder.socket}) is running in this network namespace; ` +
        'two would both take the VIPs and program IPVS: stop it first'
      : `the namespace guard ${display(name)} is held by a process that does not answer as lvsd; ` +
        `find it with: ss -xlp | grep '${display(name)}'`,
    { details: holder ?? undefined });
  });
  server.unref();
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function display(name: string): string {
  return name.startsWith('\0') ? `@${name.slice(1)}` : name;
}

/** What the daemon holding the guard says about itself, or undefined (no answer within 2 s, not lvsd). */
function askHolder(name: string): Promise<Holder | undefined> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: name });
    let text = '';
    const done = (h: Holder | undefined) => {
      sock.destroy();
      resolve(h);
    };
    sock.setTimeout(2000, () => done(undefined));
    sock.on('error', () => done(undefined));
    sock.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      if (text.length > 4096) done(undefined);
    });
    sock.on('end', () => {
      try {
        const m = JSON.parse(text) as Partial<Holder> & { lvsd?: unknown };
        done(m.lvsd === true && typeof m.pid === 'number' && typeof m.socket === 'string'
          ? { pid: m.pid, socket: m.socket, version: String(m.version ?? '') }
          : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}
