/**
 * `lvsd run` reloads when its config file changes on disk: chokidar watches it (writes settled for 200 ms,
 * then 300 ms of quiet), and a watch that fails is logged with what to do instead.
 */
import type { Logger } from '../log.js';

export interface ConfigWatch {
  /** Drops a reload not yet due (lvsd is stopping). */
  cancel(): void;
  close(): Promise<void>;
}

/** Watches `path`; `reload` is called once per settled change and must never reject. */
export async function watchConfigFile(path: string, reload: () => void, log: Logger): Promise<ConfigWatch> {
  const { watch } = await import('chokidar');
  let debounce: NodeJS.Timeout | undefined;
  const watcher = watch(path, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 } });
  watcher.on('all', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      log.info({ event: 'config.changed', path }, 'config changed on disk: reloading');
      reload();
    }, 300);
  });
  watcher.on('error', (e: unknown) => log.warn({ event: 'config.watch_error', path, err: (e as Error)?.message ?? String(e) },
    'cannot watch the config file: reload with lvsd reload or SIGHUP'));
  return {
    cancel: () => clearTimeout(debounce),
    close: () => watcher.close(),
  };
}
