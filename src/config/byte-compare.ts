/**
 * How much two byte strings share at their start and at their end: what a reload compares a config
 * file's new bytes with its kept ones by (files.ts reread, splice.ts). Natively compared a chunk at a
 * time; the chunk that differs is halved until the byte is found, so no byte is looked at one by one in
 * JavaScript but the last few. Pure.
 */

const CMP_CHUNK = 64 * 1024;

/** Whether a[aFrom, aFrom + n) and b[bFrom, bFrom + n) hold the same bytes (compared natively, nothing made). */
function sameRange(a: Buffer, aFrom: number, b: Buffer, bFrom: number, n: number): boolean {
  return a.compare(b, bFrom, bFrom + n, aFrom, aFrom + n) === 0;
}

/** How many bytes a and b share at their start. */
export function commonPrefix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i + CMP_CHUNK <= n && sameRange(a, i, b, i, CMP_CHUNK)) i += CMP_CHUNK;
  // the first difference, if any, is in [i, hi)
  let hi = Math.min(n, i + CMP_CHUNK);
  while (hi - i > 16) {
    const mid = (i + hi) >>> 1;
    if (sameRange(a, i, b, i, mid - i)) i = mid;
    else hi = mid;
  }
  while (i < hi && a[i] === b[i]) i++;
  return i;
}

/** How many bytes a and b share at their end, at most `max`. */
export function commonSuffix(a: Buffer, b: Buffer, max: number): number {
  const la = a.length;
  const lb = b.length;
  // the last `to` bytes less the last `from` ones
  const same = (from: number, to: number) => sameRange(a, la - to, b, lb - to, to - from);
  let i = 0;
  while (i + CMP_CHUNK <= max && same(i, i + CMP_CHUNK)) i += CMP_CHUNK;
  let hi = Math.min(max, i + CMP_CHUNK);
  while (hi - i > 16) {
    const mid = (i + hi) >>> 1;
    if (same(i, mid)) i = mid;
    else hi = mid;
  }
  while (i < hi && a[la - 1 - i] === b[lb - 1 - i]) i++;
  return i;
}
