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
import { monotonicMs } from '../monotonic.js';
import { LvsdError } from '../errors.js';
import { timerDelay } from '../timer-delay.js';
import { NETLINK_GENERIC, NetlinkSocket, type NetlinkFailure, type NetlinkItem } from '../net/index.js';
import { silentLogger, type Logger } from '../log.js';
import { TURN_BUDGET_MS } from '../turn-budget.js';
import * as C from './constants.js';
import { AttrWriter, hostS32At, parseNlmsgerr, parseNlmsgs, type NlMsg } from './nlattr.js';

/**
 * Messages written one after another into datagrams of at most MAX_DATAGRAM bytes: each into a zeroed
 * buffer with room to spare, and one that ends past MAX_DATAGRAM moved to the start of the next (a single
 * message bigger than that goes alone).
 */
class DatagramWriter {
  private w = new AttrWriter(DATAGRAM_ROOM);
  private readonly out: Buffer[] = [];

  /** Writes one message; what `write` threw, with nothing of it left in the datagram. */
  add(write: (w: AttrWriter) => void): Error | undefined {
    const start = this.w.off;
    try {
      write(this.w);
    } catch (e) {
      // the writer checks a value before writing it: at most the attribute header past off was written
      this.w.buf.fill(0, start, Math.min(this.w.buf.length, this.w.off + 8));
      this.w.off = start;
      return e instanceof Error ? e : new Error(String(e));
    }
    if (this.w.off > MAX_DATAGRAM && start > 0) {
      const next = new AttrWriter(DATAGRAM_ROOM);
      next.raw(this.w.buf.subarray(start, this.w.off));
      this.out.push(this.w.buf.subarray(0, start));
      this.w = next;
    }
    return undefined;
  }

  done(): Buffer[] {
    if (this.w.off > 0) this.out.push(this.w.buf.subarray(0, this.w.off));
    return this.out;
  }
}

/**
 * Milliseconds spent reading replies in this turn of the event loop, by every socket together. The addon
 * hands over what a wake read (up to 64 datagrams: the whole service list of a 10,000-service dump, 7-20
 * ms of parsing natively, about a second under TCG), and the sixteen dump sockets wake in the same poll
 * phase; past TURN_BUDGET_MS the rest waits in each socket's inbox for the next turn, so timers, health
 * probes and the control socket run in between.
 */
const turn = { spentMs: 0, resetArmed: false };

function account(ms: number): void {
  turn.spentMs += ms;
  if (turn.resetArmed) return;
  turn.resetArmed = true;
  setImmediate(() => {
    turn.spentMs = 0;
    turn.resetArmed = false;
  });
}

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

/** A refusal by the kernel, errno kept. The client turns it into an LvsdError naming the object. */
export class NetlinkErrno extends Error {
  constructor(readonly errno: number, readonly kernelText?: string) {
    super(`netlink error ${errno}${kernelText ? `: ${kernelText}` : ''}`);
    this.name = 'NetlinkErrno';
  }
}

/** ack: answered by an acknowledgement; quiet: sent without NLM_F_ACK, answered only on refusal (see batch). */
type Kind = 'ack' | 'quiet' | 'get' | 'dump';

/**
 * What the kernel charges the receive buffer for the replies to one request, in bytes (skb truesize, with
 * margin): an acknowledgement (an error one echoes the request), a doit reply (genlmsg_new of
 * NLMSG_DEFAULT_SIZE), a dump part (the kernel continues a dump only while the buffer is half empty).
 */
export const REPLY_COST: Readonly<Record<Kind, number>> = { ack: 2048, quiet: 2048, get: 16384, dump: 65536 };

/** Largest datagram to send; a batch bigger than this goes out as several, in order. */
const MAX_DATAGRAM = 32 * 1024;
/** A datagram's buffer: MAX_DATAGRAM plus room for the message that crosses it. */
const DATAGRAM_ROOM = 2 * MAX_DATAGRAM;

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

/**
 * The quiet changes of one batch: sequence numbers first..first+count-1 (one contiguous range, so a change
 * costs no entry of its own in the pending map), answered only when refused, then the barrier.
 */
interface Batch {
  first: number;
  count: number;
  /** Per change: UNSETTLED until its refusal or the barrier's answer, then undefined (accepted) or its error. */
  results: Array<Error | undefined | typeof UNSETTLED>;
  /** Changes sent (or to be sent) whose answer has not come: what their replies may still cost. */
  owedChanges: number;
}

const UNSETTLED = Symbol('unsettled');

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
  /** What the addon delivered and is not read yet (see `turn`), from inboxHead on. */
  private readonly inbox: NetlinkItem[] = [];
  private inboxHead = 0;
  private drainArmed = false;
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
    const batch: Batch = { first, count, results: new Array<Error | undefined | typeof UNSETTLED>(count), owedChanges: 0 };
    const datagrams = new DatagramWriter();
    for (let i = 0; i < count; i++) {
      const failed = datagrams.add((w) => write(i, first + i, w));
      if (failed) {
        batch.results[i] = failed;
        continue;
      }
      batch.results[i] = UNSETTLED;
      batch.owedChanges++;
    }
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

  private nextSeq(): number {
    return this.seqRange(1);
  }

  /** `n` consecutive sequence numbers, none 0 and none in use by a request or batch still unanswered. */
  private seqRange(n: number): number {
    let s = this.seq;
    for (;;) {
      if (s + n - 1 > 0xffffffff) s = 1;
      const conflict = this.inUse(s, n);
      if (conflict === undefined) break;
      s = conflict + 1;
    }
    this.seq = s + n > 0xffffffff ? 1 : s + n;
    return s;
  }

  /** The last sequence number in s..s+n-1 that an unanswered request or batch holds, else undefined. */
  private inUse(s: number, n: number): number | undefined {
    let last: number | undefined;
    if (this.pending.size > 0) {
      if (n <= this.pending.size) {
        for (let x = s; x < s + n; x++) if (this.pending.has(x)) last = x;
      } else {
        for (const x of this.pending.keys()) if (x >= s && x < s + n && (last === undefined || x > last)) last = x;
      }
    }
    for (const b of this.batches) {
      const end = b.first + b.count - 1;
      if (b.first < s + n && end >= s && (last === undefined || Math.min(end, s + n - 1) > last)) last = Math.min(end, s + n - 1);
    }
    return last;
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
      const outcome = result instanceof Error ? result : undefined;
      for (let i = 0; i < b.count; i++) if (b.results[i] === UNSETTLED) b.results[i] = outcome;
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

  /** The batch holding change `seq` and its place in it, if the change is still unanswered. */
  private quietChange(seq: number): { batch: Batch; index: number } | undefined {
    for (const b of this.batches) {
      const i = seq - b.first;
      if (i >= 0 && i < b.count) return b.results[i] === UNSETTLED ? { batch: b, index: i } : undefined;
    }
    return undefined;
  }

  private onBatch(items: NetlinkItem[]): void {
    if (this.closed) return;
    this.lastRx = Date.now();
    for (const item of items) this.inbox.push(item);
    if (!this.drainArmed) this.drain();
  }

  /** Reads the inbox in order until this turn's reading time is spent; the rest on a later turn. */
  private drain = (): void => {
    this.drainArmed = false;
    const t0 = monotonicMs();
    const first = this.inboxHead;
    while (this.inboxHead < this.inbox.length && !this.closed) {
      // at least one item per drain, so reading always moves on
      if (this.inboxHead > first && turn.spentMs + (monotonicMs() - t0) >= TURN_BUDGET_MS) {
        this.drainArmed = true;
        setImmediate(this.drain);
        break;
      }
      const item = this.inbox[this.inboxHead++]!;
      if (Buffer.isBuffer(item)) this.onDatagram(item);
      else this.onFailure(item);
    }
    account(monotonicMs() - t0);
    if (this.closed || this.inboxHead === this.inbox.length) {
      this.inbox.length = 0;
      this.inboxHead = 0;
    } else if (this.inboxHead > 1024) {
      this.inbox.splice(0, this.inboxHead);
      this.inboxHead = 0;
    }
  };

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
      const change = this.quietChange(m.seq);
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
    let outcome: Error | undefined;
    try {
      const err = parseNlmsgerr(m.payload, m.flags);
      outcome = err.errno === 0 ? undefined : new NetlinkErrno(err.errno, err.message);
    } catch (e) {
      outcome = e as Error;
    }
    b.results[index] = outcome;
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
    const heard = this.lastRx >= this.lastSweep || this.inboxHead < this.inbox.length;
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
