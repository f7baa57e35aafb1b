/**
 * TCP connect probes through the addon (native/src/tcp_probe.c): one epoll set for every probe under way,
 * outcomes delivered in batches, deadlines kept in C. A probe costs a socket, a connect and a close, with
 * no net.Socket, stream or timer per probe: this is what lets one process check thousands of real servers
 * a second (docs/benchmarks.md, the health bench).
 *
 * `connect()` resolves `{ errno, latencyMs }`: errno 0 when the connection was accepted, ETIMEDOUT when the
 * deadline passed first, else the connect error (ECONNREFUSED, EHOSTUNREACH ...). An aborted probe
 * resolves `{ errno: -1 }` at once and its socket is closed. The prober keeps the event loop alive only
 * while probes are under way.
 */
import { constants } from 'node:os';
import { addressToBytes } from './address.js';
import { loadNative, type NativeBinding } from './native.js';

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

export class TcpProber {
  private readonly native: NativeBinding;
  private handle: object | undefined;
  /** by probe id (the addon's slot index: small and dense) */
  private readonly pending: Array<Pending | undefined> = [];
  private inFlight = 0;
  /** address text -> bytes: real servers are few and probed again and again */
  private readonly bytes = new Map<string, Buffer>();

  constructor() {
    this.native = loadNative();
    this.handle = this.native.tcpProberOpen((outcomes) => this.onOutcomes(outcomes));
    this.native.tcpProberRef(this.handle, false);
  }

  get underWay(): number {
    return this.inFlight;
  }

  connect(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<TcpConnectOutcome> {
    if (!this.handle) return Promise.resolve({ errno: constants.errno.EBADF, latencyMs: 0 });
    if (signal?.aborted) return Promise.resolve({ errno: -1, latencyMs: 0 });
    let addr = this.bytes.get(address);
    if (!addr) {
      addr = addressToBytes(address);
      if (this.bytes.size > 100_000) this.bytes.clear();
      this.bytes.set(address, addr);
    }
    const started = performance.now();
    const id = this.native.tcpProbe(this.handle, addr, port, Math.max(1, Math.round(timeoutMs)));
    if (id < 0) {
      const latencyMs = performance.now() - started;
      return Promise.resolve({ errno: id === -1 ? 0 : -(id + 1), latencyMs });
    }
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
      if (this.inFlight++ === 0) this.native.tcpProberRef(this.handle!, true);
    });
  }

  /** Closes every probe under way (each resolves as aborted) and the prober. */
  close(): void {
    if (!this.handle) return;
    this.native.tcpProberClose(this.handle);
    this.handle = undefined;
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
    if (--this.inFlight === 0 && this.handle) this.native.tcpProberRef(this.handle, false);
  }

  private onOutcomes(o: Float64Array): void {
    for (let i = 0; i + 2 < o.length; i += 3) {
      const id = o[i]!;
      const p = this.pending[id];
      if (!p) continue;
      this.settle(id, p);
      p.resolve({ errno: o[i + 1]!, latencyMs: o[i + 2]! / 1000 });
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
