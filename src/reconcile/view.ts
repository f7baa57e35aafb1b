/**
 * The kernel's table as the reconciler last read it, changed since by its own operations that succeeded.
 * Planning against this instead of dumping the kernel makes a reload or a health change cost what changed.
 * It can diverge from the kernel (an edit behind lvsd's back, a reply lost after the kernel applied the
 * command): the drift pass replaces it with a fresh read, a service whose operations ended in an unknown
 * state is marked stale and read again before it is planned. Pure (no I/O).
 */
import type { IpvsCommand } from '../ipvs/types.js';
import { TurnBudget } from '../turn-budget.js';
import type { PlanKernelEntry } from './plan.js';
import { destSpec, kernelDest, type DestSpec, type KernelEntry, type KernelService, type Timeouts } from '../table/index.js';
import { DestList } from './dest-list.js';
import { serviceIdOf } from './service-id.js';

/**
 * A service as the view holds it. Its real servers are DestSpecs, not KernelDests: the view keeps no
 * counters (entry() hands them out as 0), and a real server the kernel accepted from a command is held as
 * the command's own object, which is the desired table's (immutable, shared with the health lists and the
 * config): one object per real server for all of them, not a copy more in the view (~120 bytes each). They
 * are a DestList (dest-list.ts), not a Map keyed by id strings.
 */
interface ViewService {
  service: KernelService;
  dests: DestList;
}

function sameDest(a: DestSpec, b: DestSpec): boolean {
  return a.address === b.address && a.port === b.port && a.family === b.family && a.forwarding === b.forwarding &&
    a.weight === b.weight && a.upperThreshold === b.upperThreshold && a.lowerThreshold === b.lowerThreshold &&
    a.tunnelType === b.tunnelType && a.tunnelPort === b.tunnelPort && a.tunnelFlags === b.tunnelFlags;
}

/**
 * One kernel entry into a view's map (counters and stats dropped); the first of a duplicate wins. A real
 * server read as the view already held it (`before`, the view being replaced) keeps that object, so a read
 * that finds no drift leaves the view sharing the desired table's objects. A read in the order the view
 * held (what a drift pass finds) is matched place by place: no search, no id string.
 */
function put(into: Map<string, ViewService>, e: KernelEntry, before?: ReadonlyMap<string, ViewService>): void {
  const id = serviceIdOf(e.service.key);
  if (into.has(id)) return;
  const k = e.service;
  const service: KernelService = { key: k.key, scheduler: k.scheduler, flags: k.flags, timeout: k.timeout, netmask: k.netmask, pe: k.pe };
  const had = before?.get(id)?.dests;
  const held = had?.values();
  const dests = new DestList();
  // while every real server read so far is the one held at the same place, none can repeat an earlier one
  // (the held list has each id once)
  let inOrder = held !== undefined;
  for (let i = 0; i < e.dests.length; i++) {
    const d = e.dests[i]!;
    const same = inOrder && i < held!.length && held![i]!.port === d.port && held![i]!.address === d.address;
    if (!same) {
      inOrder = false;
      if (dests.find(d) !== undefined) continue;
    }
    const old = same ? held![i]! : had?.find(d);
    dests.push(old !== undefined && sameDest(old, d) ? old : destSpec(d));
  }
  into.set(id, { service, dests });
}

/**
 * What changed the view while a read made aside ran (KeptView.readAside), on one clock: each change, and
 * each mark a read takes before it asks the kernel, is the next tick. `last` holds, for each service
 * changed and not read since, the tick of its last change; `services` the same for changes of the service
 * itself (added, edited, removed, or an unknown outcome), which the service list read before them may miss.
 * `whole` when the view was replaced whole meanwhile.
 */
interface Touched {
  clock: number;
  last: Map<string, number>;
  services: Map<string, number>;
  timeouts: boolean;
  whole: boolean;
}

/**
 * One read of the kernel into a read made aside: the service list is asked for first (its mark, `listed`,
 * is taken before), then each service's real servers (`began` marks each before its dump is asked for),
 * and each service is handed over with `add`. A service so read is the kernel's when nothing changed it
 * after its real servers' mark, nor the service itself after the list's: every operation the view follows
 * was applied by the kernel before its reply was read, so one followed before a mark is in what was read.
 */
export interface AsideReadStep {
  /** A service's real servers are about to be asked for (a client that cannot say: the list's mark counts). */
  began(id: string): void;
  /** One service as read (in any order; the first of a duplicate wins). */
  add(e: KernelEntry): void;
}

/** A read of some services again (AsideRead.again): `ids`, each handed over with `add` when the kernel has it. */
export interface AsideRound extends AsideReadStep {
  readonly ids: ReadonlySet<string>;
  /** The round is read: a service of `ids` the kernel did not hand over is gone. Returns how many services are still to read again. */
  end(): number;
}

/** A whole read made while other passes change the view and the kernel (KeptView.readAside). */
export interface AsideRead extends AsideReadStep {
  /** Services changed since they were read (read them again before commit, or they are committed stale). */
  readonly pending: number;
  /**
   * Reads again, outside any queue, the services changed since they were read (call it once the whole read
   * ended): each one read cleanly this time is the kernel's at commit, not stale. Undefined when none is
   * pending or the view was replaced whole. One round at a time.
   */
  again(): AsideRound | undefined;
  /**
   * The view becomes what was read, except for each service changed since it was read: that one keeps the
   * view's entry (or its absence), marked stale (read it again before it is planned: what was read of it may
   * be from before, during or after those changes, and the view does not know drift behind lvsd's back);
   * the timeouts read (`timeouts`) likewise, unless a change touched them. Returns how many services are so
   * marked. When the view was replaced whole meanwhile (a pass's own whole read), that read is newer:
   * nothing of this one is taken (returns -1).
   */
  commit(timeouts?: Timeouts): number;
  /** The read failed or is dropped: nothing changes, and the view stops recording what touches it. */
  abandon(): void;
}

export class KeptView {
  private services = new Map<string, ViewService>();
  private readonly staleIds = new Set<string>();
  /** False until a whole read: before that the view knows nothing and every pass reads. */
  known = false;
  private kernelTimeouts: Timeouts | undefined;
  /** What changed the view since the read made aside began (one at a time), or undefined. */
  private touched: Touched | undefined;

  /** The kernel's connection timeouts as last read or set; undefined when not known. */
  get timeouts(): Timeouts | undefined {
    return this.kernelTimeouts;
  }

  set timeouts(t: Timeouts | undefined) {
    this.kernelTimeouts = t;
    if (this.touched) this.touched.timeouts = true;
  }

  /** A change to service `id` while a read aside runs (`service`: to the service itself, or of unknown outcome). */
  private touch(id: string, service: boolean): void {
    const t = this.touched;
    if (!t) return;
    const tick = ++t.clock;
    t.last.set(id, tick);
    if (service) t.services.set(id, tick);
  }

  /** Whether a read made aside is running (readAside, not yet committed or abandoned). */
  get readingAside(): boolean {
    return this.touched !== undefined;
  }

  /**
   * A whole read that runs while the view goes on following other passes (the drift pass reads outside
   * the reconciler's queue, so a reload or a health change does not wait for its read). Every change to the
   * view from now on is recorded by service; at commit a service touched after it was read (AsideReadStep
   * says when: the kernel's service list is read first, each one's real servers later) keeps the view's
   * entry and goes stale, since the read may have seen it before, during or after the operations that
   * touched it, unless a round of `again` read it cleanly since. One at a time: a second one throws.
   * Take it just before the read asks for the service list (the list's mark is taken here).
   */
  readAside(): AsideRead {
    if (this.touched) throw new Error('KeptView.readAside: a read aside is already running');
    const touched: Touched = { clock: 0, last: new Map(), services: new Map(), timeouts: false, whole: false };
    this.touched = touched;
    const next = new Map<string, ViewService>();
    const before = this.services;
    let open = true;
    let round: AsideRound | undefined;
    const end = (): boolean => {
      const was = open && this.touched === touched;
      open = false;
      if (this.touched === touched) this.touched = undefined;
      return was;
    };
    /** One read's marks: the list's, then each service's (began); `clean` says whether a service read under them is the kernel's. */
    const marks = () => {
      const listed = ++touched.clock;
      const starts = new Map<string, number>();
      return {
        began: (id: string) => void starts.set(id, ++touched.clock),
        /** Whether `id`, read under these marks (`dests`: its real servers too), is the kernel's now; if so it is no longer pending. */
        clean: (id: string, dests: boolean): boolean => {
          const since = dests ? (starts.get(id) ?? listed) : listed;
          if ((touched.last.get(id) ?? 0) >= since || (touched.services.get(id) ?? 0) >= listed) return false;
          touched.last.delete(id);
          touched.services.delete(id);
          return true;
        },
      };
    };
    const whole = marks();
    return {
      began: (id) => {
        if (open) whole.began(id);
      },
      add: (e) => {
        if (!open) return;
        const id = serviceIdOf(e.service.key);
        if (next.has(id)) return;
        put(next, e, before);
        whole.clean(id, true);
      },
      get pending() {
        return touched.last.size;
      },
      again: () => {
        if (!open || round || touched.whole || touched.last.size === 0) return undefined;
        const ids: ReadonlySet<string> = new Set(touched.last.keys());
        const these = marks();
        const seen = new Set<string>();
        const r: AsideRound = {
          ids,
          began: (id) => {
            if (open) these.began(id);
          },
          add: (e) => {
            const id = serviceIdOf(e.service.key);
            if (!open || !ids.has(id) || seen.has(id)) return;
            seen.add(id);
            if (!these.clean(id, true)) return;
            next.delete(id);
            put(next, e, this.services);
          },
          end: () => {
            if (round === r) round = undefined;
            if (open) for (const id of ids) if (!seen.has(id) && these.clean(id, false)) next.delete(id);
            return touched.last.size;
          },
        };
        round = r;
        return r;
      },
      commit: (timeouts) => {
        if (!end()) throw new Error('KeptView.readAside: committed twice or after abandon');
        if (touched.whole) return -1;
        for (const id of touched.last.keys()) {
          const had = this.services.get(id);
          if (had === undefined) next.delete(id);
          else next.set(id, had);
        }
        this.services = next;
        this.staleIds.clear();
        for (const id of touched.last.keys()) this.staleIds.add(id);
        this.known = true;
        if (!touched.timeouts) this.kernelTimeouts = timeouts;
        return touched.last.size;
      },
      abandon: () => {
        end();
      },
    };
  }

  /** A whole read: the view becomes exactly this table. */
  replaceAll(kernel: readonly KernelEntry[]): void {
    if (this.touched) this.touched.whole = true;
    const before = this.services;
    this.services = new Map();
    this.staleIds.clear();
    for (const e of kernel) put(this.services, e, before);
    this.known = true;
  }

  /**
   * The same, a slice per turn of the event loop, each slice bounded by time (turn-budget.ts: 110,000
   * objects took 130-400 ms in one block natively, 50-100x that under TCG). The new view is built aside and
   * swapped in at the end, so the view is never half replaced.
   */
  async replaceAllSliced(kernel: readonly KernelEntry[], budget = new TurnBudget()): Promise<void> {
    const next = new Map<string, ViewService>();
    const before = this.services;
    for (const e of kernel) {
      put(next, e, before);
      if (budget.spent) await budget.yield();
    }
    if (this.touched) this.touched.whole = true;
    this.services = next;
    this.staleIds.clear();
    this.known = true;
  }

  /**
   * A whole read handed over a service at a time (IpvsClient.dumpEach): `add` each as it comes, then
   * `commit` makes the view exactly what was added. Until then the view is the one before (built aside,
   * swapped in at once: never half replaced); a builder never committed (the read failed) changes nothing.
   * A real server read as the view held it keeps the held object, so what was read is garbage at once.
   */
  replacer(): { add(e: KernelEntry): void; commit(): void } {
    const next = new Map<string, ViewService>();
    const before = this.services;
    return {
      add: (e) => put(next, e, before),
      commit: () => {
        if (this.touched) this.touched.whole = true;
        this.services = next;
        this.staleIds.clear();
        this.known = true;
      },
    };
  }

  /** A read of some services: `ids` were read, `kernel` is what of them exists. */
  replaceSome(ids: ReadonlySet<string>, kernel: readonly KernelEntry[]): void {
    const before = new Map<string, ViewService>();
    for (const id of ids) {
      this.touch(id, true);
      const had = this.services.get(id);
      if (had !== undefined) before.set(id, had);
      this.services.delete(id);
      this.staleIds.delete(id);
    }
    for (const e of kernel) if (ids.has(serviceIdOf(e.service.key))) put(this.services, e, before);
  }

  has(id: string): boolean {
    return this.services.has(id);
  }

  ids(): IterableIterator<string> {
    return this.services.keys();
  }

  get size(): number {
    return this.services.size;
  }

  /** One service as a KernelEntry (counters 0), or undefined when the view says the kernel lacks it. */
  entry(id: string): KernelEntry | undefined {
    const s = this.services.get(id);
    if (!s) return undefined;
    const dests = [];
    for (const d of s.dests.values()) dests.push(kernelDest(d));
    return { service: { ...s.service }, dests };
  }

  /**
   * One service as the planner reads it: the objects the view holds, no copy (entry() copies every real
   * server into a KernelDest; a plan per health change of a 100-server service copied 100 of them, ~30 MiB
   * of the first 25 s's garbage at 10,000 real servers). Nobody may change what it returns.
   */
  plannable(id: string): PlanKernelEntry | undefined {
    const s = this.services.get(id);
    return s ? { service: s.service, dests: s.dests.values() } : undefined;
  }

  /** Real servers in the view, all services. */
  get objects(): number {
    let n = this.services.size;
    for (const s of this.services.values()) n += s.dests.size;
    return n;
  }

  /** The service's operations ended in an unknown state: read it again before planning it. */
  markStale(id: string): void {
    this.touch(id, true);
    this.staleIds.add(id);
  }

  isStale(id: string): boolean {
    return this.staleIds.has(id);
  }

  stale(): string[] {
    return [...this.staleIds];
  }

  /** A command the kernel accepted: the view follows it. */
  applied(command: IpvsCommand): void {
    switch (command.cmd) {
      case 'new-service':
      case 'set-service': {
        const id = serviceIdOf(command.service.key);
        this.touch(id, true);
        const have = this.services.get(id);
        if (have) have.service = { ...command.service };
        else this.services.set(id, { service: { ...command.service }, dests: new DestList() });
        return;
      }
      case 'del-service': {
        const id = serviceIdOf(command.key);
        this.touch(id, true);
        this.services.delete(id);
        return;
      }
      case 'new-dest':
      case 'set-dest': {
        const id = serviceIdOf(command.service);
        this.touch(id, false);
        const s = this.services.get(id);
        if (!s) return; // cannot happen after an accepted service command; a read will say
        s.dests.set(command.dest); // the desired object itself (see ViewService)
        return;
      }
      case 'del-dest': {
        const id = serviceIdOf(command.service);
        this.touch(id, false);
        this.services.get(id)?.dests.delete(command.dest);
        return;
      }
      case 'set-timeouts': {
        if (this.touched) this.touched.timeouts = true;
        if (!this.timeouts) return;
        const t = command.timeouts;
        this.timeouts = { tcp: t.tcp || this.timeouts.tcp, tcpFin: t.tcpFin || this.timeouts.tcpFin, udp: t.udp || this.timeouts.udp };
        return;
      }
      default:
    }
  }
}
