/**
 * An in-memory model of the kernel's IPVS table for the reconciler's tests: applies IpvsCommands to a
 * KernelEntry[] the way the kernel does (EEXIST, ESRCH, ENOENT; `local` forwarding for addresses on the
 * director when asked). Written independently of src/reconcile: it shares no code with the planner.
 */
import { LvsdError } from '../../src/errors.js';
import { canonicalServiceId } from '../../src/ipvs/types.js';
import type {
  DestSpec,
  IpvsClient,
  IpvsCommand,
  IpvsResult,
  KernelDest,
  KernelEntry,
  ServiceKey,
  ServiceSpec,
  SyncDaemon,
  Timeouts,
} from '../../src/ipvs/types.js';

export interface ModelOptions {
  /** Addresses on the director: the model reports `local` forwarding for real servers with these. */
  localAddresses?: ReadonlySet<string>;
}

function keyText(k: ServiceKey): string {
  return k.kind === 'fwmark' ? `m|${k.family}|${k.fwmark}` : `a|${k.protocol}|${k.address}|${k.port}`;
}

function refuse(errno: number, message: string): IpvsResult {
  return { ok: false, error: new LvsdError('LVSD_IPVS_KERNEL', message, { details: { errno } }) };
}

function kernelService(s: ServiceSpec): KernelEntry['service'] {
  return { key: { ...s.key }, scheduler: s.scheduler, flags: s.flags, timeout: s.timeout, netmask: s.netmask, pe: s.pe };
}

function kernelDest(d: DestSpec, opts: ModelOptions, old?: KernelDest): KernelDest {
  const forwarding = opts.localAddresses?.has(d.address) ? 'local' : d.forwarding;
  return {
    family: d.family, address: d.address, port: d.port, forwarding, weight: d.weight,
    upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold,
    tunnelType: d.tunnelType, tunnelPort: d.tunnelPort, tunnelFlags: d.tunnelFlags,
    activeConns: old?.activeConns ?? 0, inactiveConns: old?.inactiveConns ?? 0, persistentConns: old?.persistentConns ?? 0,
  };
}

/**
 * The table indexed for one batch of commands: services by key and, for the services a command touches,
 * real servers by (address, port), so a batch costs O(table + commands) instead of a scan per command.
 * Removals are marked and additions queued; finish() writes them into the table's arrays (in place, the
 * order a kernel that appends would give: kept ones in their places, new ones at the end).
 */
class BatchIndex {
  private readonly services = new Map<string, KernelEntry>();
  private readonly dests = new Map<KernelEntry, Map<string, number>>();
  private readonly removedServices = new Set<KernelEntry>();
  /** Whether some key is in the table twice (only a hand-made table has that). */
  private readonly duplicates: boolean = false;
  private readonly removedDests = new Map<KernelEntry, Set<KernelDest>>();

  constructor(private readonly table: KernelEntry[], private readonly opts: ModelOptions, private readonly timeouts?: Timeouts) {
    for (const e of table) {
      const k = keyText(e.service.key);
      if (!this.services.has(k)) this.services.set(k, e); // the first one wins, as a scan from the start
      else this.duplicates = true;
    }
  }

  private destIndex(e: KernelEntry): Map<string, number> {
    let m = this.dests.get(e);
    if (!m) {
      m = new Map();
      e.dests.forEach((d, i) => {
        const k = `${d.address}|${d.port}`;
        if (!m!.has(k)) m!.set(k, i);
      });
      this.dests.set(e, m);
    }
    return m;
  }

  /** Applies one command; returns the kernel's answer. */
  apply(c: IpvsCommand): IpvsResult {
    switch (c.cmd) {
      case 'new-service': {
        const k = keyText(c.service.key);
        if (this.services.has(k)) return refuse(17, 'File exists');
        const e: KernelEntry = { service: kernelService(c.service), dests: [] };
        this.services.set(k, e);
        this.table.push(e);
        return { ok: true };
      }
      case 'set-service': {
        const e = this.services.get(keyText(c.service.key));
        if (!e) return refuse(3, 'No such process');
        e.service = kernelService(c.service);
        return { ok: true };
      }
      case 'del-service': {
        const k = keyText(c.key);
        const e = this.services.get(k);
        if (!e) return refuse(3, 'No such process');
        this.services.delete(k);
        this.removedServices.add(e);
        // a duplicate further on (only a hand-made table has one) is what a scan finds next
        if (this.duplicates) {
          for (const other of this.table) if (!this.removedServices.has(other) && keyText(other.service.key) === k) {
            this.services.set(k, other);
            break;
          }
        }
        return { ok: true };
      }
      case 'new-dest':
      case 'set-dest':
      case 'del-dest': {
        const e = this.services.get(keyText(c.service));
        if (!e) return refuse(3, 'No such process');
        const index = this.destIndex(e);
        const dk = `${c.dest.address}|${c.dest.port}`;
        const j = index.get(dk);
        if (c.cmd === 'new-dest') {
          if (j !== undefined) return refuse(17, 'File exists');
          index.set(dk, e.dests.length);
          e.dests.push(kernelDest(c.dest, this.opts));
        } else if (j === undefined) {
          return refuse(2, 'No such file or directory');
        } else if (c.cmd === 'set-dest') {
          e.dests[j] = kernelDest(c.dest, this.opts, e.dests[j]);
        } else {
          index.delete(dk);
          let removed = this.removedDests.get(e);
          if (!removed) this.removedDests.set(e, (removed = new Set()));
          removed.add(e.dests[j]!);
        }
        return { ok: true };
      }
      case 'set-timeouts': {
        const t = this.timeouts;
        if (t) {
          if (c.timeouts.tcp) t.tcp = c.timeouts.tcp;
          if (c.timeouts.tcpFin) t.tcpFin = c.timeouts.tcpFin;
          if (c.timeouts.udp) t.udp = c.timeouts.udp;
        }
        return { ok: true };
      }
      default:
        return { ok: true };
    }
  }

  /** Writes the batch's removals and additions into the table's arrays. */
  finish(): void {
    for (const [e, removed] of this.removedDests) {
      let w = 0;
      for (const d of e.dests) if (!removed.has(d)) e.dests[w++] = d;
      e.dests.length = w;
    }
    if (this.removedServices.size === 0) return; // new services were appended as they came
    let w = 0;
    for (const e of this.table) if (!this.removedServices.has(e)) this.table[w++] = e;
    this.table.length = w;
  }
}

/** Applies commands in place, in order; returns the kernel's answer to each. O(table + commands). */
export function applyBatch(table: KernelEntry[], commands: readonly IpvsCommand[], opts: ModelOptions = {}, timeouts?: Timeouts,
  each?: (c: IpvsCommand, apply: () => IpvsResult) => IpvsResult): IpvsResult[] {
  const index = new BatchIndex(table, opts, timeouts);
  const results = commands.map((c) => (each ? each(c, () => index.apply(c)) : index.apply(c)));
  index.finish();
  return results;
}

/** Applies one command in place; returns the kernel's answer. */
export function applyCommand(table: KernelEntry[], c: IpvsCommand, opts: ModelOptions = {}, timeouts?: Timeouts): IpvsResult {
  return applyBatch(table, [c], opts, timeouts)[0]!;
}

/** apply(commands, table): a new table, the input untouched. */
export function applyCommands(table: readonly KernelEntry[], commands: readonly IpvsCommand[], opts: ModelOptions = {}): { table: KernelEntry[]; results: IpvsResult[] } {
  const copy = structuredClone(table) as KernelEntry[];
  const results = applyBatch(copy, commands, opts);
  return { table: copy, results };
}

/**
 * A fault the model injects, the way the netlink client reports it:
 * - `op`: the next matching command fails with `error` (an overrun or ENOBUFS from the socket: the kernel
 *   did not apply it, or did when `applied` says so, and the reply was lost);
 * - `execute`: the whole execute() call rejects (a closed socket), nothing applied;
 * - `dump`: dump() rejects (the table cannot be read);
 * - `info`: info() rejects (IPVS does not answer at all).
 * `skip` lets that many matching events pass first; `times` (default 1) is how often it fires.
 */
export interface Fault {
  on: 'op' | 'execute' | 'dump' | 'info';
  error: () => Error;
  skip?: number;
  times?: number;
  /** op only: the command takes effect although its result is an error (a lost reply). */
  applied?: boolean;
  /** op only: which commands count (default: all). */
  match?: (c: IpvsCommand) => boolean;
}

/** The errors a netlink socket gives, as the IPVS client reports them. */
export const faults = {
  overrun: () => new LvsdError('LVSD_NETLINK_OVERRUN', 'netlink receive buffer overflowed (ENOBUFS): replies were lost, the IPVS table must be re-read'),
  enobufs: () => new LvsdError('LVSD_NETLINK_OVERRUN', 'sendmsg: No buffer space available (ENOBUFS)', { details: { errno: 105 } }),
  closed: () => new LvsdError('LVSD_IPVS_UNAVAILABLE', 'netlink socket closed'),
};

/** A fake IpvsClient over the model. `refuseWith` lets a test make the kernel refuse chosen commands; `inject` adds faults. */
export class ModelClient implements IpvsClient {
  table: KernelEntry[];
  timeouts: Timeouts = { tcp: 900, tcpFin: 120, udp: 300 };
  /** Every batch passed to execute, in order. */
  batches: IpvsCommand[][] = [];
  /** How many dumps were asked for (failed ones included). */
  dumpCount = 0;
  refuseWith?: (c: IpvsCommand) => { errno: number; message: string } | undefined;
  private readonly pending: Array<Fault & { left: number; skipLeft: number }> = [];

  constructor(table: KernelEntry[] = [], readonly opts: ModelOptions = {}) {
    this.table = structuredClone(table);
  }
  /** Arms a fault (see Fault). */
  inject(fault: Fault): void {
    this.pending.push({ ...fault, left: fault.times ?? 1, skipLeft: fault.skip ?? 0 });
  }
  /** Faults armed and not fired yet. */
  get faultsLeft(): number {
    return this.pending.reduce((n, f) => n + f.left, 0);
  }
  private fire(on: Fault['on'], c?: IpvsCommand): (Fault & { left: number }) | undefined {
    for (const f of this.pending) {
      if (f.on !== on || f.left === 0 || (c && f.match && !f.match(c))) continue;
      if (f.skipLeft > 0) {
        f.skipLeft--;
        continue;
      }
      f.left--;
      return f;
    }
    return undefined;
  }
  async info() {
    const f = this.fire('info');
    if (f) throw f.error();
    return { version: '1.2.1', connTableSize: 4096 };
  }
  async dump(only?: ReadonlySet<string>): Promise<KernelEntry[]> {
    this.dumpCount++;
    const f = this.fire('dump');
    if (f) throw f.error();
    const read = only ? this.table.filter((e) => only.has(canonicalServiceId(e.service.key))) : this.table;
    // The kernel's order is arbitrary: hand back a reversed copy to make sure nobody relies on it.
    return structuredClone(read).reverse().map((e) => ({ ...e, dests: [...e.dests].reverse() }));
  }
  async getTimeouts(): Promise<Timeouts> {
    return { ...this.timeouts };
  }
  async getDaemons(): Promise<SyncDaemon[]> {
    return [];
  }
  async execute(commands: readonly IpvsCommand[]): Promise<IpvsResult[]> {
    const whole = this.fire('execute');
    if (whole) throw whole.error();
    this.batches.push([...commands]);
    return applyBatch(this.table, commands, this.opts, this.timeouts, (c, apply) => {
      const f = this.fire('op', c);
      if (f) {
        if (f.applied) apply();
        return { ok: false, error: f.error() };
      }
      const r = this.refuseWith?.(c);
      if (r) return refuse(r.errno, r.message);
      return apply();
    });
  }
  close(): void {}
}

/** A service and its real servers, without counters (nor tunnel fields where they mean nothing), dests sorted: for comparing a table with a config. */
export function essence(e: { service: ServiceSpec; dests: DestSpec[] }, opts: ModelOptions = {}): unknown {
  const s = e.service;
  return {
    service: kernelService(s),
    dests: e.dests
      .map((d) => {
        const k = kernelDest(d, opts);
        const { activeConns: _a, inactiveConns: _i, persistentConns: _p, ...spec } = k;
        // tunnel parameters mean something only for tunnel forwarding (the planner's rule, plan.ts
        // destChanges): a NAT/DR real server, or one the kernel reports as local, has none to compare
        if (spec.forwarding !== 'tunnel') {
          const { tunnelType: _t, tunnelPort: _tp, tunnelFlags: _tf, ...rest } = spec;
          return rest;
        }
        return spec;
      })
      .sort((a, b) => (`${a.address}|${a.port}` < `${b.address}|${b.port}` ? -1 : 1)),
  };
}

export function keyOf(k: ServiceKey): string {
  return keyText(k);
}
