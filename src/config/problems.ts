/**
 * A config problem is where (file, JSON pointer) and what is wrong. Validation collects every problem
 * before refusing, so the user fixes them all in one round.
 */
import { LvsdError } from '../errors.js';
import { escapeControl } from './limits.js';

export interface Problem {
  file: string;
  pointer: string;
  message: string;
}

/**
 * "services.json: /services/0/port: must be an integer from 0 to 65535", one per line. Control characters
 * from the input (a key or value with a newline or an escape sequence) are written as escapes, so no value
 * can start a line of its own or drive the terminal.
 */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => escapeControl(`${p.file}: ${p.pointer || '/'}: ${p.message}`)).join('\n');
}

/** Appends one escaped token to a JSON pointer (RFC 6901). */
export function pointerJoin(pointer: string, ...tokens: Array<string | number>): string {
  return tokens.reduce<string>(
    (acc, t) => `${acc}/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`,
    pointer,
  );
}

/** Collects problems; `throwIfAny` turns them into one LvsdError('LVSD_CONFIG_INVALID'). */
export class Problems {
  readonly list: Problem[] = [];
  /** Not errors: the config works, but maybe not as meant (`lvsd check` prints them, the daemon logs them). */
  readonly warnings: Problem[] = [];
  private readonly seen = new Set<string>();

  add(file: string, pointer: string, message: string): void {
    const key = `${file}\0${pointer}\0${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ file, pointer, message });
  }

  warn(file: string, pointer: string, message: string): void {
    this.warnings.push({ file, pointer, message });
  }

  /** Adds another collection's problems and warnings, in their order. */
  addAll(other: Problems): void {
    for (const p of other.list) this.add(p.file, p.pointer, p.message);
    for (const w of other.warnings) this.warnings.push(w);
  }

  get size(): number {
    return this.list.length;
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    const n = this.list.length;
    const summary = `invalid config: ${n} problem${n === 1 ? '' : 's'}\n${formatProblems(this.list)}`;
    throw new LvsdError('LVSD_CONFIG_INVALID', summary, { details: [...this.list] });
  }
}
