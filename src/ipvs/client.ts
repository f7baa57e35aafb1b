/**
 * IpvsClient over generic netlink: resolves the "IPVS" family, reads the table (services, then each
 * service's destinations, several dumps in parallel over a few sockets), and applies changes pipelined:
 * many requests in flight in few datagrams, each with its own sequence number, refusals matched back by it,
 * one acknowledged barrier per batch. The socket bounds how many are unanswered so that even if all were
 * refused the error replies would fit its receive buffer.
 */
import { constants } from 'node:os';
import { LvsdError } from '../errors.js';
import type { DumpOptions, IpvsClient, IpvsCommand, IpvsInfo, IpvsResult, KernelEntry, SyncDaemon, Timeouts } from './types.js';
import { serviceId } from './types.js';
import * as C from './constants.js';
import { parseGenl } from './nlattr-read.js';
import {
  QUIET_FLAGS, writeCommand, decodeDaemonMessage, decodeDestMessage, decodeFamilyId, decodeServiceMessage, dumpDaemonsMessage,
  dumpDestsMessage, dumpServicesMessage, getConfigMessage, getFamilyMessage, getInfoMessage,
} from './messages.js';
import { decodeInfo, decodeTimeouts } from './system.js';
import { kernelError, NetlinkErrno } from './kernel-errors.js';
import { GenlSocket, type GenlSocketOptions } from './socket.js';
import { TurnBudget } from '../turn-budget.js';

export interface IpvsClientOptions extends GenlSocketOptions {
  /**
   * Sockets dumping destinations in parallel (a socket runs one dump at a time). Default 16: reading 2,000
   * services x 10 in the TCG VM took 10.8 s / 7.1 s with 4 sockets, 3.6 s / 6.4 s with 16, 6.4 s / 12.2 s
   * with 32 (two rounds; ipvsadm -Sn 3.9 s / 5.9 s): more replies handled per event loop turn.
   */
  dumpSockets?: number;
  /**
   * Opens each socket after the first (default: a GenlSocket over the kernel). Tests and benches hand the
   * client sockets that answer from a table in memory (ipvsClientOver).
   */
  openSocket?: (options: GenlSocketOptions) => GenlSocket;
}


/** Batches in flight or queued at once in execute(): two fit the window, a third waits ready. */
const EXECUTE_LANES = 3;

/** The result of every accepted command (one shared object: 110,000 of them otherwise). */
const ACCEPTED: IpvsResult = Object.freeze({ ok: true });

const UNAVAILABLE = 'IPVS is not available in this kernel (modprobe ip_vs)';
const PERMISSION = 'permission denied: lvsd needs CAP_NET_ADMIN';

export async function createIpvsClient(options: IpvsClientOptions = {}): Promise<IpvsClient> {
  const main = new GenlSocket(options);
  try {
    const parts = await main.get((seq) => getFamilyMessage(seq, C.IPVS_GENL_NAME), 'CTRL_CMD_GETFAMILY IPVS');
    const first = parts[0];
    if (!first) throw new LvsdError('LVSD_IPVS_PROTOCOL', 'generic netlink family: the controller sent no reply');
    const family = decodeFamilyId(first.payload).id;
    options.logger?.child({ component: 'ipvs' }).debug({ event: 'ipvs.connect', family, window: main.ackWindow, recvBuffer: main.recvBufferSize() }, 'IPVS netlink family resolved');
    return new NetlinkIpvsClient(main, family, options);
  } catch (e) {
    main.close();
    if (e instanceof NetlinkErrno && e.errno === constants.errno.ENOENT) throw new LvsdError('LVSD_IPVS_UNAVAILABLE', UNAVAILABLE);
    throw queryError(e, 'resolving the IPVS netlink family');
  }
}

/** A client over a socket already open whose IPVS family is known (tests, benches: a socket of their own). */
export function ipvsClientOver(socket: GenlSocket, family: number, options: IpvsClientOptions = {}): IpvsClient {
  return new NetlinkIpvsClient(socket, family, options);
}

/** A refused query (not a change) as an LvsdError. */
function queryError(e: unknown, what: string): unknown {
  if (!(e instanceof NetlinkErrno)) return e;
  if (e.errno === constants.errno.EPERM || e.errno === constants.errno.EACCES) {
    return new LvsdError('LVSD_IPVS_KERNEL', PERMISSION, { details: { errno: e.errno, command: what } });
  }
  return new LvsdError('LVSD_IPVS_KERNEL', `${what} was refused by the kernel (errno ${e.errno})`, { details: { errno: e.errno, command: what } });
}

class NetlinkIpvsClient implements IpvsClient {
  private readonly dumpers: GenlSocket[] = [];
  private closed = false;

  constructor(private socket: GenlSocket, private readonly family: number, private readonly options: IpvsClientOptions) {}

  private open(o: GenlSocketOptions): GenlSocket {
    return this.options.openSocket ? this.options.openSocket(o) : new GenlSocket(o);
  }

  /** The main socket; a new one if the last one broke (a broken socket closes itself, see GenlSocket). */
  private get main(): GenlSocket {
    if (this.socket.isClosed && !this.closed) {
      this.options.logger?.child({ component: 'ipvs' }).warn({ event: 'ipvs.netlink.reopen' }, 'IPVS netlink socket reopened');
      this.socket = this.open(this.options);
    }
    return this.socket;
  }

  /** Changes in flight at most (sized from the receive buffer the kernel granted; halves after an overrun). */
  get window(): number {
    return this.main.ackWindow;
  }

  async info(): Promise<IpvsInfo> {
    const reply = await this.getOne((seq) => getInfoMessage(this.family, seq), 'IPVS_CMD_GET_INFO');
    return decodeInfo(parseGenl(reply, 'IPVS info').attrs);
  }

  async getTimeouts(): Promise<Timeouts> {
    const reply = await this.getOne((seq) => getConfigMessage(this.family, seq), 'IPVS_CMD_GET_CONFIG');
    return decodeTimeouts(parseGenl(reply, 'IPVS timeouts').attrs);
  }

  async getDaemons(): Promise<SyncDaemon[]> {
    const parts = await this.main.dump((seq) => dumpDaemonsMessage(this.family, seq), 'IPVS_CMD_GET_DAEMON').catch((e) => {
      throw queryError(e, 'IPVS_CMD_GET_DAEMON');
    });
    return parts.map((m) => decodeDaemonMessage(m.payload));
  }

  async dump(only?: ReadonlySet<string>, opts: DumpOptions = {}): Promise<KernelEntry[]> {
    const out: KernelEntry[] = [];
    await this.read(only, opts, (e) => void out.push(e));
    return out;
  }

  dumpEach(each: (entry: KernelEntry) => void, opts: DumpOptions = {}, only?: ReadonlySet<string>): Promise<number> {
    return this.read(only, opts, each);
  }

  /**
   * The services, then each one's destinations (several dumps in parallel, see dumpSockets); `each` gets
   * every service once its destinations are decoded, in the order of the service dump (one that finished
   * early waits for those before it: as many as dump sockets run). The client keeps no service it has
   * handed over.
   */
  private async read(only: ReadonlySet<string> | undefined, opts: DumpOptions, each: (entry: KernelEntry) => void): Promise<number> {
    const stats = opts.stats !== false;
    let parts: Array<{ payload: Buffer }> | undefined = await this.main.dump((seq) => dumpServicesMessage(this.family, seq), 'IPVS_CMD_GET_SERVICE dump').catch((e) => {
      throw queryError(e, 'IPVS_CMD_GET_SERVICE dump');
    });
    // decoded a slice per turn (turn-budget.ts): 10,000 services in one go held the event loop ~85 ms natively
    const budget = new TurnBudget();
    let entries: Array<KernelEntry | undefined> = [];
    for (const part of parts) {
      if (budget.spent) await budget.yield();
      const service = decodeServiceMessage(part.payload, stats);
      if (!only || only.has(serviceId(service.key))) entries.push({ service, dests: [] });
    }
    parts = undefined;
    const count = entries.length;
    const done: boolean[] = new Array<boolean>(count).fill(false);
    let handed = 0;
    const sockets = this.dumpSockets(count);
    let next = 0;
    // once one dump failed the read has failed: the other workers stop, and nothing more is handed over
    let failed = false;
    const worker = async (sock: GenlSocket) => {
      while (next < count && !failed) {
        const i = next++;
        const entry = entries[i]!;
        const key = entry.service.key;
        const id = serviceId(key);
        const what = `IPVS_CMD_GET_DEST dump of ${id}`;
        opts.began?.(id);
        const destParts = await sock.dump((seq) => dumpDestsMessage(this.family, seq, key), what).catch((e) => {
          failed = true;
          throw queryError(e, what);
        });
        if (failed) return;
        try {
          entry.dests = destParts.map((m) => decodeDestMessage(m.payload, key.family, stats));
        } catch (e) {
          failed = true;
          throw e;
        }
        done[i] = true;
        while (handed < count && done[handed]) {
          const e = entries[handed]!;
          entries[handed++] = undefined;
          try {
            each(e);
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      }
    };
    try {
      await Promise.all(sockets.map(worker));
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      entries = [];
    }
    return count;
  }

  /**
   * Commands go out in batches of about half the window, each batch as one datagram of unacknowledged
   * changes closed by an acknowledged barrier (see GenlSocket.batch). A few batches are in flight or queued
   * at a time, each built (encoded) only when a lane is free: building all of a 110,000-command plan up
   * front kept every message, pending entry and promise alive at once, and garbage collection made the
   * apply of 10,000 x 10 five times slower per command than of 1,000 x 10 (measured in the VM).
   * Batches are handed to the socket in command order, so the kernel sees the commands in order.
   * Only refusals and one acknowledgement per batch come back.
   */
  async execute(commands: readonly IpvsCommand[]): Promise<IpvsResult[]> {
    const size = Math.max(1, Math.floor(this.main.ackWindow / 2) - 1);
    const results: IpvsResult[] = new Array<IpvsResult>(commands.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < commands.length) {
        const start = next;
        next = Math.min(commands.length, start + size);
        const errors = await this.main.batch(next - start, (i, seq, w) => writeCommand(w, this.family, seq, commands[start + i]!, QUIET_FLAGS));
        for (let i = 0; i < errors.length; i++) {
          const e = errors[i];
          results[start + i] = e === undefined
            ? ACCEPTED
            : { ok: false, error: e instanceof NetlinkErrno ? kernelError(commands[start + i]!, e.errno, e.kernelText) : e };
        }
      }
    };
    const lanes = Math.min(EXECUTE_LANES, Math.ceil(commands.length / size));
    await Promise.all(Array.from({ length: lanes }, lane));
    return results;
  }

  close(): void {
    this.closed = true;
    this.socket.close();
    for (const s of this.dumpers) s.close();
    this.dumpers.length = 0;
  }

  private async getOne(build: (seq: number) => Buffer, what: string): Promise<Buffer> {
    const parts = await this.main.get(build, what).catch((e) => {
      throw queryError(e, what);
    });
    const first = parts[0];
    if (!first) throw new LvsdError('LVSD_IPVS_PROTOCOL', `${what}: the kernel acknowledged without a reply`);
    return first.payload;
  }

  /** The main socket plus extra ones (opened once, kept) so destination dumps run side by side. */
  private dumpSockets(services: number): GenlSocket[] {
    const want = Math.max(1, Math.min(this.options.dumpSockets ?? 16, Math.ceil(services / 8)));
    for (let i = this.dumpers.length - 1; i >= 0; i--) if (this.dumpers[i]!.isClosed) this.dumpers.splice(i, 1);
    while (this.dumpers.length < want - 1) this.dumpers.push(this.open({ ...this.options, recvBufferSize: 1 << 20 }));
    return [this.main, ...this.dumpers.slice(0, want - 1)];
  }
}
