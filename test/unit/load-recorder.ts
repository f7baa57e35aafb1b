/**
 * `node --import ./load-recorder.js ...`: at exit, appends to $LVSD_LOAD_LOG every file the process loaded,
 * one per line: ES modules as the loader's hook saw them, CommonJS ones from the require cache.
 * Lets a test say which modules a command loads (test/unit/cli-startup.test.ts).
 */
import { appendFileSync, writeSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const log = process.env.LVSD_LOAD_LOG;
if (log) {
  // the hook runs on the loader's thread: it writes each URL to the log as it is loaded
  const hook = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) appendFileSync(${JSON.stringify(log)}, url + '\\n');
  return next(url, context);
}`;
  register('data:text/javascript,' + encodeURIComponent(hook));
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => {
    try {
      appendFileSync(log, Object.keys(cache).map((f) => `file://${f}\n`).join(''));
    } catch (e) {
      writeSync(2, `load-recorder: ${(e as Error).message}\n`);
    }
  });
}
