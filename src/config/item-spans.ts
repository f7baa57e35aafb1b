/**
 * Where each item of a config file's top-level "services" list sits in the file's bytes, so that a reload
 * of one large file re-reads only the items an edit touched (splice.ts). Scans bytes, not text: JSON's
 * structure is ASCII, and no byte of a UTF-8 multi-byte character is ASCII. Pure.
 *
 * Only for bytes JSON.parse accepted: the scanner follows the structure, it does not validate it. When it
 * cannot be sure which list JSON.parse took as "services" (the key written twice; no such list; the top
 * level not an object) it finds nothing, and the file is always parsed whole.
 */
import { BACKSLASH, QUOTE, isSpace, stringEnd } from './json-bytes.js';

/**
 * [starts[i], ends[i]) is the i-th item of the services list, in byte offsets of the file, once `shifts`
 * are added: each moves the items from its index on by `by` bytes (a reload's edit that changed the
 * length of an item moves every item after it: splice.ts records that in one entry rather than a walk).
 */
export interface ItemSpans {
  starts: number[];
  ends: number[];
  shifts?: ReadonlyArray<{ from: number; by: number }>;
}

/** What `spans.shifts` add to item `i`. */
export function shiftAt(spans: ItemSpans, i: number): number {
  let by = 0;
  for (const s of spans.shifts ?? []) if (s.from <= i) by += s.by;
  return by;
}

/** Item `i`'s start and end in the file. */
export function spanStart(spans: ItemSpans, i: number): number {
  return spans.starts[i]! + shiftAt(spans, i);
}
export function spanEnd(spans: ItemSpans, i: number): number {
  return spans.ends[i]! + shiftAt(spans, i);
}

/** The spans with their shifts added (a walk of every item). */
export function settled(spans: ItemSpans): { starts: number[]; ends: number[] } {
  if (spans.shifts === undefined || spans.shifts.length === 0) return { starts: spans.starts, ends: spans.ends };
  const starts = spans.starts.slice();
  const ends = spans.ends.slice();
  for (let i = 0; i < starts.length; i++) {
    const by = shiftAt(spans, i);
    starts[i]! += by;
    ends[i]! += by;
  }
  return { starts, ends };
}

const SERVICES_KEY = Buffer.from('"services"');

/**
 * A scan that can be run a piece at a time (`run(until)`, for a large file in the background) or at once.
 * `list`: start inside the services list already (the bytes are a run of its items, as a reload's new
 * slice is), with offsets counted from `base`.
 */
export class SpanScanner {
  private pos = 0;
  private depth: number;
  private inList: boolean;
  private expectKey = false;
  private servicesKey = false;
  private sawServices = false;
  private valueOfServices = false;
  private itemStart = -1;
  private scalar = false;
  private failed = false;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(private readonly bytes: Uint8Array, opts: { list?: boolean; base?: number } = {}) {
    this.inList = opts.list === true;
    this.depth = this.inList ? 2 : 0;
    this.sawServices = this.inList;
    this.base = opts.base ?? 0;
  }

  private readonly base: number;

  /** The byte the scan has reached. */
  get position(): number {
    return this.pos;
  }

  get done(): boolean {
    return this.failed || this.pos >= this.bytes.length;
  }

  /** The spans, once done; undefined when the file has no services list the scanner is sure of. */
  result(): ItemSpans | undefined {
    if (this.failed || !this.sawServices) return undefined;
    if (this.scalar) this.close(this.bytes.length);
    return { starts: this.starts, ends: this.ends };
  }

  private open(at: number): void {
    if (this.depth === 2 && this.inList && this.itemStart < 0) this.itemStart = at;
  }

  private close(at: number): void {
    this.starts.push(this.base + this.itemStart);
    this.ends.push(this.base + at);
    this.itemStart = -1;
    this.scalar = false;
  }

  /** Scans on to about byte `until` (a string is scanned whole). */
  run(until = this.bytes.length): void {
    const bytes = this.bytes;
    const end = Math.min(until, bytes.length);
    let pos = this.pos;
    while (pos < end && !this.failed) {
      const b = bytes[pos]!;
      if (this.scalar && (isSpace(b) || b === 0x2c || b === 0x5d)) this.close(pos);
      if (b === QUOTE) {
        const q = stringEnd(bytes, pos);
        if (q < 0) {
          this.failed = true;
          break;
        }
        if (this.depth === 1) {
          if (this.expectKey) {
            const key = bytes.subarray(pos, q + 1);
            // a key with an escape is read as JSON.parse reads it ("servic\u0065s" is "services")
            this.servicesKey = key.includes(BACKSLASH)
              ? JSON.parse(Buffer.from(key).toString()) === 'services'
              : key.length === SERVICES_KEY.length && Buffer.compare(key, SERVICES_KEY) === 0;
          } else if (this.valueOfServices) {
            this.failed = true;
          }
        } else if (this.depth === 2 && this.inList && this.itemStart < 0) {
          this.itemStart = pos;
          this.close(q + 1);
        }
        pos = q + 1;
        continue;
      }
      switch (b) {
        case 0x7b: // {
        case 0x5b: // [
          if (this.depth === 0 && b === 0x5b) this.failed = true;
          if (this.depth === 1 && this.valueOfServices) {
            if (b === 0x5b) this.inList = true;
            else this.failed = true;
            this.valueOfServices = false;
          }
          this.open(pos);
          this.depth++;
          if (this.depth === 1) this.expectKey = true;
          break;
        case 0x7d: // }
        case 0x5d: // ]
          this.depth--;
          if (this.depth === 2 && this.inList && this.itemStart >= 0) this.close(pos + 1);
          else if (this.depth === 1 && this.inList) this.inList = false;
          break;
        case 0x2c: // ,
          if (this.depth === 1) this.expectKey = true;
          break;
        case 0x3a: // :
          if (this.depth === 1) {
            this.expectKey = false;
            if (this.servicesKey) {
              if (this.sawServices) this.failed = true;
              this.sawServices = true;
              this.valueOfServices = true;
              this.servicesKey = false;
            }
          }
          break;
        default:
          if (isSpace(b) || this.depth === 0) break;
          if (this.depth === 1 && this.valueOfServices) this.failed = true;
          else if (this.depth === 2 && this.inList && this.itemStart < 0) {
            this.itemStart = pos;
            this.scalar = true;
          }
      }
      pos++;
    }
    this.pos = pos;
  }
}

/** The spans of the services list of a whole file's bytes, scanned at once. */
export function itemSpans(bytes: Uint8Array): ItemSpans | undefined {
  const s = new SpanScanner(bytes);
  s.run();
  return s.result();
}
