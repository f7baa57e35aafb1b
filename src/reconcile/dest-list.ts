/**
 * The real servers of one service in the kept view (view.ts): an array in the order the kernel was given or
 * read them, one entry per real server (address in canonical text, port), first declaration kept. What it
 * replaces, a Map keyed by canonicalDestId, held a ~40-byte key string and a hash table slot per real server
 * beside the object (at 100,000 real servers ~7 MiB the view did not need): a service of a few hundred real
 * servers is scanned instead, comparing the port and the address text; only a large one gets an index by
 * id. Same semantics as the Map: `set` of a held real server replaces it where it stands, a new one goes to
 * the end, `delete` keeps the others' order. Pure.
 */
import { canonicalAddressText, canonicalDestId, type DestSpec } from '../table/index.js';

/** Above this many real servers a service's list keeps an index by canonical id (a scan of more would cost more than the keys). */
export const INDEXED = 64;

type Where = Pick<DestSpec, 'address' | 'port'>;

export class DestList {
  private readonly list: DestSpec[] = [];
  /**
   * The entries whose address text is not canonical (IPv6 in capitals or with leading zeros, as a config
   * may spell it): the scan compares the others' text as it is, these by their canonical text. Almost
   * always absent.
   */
  private odd: DestSpec[] | undefined;
  private byId: Map<string, DestSpec> | undefined;
  /** After the entry last found: where the next look starts (a plan's edits of a service come in list order). */
  private cursor = 0;

  /** A list of `dests` (the first of two with one id kept). */
  static of(dests: readonly DestSpec[]): DestList {
    const l = new DestList();
    for (const d of dests) if (l.indexOf(d) < 0) l.push(d);
    return l;
  }

  get size(): number {
    return this.list.length;
  }

  /** The entries in order. The list itself: nobody may change it (it changes with the next set or delete). */
  values(): readonly DestSpec[] {
    return this.list;
  }

  /** The entry with `d`'s address (canonically) and port; `hint`: the place to look first (default: after the last found). */
  find(d: Where, hint = -1): DestSpec | undefined {
    const i = this.indexOf(d, hint);
    return i < 0 ? undefined : this.list[i];
  }

  /** `d` replaces the entry with its id where it stands, or goes to the end. */
  set(d: DestSpec, hint = -1): void {
    const i = this.indexOf(d, hint);
    if (i < 0) {
      this.push(d);
      return;
    }
    const old = this.list[i]!;
    this.list[i] = d;
    if (old === d) return;
    if (this.odd !== undefined) this.dropOdd(old);
    this.noteOdd(d);
    this.byId?.set(canonicalDestId(d), d);
  }

  /** Adds `d` at the end; the caller knows no entry has its id. */
  push(d: DestSpec): void {
    this.list.push(d);
    this.noteOdd(d);
    if (this.byId !== undefined) this.byId.set(canonicalDestId(d), d);
    else if (this.list.length > INDEXED) this.byId = new Map(this.list.map((e) => [canonicalDestId(e), e]));
  }

  delete(d: Where): void {
    const i = this.indexOf(d);
    if (i < 0) return;
    const [old] = this.list.splice(i, 1);
    if (this.odd !== undefined) this.dropOdd(old!);
    this.byId?.delete(canonicalDestId(old!));
  }

  private indexOf(d: Where, hint = -1): number {
    const i = this.search(d, hint < 0 ? this.cursor : hint);
    if (i >= 0) this.cursor = i + 1;
    return i;
  }

  private search(d: Where, hint: number): number {
    const list = this.list;
    const at = hint < list.length ? list[hint]! : undefined;
    if (at !== undefined && at.port === d.port && at.address === d.address) return hint;
    if (this.byId !== undefined) {
      const e = this.byId.get(canonicalDestId(d));
      return e === undefined ? -1 : list.indexOf(e);
    }
    const address = canonicalAddressText(d.address);
    const port = d.port;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.port === port && e.address === address) return i;
    }
    if (this.odd !== undefined) {
      for (const e of this.odd) if (e.port === port && canonicalAddressText(e.address) === address) return list.indexOf(e);
    }
    return -1;
  }

  private noteOdd(d: DestSpec): void {
    if (canonicalAddressText(d.address) !== d.address) (this.odd ??= []).push(d);
  }

  private dropOdd(d: DestSpec): void {
    const i = this.odd!.indexOf(d);
    if (i >= 0) this.odd!.splice(i, 1);
    if (this.odd!.length === 0) this.odd = undefined;
  }
}
