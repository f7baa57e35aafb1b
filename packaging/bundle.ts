/**
 * Bundles the command line into dist/bundle/ (`npm run build` runs it after the validator, and
 * code-cache.js after it): `node dist/packaging/bundle.js`. What the Debian package's /usr/bin/lvsd and
 * package.json's `bin` run.
 *
 * Why (issue #11, fast start): a CLI process spends most of its start-up finding, reading and compiling
 * modules, which under the test VM's TCG costs 10-30x more than natively (docs/benchmarks.md, the start-up
 * bench, has the figures). tsc's dist/src stays as it is: the tests import it, and `node dist/src/cli/main.js`
 * is the same program unbundled.
 *
 * Layout: lvsd.cjs (src/cli/launch.ts) is the entry; it loads one CommonJS file per command (check.cjs,
 * apply.cjs, run.cjs, status.cjs, control.cjs; cli.cjs with every command for the rest: command-files.ts),
 * each holding all the code that command runs and no other command's, so a command reads one file and V8's
 * code cache (code-cache.ts, written by code-cache.js) covers it whole. CommonJS because node's ESM loader
 * is itself a dozen internal modules to compile at start, and because only a script can be given a code
 * cache in Node 20. main.js is kept for whoever ran it by that name (it loads lvsd.cjs). The config
 * validator (schema-validator.cjs, written by validator.js) is copied next to them, minified, as
 * src/config/schema.ts loads it from its own directory. Files found by walking up to the package root
 * (package.json, schemas/, web/, the native addon) are found from here as from dist/src. The npm packages the
 * daemon imports are bundled too; yargs (help and mistakes) and ajv's runtime helpers load from
 * node_modules. `lvsd lab` stays unbundled (dist/src/lab): it locates its scripts and examples relative to its
 * own files and is a demo, not a director's command.
 */
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VALIDATOR_MODULE } from '../src/config/schema-compile.js';
import { ALL_COMMANDS_FILE, FILE_MODULES } from '../src/cli/command-files.js';

const dist = fileURLToPath(new URL('..', import.meta.url)); // dist/
export const BUNDLE_DIR = 'bundle';

/** `lvsd lab` is imported from dist/src/lab, unbundled. */
const labOutside: Plugin = {
  name: 'lab-outside',
  setup(b) {
    b.onResolve({ filter: /\/lab\/main\.js$/ }, () => ({ path: '../src/lab/main.js', external: true }));
  },
};

/**
 * Our modules have no side effects at import (none is imported for its effect alone): telling esbuild so
 * lets it leave out what a folder's index.ts re-exports but the importer does not use. Without it the
 * VRRP worker, importing src/net's index for links and addresses, carried the TCP and ICMP probers and
 * with them node's crypto (15 internal modules compiled at every thread start).
 */
const pureModules: Plugin = {
  name: 'pure-modules',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (a) => (a.resolveDir.startsWith(`${dist}src`) ? { path: resolve(a.resolveDir, a.path), sideEffects: false } : undefined));
  },
};

/**
 * A command's file carries its own command module only: the others' (src/cli/commands/NAME.js, and `lvsd
 * lab`) are replaced by a module that says so, were it ever reached (launch.ts picks the file by the command).
 */
function onlyCommands(keep: readonly string[] | undefined): Plugin {
  return {
    name: 'only-commands',
    setup(b) {
      if (!keep) return;
      b.onResolve({ filter: /^\.\/commands\/[a-z-]+\.js$|\/lab\/main\.js$/ }, (a) => {
        const name = /commands\/([a-z-]+)\.js$/.exec(a.path)?.[1];
        return name !== undefined && keep.includes(name) ? undefined : { path: a.path, namespace: 'lvsd-not-here' };
      });
      b.onLoad({ filter: /.*/, namespace: 'lvsd-not-here' }, (a) => ({
        contents: `throw new Error(${JSON.stringify(`lvsd: ${a.path} is not in this file of the bundle (src/cli/command-files.ts)`)});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * `import('node:x')` becomes a require() of it: the files run as scripts compiled through the code cache
 * (src/cli/code-cache.ts), and a script compiled by node:vm has no import() in Node 20 (it throws
 * ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING_FLAG). Loaded as late as before, with the same namespace
 * (its exports and `default`). yargs, ESM only, is imported by the launcher for them (start.ts's `load`).
 */
const builtinImports: Plugin = {
  name: 'builtin-imports',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => (a.kind === 'dynamic-import' ? { path: a.path, namespace: 'lvsd-builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lvsd-builtin' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
  },
};

/** The VRRP worker thread's file in the bundle. */
export const WORKER_FILE = 'worker.cjs';
/** Its entry: the worker through the code cache (src/cli/launch-worker.ts). */
export const WORKER_START_FILE = 'worker-start.cjs';
/** The command line's entry (src/cli/launch.ts). */
export const LAUNCHER_FILE = 'lvsd.cjs';

/** What every CommonJS file of the bundle is built with; `import.meta.url` becomes the file's own URL. */
const cjs: BuildOptions = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // npm packages are bundled too (prom-client with @opentelemetry/api alone is ~80 files), but for yargs
  // (help and mistakes only; it reads its locale files from its own directory) and the ajv runtime helpers
  // the validator requires
  external: ['yargs', 'yargs/*', 'ajv', 'ajv/*'],
  define: { 'import.meta.url': '__lvsdImportMetaUrl', __LVSD_VRRP_WORKER__: JSON.stringify(`./${WORKER_START_FILE}`) },
  banner: { js: "'use strict';const __lvsdImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  // fewer bytes for V8 to scan at every start (whitespace, comments, shorter syntax); names are kept, so
  // stack traces and log lines still name our functions
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
};

export async function bundle(): Promise<void> {
  const out = `${dist}${BUNDLE_DIR}`;
  const tmp = `${out}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const files: Array<[string, readonly string[] | undefined]> = [...Object.entries(FILE_MODULES), [ALL_COMMANDS_FILE, undefined]];
  await Promise.all(files.map(([file, modules]) => build({
    ...cjs,
    entryPoints: [`${dist}src/cli/start.js`],
    outfile: `${tmp}/${file}.cjs`,
    plugins: [onlyCommands(modules), labOutside, builtinImports, pureModules],
  })));
  await build({ ...cjs, entryPoints: [`${dist}src/cli/launch.js`], outfile: `${tmp}/${LAUNCHER_FILE}`, plugins: [pureModules] });
  chmodSync(`${tmp}/${LAUNCHER_FILE}`, 0o755);
  // the worker: one file, so its thread needs neither node's ESM loader nor a read per chunk
  await build({ ...cjs, entryPoints: [`${dist}src/vrrp/worker.js`], outfile: `${tmp}/${WORKER_FILE}`, plugins: [builtinImports, pureModules] });
  await build({ ...cjs, entryPoints: [`${dist}src/cli/launch-worker.js`], outfile: `${tmp}/${WORKER_START_FILE}`, plugins: [pureModules] });
  writeFileSync(`${tmp}/main.js`, "// the command line is lvsd.cjs (packaging/bundle.ts): this name is kept for who ran it\nimport { createRequire } from 'node:module';\ncreateRequire(import.meta.url)('./lvsd.cjs');\n");
  // the generated validator is 200 KB of code with long names and whitespace: minified, V8 reads a third of
  // it; the two ajv runtime helpers it requires (and fast-deep-equal) go inside, so loading it resolves
  // nothing in node_modules (five package lookups and files fewer for every command that reads a config)
  await build({
    entryPoints: [`${dist}src/config/${VALIDATOR_MODULE}`],
    outfile: `${tmp}/${VALIDATOR_MODULE}`,
    bundle: true, minify: true, format: 'cjs', platform: 'node', target: 'node20', legalComments: 'none', logLevel: 'warning',
  });
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

await bundle();
