/** The datagrams a run of netlink messages goes out in (GenlSocket.batch). */
import { AttrWriter } from './nlattr.js';

/** Largest datagram to send; a batch bigger than this goes out as several, in order. */
export const MAX_DATAGRAM = 32 * 1024;

/**
 * Messages written one after another into datagrams of at most MAX_DATAGRAM bytes, each datagram a zeroed
 * buffer of that size: a message that does not fit what is left of one (the writer checks its room before
 * every store and throws a RangeError) is written again at the start of the next. A message that does not
 * fit a datagram of its own fails (no IPVS message comes near: the largest are a few hundred bytes).
 * A buffer of MAX_DATAGRAM and not twice that: zeroing the room no message used was most of what a batch's
 * buffers cost.
 */
export class DatagramWriter {
  private w = new AttrWriter(MAX_DATAGRAM);
  private readonly out: Buffer[] = [];

  /** Writes one message; what `write` threw, with nothing of it left in the datagram. */
  add(write: (w: AttrWriter) => void): Error | undefined {
    return this.change(callWith, 0, 0, write);
  }

  /**
   * Writes change `i` (sequence number `seq`) by `write(i, seq, w)`: GenlSocket.batch's changes, without a
   * closure of their own each. What `write` threw, with nothing of it left in the datagram.
   */
  change<T>(write: (i: number, seq: number, w: AttrWriter, arg: T) => void, i: number, seq: number, arg: T): Error | undefined {
    const start = this.w.off;
    try {
      write(i, seq, this.w, arg);
      return undefined;
    } catch (e) {
      this.undo(start);
      if (!(e instanceof RangeError) || start === 0) return e instanceof Error ? e : new Error(String(e));
    }
    // no room left in this datagram: the message goes at the start of the next one
    this.out.push(this.w.buf.subarray(0, start));
    this.w = new AttrWriter(MAX_DATAGRAM);
    try {
      write(i, seq, this.w, arg);
      return undefined;
    } catch (e) {
      this.undo(0);
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** Zeroes what a message that failed wrote from `start` (the writer checks its room and a value before writing, so at most the header past off). */
  private undo(start: number): void {
    this.w.buf.fill(0, start, Math.min(this.w.buf.length, this.w.off + 8));
    this.w.off = start;
  }

  done(): Buffer[] {
    if (this.w.off > 0) this.out.push(this.w.buf.subarray(0, this.w.off));
    return this.out;
  }
}

/** add()'s `write`, called as a change's. */
function callWith(_i: number, _seq: number, w: AttrWriter, write: (w: AttrWriter) => void): void {
  write(w);
}
