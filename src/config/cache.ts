/**
 * ConfigCache: what a long-running process (the daemon) keeps between loads of its config so that a
 * reload costs what changed. Per file, keyed by the file's whole content (the bytes are kept and compared,
 * never its size or mtime: a file rewritten in place within the same second at the same size is read as
 * new): the parsed document, its schema problems and the users it names. A file whose bytes changed only
 * inside its services list is not parsed whole: the items between the bytes it shares with its last
 * version at the start and at the end are parsed and schema-checked, the rest is the last parse's
 * (splice.ts; the items' places in the bytes are found in the background after a file is parsed whole,
 * item-spans.ts). Per item of the services list, the normalised services (service-memo.ts). Everything
 * that crosses files or items (the merge, duplicate names and addresses, VRRP, groups, references, host
 * checks) is done again on every load, for the services against what the last build claimed. A changed
 * file arrives as an edit of its kept bytes (files.ts reread), applied to them in place once a load takes
 * it (keep), and what the edit replaced is carried through the merge and the memo to the daemon
 * (servicesChanged), so a one-weight edit walks no list of items.
 */
import { LocatedCache } from './documents.js';
import { COMPARE_CHUNK } from './files.js';
import { applyEdit, type Edited } from './byte-compare.js';
import { mentionsIn, type UserMention } from './host-users.js';
import { SpanScanner, itemSpans, type ItemSpans } from './item-spans.js';
import { checkItems, type CheckedDocument } from './parse.js';
import type { Config } from './types.js';
import { pointerJoin } from './problems.js';
import { ServiceMemo } from './service-memo.js';
import { spliceItems, type Spliced } from './splice.js';
import { TurnBudget } from '../turn-budget.js';
import type { ReadRecord } from './read-stamp.js';

export interface CachedFile {
  /** The file's bytes; while `pending` is set, the last version's, which that edit makes the file's (keep applies it). */
  bytes: Buffer;
  pending?: Edited;
  doc: CheckedDocument;
  mentions?: UserMention[];
  /** Where the services items sit in `bytes`; null: nowhere the scanner is sure of; undefined: not scanned yet. */
  spans?: ItemSpans | null;
}

export interface LoadStats {
  /** Files whose content was unchanged (parse and schema check reused). */
  filesReused: number;
  /** Files changed only within their services items: those items parsed and checked, the rest reused. */
  filesPatched: number;
  filesRead: number;
  /** Services list items whose normalised result was reused / built. */
  itemsReused: number;
  itemsBuilt: number;
}

/** Where the latest load's time went (ms; the turns of the event loop between steps included). */
export interface LoadPhases {
  /** Finding the files and reading them (comparing them with the kept bytes). */
  readMs: number;
  /** Parsing what changed (splicing the changed items into the last document, or parsing a file whole). */
  parseMs: number;
  /** Merging, normalising and checking the config (nothing when every file is the last good build's). */
  buildMs: number;
  /** The host checks (users and programs the config needs). */
  hostMs: number;
}

/** Bytes scanned between two looks at the turn's time budget. */
const SCAN_STEP = 256 * 1024;

/** Used by one load at a time (the daemon runs its reloads one after another). */
export class ConfigCache {
  private files = new Map<string, CachedFile>();
  readonly located = new LocatedCache();
  readonly services = new ServiceMemo(this.located);
  /** What the latest load reused. */
  stats: LoadStats = { filesReused: 0, filesPatched: 0, filesRead: 0, itemsReused: 0, itemsBuilt: 0 };
  phases: LoadPhases = { readMs: 0, parseMs: 0, buildMs: 0, hostMs: 0 };
  /** The files the latest load read whole, with their status as read (read-stamp.ts); undefined when it could not read them all. */
  lastRead: ReadRecord | undefined;
  /** The last build that gave a config: the files it read (these very entries) and the config. */
  private last: { entries: readonly CachedFile[]; config: Config; items: number } | undefined;
  /** The background scan of the latest files (see keep); tests await it. */
  scanned: Promise<void> = Promise.resolve();
  private generation = 0;

  /** The entry for `file` if its content is exactly `bytes`. */
  lookup(file: string, bytes: Buffer): CachedFile | undefined {
    const hit = this.files.get(file);
    return hit !== undefined && (hit.bytes === bytes || hit.bytes.equals(bytes)) ? hit : undefined;
  }

  /** The bytes kept for `file` (a reload's read compares the file with them in place: files.ts reread). */
  bytesOf(file: string): Buffer | undefined {
    return this.files.get(file)?.bytes;
  }

  private scratchBuffer: Buffer | undefined;

  /** The buffer a reload's reads compare through (files.ts reread), made once and kept (COMPARE_CHUNK bytes). */
  get scratch(): Buffer {
    return (this.scratchBuffer ??= Buffer.allocUnsafeSlow(COMPARE_CHUNK));
  }

  /** Memory that only the bytes kept of one file use (byte-compare.ts roomyBuffer): an edit is applied there, in place. */
  private readonly owned = new WeakSet<ArrayBufferLike>();

  /** `bytes` is the only view of its memory, made by roomyBuffer (files.ts readRegular with `roomy`). */
  own(bytes: Buffer): void {
    this.owned.add(bytes.buffer);
  }

  /**
   * The entry for `file`'s new content, given as an edit of its kept bytes (byte-compare.ts), made from its
   * last one when they differ only within the services items (the same document a whole parse and check
   * give, splice.ts); undefined: parse it whole. Only from a last version the schema found nothing wrong in,
   * so the new one's problems are its new items'. The entry's bytes are the kept ones, with the edit to
   * apply (`pending`), until keep takes it.
   */
  patch(file: string, edit: Edited): CachedFile | undefined {
    const old = this.files.get(file);
    if (old === undefined || old.doc.schemaProblems.length > 0) return undefined;
    if (old.spans === undefined) old.spans = itemSpans(old.bytes) ?? null;
    if (old.spans === null) return undefined;
    const s = spliceItems(old.bytes, old.doc.data, old.spans, edit);
    if (s === undefined) return undefined;
    const listEdit = { before: (old.doc.data as { services: unknown[] }).services, first: s.first, removed: s.removed, added: s.items.length };
    const doc = { file, data: s.data, schemaProblems: checkItems(file, s.items, s.first), edit: listEdit };
    const entry: CachedFile = { bytes: old.bytes, pending: edit, doc, spans: s.spans };
    if (old.mentions !== undefined) entry.mentions = patchMentions(old.mentions, s, file);
    return entry;
  }

  /**
   * The config the last good build made, when `entries` are the very entries it read, in its order: a
   * build of the same documents with the same memo gives the same config (nothing in it reads anything
   * else), so it is handed out again rather than built; the host checks still run on it (load.ts).
   */
  built(entries: readonly CachedFile[]): { config: Config; items: number } | undefined {
    const last = this.last;
    if (last === undefined || last.entries.length !== entries.length) return undefined;
    return entries.every((e, i) => e === last.entries[i]) ? last : undefined;
  }

  /**
   * The indices at which `next`'s services are other objects than `old`'s (ascending; the same length),
   * when the latest build made `next` from the build that made `old` by replacing those alone; undefined
   * when it cannot say (compare them then).
   */
  servicesChanged(old: Config, next: Config): readonly number[] | undefined {
    const change = this.services.checks.change;
    return change !== undefined && change.from === old.services && change.to === next.services ? change.changed : undefined;
  }

  /** A build of `entries` gave `config` (a build that threw leaves the last one forgotten: see keep). */
  remember(entries: readonly CachedFile[], config: Config): void {
    this.last = { entries, config, items: this.services.reused + this.services.built };
  }

  /**
   * Keeps exactly these files' entries (the ones the latest load read), and finds in the background, a
   * slice of the event loop's turn at a time, where the services items sit in those parsed whole.
   */
  keep(entries: ReadonlyArray<CachedFile>): void {
    if (this.built(entries) === undefined) this.last = undefined;
    // the edits are applied now that the last versions' bytes are no longer needed: in their own memory
    // when it has room (no buffer of the file's size made), else in a new buffer
    for (const e of entries) {
      if (e.pending === undefined) continue;
      const bytes = applyEdit(e.bytes, e.pending, this.owned.has(e.bytes.buffer));
      this.owned.add(bytes.buffer);
      e.bytes = bytes;
      delete e.pending;
    }
    this.files = new Map(entries.map((e) => [e.doc.file, e]));
    const generation = ++this.generation;
    const todo = entries.filter((e) => e.spans === undefined && e.doc.schemaProblems.length === 0);
    if (todo.length === 0) return;
    this.scanned = this.scanInTurns(todo, generation).catch(() => undefined);
  }

  private async scanInTurns(todo: readonly CachedFile[], generation: number): Promise<void> {
    const budget = new TurnBudget();
    await budget.yield();
    for (const entry of todo) {
      const scanner = new SpanScanner(entry.bytes);
      while (!scanner.done) {
        scanner.run(scanner.position + SCAN_STEP);
        await budget.check();
        // a newer load replaced these entries, or a reload scanned this one itself
        if (generation !== this.generation) return;
      }
      entry.spans ??= scanner.result() ?? null;
    }
  }
}

/** The top-level key a mention's pointer starts with, as escaped in the pointer. */
function topToken(pointer: string): string {
  const end = pointer.indexOf('/', 1);
  return end < 0 ? pointer.slice(1) : pointer.slice(1, end);
}

/** The services index of a pointer under /services/, or -1. */
function serviceIndex(pointer: string): number {
  if (!pointer.startsWith('/services/')) return -1;
  const end = pointer.indexOf('/', 10);
  return Number(end < 0 ? pointer.slice(10) : pointer.slice(10, end));
}

/**
 * The users the patched document names: what userMentions would find in it, made from the last version's
 * (every top-level section but services unchanged, in the document's key order; in services, the items
 * before the patch, the new items walked, the items after it renumbered).
 */
function patchMentions(old: readonly UserMention[], s: Spliced, file: string): UserMention[] {
  const bySection = new Map<string, UserMention[]>();
  for (const m of old) {
    const top = topToken(m.pointer);
    let list = bySection.get(top);
    if (list === undefined) bySection.set(top, list = []);
    list.push(m);
  }
  const out: UserMention[] = [];
  const shift = s.items.length - s.removed;
  for (const key of Object.keys(s.data)) {
    if (key !== 'services') {
      for (const m of bySection.get(topToken(pointerJoin('', key))) ?? []) out.push(m);
      continue;
    }
    const olds = bySection.get('services') ?? [];
    let i = 0;
    for (; i < olds.length && serviceIndex(olds[i]!.pointer) < s.first; i++) out.push(olds[i]!);
    for (const [j, item] of s.items.entries()) mentionsIn(item, file, ['services', s.first + j], out);
    for (; i < olds.length; i++) {
      const m = olds[i]!;
      const index = serviceIndex(m.pointer);
      if (index < s.first + s.removed) continue;
      const rest = m.pointer.slice(10 + String(index).length);
      out.push(shift === 0 ? m : { ...m, pointer: `/services/${index + shift}${rest}` });
    }
  }
  return out;
}
