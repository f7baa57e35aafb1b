/**
 * The operator's drains on disk: `drains.json` next to the state file, a JSON array of
 * `{ service, realServer, since }`, and its last good copy `drains.json.last-good` beside it. Both are
 * written atomically (src/atomic-file.ts), the main file first, so at any instant at least one of them
 * holds the drains as they were after the last complete change.
 *
 * A drain is never forgotten quietly. At start:
 * - the main file reads and parses: it is used;
 * - it is missing, unreadable or corrupt and the last good copy parses: the copy is used, an error is
 *   logged (`daemon.drains_recovered`), the bad file is kept as `drains.json.corrupt` and the main file is
 *   written again from the copy;
 * - neither is usable (and the main file is not simply absent with no copy either, which is a first start):
 *   lvsd refuses to start (LVSD_STATE), naming both files, rather than put drained real servers back in.
 */
import { readFile, rename } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { LvsdError } from '../errors.js';
import type { Logger } from '../log.js';

export interface DrainRecord {
  service: string;
  realServer: string;
  since: string;
}

export const LAST_GOOD_SUFFIX = '.last-good';
export const CORRUPT_SUFFIX = '.corrupt';

type Read = { ok: true; drains: DrainRecord[] } | { ok: false; missing: boolean; reason: string };

/** The drains in a file's text, or why it is not a drains file. Pure. */
export function parseDrains(text: string): DrainRecord[] | { reason: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { reason: text.trim() === '' ? 'empty' : `not JSON (${(e as Error).message})` };
  }
  if (!Array.isArray(doc)) return { reason: 'not a JSON array' };
  const out: DrainRecord[] = [];
  for (const [i, d] of doc.entries()) {
    const r = d as Partial<Record<keyof DrainRecord, unknown>> | null;
    if (!r || typeof r !== 'object' || typeof r.service !== 'string' || typeof r.realServer !== 'string') {
      return { reason: `entry ${i} is not {service, realServer}` };
    }
    out.push({ service: r.service, realServer: r.realServer, since: typeof r.since === 'string' ? r.since : '' });
  }
  return out;
}

async function readDrains(file: string): Promise<Read> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, missing: code === 'ENOENT', reason: code === 'ENOENT' ? 'missing' : `unreadable (${(e as Error).message})` };
  }
  const parsed = parseDrains(text);
  return Array.isArray(parsed) ? { ok: true, drains: parsed } : { ok: false, missing: false, reason: parsed.reason };
}

/** The drains recorded at `file` (see the module comment). Throws LvsdError LVSD_STATE when they cannot be known. */
export async function loadDrains(file: string, log: Logger): Promise<DrainRecord[]> {
  const main = await readDrains(file);
  if (main.ok) return main.drains;
  const copyFile = file + LAST_GOOD_SUFFIX;
  const copy = await readDrains(copyFile);
  if (main.missing && !copy.ok && copy.missing) return []; // first start: no drain was ever recorded
  if (!copy.ok) {
    log.error({ event: 'daemon.drains_unusable', file, reason: main.reason, lastGood: copyFile, lastGoodReason: copy.reason },
      `drains file ${file} is ${main.reason} and its last good copy ${copyFile} is ${copy.reason}`);
    throw new LvsdError('LVSD_STATE',
      `drains file ${file} is ${main.reason} and its last good copy ${copyFile} is ${copy.reason}: lvsd will not start ` +
      'and forget the drains it recorded; repair the file, or remove both files to start with no real server drained');
  }
  log.error({ event: 'daemon.drains_recovered', file, reason: main.reason, from: copyFile, drains: copy.drains.length },
    `drains file ${file} is ${main.reason}: using its last good copy ${copyFile} (${copy.drains.length} drain(s))`);
  if (!main.missing) await rename(file, file + CORRUPT_SUFFIX).catch(() => undefined);
  await writeFileAtomic(file, render(copy.drains)).catch((e: Error) =>
    log.error({ event: 'daemon.drains_save_failed', file, err: e.message }, `cannot rewrite ${file}: ${e.message}`));
  return copy.drains;
}

function render(drains: readonly DrainRecord[]): string {
  return JSON.stringify(drains, null, 2) + '\n';
}

/** Records the drains: the main file, then its last good copy, each atomically. Throws the I/O error. */
export async function saveDrains(file: string, drains: readonly DrainRecord[]): Promise<void> {
  const text = render(drains);
  await writeFileAtomic(file, text);
  await writeFileAtomic(file + LAST_GOOD_SUFFIX, text);
}
