/**
 * The sequence numbers of a netlink socket's requests: a free range of `n` from where the last one ended,
 * none 0, wrapping past 2^32-1 to 1, and none that a request or batch still unanswered holds (a reply is
 * matched to its request by its number). Pure.
 */
import type { Batch } from './quiet-batch.js';

/** The first of `n` consecutive sequence numbers from `from` on, none 0 and none in use by a request (`pending`) or batch still unanswered. */
export function freeSeqRange(from: number, n: number, pending: ReadonlyMap<number, unknown>, batches: readonly Batch[]): number {
  let s = from;
  for (;;) {
    if (s + n - 1 > 0xffffffff) s = 1;
    const conflict = inUse(s, n, pending, batches);
    if (conflict === undefined) return s;
    s = conflict + 1;
  }
}

/** The last sequence number in s..s+n-1 that an unanswered request or batch holds, else undefined. */
function inUse(s: number, n: number, pending: ReadonlyMap<number, unknown>, batches: readonly Batch[]): number | undefined {
  let last: number | undefined;
  if (pending.size > 0) {
    if (n <= pending.size) {
      for (let x = s; x < s + n; x++) if (pending.has(x)) last = x;
    } else {
      for (const x of pending.keys()) if (x >= s && x < s + n && (last === undefined || x > last)) last = x;
    }
  }
  for (const b of batches) {
    const end = b.first + b.count - 1;
    if (b.first < s + n && end >= s && (last === undefined || Math.min(end, s + n - 1) > last)) last = Math.min(end, s + n - 1);
  }
  return last;
}
