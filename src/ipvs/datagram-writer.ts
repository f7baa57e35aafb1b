/** The datagrams a run of netlink messages goes out in (GenlSocket.batch). */
import { AttrWriter } from './nlattr.js';

/** Largest datagram to send; a batch bigger than this goes out as several, in order. */
export const MAX_DATAGRAM = 32 * 1024;
/** A datagram's buffer: MAX_DATAGRAM plus room for the message that crosses it. */
const DATAGRAM_ROOM = 2 * MAX_DATAGRAM;

/**
 * Messages written one after another into datagrams of at most MAX_DATAGRAM bytes: each into a zeroed
 * buffer with room to spare, and one that ends past MAX_DATAGRAM moved to the start of the next (a single
 * message bigger than that goes alone).
 */
export class DatagramWriter {
  private w = new AttrWriter(DATAGRAM_ROOM);
  private readonly out: Buffer[] = [];

  /** Writes one message; what `write` threw, with nothing of it left in the datagram. */
  add(write: (w: AttrWriter) => void): Error | undefined {
    const start = this.w.off;
    try {
      write(this.w);
    } catch (e) {
      // the writer checks a value before writing it: at most the attribute header past off was written
      this.w.buf.fill(0, start, Math.min(this.w.buf.length, this.w.off + 8));
      this.w.off = start;
      return e instanceof Error ? e : new Error(String(e));
    }
    if (this.w.off > MAX_DATAGRAM && start > 0) {
      const next = new AttrWriter(DATAGRAM_ROOM);
      next.raw(this.w.buf.subarray(start, this.w.off));
      this.out.push(this.w.buf.subarray(0, start));
      this.w = next;
    }
    return undefined;
  }

  done(): Buffer[] {
    if (this.w.off > 0) this.out.push(this.w.buf.subarray(0, this.w.off));
    return this.out;
  }
}
