/**
 * How much two byte strings share at their start and at their end, and a file's new content described
 * as an edit of its kept bytes: what a reload compares a config file's new bytes with its kept ones by
 * and carries to the splice (files.ts reread, splice.ts, cache.ts). Compared natively a chunk at a time;
 * the chunk that differs is halved until the byte is found, so no byte is looked at one by one in
 * JavaScript but the last few. Pure.
 */

const CMP_CHUNK = 64 * 1024;

/** Whether a[aFrom, aFrom + n) and b[bFrom, bFrom + n) hold the same bytes (compared natively, nothing made). */
function sameRange(a: Buffer, aFrom: number, b: Buffer, bFrom: number, n: number): boolean {
  return a.compare(b, bFrom, bFrom + n, aFrom, aFrom + n) === 0;
}

/**
 * How long a run two byte strings share, at most `max`: `same(from, to)` says whether the run's bytes
 * [from, to) match, `sameByte(i)` whether its byte i does. Whole chunks first, then the chunk that differs
 * halved down to 16 bytes, then those one by one.
 */
function sharedRun(max: number, same: (from: number, to: number) => boolean, sameByte: (i: number) => boolean): number {
  let i = 0;
  while (i + CMP_CHUNK <= max && same(i, i + CMP_CHUNK)) i += CMP_CHUNK;
  // the first difference, if any, is in [i, hi)
  let hi = Math.min(max, i + CMP_CHUNK);
  while (hi - i > 16) {
    const mid = (i + hi) >>> 1;
    if (same(i, mid)) i = mid;
    else hi = mid;
  }
  while (i < hi && sameByte(i)) i++;
  return i;
}

/** How many bytes a and b share at their start. */
export function commonPrefix(a: Buffer, b: Buffer): number {
  return sharedRun(Math.min(a.length, b.length), (from, to) => sameRange(a, from, b, from, to - from), (i) => a[i] === b[i]);
}

/** How many bytes a and b share at their end, at most `max`. */
export function commonSuffix(a: Buffer, b: Buffer, max: number): number {
  const la = a.length;
  const lb = b.length;
  // the last `to` bytes less the last `from` ones
  return sharedRun(max, (from, to) => sameRange(a, la - to, b, lb - to, to - from), (i) => a[la - 1 - i] === b[lb - 1 - i]);
}

/**
 * A buffer of at least `size` bytes that is the only view of its memory, with an eighth more room: a
 * file kept in it can take an edit that makes it longer in place (applyEdit). The room is not touched,
 * so it costs no resident memory until an edit uses it.
 */
export function roomyBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size + (size >>> 3) + 64);
}

/**
 * How a file's new content differs from the bytes kept of it: it is `same`'s first `prefix` bytes, then
 * `middle`, then `same`'s last `suffix` bytes, `size` bytes in all.
 */
export interface Edited {
  prefix: number;
  suffix: number;
  middle: Buffer;
  size: number;
}

/** The new content's bytes [from, to) (a copy: small when the range is). */
export function editedRange(same: Buffer, e: Edited, from: number, to: number): Buffer {
  const mEnd = e.prefix + e.middle.length;
  const parts: Buffer[] = [];
  if (from < e.prefix) parts.push(same.subarray(from, Math.min(to, e.prefix)));
  if (to > e.prefix && from < mEnd) parts.push(e.middle.subarray(Math.max(from, e.prefix) - e.prefix, Math.min(to, mEnd) - e.prefix));
  const tail = same.length - e.suffix;
  if (to > mEnd) parts.push(same.subarray(tail + Math.max(from, mEnd) - mEnd, tail + to - mEnd));
  return Buffer.concat(parts);
}

/** The new content whole, in a buffer of its own (roomyBuffer). */
export function editedBytes(same: Buffer, e: Edited): Buffer {
  const out = roomyBuffer(e.size);
  same.copy(out, 0, 0, e.prefix);
  e.middle.copy(out, e.prefix);
  same.copy(out, e.prefix + e.middle.length, same.length - e.suffix);
  return out.subarray(0, e.size);
}

/**
 * The new content made in `same`'s own memory (`roomy`: `same` is the only view of it, made by
 * roomyBuffer), when it has room for it; else in a new buffer. Only once nothing needs `same` any more:
 * its bytes are overwritten.
 */
export function applyEdit(same: Buffer, e: Edited, roomy: boolean): Buffer {
  if (!roomy || same.byteOffset !== 0 || same.buffer.byteLength < e.size) return editedBytes(same, e);
  const whole = Buffer.from(same.buffer, 0, same.buffer.byteLength);
  // the unchanged end moved to where it now starts (an overlapping copy is a memmove), then the middle
  whole.copy(whole, e.prefix + e.middle.length, same.length - e.suffix, same.length);
  e.middle.copy(whole, e.prefix);
  return whole.subarray(0, e.size);
}

/** The edit that makes `bytes` of `same` (`middle` a view of `bytes`). */
export function editOf(same: Buffer, bytes: Buffer): Edited {
  const prefix = commonPrefix(same, bytes);
  const suffix = commonSuffix(same, bytes, Math.min(same.length, bytes.length) - prefix);
  return { prefix, suffix, middle: bytes.subarray(prefix, bytes.length - suffix), size: bytes.length };
}
