/**
 * A batch of quiet changes (GenlSocket.batch): changes sent without NLM_F_ACK, answered only when refused,
 * then an acknowledged barrier whose answer settles every change not refused before it.
 */
import type { DatagramWriter } from './datagram-writer.js';
import { NetlinkErrno } from './kernel-errors.js';
import type { AttrWriter } from './nlattr.js';
import { parseNlmsgerr, type NlMsg } from './nlattr-read.js';

/**
 * The quiet changes of one batch: sequence numbers first..first+count-1 (one contiguous range, so a change
 * costs no entry of its own in the pending map), answered only when refused, then the barrier.
 */
export interface Batch {
  first: number;
  count: number;
  /** Per change: UNSETTLED until its refusal or the barrier's answer, then undefined (accepted) or its error. */
  results: Array<Error | undefined | typeof UNSETTLED>;
  /** Changes sent (or to be sent) whose answer has not come: what their replies may still cost. */
  owedChanges: number;
}

export const UNSETTLED = Symbol('unsettled');

/** The batch holding change `seq` and its place in it, if the change is still unanswered. */
export function quietChange(batches: readonly Batch[], seq: number): { batch: Batch; index: number } | undefined {
  for (const b of batches) {
    const i = seq - b.first;
    if (i >= 0 && i < b.count) return b.results[i] === UNSETTLED ? { batch: b, index: i } : undefined;
  }
  return undefined;
}

/**
 * The batch of `count` changes from sequence number `first`, the i-th written by `write(i, seq, w)` into
 * `datagrams`; one that `write` refused is settled with what it threw, and owes no reply.
 */
export function writeBatch(first: number, count: number, write: (i: number, seq: number, w: AttrWriter) => void, datagrams: DatagramWriter): Batch {
  const batch: Batch = { first, count, results: new Array<Error | undefined | typeof UNSETTLED>(count), owedChanges: 0 };
  for (let i = 0; i < count; i++) {
    const failed = datagrams.change(write, i, first + i, undefined);
    if (failed) {
      batch.results[i] = failed;
      continue;
    }
    batch.results[i] = UNSETTLED;
    batch.owedChanges++;
  }
  return batch;
}

/** The barrier's outcome is the batch's: written into every change not refused before it. */
export function settleBatch(b: Batch, outcome: Error | undefined): void {
  for (let i = 0; i < b.count; i++) if (b.results[i] === UNSETTLED) b.results[i] = outcome;
}

/** A change's error reply: undefined for an acknowledgement (accepted), else the kernel's refusal, or what made it unreadable. */
export function refusalOutcome(m: NlMsg): Error | undefined {
  try {
    const err = parseNlmsgerr(m.payload, m.flags);
    return err.errno === 0 ? undefined : new NetlinkErrno(err.errno, err.message);
  } catch (e) {
    return e as Error;
  }
}
