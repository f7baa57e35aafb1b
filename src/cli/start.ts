/**
 * The command line's body: `start(argv without node and the script)`. main.ts (tsc's dist/src) and the
 * bundle's per-command files (packaging/bundle.ts, run by launch.ts) both call it.
 */
import { packageVersion } from '../package-root.js';
import { writeOut } from './out.js';

/**
 * `load` imports yargs (ES module only) for the command lines quick-argv does not take: the bundle's files
 * run as scripts compiled by node:vm, which have no import() of their own, so the launcher lends its.
 */
export async function start(args: string[], load: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<void> {
  if (args.length === 1 && args[0] === '--version') {
    writeOut(`${packageVersion()}\n`);
    return;
  }
  const { defineCli, helpWidth } = await import('./definition.js');
  const { quickCommand } = await import('./quick-argv.js');
  const quick = quickCommand(defineCli, args);
  if (quick) {
    await quick.run();
  } else {
    const { default: yargs } = (await load('yargs')) as typeof import('yargs');
    await defineCli(yargs(args)).wrap(helpWidth()).parseAsync();
  }
}
