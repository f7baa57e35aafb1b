import type { StatusSnapshot } from '../../daemon/status.js';
import { isLvsdError } from '../../errors.js';
import { requestDaemon } from '../control-client.js';
import { EXIT, describeError } from '../exit.js';
import { resolveSocket } from '../socket-path.js';
import { renderKernelTable, renderStatus } from '../status-render.js';
import { timerDelay } from '../../timer-delay.js';
import { isatty } from 'node:tty';
import { writeErr, writeOut } from '../out.js';

export interface StatusArgs {
  socket?: string | undefined;
  config?: string | undefined;
  json: boolean;
  watch?: number | undefined;
  service?: string | undefined;
  instance?: string | undefined;
  /** The whole table read from the kernel rather than the daemon's kept view. */
  fresh?: boolean | undefined;
}

/**
 * `lvsd status`: the running daemon's view. When the daemon is not running it says so, exits non-zero,
 * and still shows the kernel's IPVS table.
 */
/** How long `lvsd status` waits for the daemon's kept view, and for a whole fresh read of the table. */
export const STATUS_TIMEOUT_MS = 10_000;
export const FRESH_TIMEOUT_MS = 120_000;

export async function status(args: StatusArgs): Promise<number> {
  const socket = await resolveSocket(args);
  if (args.watch === undefined) return once(args, socket, false);
  const seconds = Math.max(0.5, args.watch);
  for (;;) {
    await once(args, socket, true);
    await new Promise((r) => setTimeout(r, timerDelay(seconds * 1000)));
  }
}

async function once(args: StatusArgs, socket: string, clear: boolean): Promise<number> {
  const tty = isatty(1);
  let snapshot: StatusSnapshot;
  try {
    const query = new URLSearchParams({ ...(args.service ? { service: args.service } : {}), ...(args.fresh ? { fresh: '1' } : {}) }).toString();
    // --fresh reads the whole table: at 100,000 real servers that is seconds natively, more on a slow host
    snapshot = await requestDaemon<StatusSnapshot>(socket, 'GET', `/v1/status${query ? `?${query}` : ''}`,
      undefined, { timeoutMs: args.fresh ? FRESH_TIMEOUT_MS : STATUS_TIMEOUT_MS });
  } catch (e) {
    if (!isLvsdError(e, 'LVSD_CONTROL')) throw e;
    const out = await kernelOnly(args.json, tty);
    if (clear && tty) writeOut('\x1b[2J\x1b[H');
    writeErr(describeError(e) + '\n');
    writeOut(out);
    return EXIT.daemon;
  }
  const text = args.json
    ? JSON.stringify(snapshot, null, 2) + '\n'
    : renderStatus(snapshot, {
      color: tty,
      ...(tty && process.stdout.columns ? { width: process.stdout.columns } : {}),
      ...(args.service ? { service: args.service } : {}),
      ...(args.instance ? { instance: args.instance } : {}),
    });
  if (clear && tty) writeOut('\x1b[2J\x1b[H');
  writeOut(text.endsWith('\n') ? text : text + '\n');
  return EXIT.ok;
}

/** The kernel's IPVS table, read directly, for when the daemon is not there to ask. */
async function kernelOnly(json: boolean, tty: boolean): Promise<string> {
  try {
    const { createIpvsClient } = await import('../../ipvs/index.js');
    const client = await createIpvsClient();
    try {
      const entries = await client.dump();
      if (json) {
        return JSON.stringify({ daemon: 'not running', kernel: entries },
          (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n';
      }
      const text = 'The kernel\'s IPVS table (read directly):\n' + renderKernelTable(entries, { color: tty });
      return text.endsWith('\n') ? text : text + '\n';
    } finally {
      client.close();
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return json ? JSON.stringify({ daemon: 'not running', kernel: null, error: why }) + '\n' : `The kernel's IPVS table cannot be read: ${why}\n`;
  }
}
