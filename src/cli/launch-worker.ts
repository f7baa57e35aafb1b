/**
 * The VRRP worker thread's entry in the bundle (dist/bundle/worker-start.cjs; packaging/bundle.ts): the
 * worker (worker.cjs) compiled through V8's code cache, as the command line's files are (code-cache.ts).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { codeCacheMode, installCodeCache } from './code-cache.js';
import { CODE_CACHED_FILES } from './command-files.js';

declare const __dirname: string;
declare const __filename: string;

const mode = codeCacheMode();
if (mode !== 'off') installCodeCache(__dirname, CODE_CACHED_FILES, mode);
createRequire(__filename)(join(__dirname, 'worker.cjs'));
