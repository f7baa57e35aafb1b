/**
 * The common command lines without yargs. Loading yargs (and cliui, string-width, ...) costs a CLI process
 * about as much as starting node itself, so main.ts first tries this parser: it reads the very definitions
 * of definition.ts through a recorder, and takes a command line only when it is plainly valid (a known
 * command, its positionals, known options each given once as `--name value`, `--name=value`, `-x value` or
 * a boolean flag). Anything else (help, completion, a mistake, an unusual spelling) returns undefined and
 * goes to yargs, whose messages stay the only ones a user sees. The handler called is the one yargs would
 * call, with the same argument values (test/unit/cli-quick-argv.test.ts compares them with yargs').
 */
import type { Argv } from 'yargs';

interface OptionSpec {
  type?: unknown;
  alias?: unknown;
  default?: unknown;
  choices?: unknown;
  demandOption?: unknown;
}

interface CommandSpec {
  name: string;
  positionals: string[];
  positionalSpecs: Map<string, OptionSpec>;
  options: Map<string, OptionSpec>;
  handler: (argv: Record<string, unknown>) => unknown;
}

export interface QuickCommand {
  command: string;
  argv: Record<string, unknown>;
  run: () => Promise<void>;
}

type Call = { method: string; args: unknown[] };

/** A stand-in for yargs that notes each call and returns itself. */
function recorder(calls: Call[]): Argv {
  const proxy: Argv = new Proxy({} as Argv, {
    get(_target, method) {
      if (typeof method !== 'string' || method === 'then') return undefined;
      return (...args: unknown[]) => {
        calls.push({ method, args });
        return proxy;
      };
    },
  });
  return proxy;
}

function readCommands(define: (y: Argv) => unknown): Map<string, CommandSpec> {
  const calls: Call[] = [];
  define(recorder(calls));
  const commands = new Map<string, CommandSpec>();
  for (const { method, args } of calls) {
    if (method !== 'command' || typeof args[2] !== 'function' || typeof args[3] !== 'function') continue;
    const words = String(args[0]).split(/\s+/);
    const spec: CommandSpec = {
      name: words[0]!,
      positionals: words.slice(1).map((w) => w.replace(/^[<[]|[>\]]$/g, '')),
      positionalSpecs: new Map(),
      options: new Map(),
      handler: args[3] as CommandSpec['handler'],
    };
    const inner: Call[] = [];
    (args[2] as (y: Argv) => unknown)(recorder(inner));
    for (const c of inner) {
      if (c.method === 'option') spec.options.set(String(c.args[0]), (c.args[1] ?? {}) as OptionSpec);
      else if (c.method === 'positional') spec.positionalSpecs.set(String(c.args[0]), (c.args[1] ?? {}) as OptionSpec);
      else return new Map(); // a definition this parser does not know: leave every command line to yargs
    }
    commands.set(spec.name, spec);
  }
  return commands;
}

function aliasesOf(o: OptionSpec): string[] {
  return o.alias === undefined ? [] : Array.isArray(o.alias) ? o.alias.map(String) : [String(o.alias)];
}

/** yargs names each value also in camelCase and kebab-case: dry-run and dryRun, realServer and real-server. */
function spellings(key: string): string[] {
  const camel = key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const kebab = key.replace(/([a-z])([A-Z])/g, (_m, a: string, b: string) => `${a}-${b.toLowerCase()}`);
  return [...new Set([key, camel, kebab])];
}

/** The value of a typed option from its text, or undefined when yargs should judge it. */
function typed(o: OptionSpec, text: string): unknown {
  if (o.type === 'string') return text;
  if (o.type === 'number') {
    if (!/^-?\d+(\.\d+)?$/.test(text)) return undefined;
    return Number(text);
  }
  return undefined;
}

/**
 * The command `args` (process.argv without node and the script) runs, with its argv as yargs would build
 * it for the handler; undefined when yargs should parse this command line.
 */
export function quickCommand(define: (y: Argv) => unknown, args: readonly string[]): QuickCommand | undefined {
  if (args.length === 0) return undefined;
  const spec = readCommands(define).get(args[0]!);
  if (!spec) return undefined;
  const byName = new Map<string, [string, OptionSpec]>();
  for (const [name, o] of spec.options) {
    byName.set(`--${name}`, [name, o]);
    for (const a of aliasesOf(o)) byName.set(a.length === 1 ? `-${a}` : `--${a}`, [name, o]);
  }
  const given = new Map<string, unknown>();
  const positionals: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const known = byName.get(flag);
    if (!known) return undefined;
    const [name, o] = known;
    if (given.has(name)) return undefined;
    if (o.type === 'boolean') {
      if (eq > 0) return undefined;
      given.set(name, true);
      continue;
    }
    const text = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (text === undefined || (eq < 0 && text.startsWith('-'))) return undefined;
    const value = typed(o, text);
    if (value === undefined) return undefined;
    if (Array.isArray(o.choices) && !o.choices.includes(value)) return undefined;
    given.set(name, value);
  }
  if (positionals.length !== spec.positionals.length) return undefined;
  const argv: Record<string, unknown> = { _: [spec.name] };
  for (const [i, name] of spec.positionals.entries()) {
    const p = spec.positionalSpecs.get(name) ?? {};
    if (p.type !== undefined && p.type !== 'string') return undefined;
    if (Array.isArray(p.choices) && !p.choices.includes(positionals[i])) return undefined;
    for (const key of spellings(name)) argv[key] = positionals[i];
  }
  for (const [name, o] of spec.options) {
    const value = given.has(name) ? given.get(name) : o.default;
    if (value === undefined) {
      if (o.demandOption === true) return undefined;
      continue;
    }
    for (const key of [name, ...aliasesOf(o)]) for (const k of spellings(key)) argv[k] = value;
  }
  return {
    command: spec.name,
    argv,
    run: async () => {
      await spec.handler(argv);
    },
  };
}
