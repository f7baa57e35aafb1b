/**
 * keepalived.conf text -> logical lines of words, each with its FILE:LINE, the way keepalived's reader
 * (lib/parser.c) produces them: `!`/`#` comments outside double quotes (`\!` `\#` escape them), `include`
 * with glob patterns relative to the including file's directory, `@ID`/`@^ID` lines kept only for the
 * matching (non-matching) config id, `$NAME=value` definitions (multi-line with a trailing `\`) expanded as
 * `$NAME` or `${NAME}` (undefined names stay as written), the built-ins `${_PWD}`, `${_INSTANCE}`,
 * `${_RANDOM [MIN MAX]}`, `${_HASH}`, `${_BANG}`, `~SEQ(VAR, ...)` / `~SEQx` repetition, and every `{` or `}`
 * outside quotes as a line of its own (so a block may open on the keyword's line or the next).
 *
 * Pure apart from the ConfigFiles interface. Never throws on bad input: what keepalived would complain about
 * is a problem with its place.
 */
import { posix } from 'node:path';
import { globFiles, type ConfigFiles } from './files.js';
import type { ImportProblem, Place } from './problems.js';

export interface Line extends Place {
  words: string[];
}

export interface LexOptions {
  /** keepalived's --config-id (default there: the host name up to the first dot). */
  configId?: string;
}

const MAX_INCLUDE_DEPTH = 32;
const MAX_EXPANSIONS = 1000;
const MAX_LINES = 1_000_000;
/** Files read in all (an include inside ~SEQ multiplies: `~SEQ(i,1,2) include self` is 2^32 reads deep down). */
const MAX_FILE_READS = 1000;

interface Definition {
  /** One or more lines (multi-line definitions). */
  lines: string[];
  multiline: boolean;
}

/** Removes a comment, leading/trailing blanks and the escapes of `!`/`#`; says whether the line ended in `\`. */
export function decomment(raw: string): { text: string; continued: boolean } {
  let s = raw.replace(/^[ \t]+/, '');
  let out = '';
  let quote = false;
  let continued = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"') {
      quote = !quote;
      out += c;
    } else if (c === '\\') {
      if (i + 1 >= s.length) {
        continued = true;
        break;
      }
      const n = s[i + 1]!;
      if (!quote && (n === '#' || n === '!')) out += n;
      else out += c + n;
      i++;
    } else if (!quote && (c === '!' || c === '#')) {
      break;
    } else out += c;
  }
  s = out.replace(/[ \t]+$/, '');
  return { text: continued ? s + '\\' : s, continued };
}

/** Splits a line into words: blanks separate, a word starting with `"` runs to the next `"` (quotes dropped). */
export function splitWords(text: string): { words: string[]; unmatchedQuote: boolean } {
  const words: string[] = [];
  let i = 0;
  let unmatchedQuote = false;
  const blank = (c: string): boolean => c === ' ' || c === '\t' || c === '\f' || c === '\v' || c === '\r' || c === '\n';
  while (i < text.length) {
    while (i < text.length && blank(text[i]!)) i++;
    if (i >= text.length) break;
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) {
        unmatchedQuote = true;
        words.push(text.slice(i + 1));
        break;
      }
      words.push(text.slice(i + 1, close));
      i = close + 1;
    } else {
      let j = i;
      while (j < text.length && !blank(text[j]!) && text[j] !== '"') j++;
      words.push(text.slice(i, j));
      i = j;
    }
  }
  return { words, unmatchedQuote };
}

/** Splits `{` and `}` outside double quotes into lines of their own. */
function splitBraces(text: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quote = false;
  for (const c of text) {
    if (c === '"') quote = !quote;
    if (!quote && (c === '{' || c === '}')) {
      if (cur.trim() !== '') parts.push(cur.trim());
      parts.push(c);
      cur = '';
    } else cur += c;
  }
  if (cur.trim() !== '') parts.push(cur.trim());
  return parts;
}

class Lexer {
  readonly lines: Line[] = [];
  readonly problems: ImportProblem[] = [];
  readonly files: string[] = [];
  private reads = 0;
  private tooDeep = false;
  private readonly defs = new Map<string, Definition>();

  constructor(private readonly fs: ConfigFiles, private readonly opts: LexOptions) {}

  problem(place: Place, keyword: string, message: string, severity: 'error' | 'warning' = 'error'): void {
    this.problems.push({ ...place, keyword, message, severity });
  }

  readFile(path: string, depth: number, from?: Place): void {
    this.reads++;
    const text = this.fs.read(path);
    if (text === undefined) {
      if (from) this.problem(from, 'include', `cannot read ${path}`);
      else this.problem({ file: path, line: 0 }, 'file', 'cannot read the file');
      return;
    }
    this.files.push(path);
    const raw = text.split('\n');
    let pendingDef: { def: Definition; place: Place } | undefined;
    for (let n = 0; n < raw.length; n++) {
      const place = { file: path, line: n + 1 };
      const line = raw[n]!.replace(/\r+$/, '');
      if (pendingDef) {
        // continuation lines of a multi-line $NAME= definition (an empty line ends it)
        const { text: t, continued } = decomment(line);
        if (t !== '' && (t !== '\\' || continued)) {
          const body = continued ? t.slice(0, -1).replace(/[ \t]+$/, '') : t;
          if (body !== '') pendingDef.def.lines.push(body);
        }
        if (!continued || line.trim() === '') pendingDef = undefined;
        continue;
      }
      if (line.trim() === '') continue;
      const { text: t } = decomment(line);
      if (t === '') continue;
      const def = this.logical(t, place, depth);
      if (def) pendingDef = { def, place };
      if (this.lines.length > MAX_LINES) {
        this.problem(place, 'file', `more than ${MAX_LINES} lines after expansion; stopped reading`);
        return;
      }
    }
  }

  /** One decommented line; returns a definition when it starts a multi-line one. */
  private logical(text: string, place: Place, depth: number): Definition | undefined {
    let buf = text;
    for (let round = 0; ; round++) {
      if (round > MAX_EXPANSIONS) {
        this.problem(place, '$', 'definitions expand without end (a definition that refers to itself?)');
        return undefined;
      }
      if (buf.startsWith('@')) {
        const rev = buf[1] === '^';
        const rest = buf.slice(rev ? 2 : 1);
        const m = /^(\S*)[ \t]+(.*)$/.exec(rest);
        if (!m) return undefined;
        const matches = this.opts.configId !== undefined && m[1] === this.opts.configId;
        if (matches === rev) return undefined;
        buf = m[2]!.replace(/^[ \t]+/, '');
        if (buf === '') return undefined;
      }
      const def = /^\$([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/.exec(buf);
      if (def) {
        let value = def[2]!;
        const multiline = value.endsWith('\\');
        if (multiline) value = value.slice(0, -1).replace(/[ \t]+$/, '');
        const d: Definition = { lines: value === '' ? [] : [value], multiline };
        this.defs.set(def[1]!, d);
        return multiline ? d : undefined;
      }
      if (buf.startsWith('~SEQ')) {
        this.seq(buf, place, depth);
        return undefined;
      }
      if (buf.startsWith('~LST')) {
        this.lst(buf, place, depth);
        return undefined;
      }
      if (buf.startsWith('~')) {
        this.problem(place, buf.split(/\s/)[0]!, 'not understood (keepalived knows ~SEQ and ~LST)');
        return undefined;
      }
      if (!buf.includes('$')) break;
      const expanded = this.expand(buf, place);
      if (expanded === undefined) break;
      if (expanded.multiline) {
        for (const l of expanded.lines) this.logical(l.replace(/^[ \t]+/, ''), place, depth);
        return undefined;
      }
      buf = expanded.lines[0]!;
      if (!buf.includes('$') && !buf.startsWith('@')) break;
    }
    if (/^include[ \t]/.test(buf)) {
      this.include(buf.slice(8).trim(), place, depth);
      return undefined;
    }
    for (const part of splitBraces(buf)) {
      const { words, unmatchedQuote } = splitWords(part);
      if (unmatchedQuote) this.problem(place, words[0] ?? '"', 'a quote is not closed');
      if (words.length > 0) this.lines.push({ ...place, words });
    }
    return undefined;
  }

  /** Replaces the first defined $NAME / ${NAME} references; undefined when nothing was defined. */
  private expand(buf: string, place: Place): { lines: string[]; multiline: boolean } | undefined {
    let out = '';
    let changed = false;
    let i = 0;
    while (i < buf.length) {
      const at = buf.indexOf('$', i);
      if (at < 0 || at === buf.length - 1) break;
      out += buf.slice(i, at);
      const braced = buf[at + 1] === '{';
      const m = braced
        ? /^\{([A-Za-z_][A-Za-z0-9_]*)((?: +\d+)*)\}/.exec(buf.slice(at + 1))
        : /^([A-Za-z_][A-Za-z0-9_]*)(?=[ \t,)]|$)/.exec(buf.slice(at + 1));
      const name = m?.[1];
      const value = name !== undefined ? this.lookup(name, braced ? (m![2] ?? '').trim() : '', place) : undefined;
      if (m && value !== undefined) {
        const whole = at === 0 && at + 1 + m[0].length === buf.length;
        if (value.multiline && whole) return { lines: value.lines, multiline: true };
        if (value.multiline && value.lines.length > 1) {
          this.problem(place, '$' + name, 'a multi-line definition must stand alone on its line; used its first line');
        }
        out += value.lines[0] ?? '';
        i = at + 1 + m[0].length;
        changed = true;
      } else {
        out += '$';
        i = at + 1;
      }
    }
    out += buf.slice(i);
    return changed ? { lines: [out], multiline: false } : undefined;
  }

  private lookup(name: string, params: string, place: Place): Definition | undefined {
    const own = this.defs.get(name);
    if (own) return params === '' ? own : undefined;
    const one = (v: string): Definition => ({ lines: [v], multiline: false });
    switch (name) {
      case '_PWD':
        return params === '' ? one(posix.dirname(place.file)) : undefined;
      case '_INSTANCE':
        return params === '' ? one(this.opts.configId ?? '') : undefined;
      case '_HASH':
        return params === '' ? one('#') : undefined;
      case '_BANG':
        return params === '' ? one('!') : undefined;
      case '_RANDOM': {
        const [min = 0] = params.split(/ +/).filter(Boolean).map(Number);
        this.problem(place, '${_RANDOM}', `keepalived picks a random number at each start; the import uses the minimum, ${min}`, 'warning');
        return one(String(min));
      }
      default:
        return undefined;
    }
  }

  private seq(buf: string, place: Place, depth: number): void {
    const m = /^~SEQ(x?)[ \t]*\([ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*,([^)]*)\)[ \t]*(.*)$/.exec(buf);
    const bad = (why: string): void => this.problem(place, '~SEQ', why);
    if (!m) return bad('not a valid ~SEQ(VAR, [START,] [STEP,] END) line');
    const hex = m[1] === 'x';
    const args = (this.expand(m[3]!, place)?.lines[0] ?? m[3]!).split(',').map((s) => s.trim());
    const nums = args.map((a) => (/^[+-]?(0x[0-9a-f]+|\d+)$/i.test(a) ? Number.parseInt(a, a.toLowerCase().includes('0x') ? 16 : 10) : NaN));
    if (nums.length > 3 || nums.some((n) => !Number.isFinite(n))) return bad('its values must be 1 to 3 whole numbers');
    let start: number;
    let step: number;
    let end: number;
    if (nums.length === 1) {
      end = nums[0]!;
      step = end < 1 ? -1 : 1;
      start = end < 0 ? -1 : 1;
    } else if (nums.length === 2) {
      [start, end] = nums as [number, number];
      step = start <= end ? 1 : -1;
    } else {
      [start, step, end] = nums as [number, number, number];
      if (step === 0 || (start < end && step < 0) || (start > end && step > 0)) return bad('the step never reaches the end');
    }
    if (hex && (start < 0 || end < 0)) return bad('~SEQx is only for positive numbers');
    const count = Math.floor((end - start) / step) + 1;
    if (count > 100_000) return bad(`${count} repetitions: too many`);
    const saved = this.defs.get(m[2]!);
    for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
      this.defs.set(m[2]!, { lines: [hex ? v.toString(16) : String(v)], multiline: false });
      this.logical(m[4]!, place, depth);
    }
    if (saved) this.defs.set(m[2]!, saved);
  }

  /** ~LST(var, v1, v2, ...) or ~LST({a, b}, {1, 2}, {3, 4}) TEXT: TEXT once per value (set). */
  private lst(buf: string, place: Place, depth: number): void {
    const bad = (why: string): void => this.problem(place, '~LST', why);
    const open = buf.indexOf('(');
    if (!/^~LST[ \t]*\(/.test(buf)) return bad('not a valid ~LST(VAR, VALUE, ...) line');
    let depthParen = 0;
    let close = -1;
    for (let i = open; i < buf.length; i++) {
      if (buf[i] === '(') depthParen++;
      else if (buf[i] === ')' && --depthParen === 0) {
        close = i;
        break;
      }
    }
    if (close < 0) return bad('its ( is not closed');
    const inner = buf.slice(open + 1, close);
    const text = buf.slice(close + 1).replace(/^[ \t]+/, '');
    // split on commas outside {...}
    const items: string[] = [];
    let cur = '';
    let brace = 0;
    for (const c of inner) {
      if (c === '{') brace++;
      if (c === '}') brace--;
      if (c === ',' && brace === 0) {
        items.push(cur.trim());
        cur = '';
      } else cur += c;
    }
    items.push(cur.trim());
    const unbrace = (s: string): string[] => (s.startsWith('{') && s.endsWith('}') ? s.slice(1, -1).split(',').map((x) => x.trim()) : [s]);
    const names = unbrace(items[0] ?? '');
    if (names.some((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) || items.length < 2) return bad('needs variable names and at least one value');
    const sets = items.slice(1).map(unbrace);
    if (sets.some((v) => v.length !== names.length)) return bad(`every value set needs ${names.length} value${names.length > 1 ? 's' : ''}`);
    const saved = names.map((n) => this.defs.get(n));
    for (const values of sets) {
      names.forEach((n, i) => this.defs.set(n, { lines: [values[i]!], multiline: false }));
      this.logical(text, place, depth);
    }
    names.forEach((n, i) => {
      const sv = saved[i];
      if (sv) this.defs.set(n, sv);
      else this.defs.delete(n);
    });
  }

  private include(pattern: string, place: Place, depth: number): void {
    const { words } = splitWords(pattern);
    if (words.length !== 1) {
      this.problem(place, 'include', 'needs exactly one file name or pattern');
      return;
    }
    if (depth >= MAX_INCLUDE_DEPTH) {
      // once: a self-include under ~SEQ reaches the limit on every branch
      if (!this.tooDeep) this.problem(place, 'include', `more than ${MAX_INCLUDE_DEPTH} levels of include (does a file include itself?)`);
      this.tooDeep = true;
      return;
    }
    if (this.reads >= MAX_FILE_READS) {
      if (this.reads++ === MAX_FILE_READS) this.problem(place, 'include', `more than ${MAX_FILE_READS} files read through include (does a file include itself?); stopped reading`);
      return;
    }
    const target = words[0]!;
    const base = posix.dirname(place.file);
    const abs = target.startsWith('/') ? target : posix.join(base, target);
    const matches = globFiles(this.fs, abs);
    if (matches.length === 0) {
      this.problem(place, 'include', `no file matches ${target} (keepalived skips it too)`, 'warning');
      return;
    }
    for (const file of matches) this.readFile(file, depth + 1, place);
  }
}

/** Reads `path` and everything it includes into logical lines. */
export function lexKeepalived(path: string, fs: ConfigFiles, opts: LexOptions = {}): { lines: Line[]; problems: ImportProblem[]; files: string[] } {
  const lexer = new Lexer(fs, opts);
  lexer.readFile(path, 0);
  return { lines: lexer.lines, problems: lexer.problems, files: lexer.files };
}
