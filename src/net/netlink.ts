/**
 * Netlink sockets through the lvsd_native addon (native/src/netlink_socket.c): open one of any protocol,
 * send datagrams, receive batches. Nothing a socket reports can throw out of the event loop: a datagram
 * arrives as a Buffer, a failure as a NetlinkFailure value in the same batch, and a send failure is a
 * returned errno. What a batch means (replies, events) is decided by the caller: rtnetlink requests here
 * (rtnlRequest), link events in links.ts, generic netlink IPVS in src/ipvs/socket.ts.
 */
import { getSystemErrorName } from 'node:util';
import { LvsdError } from '../errors.js';
import { timerDelay } from '../timer-delay.js';
import { loadNative } from './native.js';
import { decodeRtnl, type RtItem } from './rtnl.js';

export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;

/** A condition the socket reported, as a value. */
export interface NetlinkFailure {
  /** 'overrun': the receive buffer overflowed (ENOBUFS), messages were lost; 'truncated': a datagram did not
   *  fit and was lost; 'error': another socket error (messages may have been lost; the socket goes on);
   *  'broken': the socket no longer reads (close it, open another). */
  kind: 'overrun' | 'truncated' | 'error' | 'broken';
  errno: number;
  code: string;
  message: string;
}

export type NetlinkItem = Buffer | NetlinkFailure;

export interface NetlinkSocketOptions {
  /** Multicast groups to join (RTNLGRP_*, or a generic netlink group id). */
  groups?: readonly number[];
  /** Receive buffer to ask for, bytes (SO_RCVBUFFORCE, else SO_RCVBUF capped by rmem_max). 0: the default. */
  recvBufferSize?: number;
  /**
   * Every batch read in one wake of the event loop, in order. `drained`: the socket's queue was empty
   * after it (anything read later was queued after this batch was read).
   */
  onBatch(items: NetlinkItem[], drained: boolean): void;
  /** A throw from onBatch (a bug): reported here instead of killing the process. Default: a process warning. */
  onCallbackError?(error: unknown): void;
}

interface NetlinkBinding {
  nlOpen(protocol: number, groups: number[], rcvbuf: number, cb: (items: Array<Buffer | Error>, drained: boolean) => void): object;
  nlSend(handle: object, datagram: Buffer): number;
  nlClose(handle: object): void;
  nlRef(handle: object, ref: boolean): void;
  nlInfo(handle: object): { port?: number; rcvbuf?: number };
}

function errnoCode(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function toFailure(e: Error & { errno?: number; truncated?: number; stopped?: boolean }): NetlinkFailure {
  const errno = typeof e.errno === 'number' ? e.errno : 0;
  const code = errnoCode(errno);
  const kind = e.stopped ? 'broken' : code === 'ENOBUFS' ? 'overrun' : e.truncated !== undefined ? 'truncated' : 'error';
  return { kind, errno, code, message: e.message };
}

export class NetlinkSocket {
  private readonly native: NetlinkBinding;
  private handle: object | undefined;

  /** Throws LVSD_NATIVE_UNAVAILABLE when the socket cannot be opened (addon missing, no permission). */
  constructor(readonly protocol: number, options: NetlinkSocketOptions) {
    this.native = loadNative() as unknown as NetlinkBinding;
    const report = options.onCallbackError ?? ((e: unknown) => process.emitWarning(`netlink batch handler failed: ${(e as Error)?.stack ?? String(e)}`));
    try {
      this.handle = this.native.nlOpen(protocol, [...(options.groups ?? [])], options.recvBufferSize ?? 0, (items, drained) => {
        try {
          options.onBatch(items.map((i) => (Buffer.isBuffer(i) ? i : toFailure(i))), drained);
        } catch (e) {
          try {
            report(e);
          } catch {
            // nothing more can be done without risking the process
          }
        }
      });
    } catch (e) {
      const err = e as Error & { errno?: number };
      const why = typeof err.errno === 'number' ? errnoCode(err.errno) : err.message;
      throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot open a netlink socket (protocol ${protocol}): ${err.message}`, {
        details: { protocol, errno: why },
        cause: e,
      });
    }
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Sends one datagram to the kernel. Returns undefined when sent, else the errno name (never throws). */
  send(datagram: Buffer): string | undefined {
    if (!this.handle) return 'EBADF';
    const n = this.native.nlSend(this.handle, datagram);
    return n < 0 ? errnoCode(-n) : undefined;
  }

  /** The receive buffer the kernel granted (what it accounts against), bytes. */
  recvBufferSize(): number {
    return this.handle ? this.native.nlInfo(this.handle).rcvbuf ?? 0 : 0;
  }

  ref(on: boolean): void {
    if (this.handle) this.native.nlRef(this.handle, on);
  }

  close(): void {
    if (!this.handle) return;
    this.native.nlClose(this.handle);
    this.handle = undefined;
  }
}

export interface RtnlReply {
  /** The messages answering the request (a dump's parts, a get's reply), decoded. */
  items: RtItem[];
  /** The kernel refused: positive errno (0 when it did not). */
  errno: number;
}

/**
 * One rtnetlink request on a socket of its own, closed afterwards: resolves when the kernel acknowledged,
 * refused (errno in the reply, not thrown), ended the dump, or sent the single reply of a get. Rejects with an
 * LvsdError only when the answer cannot be known: LVSD_NETLINK_OVERRUN (replies lost or truncated, or none
 * within `timeoutMs`), LVSD_NATIVE_UNAVAILABLE (the socket could not be opened or broke).
 */
export function rtnlRequest(build: (seq: number) => Buffer, kind: 'ack' | 'get' | 'dump', what: string, timeoutMs = 5000): Promise<RtnlReply> {
  const seq = 1;
  return new Promise<RtnlReply>((resolve, reject) => {
    const items: RtItem[] = [];
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (result: RtnlReply | LvsdError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.close();
      if (result instanceof LvsdError) reject(result);
      else resolve(result);
    };
    const onMessage = (item: RtItem): void => {
      if (item.kind === 'malformed') {
        finish(new LvsdError('LVSD_NETLINK_OVERRUN', `${what}: unreadable reply (${item.why})`));
      } else if (item.seq !== seq) {
        return;
      } else if (item.kind === 'error') {
        finish({ items, errno: item.errno });
      } else if (item.kind === 'done') {
        finish({ items, errno: item.errno });
      } else {
        items.push(item);
        if (kind === 'get') finish({ items, errno: 0 });
      }
    };
    let socket: NetlinkSocket | undefined;
    try {
      socket = new NetlinkSocket(NETLINK_ROUTE, {
        onBatch: (batch) => {
          for (const i of batch) {
            if (done) return;
            if (Buffer.isBuffer(i)) {
              for (const m of decodeRtnl(i)) onMessage(m);
            } else {
              const code = i.kind === 'broken' || i.kind === 'error' ? 'LVSD_NATIVE_UNAVAILABLE' : 'LVSD_NETLINK_OVERRUN';
              finish(new LvsdError(code, `${what}: ${i.message}`, { details: { errno: i.code } }));
            }
          }
        },
      });
    } catch (e) {
      finish(e as LvsdError);
      return;
    }
    timer = setTimeout(() => finish(new LvsdError('LVSD_NETLINK_OVERRUN', `${what}: no reply from the kernel within ${timeoutMs} ms`)), timerDelay(timeoutMs));
    let msg: Buffer;
    try {
      msg = build(seq);
    } catch (e) {
      done = true;
      clearTimeout(timer);
      socket.close();
      reject(e);
      return;
    }
    const err = socket.send(msg);
    if (err) finish(new LvsdError('LVSD_NATIVE_UNAVAILABLE', `${what}: netlink send failed (${err})`, { details: { errno: err } }));
  });
}
