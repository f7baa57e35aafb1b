/**
 * Fast start (issue #11): a CLI process loads only what its command uses. `lvsd --version` and
 * `lvsd check` must not load ajv's schema compiler (the validator is compiled at build time), pino,
 * prom-client, chokidar or yargs (main.ts parses plain command lines itself, quick-argv.ts); and the validator `npm run build` wrote must be the one the schema compiles to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VALIDATOR_MODULE, validatorModuleSource } from '../../src/config/schema-compile.js';

const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const recorder = fileURLToPath(new URL('./load-recorder.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lvsd-startup-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const config = join(dir, 'services.json');
writeFileSync(config, JSON.stringify({
  services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11' }] }],
}));

/** Runs lvsd with `args`; returns its output and the files it loaded (paths below node_modules or dist). */
function loaded(args: string[]): { status: number | null; stdout: string; stderr: string; files: string[] } {
  const log = join(dir, `load-${args[0]}.log`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', recorder, main, ...args], {
    encoding: 'utf8', env: { ...process.env, LVSD_LOAD_LOG: log },
  });
  const files = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((u) => fileURLToPath(u));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, files };
}

/** What no fast command may load: ajv's compiler (its runtime helpers are fine), logging, metrics, file watching. */
const HEAVY: Array<[string, RegExp]> = [
  ["ajv's compiler", /node_modules\/ajv\/dist\/(core|ajv|2020|compile\/)/],
  ['pino', /node_modules\/pino\//],
  ['prom-client', /node_modules\/prom-client\//],
  ['chokidar', /node_modules\/chokidar\//],
  // yargs (with cliui, string-width, ...) costs about as much as node's own start: only help and mistakes need it
  ['yargs', /node_modules\/yargs\//],
];

function assertLight(files: string[]): void {
  for (const [name, re] of HEAVY) {
    const hits = files.filter((f) => re.test(f));
    assert.deepEqual(hits, [], `${name} was loaded`);
  }
}

test('lvsd --version prints the version and loads neither ajv nor pino nor prom-client nor chokidar nor yargs', () => {
  const r = loaded(['--version']);
  assert.equal(r.status, 0, r.stderr);
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(r.stdout.trim(), pkg.version);
  assert.ok(r.files.some((f) => f.endsWith('/cli/main.js')), 'the recorder saw the modules');
  assertLight(r.files);
});

test('lvsd check validates with the build-time validator: no ajv compiler, pino, prom-client, chokidar or yargs', () => {
  const ok = loaded(['check', '-c', config]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /valid \(1 service, 1 real server, 0 VRRP instances\)/);
  assert.ok(ok.files.some((f) => f.endsWith(`/config/${VALIDATOR_MODULE}`)), 'the generated validator was used');
  assertLight(ok.files);

  // a config with problems: the same plain messages, still without the compiler
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({
    services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.999', port: 80, schedular: 'wlc', realServers: [{ address: '10.0.1.11' }] }],
  }));
  const r = loaded(['check', '-c', bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/services\/0\/schedular: unknown key "schedular" \(did you mean "scheduler"\?\)/);
  assert.match(r.stderr, /\/services\/0\/address: "192\.0\.2\.999" is not an IP address/);
  assertLight(r.files);
});

test('the validator npm run build wrote is what the schema compiles to now (not stale)', () => {
  const schema = JSON.parse(readFileSync(new URL('../../../schemas/lvsd.schema.json', import.meta.url), 'utf8')) as object;
  const built = readFileSync(new URL(`../../src/config/${VALIDATOR_MODULE}`, import.meta.url), 'utf8');
  assert.ok(built === validatorModuleSource(schema), `dist/src/config/${VALIDATOR_MODULE} is stale: run npm run build`);
});
