/**
 * The keyword tables' shape and the walk over a block. Every keyword of a block is one of:
 * - `map`: translated by its handler (which may itself warn about an approximation);
 * - `unsupported`: not translated, an error (`FILE:LINE: keyword: why`), the import exits non-zero;
 * - `ignored`: nothing in lvsd needs it, a warning saying what lvsd does instead.
 * A keyword in no table is an error too, so nothing is ever dropped silently. Part 2 of issue #12 turns an
 * `unsupported` entry into a `map` one, in the table only.
 */
import type { ImportProblem, Place } from './problems.js';
import type { Statement } from './tree.js';

export type Rule<C> =
  | { map: (s: Statement, ctx: C) => void }
  | { unsupported: string }
  | { ignored: string };

export type Table<C> = Readonly<Record<string, Rule<C>>>;

/** Why part 2 of issue #12 is needed for a keyword. */
export const LATER = (what: string): string => `lvsd has no ${what} yet (issue #12, part 2)`;

export class Problems {
  readonly list: ImportProblem[] = [];
  error(at: Place, keyword: string, message: string): void {
    this.list.push({ file: at.file, line: at.line, keyword, message, severity: 'error' });
  }
  warn(at: Place, keyword: string, message: string): void {
    this.list.push({ file: at.file, line: at.line, keyword, message, severity: 'warning' });
  }
}

/** Applies `table` to every statement of `block`; `where` names the block for unknown keywords. */
export function walk<C>(block: ReadonlyArray<Statement> | undefined, table: Table<C>, ctx: C, problems: Problems, where: string): void {
  for (const s of block ?? []) {
    const rule = Object.prototype.hasOwnProperty.call(table, s.keyword) ? table[s.keyword] : undefined;
    if (!rule) problems.error(s, s.keyword, `not a keyword of ${where} the importer knows (nothing was imported from it)`);
    else if ('unsupported' in rule) problems.error(s, s.keyword, rule.unsupported);
    else if ('ignored' in rule) problems.warn(s, s.keyword, rule.ignored);
    else mapChecked(s, rule.map, ctx, problems);
  }
}

/**
 * Runs a handler on a view of the statement that notes which values and whether the block it read: values
 * or a block it did not read are reported, so a stray word (`weight 10 TCP_CHECK`) or a block after a keyword
 * that takes none is never dropped silently.
 */
function mapChecked<C>(s: Statement, map: (s: Statement, ctx: C) => void, ctx: C, problems: Problems): void {
  let maxRead = -1;
  let blockRead = false;
  const args = new Proxy(s.args, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) maxRead = Math.max(maxRead, Number(key));
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  const view: Statement = { file: s.file, line: s.line, keyword: s.keyword, args, get block() { blockRead = true; return s.block; } };
  const before = problems.list.length;
  map(view, ctx);
  if (problems.list.slice(before).some((x) => x.file === s.file && x.line === s.line && x.severity === 'error')) return;
  if (s.args.length > maxRead + 1) problems.error(s, s.keyword, `unexpected ${s.args.slice(maxRead + 1).join(' ')} (nothing was imported from it)`);
  if (s.block !== undefined && !blockRead) problems.error(s, s.keyword, 'takes no { } block here (nothing in it was imported)');
}

/** Reads argument `i` of `s` as a number in [min, max] (whole unless `fraction`); reports and returns undefined otherwise. */
export function numberArg(
  s: Statement, problems: Problems, i = 0, opts: { min?: number; max?: number; fraction?: boolean } = {},
): number | undefined {
  const text = s.args[i];
  if (text === undefined) {
    problems.error(s, s.keyword, 'a value is missing');
    return undefined;
  }
  const ok = opts.fraction ? /^\d+(\.\d+)?$|^\.\d+$/.test(text) : /^-?\d+$/.test(text);
  const n = Number(text);
  if (!ok || !Number.isFinite(n) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) {
    const range = opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : '';
    problems.error(s, s.keyword, `"${text}" is not a ${opts.fraction ? 'number' : 'whole number'}${range}`);
    return undefined;
  }
  return n;
}

/** The first argument, reported when missing. */
export function stringArg(s: Statement, problems: Problems, i = 0): string | undefined {
  const v = s.args[i];
  if (v === undefined) problems.error(s, s.keyword, 'a value is missing');
  return v;
}

/** Reports arguments beyond `n` (keepalived ignores or refuses them; lvsd does not guess). */
export function noExtraArgs(s: Statement, problems: Problems, n: number): void {
  if (s.args.length > n) problems.error(s, s.keyword, `unexpected extra value${s.args.length - n > 1 ? 's' : ''}: ${s.args.slice(n).join(' ')}`);
}

/**
 * A script keyword as keepalived reads it: `KEYWORD SCRIPT [USER [GROUP]]`, SCRIPT one word or a quoted
 * string that keepalived splits on blanks. lvsd runs a command as a user with that user's primary group.
 */
export function scriptArgs(s: Statement, p: Problems): { argv: string[]; user?: string } | undefined {
  const argv = (s.args[0] ?? '').split(/\s+/).filter(Boolean);
  if (argv.length === 0) {
    p.error(s, s.keyword, 'the script is missing');
    return undefined;
  }
  if (s.args.length > 3) {
    p.error(s, s.keyword, `unexpected ${s.args.slice(3).join(' ')}: keepalived reads SCRIPT [USER [GROUP]] (a script with arguments is quoted)`);
  }
  if (s.args[2] !== undefined) p.warn(s, s.keyword, `lvsd runs it with the primary group of ${s.args[1]}, not with group ${s.args[2]}`);
  return { argv, ...(s.args[1] !== undefined && { user: s.args[1] }) };
}

/**
 * Puts a script's user in `into.user`: commands that lvsd runs as one user (an instance's notify commands, a
 * service's quorum commands, a real server's notify commands) must name the same one; a second is an error.
 */
export function oneUser(s: Statement, p: Problems, into: Record<string, unknown>, user: string | undefined, what: string): void {
  if (user === undefined) return;
  if (into.user !== undefined && into.user !== user) {
    p.error(s, s.keyword, `runs as ${user}, another of ${what} as ${String(into.user)}: lvsd runs them all as one user`);
    return;
  }
  into.user = user;
}

/** A keepalived <BOOL>: absent, true/on/yes are true; false/off/no false. */
export function boolArg(s: Statement, p: Problems): boolean {
  const v = s.args[0];
  if (v === undefined || ['true', 'on', 'yes'].includes(v)) return true;
  if (['false', 'off', 'no'].includes(v)) return false;
  p.error(s, s.keyword, `"${v}" is not yes or no`);
  return false;
}
