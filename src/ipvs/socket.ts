/**
 * A thin generic netlink socket over the addon's netlink socket (src/net/netlink.ts): sends prebuilt messages,
 * matches every reply to its request by sequence number, keeps the kernel's errno, runs dumps one at a time
 * (the kernel refuses a second dump on a socket while one is running) and puts a deadline on every request.
 *
 * Overruns: the kernel drops a reply that does not fit the receive buffer and flags the socket (ENOBUFS).
 * This socket avoids them by construction: requests wait in a queue until the replies already owed fit in
 * half the receive buffer, counted at what the kernel charges for each reply (its skb truesize, not its
 * length). If an overrun is reported anyway (ENOBUFS, NLMSG_OVERRUN, a truncated or unreadable datagram),
 * every request in flight fails with LVSD_NETLINK_OVERRUN, so the caller re-reads the table instead of
 * hanging; the socket goes on. A broken socket fails everything with LVSD_IPVS_UNAVAILABLE and is closed.
 */
import { LvsdError } from '../errors.js';
import { timerDelay } from '../timer-delay.js';
import { NETLINK_GENERIC, NetlinkSocket, type NetlinkFailure, type NetlinkItem } from '../net/index.js';
import { silentLogger, type Logger } from '../log.js';
import * as C from './constants.js';
import { DatagramWriter } from './datagram-writer.js';
import { NetlinkErrno } from './kernel-errors.js';
import { AttrWriter } from './nlattr.js';
import { hostS32At, parseNlmsgerr, parseNlmsgs, type NlMsg } from './nlattr-read.js';
import { quietChange, refusalOutcome, settleBatch, writeBatch, type Batch } from './quiet-batch.js';
import { ReplyInbox } from './reply-inbox.js';
import { freeSeqRange } from './seq-range.js';

export interface GenlSocketOptions {
  /** SO_RCVBUF to ask for (the kernel caps it at net.core.rmem_max). Default 8 MiB. */
  recvBufferSize?: number;
  /** Milliseconds without any reply after which a request fails. Default 10,000. */
  timeoutMs?: number;
  /** At most this many acknowledgements owed at once (the pipelining window); default what the buffer holds. */
  window?: number;
  /** Where overruns and timeouts are logged (events ipvs.netlink.overrun, ipvs.netlink.timeout). Default silent. */
  logger?: Logger;
  /** Called on every overrun (replies lost, requests in flight failed): for a metric. */
  onOverrun?: () => void;
}

/** ack: answered by an acknowledgement; quiet: sent without NLM_F_ACK, answered only on refusal (see batch). */
type Kind = 'ack' | 'quiet' | 'get' | 'dump';

/**
 * What the kernel charges the receive buffer for the replies to one request, in bytes (skb truesize, with
 * margin): an acknowledgement (an error one echoes the request), a doit reply (genlmsg_new of
 * NLMSG_DEFAULT_SIZE), a dump part (the kernel continues a dump only while the buffer is half empty).
 */
export const REPLY_COST: Readonly<Record<Kind, number>> = { ack: 2048, quiet: 2048, get: 16384, dump: 65536 };

interface Pending {
  kind: Kind;
  what: string;
  parts: NlMsg[];
  deadline: number;
  resolve: (parts: NlMsg[]) => void;
  reject: (e: Error) => void;
  /** For a batch's barrier: the batch, whose changes not refused before the barrier's acknowledgement succeeded. */
  batch?: Batch;
}

/** One or more datagrams sent together, the request that answers last, and what its replies may cost. */
interface Queued {
  seq: number;
  pending: Pending;
  datagrams: Buffer[];
  cost: number;
}

export class GenlSocket {
  private readonly raw: NetlinkSocket;
  private readonly pending = new Map<number, Pending>();
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly onOverrun: (() => void) | undefined;
  private seq = 1;
  private closed = false;
  private referenced = true;
  private timer: NodeJS.Timeout | undefined;
  /** When a datagram last arrived, and when the deadlines were last checked (ms since the epoch). */
  private lastRx = 0;
  private lastSweep = 0;
  /** Dumps waiting for the one running to finish. */
  private dumpChain: Promise<unknown> = Promise.resolve();
  /** Batches sent or queued and not answered yet, oldest first (a refusal is looked up among them). */
  private readonly batches: Batch[] = [];
  /** Requests built but not sent yet, waiting for room in the receive buffer. */
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  /** What the addon delivered and is not read yet, read a slice of each turn (reply-inbox.ts). */
  private readonly inbox = new ReplyInbox((item) => (Buffer.isBuffer(item) ? this.onDatagram(item) : this.onFailure(item)), () => this.closed);
  /** Bytes of receive buffer the replies owed may take; halves after an overrun. */
  private budget: number;
  private owed = 0;
  /** How many times the receive buffer overflowed. */
  overruns = 0;

  constructor(options: GenlSocketOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.log = (options.logger ?? silentLogger).child({ component: 'ipvs' });
    this.onOverrun = options.onOverrun;
    this.raw = new NetlinkSocket(NETLINK_GENERIC, {
      recvBufferSize: options.recvBufferSize ?? 8 << 20,
      onBatch: (items) => this.onBatch(items),
      onCallbackError: (e) => this.log.error({ event: 'ipvs.netlink.bug', err: (e as Error)?.stack ?? String(e) }, 'netlink reply handler failed'),
    });
    this.setRef(false);
    this.budget = Math.max(REPLY_COST.ack, Math.floor(this.raw.recvBufferSize() / 2));
    if (options.window !== undefined) this.budget = Math.min(this.budget, Math.max(1, options.window) * REPLY_COST.ack);
  }

  /** How many acknowledgements may be owed at once: the pipelining window of changes. */
  get ackWindow(): number {
    return Math.max(1, Math.floor(this.budget / REPLY_COST.ack));
  }

  /** The receive buffer the kernel granted, in bytes (what the kernel accounts against, doubled by it). */
  recvBufferSize(): number {
    return this.raw.recvBufferSize();
  }

  /** Sends a change and resolves on its acknowledgement; rejects with NetlinkErrno on refusal. */
  ack(build: (seq: number) => Buffer, what: string): Promise<void> {
    return this.request(build, 'ack', what).then(() => undefined);
  }

  /**
   * Sends `count` changes without NLM_F_ACK (the i-th written by `write(i, seq, w)` at the writer's
   * position) back to back in as few datagrams as fit, then an acknowledged NLMSG_NOOP as a barrier. The
   * kernel handles the messages of a datagram in order and answers a change without NLM_F_ACK only when it
   * refuses it, so once the barrier is acknowledged every change with no error reply before it has
   * succeeded: one reply for the whole batch instead of one per change. The changes take consecutive
   * sequence numbers and no entry, promise, text or buffer of their own: they are written straight into
   * the datagrams, and a refusal finds its change by its place in the batch.
   * Resolves with one entry per change: undefined when it succeeded, else its error (NetlinkErrno on
   * refusal, what `write` threw, or what failed the barrier: overrun, timeout, closed socket).
   */
  batch(count: number, write: (i: number, seq: number, w: AttrWriter) => void): Promise<Array<Error | undefined>> {
    if (this.closed) return Promise.resolve(Array.from({ length: count }, () => new LvsdError('LVSD_IPVS_UNAVAILABLE', 'netlink socket closed')));
    if (count === 0) return Promise.resolve([]);
    const first = this.seqRange(count + 1);
    const datagrams = new DatagramWriter();
    const batch = writeBatch(first, count, write, datagrams);
    if (batch.owedChanges === 0) return Promise.resolve(batch.results as Array<Error | undefined>);
    this.batches.push(batch);
    const barrierSeq = first + count;
    const barrier = this.newPending('ack', `the barrier after ${count} changes`);
    barrier.pending.batch = batch;
    this.pending.set(barrierSeq, barrier.pending);
    datagrams.add((w) => w.endMessage(w.beginNlmsg(C.NLMSG_NOOP, C.NLM_F_REQUEST | C.NLM_F_ACK, barrierSeq)));
    this.setRef(true);
    this.queue.push({ seq: barrierSeq, pending: barrier.pending, datagrams: datagrams.done(), cost: batch.owedChanges * REPLY_COST.quiet + REPLY_COST.ack });
    this.flush();
    // the barrier's outcome is the batch's: settle() writes it into every change not refused before it
    return barrier.promise.then(() => batch.results as Array<Error | undefined>, () => batch.results as Array<Error | undefined>);
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

  /** `n` consecutive sequence numbers, none 0 and none in use by a request or batch still unanswered (seq-range.ts). */
  private seqRange(n: number): number {
    const s = freeSeqRange(this.seq, n, this.pending, this.batches);
    this.seq = s + n > 0xffffffff ? 1 : s + n;
    return s;
  }

  /** Requests sent or queued and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Whether the socket is closed (by close() or because it broke): open a new one. */
  get isClosed(): boolean {
    return this.closed;
  }

  close(reason: LvsdError = new LvsdError('LVSD_IPVS_UNAVAILABLE', 'netlink socket closed')): void {
    if (this.closed) return;
    this.closed = true;
    this.failEverything(reason);
    if (this.timer) clearInterval(this.timer);
    this.raw.close();
  }

  private request(build: (seq: number) => Buffer, kind: Kind, what: string): Promise<NlMsg[]> {
    if (this.closed) return Promise.reject(new LvsdError('LVSD_IPVS_UNAVAILABLE', 'netlink socket closed'));
    const seq = this.seqRange(1);
    let msg: Buffer;
    try {
      msg = build(seq);
    } catch (e) {
      return Promise.reject(e);
    }
    const { pending, promise } = this.newPending(kind, what);
    this.pending.set(seq, pending);
    this.setRef(true);
    this.queue.push({ seq, pending, datagrams: [msg], cost: REPLY_COST[kind] });
    this.flush();
    return promise;
  }

  private newPending(kind: Kind, what: string): { pending: Pending; promise: Promise<NlMsg[]> } {
    let pending!: Pending;
    const promise = new Promise<NlMsg[]>((resolve, reject) => {
      pending = { kind, what, parts: [], deadline: Infinity, resolve, reject };
    });
    return { pending, promise };
  }

  /** Sends queued requests while their replies fit the budget (always at least one when none is owed). */
  private flush(): void {
    while (this.queueHead < this.queue.length) {
      const q = this.queue[this.queueHead]!;
      if (this.pending.get(q.seq) !== q.pending) {
        this.queueHead++; // failed while queued
        continue;
      }
      if (this.owed > 0 && this.owed + q.cost > this.budget) break;
      this.queueHead++;
      this.owed += q.cost;
      q.pending.deadline = Date.now() + this.timeoutMs;
      this.armTimer();
      for (const datagram of q.datagrams) {
        const err = this.raw.send(datagram);
        if (!err) continue;
        this.settle(q.seq, new LvsdError('LVSD_IPVS_UNAVAILABLE', `netlink send failed for ${q.pending.what}: ${err}`, { details: { errno: err } }));
        break;
      }
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
    const b = p.batch;
    if (p.deadline !== Infinity) {
      // it had been sent: its replies are no longer owed (a batch's refused changes were paid as they came)
      this.owed -= b ? b.owedChanges * REPLY_COST.quiet + REPLY_COST.ack : REPLY_COST[p.kind];
    }
    if (b) {
      // a barrier: its acknowledgement means success for the changes not refused before it, its failure fails them
      settleBatch(b, result instanceof Error ? result : undefined);
      const at = this.batches.indexOf(b);
      if (at >= 0) this.batches.splice(at, 1);
    }
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

  private onBatch(items: NetlinkItem[]): void {
    if (this.closed) return;
    this.lastRx = Date.now();
    this.inbox.push(items);
  }

  /** The addon drops datagrams from anyone but the kernel. */
  private onDatagram(buf: Buffer): void {
    let msgs: NlMsg[];
    try {
      msgs = parseNlmsgs(buf);
    } catch (e) {
      this.overrun(`unreadable netlink datagram (${(e as Error).message})`);
      return;
    }
    for (const m of msgs) this.onMessage(m);
  }

  private onMessage(m: NlMsg): void {
    const p = this.pending.get(m.seq);
    if (!p) {
      const change = quietChange(this.batches, m.seq);
      if (change) this.onRefusal(change.batch, change.index, m);
      return; // else a late reply to a request already failed (timeout or overrun)
    }
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

  /**
   * A reply to a quiet change of a batch. Only a refusal is expected; an acknowledgement (not asked for)
   * settles it as accepted; any other message is data the request returned and leaves it to the barrier.
   */
  private onRefusal(b: Batch, index: number, m: NlMsg): void {
    const barrier = this.pending.get(b.first + b.count);
    if (barrier) barrier.deadline = Date.now() + this.timeoutMs;
    if (m.type !== C.NLMSG_ERROR) return;
    b.results[index] = refusalOutcome(m);
    b.owedChanges--;
    this.owed -= REPLY_COST.quiet;
  }

  private onFailure(f: NetlinkFailure): void {
    if (f.kind === 'overrun') {
      this.overrun('netlink receive buffer overflowed (ENOBUFS)');
    } else if (f.kind === 'truncated' || f.kind === 'error') {
      this.overrun(`netlink ${f.kind === 'truncated' ? 'reply truncated' : 'socket error'} (${f.message})`);
    } else {
      this.log.error({ event: 'ipvs.netlink.broken', errno: f.code, err: f.message }, 'IPVS netlink socket failed');
      this.close(new LvsdError('LVSD_IPVS_UNAVAILABLE', `netlink socket failed: ${f.message}`, { details: { errno: f.code } }));
    }
  }

  /** Replies were lost: nobody can tell which, so everything in flight fails and the caller re-reads. */
  private overrun(why: string): void {
    this.overruns++;
    this.onOverrun?.();
    this.budget = Math.max(REPLY_COST.ack, Math.floor(this.budget / 2));
    this.log.warn({ event: 'ipvs.netlink.overrun', why, inFlight: this.pending.size, window: this.ackWindow }, 'netlink replies lost; requests in flight failed');
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
    this.timer = setInterval(() => this.sweep(), timerDelay(Math.min(250, Math.max(10, this.timeoutMs / 4))));
    this.timer.unref();
  }

  /**
   * Fails requests past their deadline, but only after a whole sweep interval in which nothing arrived: a
   * process stalled (a long synchronous task, a slow VM) must not mistake replies it has not read yet for
   * lost ones. Between two sweeps the event loop polls the socket, so silence there is real.
   */
  private sweep(): void {
    const now = Date.now();
    // replies waiting in the inbox count as heard: they are read on the next turns
    const heard = this.lastRx >= this.lastSweep || this.inbox.unread;
    this.lastSweep = now;
    if (heard) return;
    for (const [seq, p] of this.pending) {
      if (p.deadline <= now) {
        this.log.warn({ event: 'ipvs.netlink.timeout', what: p.what, timeoutMs: this.timeoutMs }, 'no reply from the kernel');
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
    this.raw.ref(on);
  }
}
