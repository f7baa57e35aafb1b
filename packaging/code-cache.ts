/**
 * Writes V8's code cache for the bundle (src/cli/code-cache.ts reads it): `npm run build` runs it after
 * bundle.js, `node dist/packaging/code-cache.js [--node PATH] [--dir BUNDLE_DIR]`; the Debian package runs
 * it again with the node it ships when that is another one (build-deb.ts).
 *
 * A cache holds what V8 compiled, so it is made by running what it is for, with the node and the V8 flags
 * that will use it (V8 rejects it otherwise): each command's file is trained by running that command once
 * with LVSD_CODE_CACHE=write, with no flags (`node dist/bundle/lvsd.cjs`) and with the flags of main.ts's
 * first line (what /usr/bin/lvsd and the shebang give). The commands run harmlessly anywhere: check of
 * examples/services.json, `apply --dry-run` (without IPVS it stops before the kernel; with it, it reads the
 * table and changes nothing), status and reload against a socket nobody listens on. `lvsd run` and the VRRP
 * worker cannot be run here: their files are compiled whole (V8's --no-lazy while compiling, the default
 * again before the cache is written, so the cache's flags are the running process's).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Module } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { cacheFile, writeCache } from '../src/cli/code-cache.js';

const dist = fileURLToPath(new URL('..', import.meta.url));
const repo = join(dist, '..');

/** Files compiled whole instead of trained (they cannot run at build time). */
export const EAGER_FILES = ['run.cjs', 'worker.cjs'];

/** The node flags of the first line of main.js (#!/usr/bin/env -S node FLAGS). */
export function shebangFlags(): string[] {
  const first = readFileSync(join(dist, 'src', 'cli', 'main.js'), 'utf8').split('\n')[0]!;
  return (/^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(first)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/** In a child with the flags to cache for: compiles `file` whole and writes its cache. */
function eager(dir: string, file: string): void {
  const path = join(dir, file);
  setFlagsFromString('--no-lazy');
  const script = new Script(Module.wrap(readFileSync(path, 'utf8')), { filename: path });
  setFlagsFromString('--lazy');
  writeCache(cacheFile(dir, path), script.createCachedData());
}

export function writeCodeCaches(dir: string, node = process.execPath): void {
  const tmp = mkdtempSync(join(tmpdir(), 'lvsd-code-cache-'));
  try {
    const config = join(repo, 'examples', 'services.json');
    const none = join(tmp, 'nobody.sock');
    const trainings = [
      ['status', '--socket', none],
      ['reload', '--socket', none],
      ['apply', '-c', config, '--dry-run', '--state-file', join(tmp, 'state.json')],
      ['check', '-c', config],
    ];
    const env: NodeJS.ProcessEnv = { ...process.env, LVSD_CODE_CACHE: 'write', LVSD_LOG_LEVEL: 'silent' };
    delete env.NODE_OPTIONS;
    for (const flags of [[], shebangFlags()]) {
      for (const args of trainings) {
        const r = spawnSync(node, [...flags, join(dir, 'lvsd.cjs'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
        if (r.error || r.signal) throw new Error(`training lvsd ${args.join(' ')}: ${r.error?.message ?? r.signal}`);
      }
      for (const file of EAGER_FILES) {
        const r = spawnSync(node, [...flags, fileURLToPath(import.meta.url), '--eager', dir, file], { env, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`compiling ${file}: ${r.stderr}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const argv = process.argv.slice(2);
if (argv[0] === '--eager') {
  eager(argv[1]!, argv[2]!);
} else {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  writeCodeCaches(opt('--dir') ?? join(dist, 'bundle'), opt('--node'));
}
