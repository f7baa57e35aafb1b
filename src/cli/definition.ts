/**
 * The lvsd command line as data for yargs: every command, positional and option, with its description.
 * main.ts hands it a real yargs instance; the manual page generator (packaging/man.ts) hands it a recorder,
 * so lvsd(8) is written from these very definitions and cannot drift from them. Each command's module is
 * loaded only when it runs.
 */
import type { Argv } from 'yargs';
import { LvsdError } from '../errors.js';
import { DEFAULT_CONFIG, DEFAULT_SOCKET } from './defaults.js';
import { EXIT, describeError, exitStatusOf } from './exit.js';
import { writeErr } from './out.js';

async function run(task: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await task();
  } catch (error) {
    writeErr(describeError(error) + '\n');
    process.exitCode = exitStatusOf(error);
  }
}

const configOption = {
  alias: 'c',
  type: 'string',
  default: DEFAULT_CONFIG,
  describe: 'services file, or a directory of *.json files',
} as const;
const directorOption = {
  type: 'boolean',
  describe: 'the whole director (ecmp): withdraw every announced address and wait for the routers; what still arrives is served',
} as const;

/** The service and real server a drain names; both are needed without --director. */
function drainTarget(argv: { service?: string | undefined; realServer?: string | undefined }): { service: string; realServer: string } {
  if (argv.service === undefined || argv.realServer === undefined) {
    throw new LvsdError('LVSD_USAGE', 'name a service and a real server (lvsd drain SERVICE ADDRESS:PORT), or give --director');
  }
  return { service: argv.service, realServer: argv.realServer };
}

const socketOption = {
  type: 'string',
  describe: `control socket of the running daemon (default: the config's control.socket, else ${DEFAULT_SOCKET})`,
} as const;

/**
 * Every lvsd option takes one value: one given more than once (yargs hands the command an array of them,
 * which it cannot use) is a usage error naming the option and its values, for yargs' .check(). The native
 * front leaves such a command line to node (native/front/main.c), so both refuse it alike.
 */
export function repeatedOption(argv: Record<string, unknown>): string | true {
  // yargs keeps a value under each spelling and alias: name the long, kebab-case one when there is one
  const repeated = Object.entries(argv).filter(([key, value]) => key !== '_' && key !== '$0' && Array.isArray(value));
  if (repeated.length === 0) return true;
  const [key, values] = repeated.find(([k]) => k.length > 1 && k === k.toLowerCase()) ?? repeated[0]!;
  const list = (values as unknown[]).map((v) => JSON.stringify(v)).join(', ');
  return `${key.length > 1 ? '--' : '-'}${key} given ${(values as unknown[]).length} times (${list}): give it once`;
}

/** Adds lvsd's commands and options to `y` (a yargs instance, or the man page generator's recorder). */
/** `drain` and `undrain` take the same arguments. */
function drainOptions<T>(y: Argv<T>) {
  return y
    .positional('service', { type: 'string', describe: 'service name' })
    .positional('realServer', { type: 'string', describe: 'ADDRESS:PORT or [V6]:PORT' })
    .option('director', directorOption)
    .option('socket', socketOption)
    .option('config', { ...configOption, describe: 'config to read control.socket from' });
}

async function drainCommand(on: boolean, argv: { service?: string | undefined; realServer?: string | undefined; director?: boolean | undefined; socket?: string | undefined; config?: string | undefined }): Promise<number> {
  const control = await import('./commands/control.js');
  if (argv.director) return control.drainDirector(on, { socket: argv.socket, config: argv.config });
  return control.drain(on, { socket: argv.socket, config: argv.config, ...drainTarget(argv) });
}

export function defineCli(y: Argv): Argv {
  return y
    .scriptName('lvsd')
    .usage('$0 <command> [options]\n\nA control plane for Linux Virtual Server: IPVS from a declaration, VRRP failover, health checks.')
    .command(
      'check',
      'validate a config and report every problem',
      (y) => y.option('config', configOption),
      (argv) => run(async () => (await import('./commands/check.js')).check({ config: argv.config })),
    )
    .command(
      'apply',
      "program the kernel's IPVS table as the config declares, changing only what differs",
      (y) =>
        y
          .option('config', configOption)
          .option('dry-run', { alias: 'n', type: 'boolean', default: false, describe: 'show the plan, change nothing' })
          .option('json', { type: 'boolean', default: false, describe: 'print the plan and the report as JSON' })
          .option('verify', {
            type: 'boolean', default: false,
            describe: 're-read what was changed and report whether the kernel now matches (costs one more read of the touched services)',
          })
          .option('state-file', { type: 'string', describe: 'where lvsd remembers what it applied (overrides the config)' }),
      (argv) =>
        run(async () =>
          (await import('./commands/apply.js')).apply({
            config: argv.config,
            dryRun: argv['dry-run'],
            json: argv.json,
            verify: argv.verify,
            stateFile: argv['state-file'],
          }),
        ),
    )
    .command(
      'run',
      'run the daemon: apply, keep the table converged, VRRP, health checks, control socket',
      (y) =>
        y
          .option('config', configOption)
          .option('socket', socketOption)
          .option('state-file', { type: 'string', describe: 'where lvsd remembers what it applied (overrides the config)' })
          .option('log-level', {
              type: 'string', default: process.env.LVSD_LOG_LEVEL ?? 'info',
              describe: 'debug, info, warn or error (default: LVSD_LOG_LEVEL, else info)',
            }),
      (argv) =>
        run(async () =>
          (await import('./commands/run.js')).runCommand({
            config: argv.config,
            socket: argv.socket,
            stateFile: argv['state-file'],
            logLevel: argv['log-level'],
          }),
        ),
    )
    .command(
      'status',
      'show the daemon, VRRP instances, services and real servers (the kernel table when the daemon is down)',
      (y) =>
        y
          .option('socket', socketOption)
          .option('config', { ...configOption, describe: 'config to read control.socket from' })
          .option('json', { type: 'boolean', default: false, describe: 'the documented JSON shape (schemaVersion 1)' })
          .option('watch', { alias: 'w', type: 'number', describe: 'refresh every N seconds' })
          .option('service', { alias: 's', type: 'string', describe: 'only this service (the daemon reads its counters alone)' })
          .option('instance', { alias: 'i', type: 'string', describe: 'only this VRRP instance' })
          .option('fresh', { type: 'boolean', default: false, describe: 'read the whole IPVS table from the kernel (default: the daemon\'s kept view with counters read)' }),
      (argv) =>
        run(async () =>
          (await import('./commands/status.js')).status({
            socket: argv.socket,
            config: argv.config,
            json: argv.json,
            watch: argv.watch,
            service: argv.service,
            instance: argv.instance,
            fresh: argv.fresh,
          }),
        ),
    )
    .command(
      'reload',
      'make the running daemon re-read its config (a bad config is refused and the old one keeps serving)',
      (y) => y.option('socket', socketOption).option('config', { ...configOption, describe: 'config to read control.socket from' }),
      (argv) => run(async () => (await import('./commands/control.js')).reload({ socket: argv.socket, config: argv.config })),
    )
    .command(
      'drain [service] [realServer]',
      "set a real server's weight to 0 so its connections drain, until undrained (kept across reloads); with --director (ecmp), withdraw every address",
      drainOptions,
      (argv) => run(() => drainCommand(true, argv)),
    )
    .command(
      'undrain [service] [realServer]',
      'give a drained real server its weight back; with --director (ecmp), announce the addresses again',
      drainOptions,
      (argv) => run(() => drainCommand(false, argv)),
    )
    .command(
      'import <format> <file>',
      "translate another tool's config into lvsd's (keepalived): JSON on stdout, every approximation and refusal on stderr",
      (y) =>
        y
          .positional('format', { type: 'string', choices: ['keepalived'], demandOption: true })
          .positional('file', { type: 'string', demandOption: true, describe: 'the keepalived.conf to read (includes followed)' })
          .option('output', { alias: 'o', type: 'string', describe: 'write the lvsd config here instead of stdout' })
          .option('partial', { type: 'boolean', default: false, describe: 'write what could be imported even when some parts could not (exit status still 1)' })
          .option('config-id', { type: 'string', describe: "keepalived's --config-id for @ID lines (default: the host name up to the first dot)" }),
      (argv) =>
        run(async () =>
          (await import('./commands/import.js')).importCommand({
            format: argv.format, file: argv.file, output: argv.output, partial: argv.partial, configId: argv['config-id'],
          }),
        ),
    )
    .command(
      'export <format>',
      'write the config as another tool reads it (keepalived.conf), e.g. to roll back',
      (y) =>
        y
          .positional('format', { type: 'string', choices: ['keepalived'], demandOption: true })
          .option('config', configOption)
          .option('output', { alias: 'o', type: 'string', describe: 'write here instead of stdout' })
          .option('router-id', { type: 'string', describe: 'global_defs router_id (default: the host name)' }),
      (argv) =>
        run(async () =>
          (await import('./commands/export.js')).exportCommand({
            format: argv.format, config: argv.config, output: argv.output, routerId: argv['router-id'],
          }),
        ),
    )
    .command(
      'lab',
      'build a demo cluster (client, two directors, three web servers; or with --ecmp three directors behind a BGP router) and show a failover under load; in a VM if this kernel lacks IPVS',
      (y) =>
        y
          .option('keep', { type: 'boolean', default: false, describe: 'leave the lab running at the end and show how to explore it' })
          .option('nat', { type: 'boolean', default: false, describe: "NAT instead of DR: the web servers behind the directors, their gateway a second VRRP address" })
          .option('vm', { type: 'boolean', default: false, describe: 'run in a qemu VM even if this kernel has IPVS' })
          .option('direct', { type: 'boolean', default: false, describe: 'run on this host (root, IPVS)' })
          .option('ecmp', { type: 'boolean', default: false, describe: 'three directors that all serve, behind a router (BIRD: BGP + BFD, kernel ECMP); crash one, bring it back, drain one' })
          .option('json', { type: 'boolean', default: false, describe: '(--ecmp) print the figures as one JSON object, the last line' })
          .option('pool', { type: 'number', describe: '(--ecmp) long-lived connections the client holds (default 100)' })
          .option('bfd', { type: 'number', describe: "(--ecmp) the router's BFD interval in ms, x 3 (default 300)" })
          .option('loop-ms', { type: 'number', describe: "the client's request period during failover and failback (default 200)" })
          .option('clean', { type: 'boolean', default: false, describe: 'remove a lab left running (namespaces lvs-*, with --ecmp lve-*)' }),
      (argv) =>
        run(async () =>
          (await import('../lab/main.js')).lab([
            ...(argv.keep ? ['--keep'] : []), ...(argv.nat ? ['--nat'] : []), ...(argv.vm ? ['--vm'] : []), ...(argv.direct ? ['--direct'] : []),
            ...(argv.clean ? ['--clean'] : []), ...(argv['loop-ms'] !== undefined ? ['--loop-ms', String(argv['loop-ms'])] : []),
            ...(argv.ecmp ? ['--ecmp'] : []), ...(argv.json ? ['--json'] : []),
            ...(argv.pool !== undefined ? ['--pool', String(argv.pool)] : []), ...(argv.bfd !== undefined ? ['--bfd', String(argv.bfd)] : []),
          ]),
        ),
    )
    .demandCommand(1, 'name a command: check, apply, run, status, reload, drain, undrain, import, export')
    .strict()
    .check(repeatedOption)
    .completion('completion', 'print a bash/zsh completion script')
    .fail((message, error: unknown) => {
      // a check's refusal (repeatedOption) comes as its message in both arguments: a usage error like yargs' own
      if (error && typeof error !== 'string') throw error;
      process.stderr.write(`lvsd: ${message}\nRun "lvsd --help" for usage.\n`);
      process.exit(EXIT.usage);
    })
    .help()
    .version();
}

/**
 * The width yargs wraps help to (start.ts, on the yargs path only: reading process.stdout.columns builds
 * node's stdout stream, which the common commands do without: out.ts).
 */
export function helpWidth(): number {
  return Math.min(110, process.stdout.columns ?? 100);
}
