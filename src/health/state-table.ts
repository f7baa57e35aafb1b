/**
 * The health states of the scheduler's probes as columns: one slot per probe (job.ts `Job.slot`), each field
 * of RealServerState (state.ts) in a typed array or a plain array indexed by the slot, instead of an object
 * per probe. Measured at 10,000 TCP checks: a state object was ~114 bytes and its two boxed times ~30 more;
 * a slot here is 33 (issue #11 item 3). The fields only some checks set (an agent's share, exec's weight,
 * the last result and probe time of the checks this process runs itself: the addon keeps those of its TCP
 * watches) are kept beside, by slot, for the slots that have one. The pure functions of state.ts keep taking and giving
 * RealServerState objects: `read` fills one reused object (a flyweight, for a read that keeps nothing),
 * `get` makes a fresh one, `set` stores one. No I/O.
 */
import type { ProbeResult } from './types.js';
import type { RealServerState } from './state.js';

const UP = 1, DRAIN = 2, MAINT = 4;
/** A count stops here (136 years of one probe a second); only rise and fall, far below, are compared with it. */
export const MAX_COUNT = 0xffff_ffff;

export class StateTable {
  private capacity = 0;
  private flags = new Uint8Array(0);
  private successes = new Uint32Array(0);
  private failures = new Uint32Array(0);
  private since = new Float64Array(0);
  /** NaN: absent */
  private upSince = new Float64Array(0);
  private readonly reason: string[] = [];
  /** The slots with any of the fields few checks set. */
  private readonly rare = new Map<number, Rare>();
  private readonly freed: number[] = [];
  private used = 0;
  /** What `read` fills: every field present, in state.ts makeState's order (one hidden class). */
  private readonly scratch: RealServerState = {
    up: false, successes: 0, failures: 0, since: 0, reason: '', upSince: undefined, lastResult: undefined,
    lastProbeAt: undefined, weightPercent: undefined, dynamicWeight: undefined, drain: false, maint: false,
  };

  /** Slots in use. */
  get size(): number {
    return this.used - this.freed.length;
  }

  /**
   * Room for `n` slots in all without growing (the start's build: 10,000 probes in columns grown by
   * halves from 64 would leave up to a third unused).
   */
  reserve(n: number): void {
    if (n > this.capacity) this.grow(n);
  }

  /** A slot holding `s`. */
  alloc(s: RealServerState): number {
    let slot = this.freed.pop();
    if (slot === undefined) {
      slot = this.used++;
      if (slot >= this.capacity) this.grow(Math.max(64, Math.ceil(this.capacity * 1.5)));
    }
    this.set(slot, s);
    return slot;
  }

  /** The slot is no longer used (its job is gone); a later alloc reuses it. */
  free(slot: number): void {
    this.reason[slot] = '';
    this.rare.delete(slot);
    this.freed.push(slot);
  }

  set(slot: number, s: RealServerState): void {
    this.flags[slot] = (s.up ? UP : 0) | (s.drain ? DRAIN : 0) | (s.maint ? MAINT : 0);
    this.successes[slot] = Math.min(MAX_COUNT, s.successes);
    this.failures[slot] = Math.min(MAX_COUNT, s.failures);
    this.since[slot] = s.since;
    this.upSince[slot] = s.upSince ?? NaN;
    this.reason[slot] = s.reason;
    if (s.weightPercent === undefined && s.dynamicWeight === undefined && s.lastResult === undefined && s.lastProbeAt === undefined) {
      this.rare.delete(slot);
      return;
    }
    const r = this.rare.get(slot);
    if (r === undefined) {
      this.rare.set(slot, { weightPercent: s.weightPercent, dynamicWeight: s.dynamicWeight, lastResult: s.lastResult, lastProbeAt: s.lastProbeAt });
      return;
    }
    r.weightPercent = s.weightPercent;
    r.dynamicWeight = s.dynamicWeight;
    r.lastResult = s.lastResult;
    r.lastProbeAt = s.lastProbeAt;
  }

  /** Whether the slot's server is up (computeDesired's count, without a read). */
  up(slot: number): boolean {
    return (this.flags[slot]! & UP) !== 0;
  }

  /**
   * The slot's state in one object reused by every call: for a read that keeps nothing of it (a pure
   * function's argument). The next read overwrites it.
   */
  read(slot: number): RealServerState {
    return this.fill(this.scratch, slot);
  }

  /** The slot's state as an object of its own. */
  get(slot: number): RealServerState {
    return this.fill({
      up: false, successes: 0, failures: 0, since: 0, reason: '', upSince: undefined, lastResult: undefined,
      lastProbeAt: undefined, weightPercent: undefined, dynamicWeight: undefined, drain: false, maint: false,
    }, slot);
  }

  private fill(s: RealServerState, slot: number): RealServerState {
    const f = this.flags[slot]!;
    s.up = (f & UP) !== 0;
    s.successes = this.successes[slot]!;
    s.failures = this.failures[slot]!;
    s.since = this.since[slot]!;
    s.reason = this.reason[slot]!;
    s.upSince = absent(this.upSince[slot]!);
    const r = this.rare.get(slot);
    s.lastResult = r?.lastResult;
    s.lastProbeAt = r?.lastProbeAt;
    s.weightPercent = r?.weightPercent;
    s.dynamicWeight = r?.dynamicWeight;
    s.drain = (f & DRAIN) !== 0;
    s.maint = (f & MAINT) !== 0;
    return s;
  }

  private grow(capacity: number): void {
    const copy = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity);
      b.set(a);
      return b;
    };
    this.flags = copy(this.flags, (n) => new Uint8Array(n));
    this.successes = copy(this.successes, (n) => new Uint32Array(n));
    this.failures = copy(this.failures, (n) => new Uint32Array(n));
    this.since = copy(this.since, (n) => new Float64Array(n));
    this.upSince = copy(this.upSince, (n) => new Float64Array(n));
    this.capacity = capacity;
  }
}

interface Rare {
  weightPercent: number | undefined;
  dynamicWeight: number | undefined;
  lastResult: ProbeResult | undefined;
  lastProbeAt: number | undefined;
}

/** NaN (a column's "absent") as undefined. */
function absent(v: number): number | undefined {
  return v === v ? v : undefined;
}
