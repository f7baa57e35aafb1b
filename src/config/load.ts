/**
 * loadConfig: read a config file, or every *.json file of a directory (by name), then parseConfig. Any file
 * that cannot be read as a regular UTF-8 file (a dangling or looping link, no permission, a directory or a
 * FIFO under a *.json name, bytes that are not UTF-8) fails the whole load naming that file: leaving it out
 * would silently drop what it declares.
 */
import { performance } from 'node:perf_hooks';
import type { Config } from './types.js';
import { configFiles, readRegular, reread, type Reread } from './files.js';
import { decodeUtf8, parseJson } from './documents.js';
import { buildConfig, checkDocument } from './parse.js';
import type { CachedFile, ConfigCache } from './cache.js';
import { unknownUsers, userMentions } from './host-users.js';
import { missingTools } from './host-tools.js';
import { Problems } from './problems.js';

export { configFiles } from './files.js';

/** Lets the event loop run what waits (timers, sockets) before going on. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Files read at once: a directory of many small files waits on the file system's round trips, not on bytes. */
const READ_CONCURRENCY = 16;

/**
 * Every file's bytes, in the order given; the first file that cannot be read (in that order) fails it all.
 * With a cache, a file that still holds the bytes it kept is compared in place and those very bytes come
 * back, and a changed one is read into the cache's spare buffer for it with the length of the start it
 * shares with them (files.ts reread: no buffer of its size per reload).
 */
async function readAll(files: readonly string[], cache: ConfigCache | undefined): Promise<Array<Partial<Reread> & { bytes: Buffer }>> {
  const out: Array<Promise<Partial<Reread> & { bytes: Buffer }>> = new Array(files.length);
  let next = 0;
  let workers = 0;
  const worker = async (): Promise<void> => {
    const reader = workers++;
    while (next < files.length) {
      const i = next++;
      const kept = cache?.keptRead(files[i]!, reader);
      out[i] = kept !== undefined ? reread(files[i]!, kept) : readRegular(files[i]!).then((bytes) => ({ bytes }));
      await out[i]!.catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, files.length) }, worker));
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
  const t0 = performance.now();
  const files = await configFiles(path);
  const contents = await readAll(files, cache);
  const t1 = performance.now();
  const entries: CachedFile[] = [];
  let filesReused = 0;
  let filesPatched = 0;
  for (const [i, file] of files.entries()) {
    const { bytes, prefix } = contents[i]!;
    // the read gave the kept bytes themselves when the file still holds them, and other bytes only when it does not
    const hit = cache?.bytesOf(file) === bytes ? cache.lookup(file, bytes) : undefined;
    if (hit !== undefined) {
      filesReused++;
      entries.push(hit);
      continue;
    }
    // changed only within its services items: those items parsed and checked, the rest reused
    const patched = cache?.patch(file, bytes, prefix);
    if (patched !== undefined) {
      filesPatched++;
      entries.push(patched);
      continue;
    }
    // each heavy step of a changed file is its own turn of the event loop: a daemon's probes and control
    // socket wait for one step (a large file's JSON.parse is the longest), not for the whole load
    const parsed = parseJson({ file, text: decodeUtf8(file, bytes) });
    await turn();
    entries.push({ bytes, doc: checkDocument(parsed) });
    await turn();
  }
  cache?.keep(entries);
  const t2 = performance.now();
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
  const t3 = performance.now();
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
    if (cache) cache.phases.hostMs = performance.now() - t3;
  }
  return config;
}
