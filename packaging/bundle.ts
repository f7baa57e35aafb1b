/**
 * Bundles the command line into dist/bundle/ (`npm run build` runs it after the validator):
 * `node dist/packaging/bundle.js`. What the Debian package's /usr/bin/lvsd and package.json's `bin` run.
 *
 * Why (issue #11, fast start): a CLI process spends most of its start-up finding, reading and compiling
 * modules one by one (30-60 of ours per command), which under the test VM's TCG costs 10-30x more than
 * natively; one file per command, with the code the commands share in common chunks, loads in a few reads
 * (docs/benchmarks.md, the start-up bench, has the figures). tsc's dist/src stays as it is: the tests
 * import it, and `node dist/src/cli/main.js` is the same program unbundled.
 *
 * Layout: main.js (the CLI) is the entry; each command's module and what several share are chunks
 * beside them, loaded by the commands that use them (dynamic import() stays lazy). The config validator
 * (schema-validator.cjs, written by validator.js) is copied next to them, minified, as src/config/schema.ts
 * loads it from its own directory. Files found by walking up to the package root (package.json, schemas/, web/,
 * the native addon) are found from here as from dist/src. The npm packages the daemon imports are bundled
 * too; yargs, pino (required at run time) and ajv's runtime helpers load from node_modules as before. `lvsd lab` stays unbundled (dist/src/lab): it locates its
 * scripts and examples relative to its own files and is a demo, not a director's command.
 */
import { build, type Plugin } from 'esbuild';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VALIDATOR_MODULE } from '../src/config/schema-compile.js';

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

/** The VRRP worker thread's file in the bundle. */
export const WORKER_FILE = 'worker.cjs';

/**
 * The VRRP worker thread as one CommonJS file, with everything it imports inside (issue #11, fast start):
 * a thread that starts an ES module compiles node's ESM loader (a dozen internal modules, not in node's
 * start-up snapshot for threads) and reads and links every chunk, all on the path from exec to the
 * instances announcing backup; a CommonJS file is one read through the loader the thread already has.
 * `import.meta.url` (the package root, the addon, pino found from it) becomes this file's URL.
 */
async function bundleWorker(out: string): Promise<void> {
  await build({
    entryPoints: [`${dist}src/vrrp/worker.js`],
    outfile: `${out}/${WORKER_FILE}`,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: ['yargs', 'yargs/*', 'ajv', 'ajv/*'],
    define: { 'import.meta.url': '__lvsdImportMetaUrl' },
    banner: { js: "'use strict';const __lvsdImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [pureModules],
    logLevel: 'warning',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
  });
}

export async function bundle(): Promise<void> {
  const out = `${dist}${BUNDLE_DIR}`;
  const tmp = `${out}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build({
    entryPoints: { main: `${dist}src/cli/main.js` },
    // the VRRP worker is its own CommonJS file (below): src/vrrp/port.ts starts that one from the bundle
    define: { __LVSD_VRRP_WORKER__: JSON.stringify(`./${WORKER_FILE}`) },
    outdir: tmp,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // npm packages are bundled too (prom-client with @opentelemetry/api alone is ~80 files), but for yargs
    // (help and mistakes only; it reads its locale files from its own directory) and the ajv runtime helpers
    // the validator requires; pino is required at run time by src/log.ts (createRequire), so it is not seen
    external: ['yargs', 'yargs/*', 'ajv', 'ajv/*'],
    // bundled CommonJS code requires node's modules: give the ES module output a require()
    banner: { js: "import { createRequire as __lvsdCreateRequire } from 'node:module'; const require = __lvsdCreateRequire(import.meta.url);" },
    chunkNames: 'chunk-[hash]',
    plugins: [labOutside, pureModules],
    logLevel: 'warning',
    // fewer bytes for V8 to scan at every start (whitespace, comments, shorter syntax); names are kept, so
    // stack traces and log lines still name our functions
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
  });
  await bundleWorker(tmp);
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
