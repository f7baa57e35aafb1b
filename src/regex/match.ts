/**
 * Runs a compiled pattern over a text in time linear in the text: the NFA's state sets are built lazily into
 * a DFA (each new set costs one pass over the program, each known transition a table look-up), as RE2
 * does. The cache is bounded; when it is full it starts again, so memory stays bounded too and the worst
 * case is one program pass per character. The async form yields to the event loop between slices of work
 * and gives up when its signal aborts, so even that worst case never holds the event loop for long.
 */
import { WORD_RANGES, type Program, type Range } from './compile.js';

/** Most DFA states kept before the cache starts again. */
export const MAX_STATES = 1000;

/** Cache restarts within one text after which the rest of it is simulated without building states. */
const NFA_AFTER_RESETS = 2;

/** Units of work between two looks at the clock. */
const CHECK_EVERY = 2048;

const MATCHED = -2;

function inRanges(ranges: readonly Range[], c: number): boolean {
  for (const [lo, hi] of ranges) {
    if (c < lo) return false;
    if (c <= hi) return true;
  }
  return false;
}

function isWord(c: number): boolean {
  return inRanges(WORD_RANGES, c);
}

interface State {
  /** NFA pcs before the epsilon closure (the start pc is added at every position: an unanchored search). */
  pcs: Int32Array;
  prevWord: boolean;
  /**
   * Next state per character class (undefined: not built yet). States point at states, not at indexes,
   * so a run that holds a state across a cache restart (another probe's run, between slices) still follows
   * correct transitions.
   */
  next: Array<State | undefined>;
}

/** The state reached when the match instruction is: the text matches. */
const MATCH_STATE: State = { pcs: new Int32Array(0), prevWord: false, next: [] };

/** A compiled pattern with its DFA cache; reuse it for every body a check reads. */
export class Matcher {
  /** Character class of each UTF-16 code unit: code units no range tells apart share a class. */
  private readonly classOf: Uint16Array;
  private readonly classRep: number[] = [];
  private index = new Map<string, State>();
  private readonly mark: Uint32Array;
  private generation = 0;
  private resets = 0;

  constructor(private readonly program: Program) {
    const cuts = new Set<number>([0]);
    const addCuts = (ranges: readonly Range[]) => {
      for (const [lo, hi] of ranges) {
        cuts.add(lo);
        if (hi + 1 <= 0xffff) cuts.add(hi + 1);
      }
    };
    addCuts(WORD_RANGES);
    for (const inst of program.insts) if (inst.op === 'char') addCuts(inst.ranges);
    const sorted = [...cuts].sort((a, b) => a - b);
    this.classOf = new Uint16Array(0x10000);
    sorted.forEach((lo, k) => {
      const hi = k + 1 < sorted.length ? sorted[k + 1]! : 0x10000;
      this.classOf.fill(k, lo, hi);
      this.classRep.push(lo);
    });
    this.mark = new Uint32Array(program.insts.length);
  }

  /** Number of DFA states built so far (for tests and measurements). */
  get stateCount(): number {
    return this.index.size;
  }

  private intern(pcs: number[], prevWord: boolean): State {
    pcs.sort((a, b) => a - b);
    const key = `${prevWord ? 1 : 0}:${pcs.join(',')}`;
    const known = this.index.get(key);
    if (known !== undefined) return known;
    if (this.index.size >= MAX_STATES) {
      this.index = new Map();
      this.resets++;
    }
    const state: State = { pcs: Int32Array.from(pcs), prevWord, next: new Array<State | undefined>(this.classRep.length) };
    this.index.set(key, state);
    return state;
  }

  /**
   * The epsilon closure of `pcs` plus the start, at a position with this context. Returns the pcs that
   * consume a character, or MATCHED when the match instruction is reached.
   */
  private close(pcs: ArrayLike<number>, bol: boolean, eol: boolean, prevWord: boolean, nextWord: boolean): number[] | typeof MATCHED {
    const insts = this.program.insts;
    if (++this.generation === 0xffffffff) {
      this.mark.fill(0);
      this.generation = 1;
    }
    const gen = this.generation;
    const stack: number[] = [this.program.start];
    for (let k = 0; k < pcs.length; k++) stack.push(pcs[k]!);
    const out: number[] = [];
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (this.mark[pc] === gen) continue;
      this.mark[pc] = gen;
      const inst = insts[pc]!;
      switch (inst.op) {
        case 'match': return MATCHED;
        case 'char': out.push(pc); break;
        case 'jmp': stack.push(inst.to); break;
        case 'split': stack.push(inst.b, inst.a); break;
        case 'assert': {
          const ok = inst.kind === 'bol' ? bol
            : inst.kind === 'eol' ? eol
            : inst.kind === 'word' ? prevWord !== nextWord
            : prevWord === nextWord;
          if (ok) stack.push(inst.next);
          break;
        }
      }
    }
    return out;
  }

  /** The pcs after consuming code unit `c` from the closed set, or MATCHED. */
  private step(closed: number[] | typeof MATCHED, c: number): number[] | typeof MATCHED {
    if (closed === MATCHED) return MATCHED;
    const insts = this.program.insts;
    const next: number[] = [];
    for (const pc of closed) {
      const inst = insts[pc] as { ranges: Range[]; next: number };
      if (inRanges(inst.ranges, c)) next.push(inst.next);
    }
    return next;
  }

  /**
   * Whether the pattern matches somewhere in `text`. A generator that yields when `sliceMs` of work have
   * passed since it last started (the clock is read every CHECK_EVERY units of work: a cached transition
   * is one unit, building a state or an NFA step one per NFA state), so the caller can let the event loop run.
   * When the DFA cache has started again more than NFA_AFTER_RESETS times in this text, the pattern's
   * states do not repeat: the rest is simulated as a plain NFA, which builds nothing.
   */
  private *run(text: string, sliceMs: number): Generator<void, boolean> {
    const n = text.length;
    // position 0: the only place ^ holds, so it is not cached
    const first = n > 0 ? text.charCodeAt(0) : -1;
    const closed0 = this.close([], true, n === 0, false, n > 0 && isWord(first));
    if (closed0 === MATCHED) return true;
    if (n === 0) return false;
    const after0 = this.step(closed0, first);
    if (after0 === MATCHED) return true;
    let state = this.intern(after0, isWord(first));
    const resetsAtStart = this.resets;
    let sliceStart = performance.now();
    let work = 0;
    let i = 1;
    for (; i < n; i++) {
      if (work >= CHECK_EVERY) {
        work = 0;
        if (performance.now() - sliceStart >= sliceMs) {
          yield;
          sliceStart = performance.now();
        }
      }
      if (this.resets - resetsAtStart > NFA_AFTER_RESETS) break;
      const c = text.charCodeAt(i);
      const cls = this.classOf[c]!;
      let to = state.next[cls];
      work++;
      if (to === undefined) {
        work += state.pcs.length + 16;
        const stepped = this.step(this.close(state.pcs, false, false, state.prevWord, isWord(c)), c);
        to = stepped === MATCHED ? MATCH_STATE : this.intern(stepped, isWord(c));
        state.next[cls] = to;
      }
      if (to === MATCH_STATE) return true;
      state = to;
    }
    let pcs: ArrayLike<number> = state.pcs;
    let prevWord = state.prevWord;
    for (; i < n; i++) {
      if (work >= CHECK_EVERY) {
        work = 0;
        if (performance.now() - sliceStart >= sliceMs) {
          yield;
          sliceStart = performance.now();
        }
      }
      work += pcs.length + 1;
      const c = text.charCodeAt(i);
      const word = isWord(c);
      const stepped = this.step(this.close(pcs, false, false, prevWord, word), c);
      if (stepped === MATCHED) return true;
      pcs = stepped;
      prevWord = word;
    }
    return this.close(pcs, false, true, prevWord, false) === MATCHED;
  }

  /** Whether the pattern matches somewhere in `text` (like RegExp.prototype.test), synchronously. */
  test(text: string): boolean {
    const it = this.run(text, Infinity);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The same, letting the event loop run after each `sliceMs` of work. Rejects with the signal's reason
   * when it aborts (the probe's deadline), so a slow match ends with the probe.
   */
  async testAsync(text: string, signal?: AbortSignal, sliceMs = 5): Promise<boolean> {
    const it = this.run(text, sliceMs);
    for (;;) {
      signal?.throwIfAborted();
      const r = it.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
