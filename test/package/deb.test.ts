/**
 * The Debian package as built by `npm run package` (here uncompressed, into a temp dir): what is in it,
 * what is not (no devDependencies, no sources, no other architectures' addons), its control data and
 * maintainer scripts, and lintian's verdict. Installing and running it is test/kernel/inside/package.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDeb } from '../../packaging/build-deb.js';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = has('dpkg-deb') ? undefined : 'needs dpkg-deb (a Debian system)';
const out = mkdtempSync(join(tmpdir(), 'lvsd-deb-test-'));
after(() => rmSync(out, { recursive: true, force: true }));
// gzip at level 1: quick, and lintian (rightly) flags an uncompressed package
const deb = skip ? '' : buildDeb({ out, runtime: 'bundled', compress: 'gzip', level: 1 });
const dpkgDeb = (...args: string[]): string => spawnSync('dpkg-deb', [...args, deb], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string; dependencies: Record<string, string>; devDependencies: Record<string, string>;
};

test('the package holds the program, its runtime, the unit, the config example, state dir, completion and man pages', { skip }, () => {
  assert.match(deb, new RegExp(`lvsd_${pkg.version.replace(/\./g, '\\.')}_\\w+\\.deb$`));
  const listing = dpkgDeb('-c').split('\n');
  const paths = new Set(listing.map((l) => l.split(/\s+/)[5]?.replace(/^\./, '')).filter(Boolean));
  for (const p of [
    '/usr/bin/lvsd', '/usr/lib/lvsd/bin/node', '/usr/lib/lvsd/package.json', '/usr/lib/lvsd/dist/src/cli/main.js',
    '/usr/lib/lvsd/dist/src/vrrp/worker.js', '/usr/lib/lvsd/dist/bundle/lvsd.cjs', '/usr/lib/lvsd/dist/bundle/worker.cjs',
    `/usr/lib/lvsd/dist/bundle/code-cache/${process.version}-${process.arch}-max-semi-space-size=1+expose-gc/worker.cjs.cache`,
    `/usr/lib/lvsd/dist/bundle/code-cache/${process.version}-${process.arch}-max-semi-space-size=1+expose-gc/check.cjs.cache`,
    '/usr/lib/lvsd/dist/bundle/schema-validator.cjs', '/usr/lib/lvsd/schemas/lvsd.schema.json', '/usr/lib/lvsd/web/status/index.html',
    '/usr/lib/lvsd/native/build/Release/lvsd_native.node', '/usr/lib/lvsd/native/build/Release/lvsd', '/lib/systemd/system/lvsd.service',
    '/etc/lvsd/services.json.example', '/var/lib/lvsd/', '/usr/share/bash-completion/completions/lvsd',
    '/usr/share/man/man8/lvsd.8.gz', '/usr/share/man/man5/lvsd.json.5.gz', '/usr/share/doc/lvsd/copyright',
    '/usr/share/doc/lvsd/operations.md',
  ]) assert.ok(paths.has(p), `${p} is in the package`);
  for (const dep of Object.keys(pkg.dependencies)) {
    assert.ok(paths.has(`/usr/lib/lvsd/node_modules/${dep}/package.json`), `production dependency ${dep} is in it`);
  }
  for (const dev of Object.keys(pkg.devDependencies)) {
    assert.ok(![...paths].some((p) => p.startsWith(`/usr/lib/lvsd/node_modules/${dev}/`)), `devDependency ${dev} is not`);
  }
  const stray = [...paths].filter((p) => /\.(ts|map)$/.test(p) || p.includes('/dist/test/') || p.includes('/dist/bench/') ||
    (/\/prebuilds\/[^/]+/.test(p) && !p.includes(`/prebuilds/linux-${process.arch}`)));
  assert.deepEqual(stray, [], 'no sources, maps, tests or other architectures');
  const modes = new Map(listing.map((l) => [l.split(/\s+/)[5]?.replace(/^\./, ''), l.split(/\s+/)[0]]));
  assert.equal(modes.get('/var/lib/lvsd/'), 'drwx------');
  // /usr/bin/lvsd is the native front (native/front), which runs the package's node for all it does not answer
  assert.equal(modes.get('/usr/lib/lvsd/native/build/Release/lvsd'), '-rwxr-xr-x');
  assert.match(listing.find((l) => l.includes(' ./usr/bin/lvsd '))!, /^lrwxrwxrwx .* \.\/usr\/bin\/lvsd -> \.\.\/lib\/lvsd\/native\/build\/Release\/lvsd$/);
  assert.ok(listing.every((l) => l === '' || l.split(/\s+/)[1] === 'root/root'), 'every file is root-owned');
});

test('control data: version, runtime libraries, the example as a conffile, maintainer scripts that parse', { skip }, () => {
  const control = spawnSync('dpkg-deb', ['--field', deb], { encoding: 'utf8' }).stdout;
  assert.equal(/^Version: (.*)$/m.exec(control)?.[1], pkg.version);
  assert.match(control, /^Depends: .*libc6/m);
  assert.doesNotMatch(/^Depends: .*$/m.exec(control)![0], /nodejs/, 'the bundled runtime needs no nodejs package');
  const ctl = join(out, 'control');
  assert.equal(spawnSync('dpkg-deb', ['--control', deb, ctl]).status, 0);
  assert.equal(readFileSync(join(ctl, 'conffiles'), 'utf8'), '/etc/lvsd/services.json.example\n');
  for (const s of ['postinst', 'prerm', 'postrm']) {
    const r = spawnSync('sh', ['-n', join(ctl, s)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${s} parses: ${r.stderr}`);
  }
});

test('lintian finds no error or warning (each override in packaging/lintian-overrides says why)', {
  skip: skip ?? (has('lintian') ? undefined : 'lintian is not installed (.ci/setup installs it)'), timeout: 300_000,
}, () => {
  const r = spawnSync('lintian', ['--fail-on', 'error,warning', deb], { encoding: 'utf8', maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, `lintian:\n${r.stdout}${r.stderr}`);
});
