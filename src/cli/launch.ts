#!/usr/bin/env -S node --max-semi-space-size=1 --expose-gc
/**
 * The bundled command line's entry (dist/bundle/lvsd.cjs; packaging/bundle.ts): what /usr/bin/lvsd and
 * package.json's `bin` run. It loads only the file of the command asked for (check.cjs, apply.cjs, run.cjs,
 * status.cjs, control.cjs; cli.cjs holds every command, for help, completion and the rest), each one
 * CommonJS script compiled through V8's code cache (code-cache.ts). `--version` alone needs nothing but
 * package.json.
 *
 * The node flags on the first line are main.ts's (/usr/bin/lvsd gives the same ones).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageVersion } from '../package-root.js';
import { codeCacheMode, installCodeCache } from './code-cache.js';
import { CODE_CACHED_FILES, commandFile, runConfigPath, runLogLevel } from './command-files.js';
import { startEarlyVrrpThread } from '../vrrp/early-thread.js';
import { listenEarly } from '../vrrp/early-listen.js';
import { vrrpThreadMode } from '../vrrp/thread-mode.js';
import { writeOut } from './out.js';

declare const __dirname: string;
declare const __filename: string;

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--version') {
  writeOut(`${packageVersion()}\n`);
} else {
  // `lvsd run`: the VRRP thread boots while this thread loads the daemon (src/vrrp/early-thread.ts)
  if (args[0] === 'run' && !args.includes('--help')) {
    listenEarly(runConfigPath(args));
    if (vrrpThreadMode() === 'worker') startEarlyVrrpThread(join(__dirname, 'worker-start.cjs'), runLogLevel(args));
  }
  const mode = codeCacheMode();
  if (mode !== 'off') installCodeCache(__dirname, CODE_CACHED_FILES, mode);
  const { start } = createRequire(__filename)(join(__dirname, `${commandFile(args)}.cjs`)) as typeof import('./start.js');
  void start(args, (specifier) => import(specifier));
}
