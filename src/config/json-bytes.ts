/**
 * Byte-level pieces of JSON text shared by the scanners that look into a config file without parsing it
 * whole (control-socket.ts: the top-level `control` key; item-spans.ts: the items of `services`). Pure.
 */

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;

/** JSON's whitespace: space, line feed, carriage return, tab. */
export function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** The offset of the quote that ends the string whose opening quote is at `open`, or -1 (cut short). */
export function stringEnd(bytes: Uint8Array, open: number): number {
  let q = open;
  for (;;) {
    q = bytes.indexOf(QUOTE, q + 1);
    if (q < 0) return -1;
    // a quote after an odd run of backslashes is escaped
    let n = 0;
    while (bytes[q - 1 - n] === BACKSLASH) n++;
    if (n % 2 === 0) return q;
  }
}
