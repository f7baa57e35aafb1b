/**
 * The code cache's training of `lvsd apply` (packaging/code-cache.ts, src/cli/code-cache-training.ts): the
 * build runs apply.cjs through a cold apply and a re-apply against the training kernel (changes sent as
 * NLMSG_NOOP through a real netlink socket, reads answered by the trainer), so a real apply finds its
 * planning, encoding, sending and printing compiled in the cache instead of compiling them from source.
 * Which functions V8 compiles lazily is read from its own log (--log-function-events: an `interpreter` event
 * is a function compiled from source; one from the cache is deserialized whole).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from 'node:module';
import { Script } from 'node:vm';
import { shebangFlags, trainApplyCache } from '../../packaging/code-cache.js';
import { CODE_CACHE_DIR, cacheKey } from '../../src/cli/code-cache.js';
import { copyPackage } from './package-copy.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bundleDir = join(repo, 'dist', 'bundle');
const trainer = join(repo, 'dist', 'packaging', 'code-cache.js');
const config = join(repo, 'examples', 'services.json');
const skip = !existsSync(join(bundleDir, 'apply.cjs')) && 'no bundle in dist/bundle: run npm run build';
const dir = mkdtempSync(join(tmpdir(), 'lvsd-code-cache-training-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** A copy of the package (package.json, schemas, the addon, node_modules linked) with the bundle, without its caches. */
function packageCopy(name: string): string {
  const bundle = copyPackage(repo, bundleDir, join(dir, name));
  rmSync(join(bundle, CODE_CACHE_DIR), { recursive: true, force: true });
  return bundle;
}

/** node flags that make V8 log every function it compiles (the caches are kept per flags: trained with them too). */
const logFlags = (log: string): string[] => ['--log-function-events', `--logfile=${log}`, '--no-logfile-per-isolate'];

interface Run { status: number | null; stdout: string; stderr: string }

/** The output with the durations it reports (`applied 10 of 10 operations in 25.1 ms (dump 0.9 ms, ...)`) as N. */
const timeless = (out: string): string => out.replace(/\d+(\.\d+)? ms\b/g, 'N ms');
/** The log lines' levels and events (their times, pids and durations differ from run to run), and any other line whole. */
const events = (err: string): string[] => err.split('\n').filter((l) => l !== '' && !l.startsWith('code-cache: ')).map((l) => {
  try {
    const { level, event } = JSON.parse(l) as { level?: unknown; event?: unknown };
    return `${String(level)} ${String(event)}`;
  } catch {
    return l;
  }
});

/** A cold apply then a re-apply of examples/services.json by `bundle`'s apply.cjs against the training kernel. */
function applyOnTrainingKernel(bundle: string, flags: string[], mode: 'use' | 'report' = 'use'): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, LVSD_CODE_CACHE: mode };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...flags, trainer, '--train-apply', bundle, config], { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The names of apply.cjs's functions V8 compiled from source, from its function-events log. */
function compiledFromSource(log: string): string[] {
  const lines = readFileSync(log, 'utf8').split('\n').map((l) => l.split(','));
  const ids = new Set(lines.filter((f) => f[0] === 'script-details' && f[2]?.endsWith('/apply.cjs')).map((f) => f[1]));
  assert.ok(ids.size > 0, 'V8 logged apply.cjs');
  return lines.filter((f) => f[0] === 'function' && f[1] === 'interpreter' && ids.has(f[2])).map((f) => f.at(-1) ?? '');
}

/**
 * Functions that run or not by the clock: the turn budget yields to the event loop once a slice of work took
 * 5 ms (turn-budget.ts), which the training's small table may not reach and a loaded host does.
 */
const BY_THE_CLOCK = new Set(['yield', 'nextTurn', '']);

/** What a real apply runs, in each of its parts (plan, encode, send, state file, print, dump decoding). */
const APPLY_WORK = ['planReconcile', 'writeCommand', 'writeBatch', 'execute', 'saveOwned', 'formatPlan', 'formatApplyReport', 'decodeServiceMessage', 'decodeDestMessage', 'applyIpvsSysctls'];

test('the trained cache holds what a cold apply and a re-apply run of apply.cjs: none of its functions compiles from source (the dry run\'s training left 100+)', { skip }, () => {
  // before: the cache trained by `apply --dry-run`, which stops at the socket without IPVS
  const before = packageCopy('dry-run-trained');
  const beforeLog = join(dir, 'before.log');
  const env: NodeJS.ProcessEnv = { ...process.env, LVSD_CODE_CACHE: 'write', LVSD_LOG_LEVEL: 'silent' };
  delete env.NODE_OPTIONS;
  spawnSync(process.execPath, [...logFlags(beforeLog), join(before, 'lvsd.cjs'), 'apply', '-c', config, '--dry-run', '--state-file', join(dir, 'dry.json')], { env });
  assert.equal(applyOnTrainingKernel(before, logFlags(beforeLog)).status, 0);
  const beforeNames = compiledFromSource(beforeLog);
  assert.ok(beforeNames.length >= 100, `${beforeNames.length} compiled from source with the dry run's cache`);
  for (const name of APPLY_WORK) assert.ok(beforeNames.includes(name), `${name} compiled from source with the dry run's cache`);

  const bundle = packageCopy('trained');
  const trainLog = join(dir, 'train.log');
  const trained = trainApplyCache(bundle, logFlags(trainLog));
  assert.equal(trained.status, 0, trained.stderr);
  // what the training ran: every change of a cold apply sent and acknowledged, then a re-apply with nothing to do
  assert.match(trained.stdout, /^applied 10 of 10 operations/m);
  assert.match(trained.stdout, /^~ timeouts tcp 7200s -> 900s/m);
  assert.match(trained.stdout, /^nothing to do: the kernel table matches the configuration$/m);
  assert.ok(existsSync(join(bundle, CODE_CACHE_DIR, cacheKey(logFlags(trainLog)), 'apply.cjs.cache')));

  // the same flags as the training (the log's name is one of them), so V8 takes the cache
  const flags = logFlags(trainLog);
  const used = applyOnTrainingKernel(bundle, flags, 'report');
  assert.equal(used.status, 0, used.stderr);
  assert.match(used.stderr, /^code-cache: apply\.cjs accepted$/m);
  assert.equal(timeless(used.stdout), timeless(trained.stdout));
  // this run's log replaced the training's (one file name: it is in the flags, hence in the cache's key)
  assert.deepEqual(compiledFromSource(trainLog).filter((name) => !BY_THE_CLOCK.has(name)), []);
});

/** What apply.cjs's cache may become: one made under other node flags, for other source (stale), garbage, half of itself. */
const damages: Array<[string, (cache: string, others: { flags: string; source: string }) => void]> = [
  ['made under other flags', (cache, o) => cpSync(o.flags, cache)],
  ['made for other source', (cache, o) => cpSync(o.source, cache)],
  ['corrupt', (cache) => writeFileSync(cache, Buffer.alloc(4096, 0x5a))],
  ['truncated', (cache) => writeFileSync(cache, readFileSync(cache).subarray(0, 300))],
];

test('with apply.cjs\'s cache made under other flags, stale, corrupt or truncated, a full apply prints the same bytes and exit status (V8 rejects the cache, nobody is told)', { skip }, () => {
  const bundle = packageCopy('damaged');
  assert.equal(trainApplyCache(bundle, []).status, 0);
  assert.equal(trainApplyCache(bundle, shebangFlags()).status, 0);
  const want = applyOnTrainingKernel(bundle, [], 'report');
  assert.equal(want.status, 0, want.stderr);
  assert.match(want.stderr, /^code-cache: apply\.cjs accepted$/m);
  const cache = join(bundle, CODE_CACHE_DIR, cacheKey([]), 'apply.cjs.cache');
  const good = readFileSync(cache);
  // a cache V8 made for this file's previous build: the same file with one byte more
  const source = readFileSync(join(bundle, 'apply.cjs'), 'utf8');
  const stale = new Script(Module.wrap(`${source};`), { filename: join(bundle, 'apply.cjs') }).createCachedData();
  const others = { flags: join(bundle, CODE_CACHE_DIR, cacheKey(shebangFlags()), 'apply.cjs.cache'), source: join(dir, 'stale.cache') };
  writeFileSync(others.source, stale);
  for (const [what, damage] of damages) {
    writeFileSync(cache, good);
    damage(cache, others);
    assert.match(applyOnTrainingKernel(bundle, [], 'report').stderr, /^code-cache: apply\.cjs rejected$/m, what);
    const got = applyOnTrainingKernel(bundle, [], 'use');
    assert.equal(got.status, want.status, `${what}: ${got.stderr}`);
    assert.equal(timeless(got.stdout), timeless(want.stdout), what);
    assert.deepEqual(events(got.stderr), events(want.stderr), what);
  }
});
