#!/usr/bin/env -S node --max-semi-space-size=1
/**
 * The lvsd command line: the definitions in definition.ts, parsed by quick-argv.ts when the command line
 * is plainly valid and by yargs otherwise (help, completion, mistakes: yargs' messages). Loading yargs
 * costs about as much as starting node, so the common commands go without it; `--version` alone needs
 * nothing but package.json.
 *
 * The node flags on the first line are lvsd's (the Debian package's /usr/bin/lvsd and the health bench read
 * them from here): --max-semi-space-size=1 keeps V8's young generation at 1 MiB semi-spaces instead of
 * growing to 16 MiB each, ~30 MiB less RSS for the daemon (docs/benchmarks.md, the health bench).
 */
import { packageVersion } from '../package-root.js';

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--version') {
  process.stdout.write(`${packageVersion()}\n`);
} else {
  const { defineCli } = await import('./definition.js');
  const { quickCommand } = await import('./quick-argv.js');
  const quick = quickCommand(defineCli, args);
  if (quick) {
    await quick.run();
  } else {
    const { default: yargs } = await import('yargs');
    const { hideBin } = await import('yargs/helpers');
    await defineCli(yargs(hideBin(process.argv))).parseAsync();
  }
}
