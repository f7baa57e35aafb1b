/**
 * `lvsd run` reloads when its config file changes on disk: chokidar watches it (writes settled for 200 ms,
 * then 300 ms of quiet), and a watch that fails is logged with what to do instead. A reload that starts
 * for another reason (`lvsd reload`, SIGHUP) reads the files after every change seen so far, so the
 * change's pending reload is dropped then (`covered`; reload-queue.ts says when).
 */
import type { Logger } from '../log.js';

export interface ConfigWatch {
  /** Drops a reload not yet due (lvsd is stopping). */
  cancel(): void;
  /**
   * A reload is starting that reads the files after every change seen so far: the reload the watcher has
   * pending for them, if any, is dropped (logged as config.change_covered, `by` the reload's trigger).
   * A change seen after this call is reloaded as usual.
   */
  covered(by: string): void;
  close(): Promise<void>;
}

export interface WatchOptions {
  /** Quiet time after a settled change before reloading, ms (default 300; tests lengthen it). */
  quietMs?: number;
  /** How long a write must be still before it counts as a change, ms (default 200; tests lengthen it). */
  settleMs?: number;
}

/** Watches `path`; `reload` is called once per settled change and must never reject. */
export async function watchConfigFile(path: string, reload: () => void, log: Logger, opts: WatchOptions = {}): Promise<ConfigWatch> {
  const { watch } = await import('chokidar');
  const quietMs = opts.quietMs ?? 300;
  const settleMs = opts.settleMs ?? 200;
  let debounce: NodeJS.Timeout | undefined;
  const watcher = watch(path, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: settleMs, pollInterval: 50 } });
  watcher.on('all', (what: string, file: string) => {
    clearTimeout(debounce);
    log.debug({ event: 'config.change_seen', path, file, what, reloadInMs: quietMs }, 'config changed on disk: reloading once quiet');
    debounce = setTimeout(() => {
      debounce = undefined;
      log.info({ event: 'config.changed', path }, 'config changed on disk: reloading unless a reload has read it already');
      reload();
    }, quietMs);
  });
  watcher.on('error', (e: unknown) => log.warn({ event: 'config.watch_error', path, err: (e as Error)?.message ?? String(e) },
    'cannot watch the config file: reload with lvsd reload or SIGHUP'));
  return {
    cancel: () => {
      clearTimeout(debounce);
      debounce = undefined;
    },
    covered: (by) => {
      if (debounce === undefined) return;
      clearTimeout(debounce);
      debounce = undefined;
      log.info({ event: 'config.change_covered', path, by }, `config changed on disk: the ${by} reload starting now reads it`);
    },
    close: () => watcher.close(),
  };
}
