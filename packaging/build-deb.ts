/**
 * `npm run package`: builds lvsd_<version>_<arch>.deb from a built checkout (`npm ci && npm run build`)
 * with dpkg-deb alone: every file of the package is placed here, in one readable list, and the build
 * needs nothing beyond dpkg (dpkg-shlibdeps from dpkg-dev computes the library dependencies when present).
 *
 *   node dist/packaging/build-deb.js [--out DIR] [--runtime bundled|system] [--compress xz|gzip|none]
 *
 * --runtime bundled (default): the package carries the Node.js that runs this build (or $LVSD_PACKAGE_NODE),
 *   stripped, at /usr/lib/lvsd/bin/node, so it installs on Debian 12 whose nodejs is 18.
 * --runtime system: Depends: nodejs (>= 20); /usr/lib/lvsd/bin/node is a link to /usr/bin/node.
 *
 * /usr/bin/lvsd is a link to the native front (native/front: `lvsd reload` without node),
 * which runs /usr/lib/lvsd/bin/node with the bundle and lvsd's node flags for every other command.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CODE_CACHE_DIR } from '../src/cli/code-cache.js';
import { writePages } from './man.js';
import { copyrightFile, controlFile, debianChangelog, md5sums, normaliseTree, pruneModule, type Runtime } from './deb-files.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREFIX = 'usr/lib/lvsd';

export interface Args { out: string; runtime: Runtime; compress: 'xz' | 'gzip' | 'none'; /** compression level (dpkg-deb -z) */ level?: number }

function parseArgs(argv: string[]): Args {
  const a: Args = { out: join(repo, 'dist', 'deb'), runtime: 'bundled', compress: 'xz' };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--out' && v) { a.out = v; i++; }
    else if (argv[i] === '--runtime' && (v === 'bundled' || v === 'system')) { a.runtime = v; i++; }
    else if (argv[i] === '--compress' && (v === 'xz' || v === 'gzip' || v === 'none')) { a.compress = v; i++; }
    else throw new Error(`usage: build-deb.js [--out DIR] [--runtime bundled|system] [--compress xz|gzip|none] (at ${argv[i]})`);
  }
  return a;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string; env?: Record<string, string> } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts, env: { ...process.env, LC_ALL: 'C', ...opts.env } });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function need(path: string, hint: string): string {
  if (!existsSync(path)) throw new Error(`${relative(repo, path)} is missing: ${hint}`);
  return path;
}

function write(root: string, path: string, content: string | Buffer, mode = 0o644): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  chmodSync(full, mode);
}

/** Production dependencies only, as npm resolved them in this checkout (built addons included). */
function copyProductionModules(root: string): string[] {
  const lines = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repo, encoding: 'utf8' }).stdout.split('\n');
  const dirs = [...new Set(lines.map((l) => l.trim()).filter((l) => l && l !== repo))];
  const names: string[] = [];
  for (const dir of dirs) {
    const rel = relative(repo, dir);
    if (!rel.startsWith('node_modules')) continue;
    const dest = join(root, PREFIX, rel);
    // nested node_modules are listed (and copied) on their own lines, only when npm counts them as production
    cpSync(dir, dest, { recursive: true, filter: (src) => relative(dir, src).split('/')[0] !== 'node_modules' });
    pruneModule(dest, process.arch);
    names.push(rel);
  }
  if (names.length === 0) throw new Error('npm ls found no production dependencies: run npm ci first');
  return names;
}

function nodeLicense(nodeBinary: string): string {
  const candidates = [
    process.env.LVSD_PACKAGE_NODE_LICENSE,
    join(dirname(nodeBinary), '..', 'share', 'doc', 'node', 'LICENSE'), // nodejs.org tarballs
    '/usr/share/doc/nodejs/LICENSE', // NodeSource packages
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`cannot find the license of ${nodeBinary} (tried ${candidates.join(', ')}): set LVSD_PACKAGE_NODE_LICENSE`);
  return readFileSync(found, 'utf8');
}

function installedSizeKiB(root: string): number {
  let kib = 0;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) { kib += 1; if (p !== join(root, 'DEBIAN')) walk(p); }
      else if (e.isSymbolicLink()) kib += 1;
      else kib += Math.ceil(statSync(p).size / 1024);
    }
  };
  walk(root);
  return kib;
}

/** Library dependencies of the ELF files shipped (node, the addons), via dpkg-shlibdeps. */
function shlibDepends(root: string, elves: string[]): string {
  if (!has('dpkg-shlibdeps')) return 'libc6 (>= 2.28), libgcc-s1, libstdc++6';
  const work = join(root, '..', 'shlibdeps');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'debian'), { recursive: true });
  writeFileSync(join(work, 'debian', 'control'), '');
  const out = sh('dpkg-shlibdeps', ['-O', ...elves.map((e) => `-e${e}`)], { cwd: work });
  rmSync(work, { recursive: true, force: true });
  const m = /^shlibs:Depends=(.*)$/m.exec(out);
  return m ? m[1]!.trim() : '';
}

/** The date the package and its pages carry: $SOURCE_DATE_EPOCH, else the last commit's, else now. */
function buildDate(): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isFinite(epoch) && epoch > 0) return new Date(epoch * 1000).toISOString();
  const r = spawnSync('git', ['log', '-1', '--format=%cI'], { cwd: repo, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : new Date().toISOString();
}

export function buildDeb(args: Args): string {
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; description: string; license: string };
  const arch = sh('dpkg', ['--print-architecture']).trim();
  const name = `lvsd_${pkg.version}_${arch}`;
  const root = join(args.out, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const date = buildDate();

  // ---- the program: /usr/lib/lvsd mirrors a checkout (package.json, dist/src, dist/bundle, schemas, web, native,
  // node_modules); /usr/bin/lvsd is the native front, which runs the bundled command line (packaging/bundle.ts)
  // for what it does not answer itself; dist/src serves `lvsd lab`
  need(join(repo, 'dist', 'src', 'cli', 'main.js'), 'run npm run build first');
  need(join(repo, 'dist', 'bundle', 'lvsd.cjs'), 'run npm run build first (it bundles the command line)');
  const addon = need(join(repo, 'native', 'build', 'Release', 'lvsd_native.node'), 'run npm ci (it builds the addon) first');
  const front = need(join(repo, 'native', 'build', 'Release', 'lvsd'), 'run npm ci (it builds the native front with the addon) first');
  write(root, `${PREFIX}/package.json`, JSON.stringify({ name: 'lvsd', version: pkg.version, type: 'module', license: pkg.license }, null, 2) + '\n');
  cpSync(join(repo, 'dist', 'src'), join(root, PREFIX, 'dist', 'src'), { recursive: true, filter: (s) => !s.endsWith('.map') });
  cpSync(join(repo, 'dist', 'bundle'), join(root, PREFIX, 'dist', 'bundle'), { recursive: true });
  cpSync(join(repo, 'schemas'), join(root, PREFIX, 'schemas'), { recursive: true });
  cpSync(join(repo, 'web', 'status'), join(root, PREFIX, 'web', 'status'), { recursive: true }); // the status page
  cpSync(join(repo, 'examples', 'lab'), join(root, PREFIX, 'examples', 'lab'), { recursive: true }); // lvsd lab
  write(root, `${PREFIX}/native/build/Release/lvsd_native.node`, readFileSync(addon), 0o644);
  write(root, `${PREFIX}/native/build/Release/lvsd`, readFileSync(front), 0o755);
  const modules = copyProductionModules(root);

  let node = '/usr/bin/node';
  const elves = [join(root, PREFIX, 'native/build/Release/lvsd_native.node'), join(root, PREFIX, 'native/build/Release/lvsd')];
  for (const m of modules) {
    const dir = join(root, PREFIX, m);
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.node')) elves.push(join(d, e.name));
      }
    };
    walk(dir);
  }
  let nodeVersion = process.version;
  if (args.runtime === 'bundled') {
    const source = process.env.LVSD_PACKAGE_NODE ?? process.execPath;
    nodeVersion = sh(source, ['--version']).trim();
    if (Number(/^v(\d+)/.exec(nodeVersion)?.[1]) < 20) throw new Error(`${source} is Node.js ${nodeVersion}: lvsd needs 20 or later`);
    const dest = join(root, PREFIX, 'bin', 'node');
    mkdirSync(dirname(dest), { recursive: true });
    if (has('strip')) sh('strip', ['--strip-unneeded', '-o', dest, source]); // debug info: ~13 MB of 99
    else copyFileSync(source, dest);
    chmodSync(dest, 0o755);
    elves.push(dest);
    node = `/${PREFIX}/bin/node`;
  } else {
    // the front runs <package>/bin/node when there is one (else node on PATH): the system's, by its own path
    mkdirSync(join(root, PREFIX, 'bin'), { recursive: true });
    symlinkSync('/usr/bin/node', join(root, PREFIX, 'bin', 'node'));
  }
  if (has('strip')) for (const e of elves) if (!e.endsWith('/bin/node')) sh('strip', ['--strip-unneeded', e]);
  // V8's code cache for the bundle (src/cli/code-cache.ts) is per node: made again with the node shipped, so
  // that one finds its own; with the system's node the build's are shipped and used where its version is
  // the same (elsewhere the files compile from source, as without a cache)
  if (args.runtime === 'bundled') {
    const bundleDir = join(root, PREFIX, 'dist', 'bundle');
    rmSync(join(bundleDir, CODE_CACHE_DIR), { recursive: true, force: true });
    sh(process.execPath, [join(repo, 'dist', 'packaging', 'code-cache.js'), '--node', join(root, PREFIX, 'bin', 'node'), '--dir', bundleDir]);
  }
  // /usr/bin/lvsd: the front, which finds the package above its own path (symlinks resolved) and runs
  // /usr/lib/lvsd/bin/node with the bundle and lvsd's node flags (native/front/node-flags.h, held to main.js's first line)
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  symlinkSync(`../lib/lvsd/native/build/Release/lvsd`, join(root, 'usr', 'bin', 'lvsd'));

  // ---- systemd, configuration, state, completion, manual pages, documentation
  write(root, 'lib/systemd/system/lvsd.service', readFileSync(join(repo, 'examples', 'lvsd.service')));
  write(root, 'etc/lvsd/services.json.example', readFileSync(join(repo, 'packaging', 'services.json.example')));
  mkdirSync(join(root, 'var/lib/lvsd'), { recursive: true });
  chmodSync(join(root, 'var/lib/lvsd'), 0o700);
  const completion = sh(process.execPath, [join(repo, 'dist/src/cli/main.js'), 'completion'], { input: '', env: { SHELL: '/bin/bash' } });
  write(root, 'usr/share/bash-completion/completions/lvsd', completion);
  const pages = writePages(join(args.out, 'man'), { version: pkg.version, date: date.slice(0, 10) });
  write(root, 'usr/share/man/man8/lvsd.8.gz', gzipSync(readFileSync(pages.lvsd), { level: 9 }));
  write(root, 'usr/share/man/man5/lvsd.json.5.gz', gzipSync(readFileSync(pages.config), { level: 9 }));
  const doc = 'usr/share/doc/lvsd';
  for (const f of readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md'))) {
    write(root, `${doc}/${f}`, readFileSync(join(repo, 'docs', f)));
  }
  write(root, `${doc}/README.md`, readFileSync(join(repo, 'README.md')));
  for (const f of ['services.json', 'vrrp.json', 'full.json']) write(root, `${doc}/examples/${f}`, readFileSync(join(repo, 'examples', f)));
  write(root, `${doc}/changelog.gz`, gzipSync(debianChangelog(pkg.version, date), { level: 9 }));
  write(root, `${doc}/copyright`, copyrightFile(modules.map((m) => join(root, PREFIX, m)), root,
    args.runtime === 'bundled' ? { version: nodeVersion, license: nodeLicense(process.env.LVSD_PACKAGE_NODE ?? process.execPath) } : undefined));
  write(root, 'usr/share/lintian/overrides/lvsd', readFileSync(join(repo, 'packaging', 'lintian-overrides')));

  normaliseTree(root, new Set([`${PREFIX}/native/build/Release/lvsd`, `${PREFIX}/bin/node`]), new Set(['DEBIAN', 'var/lib/lvsd']));

  // ---- control area
  const depends = [args.runtime === 'system' ? 'nodejs (>= 20)' : '', shlibDepends(root, elves)].filter(Boolean).join(', ');
  write(root, 'DEBIAN/control', controlFile({ version: pkg.version, arch, depends, installedSize: installedSizeKiB(root), runtime: args.runtime, nodeVersion }));
  write(root, 'DEBIAN/conffiles', '/etc/lvsd/services.json.example\n');
  for (const s of ['postinst', 'prerm', 'postrm']) write(root, `DEBIAN/${s}`, readFileSync(join(repo, 'packaging', 'debian', s)), 0o755);
  write(root, 'DEBIAN/md5sums', md5sums(root));

  const deb = join(args.out, `${name}.deb`);
  const epoch = String(Math.floor(Date.parse(date) / 1000));
  const level = args.level !== undefined ? [`-z${args.level}`] : [];
  const r = spawnSync('dpkg-deb', ['--root-owner-group', `-Z${args.compress}`, ...level, '--build', root, deb],
    { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: epoch } });
  if (r.status !== 0) throw new Error(`dpkg-deb failed: ${r.stderr}`);
  rmSync(root, { recursive: true, force: true });
  return deb;
}

if (process.argv[1] && basename(process.argv[1]) === 'build-deb.js') {
  try {
    const started = Date.now();
    const deb = buildDeb(parseArgs(process.argv.slice(2)));
    process.stdout.write(`${deb} (${(statSync(deb).size / 1e6).toFixed(1)} MB, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  } catch (e) {
    process.stderr.write(`build-deb: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
