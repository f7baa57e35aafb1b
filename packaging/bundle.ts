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
 * Layout: main.js (the CLI) and worker.js (the VRRP worker thread, src/vrrp/port.ts starts it as
 * `./worker.js` next to itself) are entries; each command's module and what several share are chunks
 * beside them, loaded by the commands that use them (dynamic import() stays lazy). The config validator
 * (schema-validator.cjs, written by validator.js) is copied next to them, minified, as src/config/schema.ts
 * loads it from its own directory. Files found by walking up to the package root (package.json, schemas/, web/,
 * the native addon) are found from here as from dist/src. The npm packages the daemon imports are bundled
 * too; yargs, pino (required at run time) and ajv's runtime helpers load from node_modules as before. `lvsd lab` stays unbundled (dist/src/lab): it locates its
 * scripts and examples relative to its own files and is a demo, not a director's command.
 */
import { build, transform, type Plugin } from 'esbuild';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

export async function bundle(): Promise<void> {
  const out = `${dist}${BUNDLE_DIR}`;
  const tmp = `${out}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build({
    entryPoints: { main: `${dist}src/cli/main.js`, worker: `${dist}src/vrrp/worker.js` },
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
    plugins: [labOutside],
    logLevel: 'warning',
    // fewer bytes for V8 to scan at every start (whitespace, comments, shorter syntax); names are kept, so
    // stack traces and log lines still name our functions
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
  });
  // the generated validator is 200 KB of code with long names and whitespace: minified, V8 reads a third of it
  const validator = await transform(readFileSync(`${dist}src/config/${VALIDATOR_MODULE}`, 'utf8'),
    { minify: true, format: 'cjs', platform: 'node', target: 'node20', legalComments: 'none' });
  writeFileSync(`${tmp}/${VALIDATOR_MODULE}`, validator.code);
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
}

await bundle();
