/**
 * A thin generic netlink socket over the `netlink` package's RawNetlinkSocket: sends prebuilt messages,
 * matches every reply to its request by sequence number, keeps the kernel's errno, runs dumps one at a time
 * (the kernel refuses a second dump on a socket while one is running) and puts a deadline on every request.
 *
 * Overruns: the kernel drops a reply that does not fit the receive buffer and flags the socket (ENOBUFS).
 * netlink@0.3.0 cannot survive that flag: the socket polls POLLERR, libuv reports EBADF, and the binding
 * aborts the process while building the error (ErrnoException with a NULL syscall name). So this socket
 * prevents overruns by construction: requests wait in a queue until the replies already owed fit in half the
 * receive buffer, counted at what the kernel charges for each reply (its skb truesize, not its length).
 * If an overrun is reported anyway (NLMSG_OVERRUN, or an ENOBUFS 'error' event from a fixed binding), every
 * request in flight fails with LVSD_NETLINK_OVERRUN, so the caller re-reads the table instead of hanging.
 */
import { RawNetlinkSocket } from 'netlink';
import { LvsdError } from '../errors.js';
import * as C from './constants.js';
import { hostS32At, parseNlmsgerr, parseNlmsgs, type NlMsg } from './nlattr.js';

export interface GenlSocketOptions {
  /** SO_RCVBUF to ask for (the kernel caps it at net.core.rmem_max). Default 8 MiB. */
  recvBufferSize?: number;
  /** Milliseconds without any reply after which a request fails. Default 10,000. */
  timeoutMs?: number;
  /** At most this many acknowledgements owed at once (the pipelining window); default what the buffer holds. */
  window?: number;
}

/** A refusal by the kernel, errno kept. The client turns it into an LvsdError naming the object. */
export class NetlinkErrno extends Error {
  constructor(readonly errno: number, readonly kernelText?: string) {
    super(`netlink error ${errno}${kernelText ? `: ${kernelText}` : ''}`);
    this.name = 'NetlinkErrno';
  }
}

type Kind = 'ack' | 'get' | 'dump';

/**
 * What the kernel charges the receive buffer for the replies to one request, in bytes (skb truesize, with
 * margin): an acknowledgement (an error one echoes the request), a doit reply (genlmsg_new of
 * NLMSG_DEFAULT_SIZE), a dump part (the kernel continues a dump only while the buffer is half empty).
 */
export const REPLY_COST: Readonly<Record<Kind, number>> = { ack: 2048, get: 16384, dump: 65536 };

interface Pending {
  kind: Kind;
  what: string;
  parts: NlMsg[];
  deadline: number;
  resolve: (parts: NlMsg[]) => void;
  reject: (e: Error) => void;
}

interface Queued {
  seq: number;
  msg: Buffer;
  pending: Pending;
}

export class GenlSocket {
  private readonly raw: RawNetlinkSocket;
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private seq = 1;
  private closed = false;
  private referenced = true;
  private timer: NodeJS.Timeout | undefined;
  /** Dumps waiting for the one running to finish. */
  private dumpChain: Promise<unknown> = Promise.resolve();
  /** Requests built but not sent yet, waiting for room in the receive buffer. */
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  /** Bytes of receive buffer the replies owed may take; halves after an overrun. */
  private budget: number;
  private owed = 0;
  /** How many times the receive buffer overflowed. */
  overruns = 0;

  constructor(options: GenlSocketOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.raw = new RawNetlinkSocket(C.NETLINK_GENERIC, {
      recvBufferSize: options.recvBufferSize ?? 8 << 20,
      sendBufferSize: 1 << 20,
    });
    this.raw.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.port));
    this.raw.on('truncatedMessage', () => this.failAll(new LvsdError('LVSD_IPVS_PROTOCOL', 'netlink reply: truncated datagram')));
    this.raw.on('error', (err) => this.onError(err));
    this.setRef(false);
    this.budget = Math.max(REPLY_COST.ack, Math.floor(this.raw.getRecvBufferSize() / 2));
    if (options.window !== undefined) this.budget = Math.min(this.budget, Math.max(1, options.window) * REPLY_COST.ack);
  }

  /** How many acknowledgements may be owed at once: the pipelining window of changes. */
  get ackWindow(): number {
    return Math.max(1, Math.floor(this.budget / REPLY_COST.ack));
  }

  /** The receive buffer the kernel granted, in bytes (what the kernel accounts against, doubled by it). */
  recvBufferSize(): number {
    return this.raw.getRecvBufferSize();
  }

  /** Sends a change and resolves on its acknowledgement; rejects with NetlinkErrno on refusal. */
  ack(build: (seq: number) => Buffer, what: string): Promise<void> {
    return this.request(build, 'ack', what).then(() => undefined);
  }

  /** Sends a single get (no NLM_F_ACK: the reply itself answers) and resolves with its reply message. */
  get(build: (seq: number) => Buffer, what: string): Promise<NlMsg[]> {
    return this.request(build, 'get', what);
  }

  /** Sends a dump after any dump already running on this socket and resolves with every part. */
  dump(build: (seq: number) => Buffer, what: string): Promise<NlMsg[]> {
    const run = this.dumpChain.then(() => this.request(build, 'dump', what));
    this.dumpChain = run.catch(() => undefined);
    return run;
  }

  /** Requests sent or queued and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failEverything(new LvsdError('LVSD_IPVS_UNAVAILABLE', 'netlink socket closed'));
    if (this.timer) clearInterval(this.timer);
    this.raw.close();
  }

  private nextSeq(): number {
    let s = this.seq;
    while (this.pending.has(s) || s === 0) s = (s % 0xffffffff) + 1;
    this.seq = (s % 0xffffffff) + 1;
    return s;
  }

  private request(build: (seq: number) => Buffer, kind: Kind, what: string): Promise<NlMsg[]> {
    if (this.closed) return Promise.reject(new LvsdError('LVSD_IPVS_UNAVAILABLE', 'netlink socket closed'));
    const seq = this.nextSeq();
    let msg: Buffer;
    try {
      msg = build(seq);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<NlMsg[]>((resolve, reject) => {
      const pending: Pending = { kind, what, parts: [], deadline: Infinity, resolve, reject };
      this.pending.set(seq, pending);
      this.setRef(true);
      this.queue.push({ seq, msg, pending });
      this.flush();
    });
  }

  /** Sends queued requests while their replies fit the budget (always at least one when none is owed). */
  private flush(): void {
    while (this.queueHead < this.queue.length) {
      const q = this.queue[this.queueHead]!;
      if (this.pending.get(q.seq) !== q.pending) {
        this.queueHead++; // failed while queued
        continue;
      }
      const cost = REPLY_COST[q.pending.kind];
      if (this.owed > 0 && this.owed + cost > this.budget) break;
      this.queueHead++;
      this.owed += cost;
      q.pending.deadline = Date.now() + this.timeoutMs;
      this.armTimer();
      this.raw.send(q.msg, {}, (err) => {
        if (err) this.settle(q.seq, new LvsdError('LVSD_IPVS_UNAVAILABLE', `netlink send failed for ${q.pending.what}: ${err.code ?? err.message}`, { details: { errno: err.errno } }));
      });
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private settle(seq: number, result: NlMsg[] | Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    if (p.deadline !== Infinity) this.owed -= REPLY_COST[p.kind]; // it had been sent
    if (this.pending.size === 0) {
      this.setRef(false);
      this.owed = 0;
      this.queue.length = 0;
      this.queueHead = 0;
    }
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
    if (!this.closed) this.flush();
  }

  private onDatagram(buf: Buffer, port: number): void {
    if (port !== 0) return; // only the kernel speaks to us
    let msgs: NlMsg[];
    try {
      msgs = parseNlmsgs(buf);
    } catch (e) {
      this.failAll(e as Error);
      return;
    }
    for (const m of msgs) this.onMessage(m);
  }

  private onMessage(m: NlMsg): void {
    const p = this.pending.get(m.seq);
    if (!p) return; // a late reply to a request already failed (timeout or overrun)
    p.deadline = Date.now() + this.timeoutMs;
    if (m.type === C.NLMSG_ERROR) {
      let err;
      try {
        err = parseNlmsgerr(m.payload, m.flags);
      } catch (e) {
        this.settle(m.seq, e as Error);
        return;
      }
      this.settle(m.seq, err.errno === 0 ? p.parts : new NetlinkErrno(err.errno, err.message));
    } else if (p.kind === 'get' && m.type !== C.NLMSG_NOOP && m.type !== C.NLMSG_DONE && m.type !== C.NLMSG_OVERRUN) {
      this.settle(m.seq, [m]);
    } else if (m.type === C.NLMSG_DONE) {
      const errno = m.payload.length >= 4 ? -hostS32At(m.payload, 0) : 0;
      this.settle(m.seq, errno > 0 && p.kind === 'dump' ? new NetlinkErrno(errno) : p.parts);
    } else if (m.type === C.NLMSG_OVERRUN) {
      this.overrun('kernel reported NLMSG_OVERRUN');
    } else if (m.type !== C.NLMSG_NOOP) {
      p.parts.push(m);
    }
  }

  private onError(err: Error & { code?: string; errno?: number }): void {
    if (err.code === 'ENOBUFS') {
      this.overrun('netlink receive buffer overflowed (ENOBUFS)');
      return;
    }
    this.failEverything(new LvsdError('LVSD_IPVS_UNAVAILABLE', `netlink socket failed: ${err.message}`, { cause: err }));
  }

  /** Replies were lost: nobody can tell which, so everything in flight fails and the caller re-reads. */
  private overrun(why: string): void {
    this.overruns++;
    this.budget = Math.max(REPLY_COST.ack, Math.floor(this.budget / 2));
    this.failAll(new LvsdError('LVSD_NETLINK_OVERRUN', `${why}: replies were lost, the IPVS table must be re-read`));
  }

  private failAll(e: Error): void {
    const sent = [...this.pending].filter(([, p]) => p.deadline !== Infinity).map(([seq]) => seq);
    for (const seq of sent) this.settle(seq, e);
  }

  /** Fails everything, sent or queued (closing). */
  private failEverything(e: Error): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq, e);
  }

  private armTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), Math.min(250, Math.max(10, this.timeoutMs / 4)));
    this.timer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [seq, p] of this.pending) {
      if (p.deadline <= now) {
        this.settle(seq, new LvsdError('LVSD_NETLINK_OVERRUN', `no reply from the kernel to ${p.what} within ${this.timeoutMs} ms: the IPVS table must be re-read`));
      }
    }
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private setRef(on: boolean): void {
    if (on === this.referenced || this.closed) return;
    this.referenced = on;
    if (on) this.raw.ref();
    else this.raw.unref();
  }
}
