/**
 * The body patterns of HTTP checks: a subset of JavaScript's regular expressions (no flags) compiled to a
 * Thompson NFA, so matching is linear in the body whatever the pattern and the body are (a backtracking
 * engine takes exponential time on `^(a+)+$` against "aaaa...b"). Left out, because no automaton without
 * memory can run them: backreferences and lookaround. Refused too, because their meaning in JavaScript's
 * legacy syntax is surprising: letter escapes that are not classes (`\a`), octal escapes, `\c`, and a bare
 * `{`, `}` or `]` (escape them). Semantics are JavaScript's, on UTF-16 code units, as `new RegExp(p)` has
 * them; a property test holds the two to the same answers. Pure.
 */

/** A code-unit range, inclusive. */
export type Range = readonly [number, number];

export type Inst =
  | { op: 'char'; ranges: Range[]; next: number }
  | { op: 'split'; a: number; b: number }
  | { op: 'jmp'; to: number }
  | { op: 'assert'; kind: 'bol' | 'eol' | 'word' | 'notword'; next: number }
  | { op: 'match' };

export interface Program {
  insts: Inst[];
  start: number;
}

/** Why a pattern cannot be compiled, and where (a 0-based index into the pattern). */
export class PatternError extends Error {
  constructor(message: string, readonly index: number) {
    super(message);
    this.name = 'PatternError';
  }
}

/** The most instructions a pattern may compile to: each costs time on every character of the body. */
export const MAX_PROGRAM = 2000;
/** The largest count in `{n,m}`. */
export const MAX_REPEAT = 1000;
/** The longest pattern, in code units, and the deepest nesting of groups. */
export const MAX_PATTERN_LENGTH = 1000;
const MAX_DEPTH = 50;

type Node =
  | { t: 'empty' }
  | { t: 'char'; ranges: Range[] }
  | { t: 'assert'; kind: 'bol' | 'eol' | 'word' | 'notword' }
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'repeat'; node: Node; min: number; max: number };

const MAX_CU = 0xffff;
const DIGIT: Range[] = [[0x30, 0x39]];
const WORD: Range[] = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const SPACE: Range[] = [
  [0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029],
  [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff],
];
const LINE_TERMINATORS: Range[] = [[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]];

/** Sorted, merged ranges. */
export function normalise(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(ranges: readonly Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of normalise(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CU) out.push([next, MAX_CU]);
  return out;
}

export const WORD_RANGES = WORD;

class Parser {
  private i = 0;
  private depth = 0;
  constructor(private readonly src: string) {}

  fail(message: string, at = this.i): never {
    throw new PatternError(message, at);
  }

  parse(): Node {
    const node = this.alternation();
    if (this.i < this.src.length) this.fail(this.src[this.i] === ')' ? 'unmatched ")"' : `unexpected "${this.src[this.i]}"`);
    return node;
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.peek() === '|') {
      this.i++;
      items.push(this.sequence());
    }
    return items.length === 1 ? items[0]! : { t: 'alt', items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      const start = this.i;
      const atom = this.atom();
      items.push(this.quantified(atom, start));
    }
    return items.length === 0 ? { t: 'empty' } : items.length === 1 ? items[0]! : { t: 'cat', items };
  }

  private quantified(atom: Node, start: number): Node {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === '*') { min = 0; max = Infinity; this.i++; }
    else if (c === '+') { min = 1; max = Infinity; this.i++; }
    else if (c === '?') { min = 0; max = 1; this.i++; }
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) this.fail('a "{" that is not a count {n}, {n,} or {n,m}: write \\{ for the character');
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) this.fail(`a count above ${MAX_REPEAT}`);
      if (max < min) this.fail(`numbers out of order in {${m[1]},${m[3]}}`);
      this.i += m[0].length;
    } else {
      return atom;
    }
    if (atom.t === 'assert') this.fail('nothing to repeat (an assertion)', start);
    if (this.peek() === '?') this.i++; // lazy: the same strings match
    const q = this.peek();
    if (q === '*' || q === '+' || q === '?' || q === '{') this.fail('nothing to repeat');
    return { t: 'repeat', node: atom, min, max };
  }

  private atom(): Node {
    const c = this.src[this.i]!;
    switch (c) {
      case '^': this.i++; return { t: 'assert', kind: 'bol' };
      case '$': this.i++; return { t: 'assert', kind: 'eol' };
      case '.': this.i++; return { t: 'char', ranges: complement(LINE_TERMINATORS) };
      case '(': return this.group();
      case '[': return this.charClass();
      case '\\': return this.escape();
      case '*': case '+': case '?': this.fail('nothing to repeat');
      // eslint-disable-next-line no-fallthrough
      case '{': case '}': case ']': this.fail(`a bare "${c}": write \\${c} for the character`);
      // eslint-disable-next-line no-fallthrough
      default: {
        this.i++;
        const code = c.charCodeAt(0);
        return { t: 'char', ranges: [[code, code]] };
      }
    }
  }

  private group(): Node {
    const open = this.i;
    this.i++;
    if (this.src.startsWith('?:', this.i)) {
      this.i += 2;
    } else if (this.src.startsWith('?<', this.i) && !this.src.startsWith('?<=', this.i) && !this.src.startsWith('?<!', this.i)) {
      const m = /^\?<([A-Za-z_$][\w$]*)>/.exec(this.src.slice(this.i));
      if (!m) this.fail('a group name must be an identifier: (?<name>...)');
      this.i += m[0].length;
    } else if (this.peek() === '?') {
      const kind = this.src.slice(this.i, this.i + 3);
      this.fail(kind.startsWith('?=') || kind.startsWith('?!') || kind.startsWith('?<')
        ? 'lookahead and lookbehind ((?=, (?!, (?<=, (?<!) cannot be matched in linear time'
        : `unknown group "(${kind}"`, open);
    }
    if (++this.depth > MAX_DEPTH) this.fail(`groups nested deeper than ${MAX_DEPTH}`, open);
    const inner = this.alternation();
    this.depth--;
    if (this.peek() !== ')') this.fail('unclosed "("', open);
    this.i++;
    return { t: 'cat', items: [inner] }; // a group, so a quantifier after it is allowed even around an assertion
  }

  /** A class escape (\d ...) as ranges, or a single code unit, for `\` at this.i. */
  private escapeValue(inClass: boolean): Range[] | number {
    const at = this.i;
    this.i++;
    const c = this.src[this.i];
    if (c === undefined) this.fail('"\\" at the end of the pattern', at);
    this.i++;
    switch (c) {
      case 'd': return DIGIT;
      case 'D': return complement(DIGIT);
      case 'w': return WORD;
      case 'W': return complement(WORD);
      case 's': return SPACE;
      case 'S': return complement(SPACE);
      case 't': return 0x09;
      case 'n': return 0x0a;
      case 'v': return 0x0b;
      case 'f': return 0x0c;
      case 'r': return 0x0d;
      case 'b': if (inClass) return 0x08; break;
      case '0':
        if (!/[0-9]/.test(this.src[this.i] ?? '')) return 0;
        this.fail('octal escapes are not supported: write \\xHH', at);
      // eslint-disable-next-line no-fallthrough
      case 'x': {
        const m = /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i));
        if (!m) this.fail('\\x needs two hexadecimal digits', at);
        this.i += 2;
        return parseInt(m[0], 16);
      }
      case 'u': {
        const m = /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i));
        if (!m) this.fail('\\u needs four hexadecimal digits', at);
        this.i += 4;
        return parseInt(m[0], 16);
      }
      default:
        // ASCII punctuation escapes itself (\- \" \/ \: ...), as in JavaScript
        if (/^[!-/:-@[-`{-~]$/.test(c)) return c.charCodeAt(0);
    }
    if (/[1-9]/.test(c)) this.fail('backreferences (\\1 ...) cannot be matched in linear time', at);
    if (c === 'k') this.fail('backreferences (\\k<name>) cannot be matched in linear time', at);
    if (c === 'B' && !inClass) this.fail('internal: \\B', at);
    this.fail(`unknown escape "\\${c}" (write the character itself; only punctuation and \\d \\D \\w \\W \\s \\S \\b \\B \\t \\n \\v \\f \\r \\0 \\xHH \\uHHHH are escapes)`, at);
  }

  private escape(): Node {
    const next = this.src[this.i + 1];
    if (next === 'b' || next === 'B') {
      this.i += 2;
      return { t: 'assert', kind: next === 'b' ? 'word' : 'notword' };
    }
    const v = this.escapeValue(false);
    return { t: 'char', ranges: typeof v === 'number' ? [[v, v]] : v };
  }

  private classAtom(): Range[] | number {
    if (this.peek() === '\\') return this.escapeValue(true);
    const code = this.src.charCodeAt(this.i);
    this.i++;
    return code;
  }

  private charClass(): Node {
    const open = this.i;
    this.i++;
    let negate = false;
    if (this.peek() === '^') { negate = true; this.i++; }
    const ranges: Range[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('unclosed "["', open);
      if (c === ']') { this.i++; break; }
      if (c === '[') this.fail('a "[" inside a class: write \\[');
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.src[this.i + 1] !== undefined) {
        const dash = this.i;
        this.i++;
        const hi = this.classAtom();
        if (typeof lo !== 'number' || typeof hi !== 'number') this.fail('a range between classes (such as [\\d-z]): escape the "-"', dash);
        if (hi < lo) this.fail('range out of order in character class', dash);
        ranges.push([lo, hi]);
      } else {
        if (typeof lo === 'number') ranges.push([lo, lo]);
        else ranges.push(...lo);
      }
    }
    return { t: 'char', ranges: negate ? complement(ranges) : normalise(ranges) };
  }
}

/** The size a node compiles to (instructions), without building it. */
function size(n: Node): number {
  switch (n.t) {
    case 'empty': return 0;
    case 'char': case 'assert': return 1;
    case 'cat': return n.items.reduce((s, x) => s + size(x), 0);
    case 'alt': return n.items.reduce((s, x) => s + size(x), 0) + 2 * (n.items.length - 1);
    case 'repeat': {
      const one = size(n.node);
      return n.max === Infinity ? (n.min + 1) * (one + 2) : n.max * (one + 1) + n.min;
    }
  }
}

class Compiler {
  readonly insts: Inst[] = [];

  private emit(inst: Inst): number {
    this.insts.push(inst);
    return this.insts.length - 1;
  }

  /** Compiles `n` so that it continues at `next`; returns its entry. Built back to front. */
  compile(n: Node, next: number): number {
    switch (n.t) {
      case 'empty': return next;
      case 'char': return this.emit({ op: 'char', ranges: n.ranges, next });
      case 'assert': return this.emit({ op: 'assert', kind: n.kind, next });
      case 'cat': {
        let entry = next;
        for (let k = n.items.length - 1; k >= 0; k--) entry = this.compile(n.items[k]!, entry);
        return entry;
      }
      case 'alt': {
        let entry = this.compile(n.items[n.items.length - 1]!, next);
        for (let k = n.items.length - 2; k >= 0; k--) {
          const a = this.compile(n.items[k]!, next);
          entry = this.emit({ op: 'split', a, b: entry });
        }
        return entry;
      }
      case 'repeat': {
        let entry = next;
        if (n.max === Infinity) {
          // x* : loop = split(x -> jmp loop, next)
          const loop = this.emit({ op: 'split', a: -1, b: next });
          (this.insts[loop] as { a: number }).a = this.compile(n.node, this.emit({ op: 'jmp', to: loop }));
          entry = loop;
        } else {
          // the optional copies nest: x{0,2} = (x(x)?)?
          for (let k = n.max; k > n.min; k--) entry = this.emit({ op: 'split', a: this.compile(n.node, entry), b: next });
        }
        for (let k = 0; k < n.min; k++) entry = this.compile(n.node, entry);
        return entry;
      }
    }
  }
}

/** Compiles a pattern, or throws PatternError with the reason and its index. */
export function compilePattern(source: string): Program {
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`the pattern is longer than ${MAX_PATTERN_LENGTH} characters`, MAX_PATTERN_LENGTH);
  const ast = new Parser(source).parse();
  if (size(ast) > MAX_PROGRAM) {
    throw new PatternError(`the pattern is too large (over ${MAX_PROGRAM} steps once its counted repeats are written out)`, 0);
  }
  const c = new Compiler();
  const match = c.insts.push({ op: 'match' }) - 1;
  const start = c.compile(ast, match);
  return { insts: c.insts, start };
}
