/**
 * Config documents: JSON text to values (with line and column for syntax errors), and the merge of a
 * directory's files into one raw config (lists concatenated in file order; each top-level object owned by
 * one file). Pure.
 */
import { LvsdError } from '../errors.js';
import { jsonErrorAt } from './json-position.js';
import type { Problems } from './problems.js';
import type { Located, RawConfig } from './raw.js';

export interface ConfigDocument {
  file: string;
  text: string;
}

export interface ParsedDocument {
  file: string;
  data: unknown;
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: Math.min(offset, text.length) - lineStart + 1 };
}

/** Offset of the first byte that does not belong to valid UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
export function invalidUtf8At(bytes: Uint8Array): number | undefined {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) { i++; continue; }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) { need = 1; min = 0x80; }
    else if (b >= 0xe0 && b <= 0xef) { need = 2; min = b === 0xe0 ? 0xa0 : 0x80; if (b === 0xed) max = 0x9f; }
    else if (b >= 0xf0 && b <= 0xf4) { need = 3; min = b === 0xf0 ? 0x90 : 0x80; if (b === 0xf4) max = 0x8f; }
    else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? min : 0x80) || c > (k === 1 ? max : 0xbf)) return i;
    }
    i += need + 1;
  }
  return undefined;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A config file's bytes as text. Bytes that are not UTF-8 are refused (LVSD_CONFIG_UNREADABLE) with their
 * byte offset, line and column, rather than read as U+FFFD: a name or address would silently change.
 */
export function decodeUtf8(file: string, bytes: Uint8Array): string {
  // the built-in decoder refuses exactly what invalidUtf8At finds (WHATWG UTF-8: no overlongs, surrogates
  // or > U+10FFFF) and is many times faster; the scan runs only to locate the bad byte
  try {
    return strictUtf8.decode(bytes);
  } catch {
    // located below
  }
  const offset = invalidUtf8At(bytes);
  if (offset === undefined) return new TextDecoder('utf-8').decode(bytes);
  const before = new TextDecoder('utf-8').decode(bytes.subarray(0, offset));
  const { line, column } = lineColumn(before, before.length);
  const hex = bytes[offset]!.toString(16).padStart(2, '0');
  const reason = `byte 0x${hex} at byte offset ${offset} is not UTF-8 (save the file as UTF-8)`;
  throw new LvsdError('LVSD_CONFIG_UNREADABLE', `${file}:${line}:${column}: not UTF-8: ${reason}`, {
    details: { file, line, column, byteOffset: offset, reason },
  });
}

/** JSON.parse with a LvsdError('LVSD_CONFIG_UNREADABLE') naming file, line and column on a syntax error. */
export function parseJson(doc: ConfigDocument): ParsedDocument {
  const text = doc.text.charCodeAt(0) === 0xfeff ? doc.text.slice(1) : doc.text;
  try {
    return { file: doc.file, data: JSON.parse(text) as unknown };
  } catch (e) {
    let located: { offset: number; expected: string };
    try {
      located = jsonErrorAt(text);
    } catch {
      located = { offset: text.length, expected: 'less deeply nested JSON' }; // the scanner ran out of stack
    }
    const { offset, expected } = located;
    const { line, column } = lineColumn(text, offset);
    const found = offset >= text.length ? 'the end of the text' : JSON.stringify(text[offset]);
    const reason = `expected ${expected}, found ${found}`;
    throw new LvsdError('LVSD_CONFIG_UNREADABLE', `${doc.file}:${line}:${column}: not valid JSON: ${reason}`, {
      details: { file: doc.file, line, column, reason },
      cause: e,
    });
  }
}

export const LIST_SECTIONS = ['services', 'vrrp', 'syncGroups'] as const;
export const SINGLE_SECTIONS = ['ipvs', 'control', 'metrics', 'health', 'connectionSync', 'ecmp'] as const;

/**
 * The part of a document a schema problem at `pointer` makes unusable for the semantic checks: the whole
 * document (''), one list item ('/services/3'), one section ('/ipvs'), or nothing (an unknown top-level key).
 */
export function unusablePart(pointer: string): string | undefined {
  const tokens = pointer.split('/').slice(1);
  if (tokens.length === 0) return '';
  const section = tokens[0]!;
  if ((LIST_SECTIONS as readonly string[]).includes(section)) return tokens.length >= 2 ? `/${section}/${tokens[1]}` : `/${section}`;
  if ((SINGLE_SECTIONS as readonly string[]).includes(section)) return `/${section}`;
  return undefined;
}

/**
 * A services list made from `before` (the last version of the same file's list) by replacing the
 * `removed` items from index `first` on with `added` new ones; every other item is the very value it was.
 */
export interface ListEdit {
  before: readonly unknown[];
  first: number;
  removed: number;
  added: number;
}

/** An array of Located items that is `before` but at `changed` (ascending indices, the same length). */
export interface LocatedEdit {
  before: ReadonlyArray<Located<unknown>>;
  changed: readonly number[];
}

/**
 * The Located items of each list of each file, kept from one merge to the next (the daemon's reloads): an
 * item whose value is the very object it was at the same index last time is the same Located object, so
 * a reload of a config whose lists are mostly unchanged allocates nothing for them, and what is keyed by
 * them (service-memo.ts) is found by identity. A list that is the very array it was (a file unchanged, or
 * edited outside it) gives the very array of Located items it gave. Only what the latest merge saw is kept.
 */
export class LocatedCache {
  private kept = new Map<string, { list: readonly unknown[]; locs: Array<Located<unknown>> }>();
  private next = new Map<string, { list: readonly unknown[]; locs: Array<Located<unknown>> }>();
  /** Arrays of Located items made from another by replacing the items at `changed` (the latest merge's). */
  private edits = new WeakMap<ReadonlyArray<Located<unknown>>, LocatedEdit>();

  /** Call before a merge. */
  begin(): void {
    this.next = new Map();
  }

  /** How `locs` (an array this cache handed out) differs from another it handed out before, when it was made from it by an edit. */
  editOf(locs: ReadonlyArray<Located<unknown>>): LocatedEdit | undefined {
    return this.edits.get(locs);
  }

  /**
   * The Located items of `list`, `section` of `file` (not to be changed: the next merge may hand out the
   * same array). `edit`: how `list` differs from the list it was made from (cache.ts patch), so that only
   * the items it replaced are looked at.
   */
  items(file: string, section: string, list: readonly unknown[], edit?: ListEdit): ReadonlyArray<Located<unknown>> {
    const key = `${file}\0${section}`;
    const old = this.kept.get(key);
    if (old !== undefined && old.list === list) {
      this.next.set(key, old);
      return old.locs;
    }
    if (old !== undefined && edit !== undefined && edit.before === old.list && edit.removed === edit.added && old.locs.length === list.length) {
      // the same items but the ones the edit replaced, at the same places
      const locs = old.locs.slice();
      const changed: number[] = [];
      for (let i = edit.first; i < edit.first + edit.added; i++) {
        if (locs[i]!.value === list[i]) continue;
        locs[i] = { file, pointer: `/${section}/${i}`, value: list[i] };
        changed.push(i);
      }
      this.edits.set(locs, { before: old.locs, changed });
      this.next.set(key, { list, locs });
      return locs;
    }
    // the last ones copied natively where the length is the same, then the items that are not the same value replaced
    const locs: Array<Located<unknown>> = old !== undefined && old.locs.length === list.length ? old.locs.slice() : new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const was = locs[i] ?? old?.locs[i];
      if (was !== undefined && was.value === list[i]) {
        locs[i] = was;
        continue;
      }
      locs[i] = { file, pointer: `/${section}/${i}`, value: list[i] };
    }
    this.next.set(key, { list, locs });
    return locs;
  }

  /** Call after a merge: what it saw becomes what the next one may reuse. */
  end(): void {
    this.kept = this.next;
    this.next = new Map();
  }
}

/**
 * Merges documents in the order given, leaving out the parts `unusable(file, pointer)` names (those broke
 * the schema and are reported already). A top-level object set by two files is a problem reported at the
 * later one, naming the earlier. `located`: reuse the last merge's Located items.
 */
export function mergeDocuments(
  docs: readonly ParsedDocument[],
  problems: Problems,
  unusable: ((file: string, pointer: string) => boolean) | undefined = undefined,
  located?: LocatedCache,
): RawConfig {
  const merged: RawConfig = { services: [], vrrp: [], syncGroups: [], unusableInstanceNames: new Set() };
  const setBy = new Map<string, string>();
  /** The lists that are a file's own array (not to be added to). */
  const shared = new Set<string>();
  located?.begin();
  for (const { file, data, edit } of docs as ReadonlyArray<ParsedDocument & { edit?: ListEdit }>) {
    if (unusable?.(file, '') || typeof data !== 'object' || data === null || Array.isArray(data)) continue;
    const obj = data as Record<string, unknown>;
    for (const section of LIST_SECTIONS) {
      const list = obj[section];
      if (!Array.isArray(list) || unusable?.(file, `/${section}`)) continue;
      const items = located ? located.items(file, section, list, section === 'services' ? edit : undefined) : list.map((value: unknown, i) => ({ file, pointer: `/${section}/${i}`, value }));
      const lists = merged as unknown as Record<string, Array<Located<unknown>>>;
      if (lists[section]!.length === 0 && unusable === undefined) {
        // the first file with this list: its items are the list (the very array of an unchanged list, which
        // service-memo.ts then knows at once), copied only when another file's items follow
        lists[section] = items as Array<Located<unknown>>;
        shared.add(section);
        continue;
      }
      if (shared.delete(section)) lists[section] = lists[section]!.slice();
      const into = lists[section]!;
      for (const loc of items) {
        if (unusable?.(file, loc.pointer)) {
          const name = (loc.value as { name?: unknown } | null)?.name;
          if (section === 'vrrp' && typeof name === 'string') merged.unusableInstanceNames.add(name);
          continue;
        }
        into.push(loc);
      }
    }
    for (const section of SINGLE_SECTIONS) {
      const value = obj[section];
      if (value === undefined) continue;
      const earlier = setBy.get(section);
      if (earlier !== undefined) {
        problems.add(file, `/${section}`, `"${section}" is also set in ${earlier}; set it in one file only`);
        continue;
      }
      setBy.set(section, file);
      if (unusable?.(file, `/${section}`)) continue;
      (merged as unknown as Record<string, unknown>)[section] = { file, pointer: `/${section}`, value };
    }
  }
  located?.end();
  return merged;
}
