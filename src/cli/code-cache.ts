/**
 * V8's code cache for the bundle's CommonJS files (issue #11, fast start). Node 20 compiles every script
 * from source at every start (`module.enableCompileCache` is Node 22); under the test VM's emulation that
 * parse and compile is a large part of a command's start-up. `npm run build` writes, next to the bundle,
 * what V8 compiled while running each command (packaging/code-cache.ts), and the launcher (launch.ts)
 * hands it back to V8 through `vm.Script`'s `cachedData`.
 *
 * The cache is an optimisation only: a file that is missing, unreadable, from another node, made under
 * other V8 flags or for source of another length is rejected by V8 (or not found) and the script compiles
 * from source as it would without it. V8 checks the source's length, not its text (measured on node
 * 20.20: a cache made for `return "LVSD_A"` taken for `return "LVSD_B"` runs the old code, not rejected):
 * the cache must be rewritten whenever the bundle is, as `npm run build` does (packaging/code-cache.ts after
 * packaging/bundle.ts); a bundle edited in place needs its `code-cache` directory removed. V8 rejects a cache made under different flags (`--max-semi-space-size`, which
 * /usr/bin/lvsd gives, among them), so caches are kept per node version and command-line flags
 * (`cacheKey`).
 *
 * Only the files of one directory (the bundle's) go through here; everything else loads as usual.
 */
import { Module, createRequire } from 'node:module';
import { mkdirSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** The caches' directory inside the bundle's. */
export const CODE_CACHE_DIR = 'code-cache';

/**
 * Where the caches for this node and these flags are: node's version, its architecture and the flags given
 * to node on its command line (process.execArgv), which V8 checks the cache against. NODE_OPTIONS is left
 * out: test harnesses set node-only options there (--enable-source-maps), and a V8 flag there only makes V8
 * reject the cache, as a stale one.
 */
export function cacheKey(execArgv: readonly string[] = process.execArgv): string {
  const safe = execArgv.join(' ').replace(/^-+/, '').replace(/\s+-*/g, '+').replace(/[^A-Za-z0-9=.,_+-]/g, '_');
  return `${process.version}-${process.arch}${safe ? `-${safe}` : ''}`;
}

export function cacheFile(dir: string, file: string, key = cacheKey()): string {
  return join(dir, CODE_CACHE_DIR, key, `${basename(file)}.cache`);
}

/**
 * use: read the caches; write: compile from source and, at exit, write what V8 compiled while the process
 * ran (packaging/code-cache.ts trains each command so); report: use, and print on stderr whether V8 took
 * each cache (tests).
 */
export type CodeCacheMode = 'use' | 'write' | 'report';

type Compile = (this: Module, content: string, filename: string, format?: string) => unknown;

/**
 * Compiles `files` (names of CommonJS files in `dir`) through the code cache from now on (this thread).
 * Such a script has no import() in Node 20 (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG): the bundle's
 * files import node's modules by require (packaging/bundle.ts) and yargs through the launcher, and the file
 * with every command (it imports `lvsd lab`) is not one of `files`.
 */
export function installCodeCache(dir: string, files: ReadonlySet<string>, mode: CodeCacheMode = 'use'): void {
  const proto = Module.prototype as unknown as { _compile: Compile };
  const original = proto._compile;
  const written: Array<{ file: string; script: Script }> = [];
  proto._compile = function compileCached(this: Module, content: string, filename: string, format?: string): unknown {
    if (dirname(filename) !== dir || !files.has(basename(filename)) || format === 'module' || content.startsWith('#!')) return original.call(this, content, filename, format);
    const file = cacheFile(dir, filename);
    let cachedData: Buffer | undefined;
    if (mode !== 'write') {
      try {
        cachedData = readFileSync(file);
      } catch {
        cachedData = undefined;
      }
    }
    let script: Script;
    try {
      script = new Script(Module.wrap(content), { filename, cachedData });
    } catch {
      // a syntax error: node's own loader reports it as it always does
      return original.call(this, content, filename, format);
    }
    if (mode === 'report') writeSync(2, `code-cache: ${basename(filename)} ${cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'missing'}\n`);
    if (mode === 'write') written.push({ file, script });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...a: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, createRequire(filename), this, filename, dir);
  };
  if (mode === 'write') process.once('exit', () => written.forEach(({ file, script }) => writeCache(file, script.createCachedData())));
}

/** Writes a cache whole or not at all (a reader never sees half a file). */
export function writeCache(file: string, data: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** The mode LVSD_CODE_CACHE asks for (`off` to compile from source as without a cache). */
export function codeCacheMode(value = process.env.LVSD_CODE_CACHE): CodeCacheMode | 'off' {
  return value === 'write' || value === 'report' || value === 'off' ? value : 'use';
}
