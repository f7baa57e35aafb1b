/**
 * TCP connect probes through the addon (native/src/tcp_probe.c): one epoll set for every probe under way,
 * outcomes delivered in batches, deadlines kept in C. A probe costs a socket, a connect and a close, with
 * no net.Socket, stream or timer per probe: this is what lets one process check thousands of real servers
 * a second (docs/benchmarks.md, the health bench). The addon's engine runs on a thread of its own
 * (native/src/tcp_runner.c): probes start, complete and time out on time whatever holds this event loop;
 * only outcomes cross to it. If the thread cannot be created it runs on this loop instead (`stats().thread`
 * says which; `LVSD_TCP_ENGINE=loop` asks for the loop).
 *
 * `connect()` resolves `{ errno, latencyMs }`: errno 0 when the connection was accepted, ETIMEDOUT when the
 * deadline passed first, else the connect error (ECONNREFUSED, EHOSTUNREACH ...). An aborted probe
 * resolves `{ errno: -1 }` at once and its socket is closed. The prober keeps the event loop alive only
 * while probes are under way or watches registered.
 *
 * `watch()` registers a periodic check: the addon starts its probes on time by itself (turns within 10 ms
 * share a wake-up; a turn whose previous probe is still under way is skipped) and folds their outcomes
 * into runs and counters (native/src/tcp_watch.c). The watch's callback hears only the outcomes that can
 * change something (a run's first, the one reaching rise or fall, a new errno, a local failure); status
 * reads every watch's last outcome with `watchState()`, metrics its counts with `pullCounts()`/`takeCounts()`.
 * Nothing runs in JavaScript between those: this is the health checker's steady state at thousands of
 * real servers.
 */
import { constants } from 'node:os';
import { addressToBytes } from './address.js';
import { loadNative, type NativeBinding } from './native.js';

/**
 * How long a probe that connected inside its connect() (a real server on a link inside this host) keeps its
 * socket before closing it: `LVSD_TCP_CLOSE_AFTER_MS`, default 5, 0 to close at once, at most 1000. The
 * outcome is told at once either way; only the close waits (for a turn of the engine that runs anyway), so
 * a server that closes as soon as it accepts closes first and keeps the TIME_WAIT (native/src/tcp_socket.c,
 * lvsd_tcp_close_connected).
 */
export function closeAfterMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.LVSD_TCP_CLOSE_AFTER_MS;
  if (v === undefined || v === '') return 5;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 && n <= 1000 ? n : 5;
}

/**
 * Whether a probe closed with FIN whose real server closed first leaves its socket spare for the next probe
 * (shut down, then disconnected) instead of closing it: `LVSD_TCP_REUSE`, default on, `0` off. The wire sees
 * the same segments either way; the director saves a socket()'s and a close()'s allocation and release, ~10 %
 * of a probe's CPU in the test VM (docs/benchmarks.md). native/src/tcp_socket.c, keep_spare.
 */
export function reuseSockets(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LVSD_TCP_REUSE !== '0';
}

/**
 * The probing thread's nice value: `LVSD_PROBE_NICE`, an integer -20..19, default -5 (anything else is the
 * default). Below the main thread's 0 the probes get the CPU first when both want it: a drift pass reading
 * 100,000 real servers in the test VM cut probes from 1,007 to 859 a second at 0, not at all at -5
 * (docs/benchmarks.md). Below 0 needs CAP_SYS_NICE or RLIMIT_NICE; refused, the thread keeps the main
 * thread's priority (health.probe_nice says so). keepalived's `checker_priority` is the same for its
 * checker process.
 */
export const PROBE_NICE_DEFAULT = -5;

export function probeNice(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.LVSD_PROBE_NICE;
  if (v === undefined || v === '') return PROBE_NICE_DEFAULT;
  const n = Number(v);
  return Number.isInteger(n) && n >= -20 && n <= 19 ? n : PROBE_NICE_DEFAULT;
}

export interface TcpConnectOutcome {
  /** 0: connected; ETIMEDOUT: the deadline passed; -1: aborted; else the connect errno */
  errno: number;
  latencyMs: number;
}

interface Pending {
  resolve: (o: TcpConnectOutcome) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export const ETIMEDOUT = constants.errno.ETIMEDOUT;

export interface TcpWatchOptions {
  address: string;
  port: number;
  intervalMs: number;
  timeoutMs: number;
  /** the first turn, from now */
  firstInMs: number;
  /** outcomes of a run that are told: the rise-th success and the fall-th failure in a row */
  rise: number;
  fall: number;
  /** close each probe with RST (SO_LINGER 0): no TIME_WAIT left on this host */
  reset?: boolean;
  /** a run of `n` outcomes already counted (e.g. before a retry), carried on */
  run?: { ok: boolean; n: number };
}

/**
 * An outcome of a watch: errno (0 connected), latency, and its place in the run of consecutive outcomes with
 * the same verdict (1 = the verdict flipped); run 0: a failure of this host (a local errno), not counted.
 */
/** `id`: the watch's (one callback may serve every watch: no closure per watch, ~170 bytes each with its contexts). */
export type TcpWatchCallback = (errno: number, latencyMs: number, run: number, id: number) => void;

/** What the addon last saw of a watch. */
export interface TcpWatchState {
  ok: boolean;
  errno: number;
  /** consecutive outcomes with this verdict */
  run: number;
  latencyMs: number;
  /** ms ago */
  agoMs: number;
}

/** The latency histogram of watched probes since the last take: counts per bound (seconds) and beyond. */
export interface TcpLatencyHistogram {
  buckets: number[];
  sumSeconds: number;
  count: number;
}

export interface TcpProberStats {
  /** the engine runs on its own thread (false: on this event loop, the fallback) */
  thread: boolean;
  watches: number;
  /** probes under way: watched and one-off */
  watchedUnderWay: number;
  oneOffUnderWay: number;
  /** turns skipped because the previous probe was still under way, or the limit was reached */
  skipped: number;
  /** probes that connected a spare socket (one a FIN probe left when its server closed first) instead of a new one */
  socketsReused: number;
}

export class TcpProber {
  private readonly native: NativeBinding;
  private handle: object | undefined;
  /** by probe id (the addon's slot index: small and dense) */
  private readonly pending: Array<Pending | undefined> = [];
  private inFlight = 0;
  /** address text -> bytes: real servers are few and probed again and again */
  private readonly bytes = new Map<string, Buffer>();
  /** by watch id; ids freed during a delivery are reused only after it (an outcome in the same batch may name them) */
  private readonly watchers: Array<TcpWatchCallback | undefined> = [];
  private readonly freeWatchIds: number[] = [];
  private readonly freedInBatch: number[] = [];
  private nextWatchId = 0;
  private watchCount = 0;
  /** pulled from the addon, not taken yet: connected / failed outcomes by watch id, and the histogram */
  private okCounts = new Float64Array(0);
  private failCounts = new Float64Array(0);
  private bounds: number[] = [];
  private hist: TcpLatencyHistogram = { buckets: [0], sumSeconds: 0, count: 0 };

  /** engine: 'thread' (default; the loop if no thread can be had), 'loop', or 'no-thread' (tests: as if none could be) */
  constructor(engine: 'thread' | 'loop' | 'no-thread' = process.env.LVSD_TCP_ENGINE === 'loop' ? 'loop' : 'thread') {
    this.native = loadNative();
    this.handle = this.native.tcpProberOpen((outcomes) => this.onOutcomes(outcomes), engine === 'thread' ? 0 : engine === 'loop' ? 1 : 2);
    this.native.tcpProberRef(this.handle, false);
    this.native.tcpProberCloseAfter(this.handle, closeAfterMs());
    this.native.tcpProberReuse(this.handle, reuseSockets());
    const nice = probeNice();
    if (nice !== 0 && engine === 'thread') this.nice = { asked: nice, errno: this.native.tcpProberNice(this.handle, nice) };
  }

  /** LVSD_PROBE_NICE as asked (probeNice) and the errno that refused it (0: the probing thread runs at it); undefined when not asked. */
  nice: { asked: number; errno: number } | undefined;

  get underWay(): number {
    return this.inFlight;
  }

  private addressBytes(address: string): Buffer {
    let addr = this.bytes.get(address);
    if (!addr) {
      addr = addressToBytes(address);
      if (this.bytes.size > 100_000) this.bytes.clear();
      this.bytes.set(address, addr);
    }
    return addr;
  }

  /** Registers a periodic check; returns its id for unwatch(). Throws TypeError for a bad address. */
  watch(o: TcpWatchOptions, callback: TcpWatchCallback): number {
    if (!this.handle) throw new Error('the TCP prober is closed');
    // not through the cache: the addon copies the address into the watch, and a Buffer kept per real
    // server was ~110 bytes each for nothing
    const addr = addressToBytes(o.address);
    const id = this.freeWatchIds.pop() ?? this.nextWatchId++;
    const run = o.run && o.run.n > 0 ? o.run : undefined;
    try {
      this.native.tcpWatch(this.handle, id, addr, o.port, Math.max(1, Math.round(o.intervalMs)),
        Math.max(1, Math.round(o.timeoutMs)), Math.max(0, Math.round(o.firstInMs)),
        Math.max(1, Math.floor(o.rise)), Math.max(1, Math.floor(o.fall)), o.reset === true,
        run ? Number(run.ok) : -1, run ? Math.min(run.n, 0xffff_ffff) : 0);
    } catch (e) {
      this.freeWatchIds.push(id);
      throw e;
    }
    this.watchers[id] = callback;
    if (this.watchCount++ === 0 && this.inFlight === 0) this.native.tcpProberRef(this.handle, true);
    return id;
  }

  unwatch(id: number): void {
    if (!this.handle || !this.watchers[id]) return;
    this.native.tcpUnwatch(this.handle, id);
    this.watchers[id] = undefined;
    if (id < this.okCounts.length) this.okCounts[id] = this.failCounts[id] = 0;
    if (this.delivering) this.freedInBatch.push(id);
    else this.freeWatchIds.push(id);
    if (--this.watchCount === 0 && this.inFlight === 0) this.native.tcpProberRef(this.handle, false);
  }

  /** The watch's next turn `inMs` from now instead of when it was due; its run goes on. */
  next(id: number, inMs: number): void {
    if (this.handle && this.watchers[id]) this.native.tcpWatchNext(this.handle, id, Math.max(0, Math.round(inMs)));
  }

  /**
   * errno names that are this host's own failures (never counted in a run, always told), and the bounds
   * (seconds, ascending, at most 32) of the latency histogram; the histogram restarts.
   */
  configure(localErrnos: Iterable<string>, boundsSeconds: readonly number[]): void {
    if (!this.handle) return;
    const numbers: number[] = [];
    for (const name of localErrnos) {
      const n = (constants.errno as Record<string, number | undefined>)[name];
      if (n !== undefined) numbers.push(n);
    }
    this.native.tcpProberConfigure(this.handle, numbers, boundsSeconds.map((b) => b * 1e6));
    this.bounds = [...boundsSeconds];
    this.hist = { buckets: new Array<number>(this.bounds.length + 1).fill(0), sumSeconds: 0, count: 0 };
  }

  /** What the addon last saw of each watch, by id (undefined: no outcome yet). One call for every watch. */
  watchState(): (id: number) => TcpWatchState | undefined {
    if (!this.handle) return () => undefined;
    const v = this.native.tcpWatchState(this.handle);
    return (id) => {
      const o = id * 5;
      if (o + 4 >= v.length || v[o]! < 0) return undefined;
      return { ok: v[o] === 1, errno: v[o + 1]!, run: v[o + 2]!, latencyMs: v[o + 3]! / 1000, agoMs: v[o + 4]! };
    };
  }

  /** Moves the addon's counters (outcomes per watch, latency histogram) here, to be taken. */
  pullCounts(): void {
    if (!this.handle) return;
    const v = this.native.tcpWatchCounts(this.handle);
    const tail = this.bounds.length + 3;
    const end = v.length - tail;
    for (let i = 0; i + 2 < end; i += 3) {
      const id = v[i]!;
      if (id >= this.okCounts.length) {
        const size = Math.max(256, this.okCounts.length * 2, id + 1);
        const ok = new Float64Array(size), fail = new Float64Array(size);
        ok.set(this.okCounts);
        fail.set(this.failCounts);
        this.okCounts = ok;
        this.failCounts = fail;
      }
      if (!this.watchers[id]) continue;
      this.okCounts[id]! += v[i + 1]!;
      this.failCounts[id]! += v[i + 2]!;
    }
    for (let b = 0; b <= this.bounds.length; b++) this.hist.buckets[b]! += v[end + b]!;
    this.hist.sumSeconds += v[end + this.bounds.length + 1]! / 1e6;
    this.hist.count += v[end + this.bounds.length + 2]!;
  }

  /** A watch's pulled counts (connected, failed), reset. */
  takeCounts(id: number): [ok: number, failed: number] {
    if (id >= this.okCounts.length) return [0, 0];
    const r: [number, number] = [this.okCounts[id]!, this.failCounts[id]!];
    this.okCounts[id] = this.failCounts[id] = 0;
    return r;
  }

  /** The pulled latency histogram (the process's one, every watch together), reset. */
  takeHistogram(): TcpLatencyHistogram {
    const h = this.hist;
    this.hist = { buckets: new Array<number>(this.bounds.length + 1).fill(0), sumSeconds: 0, count: 0 };
    return h;
  }

  /** Watched probes under way at most (0: no limit); turns beyond it are skipped and counted. */
  limit(max: number): void {
    if (this.handle) this.native.tcpProberLimit(this.handle, Math.max(0, Math.floor(max)));
  }

  stats(): TcpProberStats {
    if (!this.handle) return { thread: false, watches: 0, watchedUnderWay: 0, oneOffUnderWay: 0, skipped: 0, socketsReused: 0 };
    // the engine publishes its figures at each of its turns; the watches registered are known here at once
    const [, watchedUnderWay, oneOffUnderWay, skipped, socketsReused, threaded] = this.native.tcpProberStats(this.handle);
    return { thread: threaded === 1, watches: this.watchCount, watchedUnderWay, oneOffUnderWay, skipped, socketsReused };
  }

  private delivering = false;

  connect(address: string, port: number, timeoutMs: number, signal?: AbortSignal, reset = false): Promise<TcpConnectOutcome> {
    if (!this.handle) return Promise.resolve({ errno: constants.errno.EBADF, latencyMs: 0 });
    if (signal?.aborted) return Promise.resolve({ errno: -1, latencyMs: 0 });
    const addr = this.addressBytes(address);
    const started = performance.now();
    // the outcome always comes through onOutcomes (the engine starts the probe); < 0: refused here (closed, no memory)
    const id = this.native.tcpProbe(this.handle, addr, port, Math.max(1, Math.round(timeoutMs)), reset);
    if (id < 0) return Promise.resolve({ errno: -(id + 1), latencyMs: performance.now() - started });
    return new Promise<TcpConnectOutcome>((resolve) => {
      const p: Pending = { resolve, signal, onAbort: undefined };
      if (signal) {
        p.onAbort = () => {
          if (this.pending[id] !== p || !this.handle) return;
          this.native.tcpProbeCancel(this.handle, id);
          this.settle(id, p);
          resolve({ errno: -1, latencyMs: performance.now() - started });
        };
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.pending[id] = p;
      if (this.inFlight++ === 0 && this.watchCount === 0) this.native.tcpProberRef(this.handle!, true);
    });
  }

  /** Closes every probe under way (each resolves as aborted) and the prober. */
  close(): void {
    if (!this.handle) return;
    this.native.tcpProberClose(this.handle);
    this.handle = undefined;
    this.watchers.length = 0;
    this.watchCount = 0;
    for (let id = 0; id < this.pending.length; id++) {
      const p = this.pending[id];
      if (!p) continue;
      this.settle(id, p);
      p.resolve({ errno: -1, latencyMs: 0 });
    }
  }

  private settle(id: number, p: Pending): void {
    this.pending[id] = undefined;
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    if (--this.inFlight === 0 && this.watchCount === 0 && this.handle) this.native.tcpProberRef(this.handle, false);
  }

  private onOutcomes(o: Float64Array): void {
    this.delivering = true;
    try {
      for (let i = 0; i + 4 < o.length; i += 5) {
        const id = o[i]!;
        if (o[i + 3] === 1) {
          this.watchers[id]?.(o[i + 1]!, o[i + 2]! / 1000, o[i + 4]!, id);
          continue;
        }
        const p = this.pending[id];
        if (!p) continue;
        this.settle(id, p);
        p.resolve({ errno: o[i + 1]!, latencyMs: o[i + 2]! / 1000 });
      }
    } finally {
      this.delivering = false;
      for (const id of this.freedInBatch.splice(0)) this.freeWatchIds.push(id);
    }
  }
}

let shared: TcpProber | null | undefined;

/** The process's prober, made on first use; undefined when the addon is not built (callers fall back). */
export function sharedTcpProber(): TcpProber | undefined {
  if (shared === undefined) {
    try {
      shared = new TcpProber();
    } catch {
      shared = null;
    }
  }
  return shared ?? undefined;
}
