/**
 * A large config file edited in a few places, read again without parsing it whole: the bytes it shares
 * with its last version at the start and at the end are the same text, so only the services items
 * between them are parsed (JSON.parse of that slice), and the rest of the document is the last parse's
 * values, the very objects. Pure.
 *
 * Why this is the same document a whole parse gives: the slice runs from the first byte of an item to
 * the last byte of an item (item-spans.ts), both sides of it are unchanged, so they still end in `[` or
 * `,` before it and begin with `,` or `]` after it; a slice that parses as the elements of a list,
 * `[` + slice + `]`, then reads as those elements in that place too. Anything else (the edit reaches
 * beyond the services list, the slice is not whole items, not UTF-8, not JSON) gives undefined, and
 * the caller parses the file whole, which says exactly what is wrong and where.
 */
import { editedRange, type Edited } from './byte-compare.js';
import { SpanScanner, settled, shiftAt, spanEnd, spanStart, type ItemSpans } from './item-spans.js';

/** What changed, and the document it makes. */
export interface Spliced {
  /** The new document: the old one's top-level values, with a new services list. */
  data: Record<string, unknown>;
  /** Index in the services list of the first new item; `removed` old items were replaced by `items`. */
  first: number;
  removed: number;
  items: unknown[];
  spans: ItemSpans;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The last item whose start is <= x, or -1. */
function lastStartAtMost(spans: ItemSpans, x: number): number {
  let lo = 0;
  let hi = spans.starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spanStart(spans, mid) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The first item whose end is >= x, or the number of items. */
function firstEndAtLeast(spans: ItemSpans, x: number): number {
  let lo = 0;
  let hi = spans.ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spanEnd(spans, mid) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Shifts kept before they are added in (one walk of the items per this many reloads that changed an item's length). */
const MAX_SHIFTS = 16;

/**
 * The document the new content makes, from the last version (`oldBytes`, which parsed as `oldData`, its
 * services items at `spans`) and how the new content differs from it (`edit`: byte-compare.ts), with a
 * parse of the items the edit touched; undefined when the difference is not within the services list's
 * items (parse the file whole).
 */
export function spliceItems(oldBytes: Buffer, oldData: unknown, spans: ItemSpans, edit: Edited): Spliced | undefined {
  if (typeof oldData !== 'object' || oldData === null || Array.isArray(oldData)) return undefined;
  const oldList = (oldData as Record<string, unknown>)['services'];
  if (!Array.isArray(oldList) || oldList.length !== spans.starts.length || oldList.length === 0) return undefined;
  const p = edit.prefix;
  const changedEnd = oldBytes.length - edit.suffix;
  const delta = edit.size - oldBytes.length;
  // from the item that begins at or before the first changed byte to the item that ends at or after the last
  const first = lastStartAtMost(spans, p);
  const last = firstEndAtLeast(spans, changedEnd);
  if (first < 0 || last >= spans.ends.length || last < first) return undefined;
  const from = spanStart(spans, first);
  const to = spanEnd(spans, last) + delta;
  if (to <= from) return undefined;
  const slice = editedRange(oldBytes, edit, from, to);
  let items: unknown;
  try {
    items = JSON.parse(`[${strictUtf8.decode(slice)}]`);
  } catch {
    return undefined;
  }
  if (!Array.isArray(items) || items.length === 0) return undefined;
  const scan = new SpanScanner(slice, { list: true, base: from });
  scan.run();
  const fresh = scan.result();
  if (fresh === undefined || fresh.starts.length !== items.length) return undefined;
  const removed = last - first + 1;
  // copies of the lists with the new items put in (natively copied when the count is the same; the items
  // after the edit keep their offsets, and a shift from the next one on says how far they moved)
  let list: unknown[];
  let next: ItemSpans;
  if (items.length === removed) {
    list = oldList.slice();
    const starts = spans.starts.slice();
    const ends = spans.ends.slice();
    for (let i = 0; i < items.length; i++) {
      const by = shiftAt(spans, first + i);
      list[first + i] = items[i];
      starts[first + i] = fresh.starts[i]! - by;
      ends[first + i] = fresh.ends[i]! - by;
    }
    const shifts = [...spans.shifts ?? []];
    if (delta !== 0 && last + 1 < starts.length) shifts.push({ from: last + 1, by: delta });
    next = { starts, ends, shifts };
    if (shifts.length > MAX_SHIFTS) next = settled(next);
  } else {
    const old = settled(spans);
    list = [...oldList.slice(0, first), ...items, ...oldList.slice(last + 1)];
    const starts = old.starts.slice(0, first);
    const ends = old.ends.slice(0, first);
    for (let i = 0; i < fresh.starts.length; i++) {
      starts.push(fresh.starts[i]!);
      ends.push(fresh.ends[i]!);
    }
    for (let i = last + 1; i < old.starts.length; i++) {
      starts.push(old.starts[i]! + delta);
      ends.push(old.ends[i]! + delta);
    }
    next = { starts, ends };
  }
  return { data: { ...(oldData as Record<string, unknown>), services: list }, first, removed, items, spans: next };
}
