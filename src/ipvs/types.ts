/**
 * What src/ipvs speaks besides the table model (src/table, re-exported here for the client's users): the
 * commands that change the kernel's table, sync daemons, and the client interface.
 */
import type { DestSpec, ServiceKey, ServiceSpec, Timeouts, KernelEntry } from '../table/index.js';

export * from '../table/index.js';

export interface IpvsInfo {
  /** e.g. "1.2.1" */
  version: string;
  connTableSize: number;
}

export type SyncState = 'master' | 'backup';

export interface SyncDaemon {
  state: SyncState;
  interface: string;
  syncId: number;
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** One change to the kernel table. The reconciler produces these; the client sends them, pipelined. */
export type IpvsCommand =
  | { cmd: 'new-service'; service: ServiceSpec }
  | { cmd: 'set-service'; service: ServiceSpec }
  | { cmd: 'del-service'; key: ServiceKey }
  | { cmd: 'new-dest'; service: ServiceKey; dest: DestSpec }
  | { cmd: 'set-dest'; service: ServiceKey; dest: DestSpec }
  | { cmd: 'del-dest'; service: ServiceKey; dest: Pick<DestSpec, 'family' | 'address' | 'port'> }
  | { cmd: 'set-timeouts'; timeouts: Timeouts }
  | { cmd: 'new-daemon'; daemon: SyncDaemon }
  | { cmd: 'del-daemon'; state: SyncState };

/** The outcome of one command: `error` is an LvsdError (code LVSD_IPVS_KERNEL, details.errno) on refusal. */
export type IpvsResult = { ok: true } | { ok: false; error: Error & { code?: string } };

export interface DumpOptions {
  /** Decode each object's statistics (default true). */
  stats?: boolean;
  /**
   * Called with a service's id just before its destinations are asked for (after the service list was
   * read): what the kernel hands over for it is its state at that moment or later (KeptView.readAside).
   */
  began?: (id: string) => void;
}

/** What the rest of lvsd needs from the kernel's IPVS. src/ipvs implements it over generic netlink. */
export interface IpvsClient {
  info(): Promise<IpvsInfo>;
  /**
   * Every service with its destinations and stats; with `only` (service ids as serviceId() writes them),
   * just those services (the others' destinations are not read). `stats: false` leaves the statistics
   * out (the reconciler's reads: ten 64-bit counters per object, a million BigInts at 100,000 real servers).
   */
  dump(only?: ReadonlySet<string>, opts?: DumpOptions): Promise<KernelEntry[]>;
  /**
   * The whole table as dump() reads it, handed to `each` one service at a time (with its destinations), in
   * the kernel's order, as it is read, and not kept: what the caller does not keep is garbage at once. A
   * dump held whole until its end (110,000 objects) outlived the young generation, was copied by every
   * scavenge on its way to the old one and made a mark-compact per pass: the drift pass's longest turns
   * were those collections. Resolves with the number of services once all were handed over; rejects as
   * dump() does (then some services may have been handed over). With `only`, just those services, as dump().
   * Optional: the reconciler uses dump() without it.
   */
  dumpEach?(each: (entry: KernelEntry) => void, opts?: DumpOptions, only?: ReadonlySet<string>): Promise<number>;
  getTimeouts(): Promise<Timeouts>;
  /** Sync daemons running now (0, 1 or 2). */
  getDaemons(): Promise<SyncDaemon[]>;
  /**
   * Sends the commands in order, pipelined (many in flight, not one round trip each), and resolves with one
   * result per command in the same order. A refused command does not stop the ones after it.
   */
  execute(commands: readonly IpvsCommand[]): Promise<IpvsResult[]>;
  close(): void;
}
