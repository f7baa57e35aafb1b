/**
 * ConfigCache: what a long-running process (the daemon) keeps between loads of its config so that a
 * reload costs what changed. Per file, keyed by the file's whole content (the bytes are kept and compared,
 * never its size or mtime: a file rewritten in place within the same second at the same size is read as
 * new): the parsed document, its schema problems and the users it names. Per item of the services list,
 * the normalised services (service-memo.ts). Everything that crosses files or items (the merge, duplicate
 * names and addresses, VRRP, groups, references, host checks) is done again on every load.
 */
import type { UserMention } from './host-users.js';
import type { CheckedDocument } from './parse.js';
import { ServiceMemo } from './service-memo.js';

export interface CachedFile {
  bytes: Buffer;
  doc: CheckedDocument;
  mentions?: UserMention[];
}

export interface LoadStats {
  /** Files whose content was unchanged (parse and schema check reused). */
  filesReused: number;
  filesRead: number;
  /** Services list items whose normalised result was reused / built. */
  itemsReused: number;
  itemsBuilt: number;
}

/** Used by one load at a time (the daemon runs its reloads one after another). */
export class ConfigCache {
  private files = new Map<string, CachedFile>();
  readonly services = new ServiceMemo();
  /** What the latest load reused. */
  stats: LoadStats = { filesReused: 0, filesRead: 0, itemsReused: 0, itemsBuilt: 0 };

  /** The entry for `file` if its content is exactly `bytes`. */
  lookup(file: string, bytes: Buffer): CachedFile | undefined {
    const hit = this.files.get(file);
    return hit !== undefined && hit.bytes.equals(bytes) ? hit : undefined;
  }

  /** Keeps exactly these files' entries (the ones the latest load read). */
  keep(entries: ReadonlyArray<CachedFile>): void {
    this.files = new Map(entries.map((e) => [e.doc.file, e]));
  }
}
