/**
 * The VRRP worker thread started at exec (issue #11, fast start). Node's bootstrap of a thread (a second
 * isolate, its internal modules) is most of what stands between exec and the instances announcing backup;
 * the bundle's launcher (src/cli/launch.ts) starts it for `lvsd run` before it even loads the daemon's code,
 * and the first VrrpWorker (port.ts) takes it instead of starting one. A thread started with another log
 * level, or that failed or exited before it was taken, is ended and a new one started as without it.
 *
 * The launcher and the daemon are two files of the bundle, each with its own copy of this module: the
 * thread waits in a global slot (Symbol.for) between them.
 */
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';

const SLOT = Symbol.for('lvsd.vrrp.earlyThread');

interface Early {
  worker: Worker;
  file: string;
  logLevel: string;
  failed: boolean;
  onFail: () => void;
}

type Slots = { [SLOT]?: Early };

/**
 * The VRRP worker thread on `file`, as every VrrpWorker starts it. node:worker_threads is required here, not
 * imported: the launcher carries this module for `lvsd run` and loads nothing for the other commands.
 */
export function createVrrpThread(file: string, logLevel: string): Worker {
  const threads = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  return new threads.Worker(file, { workerData: { logLevel } });
}

/** Starts the thread now, to be taken by takeEarlyVrrpThread; it does not keep the process alive meanwhile. */
export function startEarlyVrrpThread(file: string, logLevel: string): void {
  const worker = createVrrpThread(file, logLevel);
  worker.unref();
  const early: Early = { worker, file, logLevel, failed: false, onFail: () => { early.failed = true; } };
  // an error before it is taken is not thrown (no listener yet): the thread is replaced when taken
  worker.on('error', early.onFail);
  worker.on('exit', early.onFail);
  (globalThis as Slots)[SLOT] = early;
}

/** The thread started at exec on `file` with `logLevel`, if there is one that still runs (once). */
export function takeEarlyVrrpThread(file: string, logLevel: string): Worker | undefined {
  const early = (globalThis as Slots)[SLOT];
  if (!early) return undefined;
  delete (globalThis as Slots)[SLOT];
  early.worker.off('error', early.onFail);
  early.worker.off('exit', early.onFail);
  if (early.failed || early.file !== file || early.logLevel !== logLevel) {
    void early.worker.terminate().catch(() => undefined);
    return undefined;
  }
  return early.worker;
}
