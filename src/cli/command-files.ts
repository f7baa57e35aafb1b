import { DEFAULT_CONFIG } from './defaults.js';

/**
 * Which file of the bundle holds which command (packaging/bundle.ts builds them, launch.ts picks one).
 * A command line whose first word is not here (help, completion, import, export, lab, a mistake) runs the
 * file with every command.
 */
export const COMMAND_FILES: Readonly<Record<string, string>> = {
  check: 'check', apply: 'apply', run: 'run', status: 'status', reload: 'control', drain: 'control', undrain: 'control',
};

/** The file with every command. */
export const ALL_COMMANDS_FILE = 'cli';

/** The command modules (src/cli/commands/NAME.js) each file carries; the file with every command carries all. */
export const FILE_MODULES: Readonly<Record<string, readonly string[]>> = {
  check: ['check'], apply: ['apply'], run: ['run'], status: ['status'], control: ['control'],
};

/** The file (without .cjs) that runs `args`. */
export function commandFile(args: readonly string[]): string {
  const first = args[0] ?? '';
  return Object.hasOwn(COMMAND_FILES, first) ? COMMAND_FILES[first]! : ALL_COMMANDS_FILE;
}

/**
 * The bundle's files compiled through V8's code cache (code-cache.ts): the commands' files (not the one with
 * every command, which imports `lvsd lab` by import()), the config validator and the VRRP worker.
 */
export const CODE_CACHED_FILES: ReadonlySet<string> = new Set([
  ...new Set(Object.values(COMMAND_FILES)).values(),
].map((f) => `${f}.cjs`).concat(['schema-validator.cjs', 'worker.cjs']));

/**
 * The log level `lvsd run` will give its VRRP thread (definition.ts: --log-level, else LVSD_LOG_LEVEL, else
 * info), read without parsing the command line; a wrong guess only costs the early thread (early-thread.ts).
 */
export function runLogLevel(args: readonly string[], env = process.env.LVSD_LOG_LEVEL): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--log-level' && i + 1 < args.length) return args[i + 1]!;
    if (args[i]!.startsWith('--log-level=')) return args[i]!.slice('--log-level='.length);
  }
  return env ?? 'info';
}

/**
 * The config `lvsd run` will load (definition.ts: --config or -c, else DEFAULT_CONFIG), read without parsing
 * the command line; a wrong guess only costs the sockets opened at exec (src/vrrp/early-listen.ts).
 */
export function runConfigPath(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    if ((args[i] === '--config' || args[i] === '-c') && i + 1 < args.length) return args[i + 1]!;
    if (args[i]!.startsWith('--config=')) return args[i]!.slice('--config='.length);
  }
  return DEFAULT_CONFIG;
}
