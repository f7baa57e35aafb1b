/**
 * loadConfig: read a config file, or every *.json file of a directory (by name), then parseConfig. Any file
 * that cannot be read as a regular UTF-8 file (a dangling or looping link, no permission, a directory or a
 * FIFO under a *.json name, bytes that are not UTF-8) fails the whole load naming that file: leaving it out
 * would silently drop what it declares.
 */
import type { Config } from './types.js';
import { configFiles, readRegular, reread, type Reread } from './files.js';
import { editOf, editedBytes } from './byte-compare.js';
import { decodeUtf8, parseJson } from './documents.js';
import { buildConfig, checkDocument } from './parse.js';
import type { CachedFile, ConfigCache } from './cache.js';
import { unknownUsers, userMentions } from './host-users.js';
import { missingTools } from './host-tools.js';
import { Problems } from './problems.js';
import { monotonicMs } from '../monotonic.js';
import { ReadRecord } from './read-stamp.js';

export { configFiles } from './files.js';

/** Lets the event loop run what waits (timers, sockets) before going on. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Files read at once: a directory of many small files waits on the file system's round trips, not on bytes. */
const READ_CONCURRENCY = 16;

/** A file as read: its bytes, or (read again with a cache) the kept bytes themselves or how it differs from them. */
type Read = { bytes: Buffer } | Reread;

/**
 * Every file, in the order given; the first file that cannot be read (in that order) fails it all. With a
 * cache, a file it kept is compared with the kept bytes in place (files.ts reread: no buffer of its size
 * per reload), one after another through the cache's one scratch buffer (those reads are synchronous:
 * nothing to wait on together); one it did not keep is read into memory the cache then owns (an edit is
 * later applied there), READ_CONCURRENCY at a time.
 */
async function readAll(files: readonly string[], cache: ConfigCache | undefined, record: ReadRecord | undefined): Promise<Read[]> {
  const out: Array<Promise<Read>> = new Array(files.length);
  const fresh = files.flatMap((f, i) => (cache?.bytesOf(f) === undefined ? [i] : []));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < fresh.length) {
      const i = fresh[next++]!;
      out[i] = readRegular(files[i]!, cache !== undefined, record).then((bytes) => {
        cache?.own(bytes);
        return { bytes };
      });
      await out[i]!.catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, fresh.length) }, worker));
  for (const [i, file] of files.entries()) {
    const same = cache?.bytesOf(file);
    if (same === undefined) continue;
    out[i] = reread(file, same, cache!.scratch, undefined, record);
    await out[i]!.catch(() => undefined);
  }
  return Promise.all(out);
}

/**
 * Reads and parses the config at `path` (a file or a directory). `hostChecks`: also what depends on this host
 * (the users it names exist, the programs it needs: host-tools.ts), for `check`, `run` and reloads; commands that
 * only need the socket path skip it. `cache`: reuse what an earlier load with the same cache made of files
 * whose content is unchanged, of the unchanged part of a file edited within its services list, and of
 * services that are unchanged (cache.ts); the result is the same as without it, problems and their order
 * included.
 */
export async function loadConfig(path: string, opts: { hostChecks?: boolean; cache?: ConfigCache } = {}): Promise<Config> {
  const { cache } = opts;
  const t0 = monotonicMs();
  // what this load reads, noted for the daemon's reload requests (read-stamp.ts): kept once every file is read
  const record = cache ? new ReadRecord() : undefined;
  if (cache) cache.lastRead = undefined;
  const files = await configFiles(path, record);
  const contents = await readAll(files, cache, record);
  if (cache) cache.lastRead = record;
  const t1 = monotonicMs();
  const entries: CachedFile[] = [];
  let filesReused = 0;
  let filesPatched = 0;
  for (const [i, file] of files.entries()) {
    const read = contents[i]!;
    const same = cache?.bytesOf(file);
    if ('same' in read) {
      filesReused++;
      entries.push(cache!.lookup(file, same!)!);
      continue;
    }
    // changed only within its services items: those items parsed and checked, the rest reused
    const edit = 'edited' in read ? read.edited : same !== undefined ? editOf(same, read.bytes) : undefined;
    const patched = edit !== undefined ? cache?.patch(file, edit) : undefined;
    if (patched !== undefined) {
      filesPatched++;
      entries.push(patched);
      continue;
    }
    let bytes: Buffer;
    if ('edited' in read) {
      bytes = editedBytes(same!, read.edited);
      cache?.own(bytes);
    } else bytes = read.bytes;
    // each heavy step of a changed file is its own turn of the event loop: a daemon's probes and control
    // socket wait for one step (a large file's JSON.parse is the longest), not for the whole load
    const parsed = parseJson({ file, text: decodeUtf8(file, bytes) });
    await turn();
    entries.push({ bytes, doc: checkDocument(parsed) });
    await turn();
  }
  cache?.keep(entries);
  const t2 = monotonicMs();
  let config: Config;
  const last = cache?.built(entries);
  if (last !== undefined) {
    // every file is the one the last good build read: it would build this very config again
    config = last.config;
    cache!.stats = { filesReused, filesPatched, filesRead: files.length, itemsReused: last.items, itemsBuilt: 0 };
  } else {
    try {
      config = buildConfig(entries.map((e) => e.doc), cache?.services, cache?.located);
      cache?.remember(entries, config);
    } finally {
      if (cache) {
        cache.stats = { filesReused, filesPatched, filesRead: files.length, itemsReused: cache.services.reused, itemsBuilt: cache.services.built };
      }
    }
  }
  const t3 = monotonicMs();
  if (cache) cache.phases = { readMs: t1 - t0, parseMs: t2 - t1, buildMs: t3 - t2, hostMs: 0 };
  if (opts.hostChecks) {
    if (filesReused + filesPatched < files.length) await turn();
    const mentions = entries.flatMap((e) => (e.mentions ??= userMentions([e.doc])));
    const problems = [...await unknownUsers(mentions), ...missingTools(config)];
    if (problems.length > 0) {
      const all = new Problems();
      for (const p of problems) all.add(p.file, p.pointer, p.message);
      all.throwIfAny();
    }
    if (cache) cache.phases.hostMs = monotonicMs() - t3;
  }
  return config;
}
