#!/usr/bin/env -S node --max-semi-space-size=1 --expose-gc
/**
 * The lvsd command line: the definitions in definition.ts, parsed by quick-argv.ts when the command line
 * is plainly valid and by yargs otherwise (help, completion, mistakes: yargs' messages). Loading yargs
 * costs about as much as starting node, so the common commands go without it; `--version` alone needs
 * nothing but package.json.
 *
 * The node flags on the first line are lvsd's (the Debian package's /usr/bin/lvsd and the health bench read
 * them from here): --max-semi-space-size=1 keeps V8's young generation at 1 MiB semi-spaces instead of
 * growing to 16 MiB each, ~30 MiB less RSS for the daemon (docs/benchmarks.md, the health bench);
 * --expose-gc lets `lvsd run` collect the garbage its start or a large reload left once the heap settles
 * (src/daemon/heap-trim.ts), which V8 alone kept for minutes on a busy host.
 */
import { start } from './start.js';

await start(process.argv.slice(2));
