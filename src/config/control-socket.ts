/**
 * The control socket a config names, read without validating the config: `lvsd reload`, `status`, `drain`
 * and `undrain` need only this to reach the daemon, which validates (and refuses, naming every problem) on
 * its side. Validating 22,000 objects in the CLI first cost as much as the daemon's whole reload.
 *
 * Parsing the whole file cost too (the systemd unit's ExecReload is `lvsd reload --config FILE`: ~60 ms
 * natively for a 110,000-object file, seconds under the test VM's emulation), so the top level is scanned
 * instead (`topLevelValue`): the bytes are walked, not built into objects, no further than the last place
 * a "control" key could be, and only the value of the last top-level "control" key (JSON.parse keeps the
 * last of a key written twice) is parsed. Where the scanner
 * is unsure (the top level is not one object closed at the end, an escape it cannot decode, a bracket
 * that does not close) the file is parsed whole, as before. For a file JSON.parse accepts, the answer is
 * JSON.parse's; one it refuses only where the scan does not look (a bad number deep in a service, a
 * services list cut short after "control") still gives its socket, so `lvsd reload` reaches the daemon,
 * which names the problem (before, the CLI went to the default socket then).
 */
import { configFiles, readRegularSync } from './files.js';
import { BACKSLASH, QUOTE, isSpace, stringEnd } from './json-bytes.js';

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

function skipSpace(bytes: Uint8Array, pos: number): number {
  while (isSpace(bytes[pos])) pos++;
  return pos;
}

/** The offset just past the value starting at `pos` (not validated inside), or -1 when it does not end. */
function valueEnd(bytes: Uint8Array, pos: number): number {
  const first = bytes[pos];
  if (first === QUOTE) {
    const end = stringEnd(bytes, pos);
    return end < 0 ? -1 : end + 1;
  }
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    // brackets counted outside strings; a closer of the wrong kind means the structure is not what it seems
    const stack: number[] = [];
    for (let i = pos; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === QUOTE) {
        i = stringEnd(bytes, i);
        if (i < 0) return -1;
      } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
        stack.push(b === OPEN_BRACE ? CLOSE_BRACE : CLOSE_BRACKET);
      } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        if (stack.pop() !== b) return -1;
        if (stack.length === 0) return i + 1;
      }
    }
    return -1;
  }
  // a number, true, false or null: up to the next separator
  let i = pos;
  while (i < bytes.length && !isSpace(bytes[i]) && bytes[i] !== COMMA && bytes[i] !== CLOSE_BRACE) i++;
  return i > pos ? i : -1;
}

/**
 * Where the last `"key"` (quotes included) starts in `buf`, or -1. Searched forward for the key without its
 * first two letters and the closing quote, each find checked backwards: a needle that starts with a quote
 * or a letter JSON keys are full of makes node's search stop at every one of them (for "control" in a
 * 6 MB config of 110,000 objects, natively 2.2 ms for `"control"` against 0.2 ms for `ntrol"`; under the
 * test VM's emulation 50-100 times that). `key` has at least three characters that need no escaping.
 */
function lastQuoted(buf: Buffer, key: string): number {
  const quoted = Buffer.from(JSON.stringify(key));
  const tail = quoted.subarray(3);
  let last = -1;
  for (let i = buf.indexOf(tail, 3); i >= 0; i = buf.indexOf(tail, i + 1)) {
    if (buf.compare(quoted, 0, 3, i - 3, i) === 0) last = i - 3;
  }
  return last;
}

/**
 * The bytes of the value of the last top-level `key` of the JSON object in `bytes` (a UTF-8 byte order
 * mark allowed first): `null` when the object has no such key, undefined when the scan cannot be sure
 * (the caller parses the file whole then). `key` must need no escaping in JSON. Pure.
 *
 * A later key can only be `key` if the bytes `"key"` or a backslash (an escaped key) come later, so the
 * scan stops once past the last of both: a file whose "control" comes before its services is not walked
 * past it (what follows is not validated; the daemon does that).
 */
export function topLevelValue(bytes: Uint8Array, key: string): Uint8Array | null | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lastMention = Math.max(lastQuoted(buf, key), buf.lastIndexOf(BACKSLASH));
  let pos = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  pos = skipSpace(bytes, pos);
  if (bytes[pos] !== OPEN_BRACE) return undefined;
  pos = skipSpace(bytes, pos + 1);
  let found: Uint8Array | null = null;
  if (bytes[pos] === CLOSE_BRACE) return skipSpace(bytes, pos + 1) === bytes.length ? null : undefined;
  for (;;) {
    if (pos > lastMention) return found;
    if (bytes[pos] !== QUOTE) return undefined;
    const keyEnd = stringEnd(bytes, pos);
    if (keyEnd < 0) return undefined;
    const raw = bytes.subarray(pos, keyEnd + 1);
    let name: unknown;
    if (raw.includes(BACKSLASH)) {
      // an escaped key ("\u0063ontrol" is "control" to JSON.parse): decoded as JSON.parse would
      try {
        name = JSON.parse(Buffer.from(raw).toString('utf8'));
      } catch {
        return undefined;
      }
    } else {
      name = Buffer.from(raw.subarray(1, -1)).toString('utf8');
    }
    pos = skipSpace(bytes, keyEnd + 1);
    if (bytes[pos] !== COLON) return undefined;
    pos = skipSpace(bytes, pos + 1);
    const end = valueEnd(bytes, pos);
    if (end < 0) return undefined;
    if (name === key) found = bytes.subarray(pos, end);
    pos = skipSpace(bytes, end);
    if (bytes[pos] === COMMA) {
      pos = skipSpace(bytes, pos + 1);
      continue;
    }
    if (bytes[pos] !== CLOSE_BRACE) return undefined;
    // nothing may follow the object (JSON.parse would refuse the file)
    return skipSpace(bytes, pos + 1) === bytes.length ? found : undefined;
  }
}

/** `control` of one file's JSON: the scan's value, or the whole parse's when the scan is unsure. Throws when it is not JSON. */
function controlOf(bytes: Buffer): unknown {
  const value = topLevelValue(bytes, 'control');
  if (value === null) return undefined;
  if (value !== undefined) {
    try {
      return JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8')) as unknown;
    } catch {
      // not JSON after all: the whole parse says so
    }
  }
  const text = bytes.toString('utf8');
  const data = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as { control?: unknown } | null;
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? data.control : undefined;
}

/**
 * `control.socket` of the config at `path` (a file or a directory: the one file that sets `control`), or
 * undefined when no file sets it or it is not an absolute path. Throws when a file before it cannot be read
 * or is not JSON where the scan could not be sure of it.
 */
export async function controlSocketOf(path: string): Promise<string | undefined> {
  for (const file of await configFiles(path)) {
    const control = controlOf(readRegularSync(file)) as { socket?: unknown } | null | undefined;
    if (control === undefined) continue;
    const socket = control?.socket;
    return typeof socket === 'string' && socket.startsWith('/') ? socket : undefined;
  }
  return undefined;
}
