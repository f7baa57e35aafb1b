/**
 * V8's code cache for the bundle (src/cli/code-cache.ts, written by packaging/code-cache.ts at build time):
 * V8 takes the caches a build writes, with and without the node flags /usr/bin/lvsd gives (a cache made
 * under other flags is rejected: the fast start would be lost silently), and a bundle whose caches are
 * missing, corrupt, truncated or for other files answers exactly as with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangFlags } from '../../packaging/code-cache.js';
import { CODE_CACHE_DIR, cacheKey } from '../../src/cli/code-cache.js';
import { copyPackage } from './package-copy.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const bundleDir = join(repo, 'dist', 'bundle');
const skip = !existsSync(join(bundleDir, CODE_CACHE_DIR)) && 'no code cache in dist/bundle: run npm run build';
const dir = mkdtempSync(join(tmpdir(), 'lvsd-code-cache-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const good = join(dir, 'services.json');
writeFileSync(good, JSON.stringify({
  services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11' }] }],
}));
const bad = join(dir, 'bad.json');
writeFileSync(bad, JSON.stringify({ services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.999', port: 80, realServers: [] }] }));

const commands: string[][] = [
  ['--version'],
  ['check', '-c', good],
  ['check', '-c', bad],
  ['apply', '-c', good, '--dry-run', '--state-file', join(dir, 'state.json')],
  ['status', '--socket', join(dir, 'none.sock')],
  ['reload', '--socket', join(dir, 'none.sock')],
  ['check', '--no-such-option'],
];

interface Answer { status: number | null; stdout: string; stderr: string; cache: string[] }

function lvsd(launcher: string, args: string[], flags: string[] = []): Answer {
  const env: NodeJS.ProcessEnv = { ...process.env, LVSD_CODE_CACHE: 'report', LVSD_LOG_LEVEL: 'warn' };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [...flags, launcher, ...args], { encoding: 'utf8', env });
  const lines = r.stderr.split('\n');
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: lines.filter((l) => !l.startsWith('code-cache: ')).join('\n'),
    cache: lines.filter((l) => l.startsWith('code-cache: ')).map((l) => l.slice('code-cache: '.length)),
  };
}

/**
 * What a worker thread that loads worker-start.cjs (as lvsd run's VRRP worker does) says about its cache.
 * The verdict is written (synchronously) while worker.cjs is compiled, so the worker is ended once its
 * require returned, or threw: never on a timer (200 ms after 'online' was too short on a loaded host).
 */
function workerCache(bundle: string, flags: string[] = []): string[] {
  const script = join(dir, 'start-worker.cjs');
  const entry = `require(${JSON.stringify(join(bundle, 'worker-start.cjs'))}); require('node:worker_threads').parentPort.postMessage('loaded');`;
  writeFileSync(script, `const { Worker } = require('node:worker_threads');
const w = new Worker(${JSON.stringify(entry)}, { eval: true, workerData: { logLevel: 'warn' } });
w.once('message', () => w.terminate());
w.once('error', (e) => { console.error(e); process.exitCode = 1; });`);
  const r = spawnSync(process.execPath, [...flags, script], { encoding: 'utf8', env: { ...process.env, LVSD_CODE_CACHE: 'report' } });
  assert.equal(r.status, 0, `the worker on ${bundle} loaded: ${r.stderr}`);
  return r.stderr.split('\n').filter((l) => l.startsWith('code-cache: ')).map((l) => l.slice('code-cache: '.length));
}

for (const flags of [[], shebangFlags()]) {
  test(`V8 takes the build's code cache for every command's file, the validator and the VRRP worker (node ${flags.join(' ') || 'without flags'})`, { skip }, () => {
    const launcher = join(bundleDir, 'lvsd.cjs');
    assert.deepEqual(lvsd(launcher, ['check', '-c', good], flags).cache, ['check.cjs accepted', 'schema-validator.cjs accepted']);
    assert.deepEqual(lvsd(launcher, commands[3]!, flags).cache, ['apply.cjs accepted', 'schema-validator.cjs accepted']);
    assert.deepEqual(lvsd(launcher, commands[4]!, flags).cache, ['status.cjs accepted']);
    assert.deepEqual(lvsd(launcher, commands[5]!, flags).cache, ['control.cjs accepted']);
    assert.deepEqual(lvsd(launcher, ['run', '--help'], flags).cache, ['run.cjs accepted']);
    assert.deepEqual(workerCache(bundleDir, flags), ['worker.cjs accepted']);
  });
}

test('the caches are kept per node version and flags: another flag set finds none of them; V8 flags in NODE_OPTIONS get them rejected', { skip }, () => {
  assert.notEqual(cacheKey([]), cacheKey(['--max-semi-space-size=1']));
  assert.match(cacheKey([]), new RegExp(`^${process.version.replace(/\./g, '\\.')}-${process.arch}$`));
  const r = lvsd(join(bundleDir, 'lvsd.cjs'), ['check', '-c', good], ['--max-old-space-size=300']);
  assert.deepEqual(r.cache, ['check.cjs missing', 'schema-validator.cjs missing']);
  assert.equal(r.status, 0);
  // node-only options in NODE_OPTIONS (what test harnesses set) keep the caches; a V8 flag there is rejected
  const opts = (o: string) => spawnSync(process.execPath, [join(bundleDir, 'lvsd.cjs'), 'check', '-c', good],
    { encoding: 'utf8', env: { ...process.env, LVSD_CODE_CACHE: 'report', NODE_OPTIONS: o } });
  assert.match(opts('--enable-source-maps').stderr, /check\.cjs accepted/);
  const v8 = opts('--max-old-space-size=300');
  assert.match(v8.stderr, /check\.cjs rejected/);
  assert.equal(v8.status, 0);
});

/** A copy of the package (package.json, schemas, the addon, node_modules linked) with the bundle as `damage` leaves it. */
function damagedCopy(name: string, damage: (cacheDir: string) => void): string {
  const bundle = copyPackage(repo, bundleDir, join(dir, name));
  damage(join(bundle, CODE_CACHE_DIR, cacheKey([])));
  return join(bundle, 'lvsd.cjs');
}

const damages: Array<[string, (cacheDir: string) => void, string]> = [
  ['missing', (d) => rmSync(join(d, '..'), { recursive: true }), 'missing'],
  ['corrupt', (d) => readdirSync(d).forEach((f) => writeFileSync(join(d, f), Buffer.alloc(4096, 0x5a))), 'rejected'],
  ['truncated', (d) => readdirSync(d).forEach((f) => writeFileSync(join(d, f), readFileSync(join(d, f)).subarray(0, 200))), 'rejected'],
  // a valid cache of another file (what a stale cache beside a rebuilt file is)
  ['for other files', (d) => readdirSync(d).forEach((f) => cpSync(join(bundleDir, CODE_CACHE_DIR, cacheKey([]), f === 'check.cjs.cache' ? 'status.cjs.cache' : 'check.cjs.cache'), join(d, f))), 'rejected'],
];

/** What each command answers with the build's caches: the same for every damage, so asked once each. */
const wanted = new Map<string, Answer>();
const withCaches = (args: string[]): Answer => {
  const key = JSON.stringify(args);
  if (!wanted.has(key)) wanted.set(key, lvsd(join(bundleDir, 'lvsd.cjs'), args));
  return wanted.get(key)!;
};

for (const [what, damage, verdict] of damages) {
  test(`with caches ${what}, every command answers as with them (and V8 says ${verdict})`, { skip }, () => {
    const launcher = damagedCopy(what.replace(/\s/g, '-'), damage);
    for (const args of commands) {
      const want = withCaches(args);
      const got = lvsd(launcher, args);
      assert.equal(got.status, want.status, `${args.join(' ')}: ${got.stderr}`);
      assert.equal(got.stdout, want.stdout, args.join(' '));
      assert.equal(got.stderr, want.stderr, args.join(' '));
      assert.ok(got.cache.every((c) => c.endsWith(` ${verdict}`)), `${args.join(' ')}: ${got.cache.join(', ')}`);
    }
    assert.deepEqual(workerCache(join(launcher, '..')), [`worker.cjs ${verdict}`]);
  });
}
