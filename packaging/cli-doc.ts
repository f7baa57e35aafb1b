/**
 * Reads lvsd's command-line definitions (src/cli/definition.ts) without running them: `defineCli` is handed
 * a recorder in place of yargs, which notes every command, positional and option it is given. lvsd(8) is
 * written from what it notes. A yargs method the recorder does not know stops the build with its name,
 * so a new kind of definition cannot slip past the manual page unnoticed.
 */
import type { Argv } from 'yargs';

export interface OptionDoc {
  name: string;
  aliases: string[];
  type?: string;
  describe?: string;
  default?: unknown;
  choices?: unknown[];
  required: boolean;
}

export interface CommandDoc {
  /** the yargs command string: `drain <service> <realServer>` */
  command: string;
  name: string;
  describe: string;
  positionals: OptionDoc[];
  options: OptionDoc[];
}

export interface CliDoc {
  scriptName: string;
  usage: string;
  commands: CommandDoc[];
  /** top-level options (`--help`, `--version` are added by yargs: listed here when asked for) */
  options: OptionDoc[];
  help: boolean;
  version: boolean;
}

/** Methods that only tune yargs' behaviour and say nothing a manual page needs. */
/** (`check`: definition.ts repeatedOption, every option given once: a usage error otherwise, as any bad argument.) */
const QUIET = new Set(['strict', 'demandCommand', 'fail', 'wrap', 'showHelpOnFail', 'recommendCommands', 'check']);

type Call = { method: string; args: unknown[] };

function recorder(calls: Call[]): Argv {
  const proxy: Argv = new Proxy({} as Argv, {
    get(_target, method) {
      if (typeof method !== 'string') return undefined;
      if (method === 'then') return undefined; // not a promise
      return (...args: unknown[]) => {
        calls.push({ method, args });
        return proxy;
      };
    },
  });
  return proxy;
}

function optionDoc(name: string, raw: unknown): OptionDoc {
  const o = (raw ?? {}) as Record<string, unknown>;
  const alias = o.alias;
  const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias.map(String) : [String(alias)];
  const describe = (o.describe ?? o.description ?? o.desc) as string | undefined;
  return {
    name,
    aliases,
    ...(typeof o.type === 'string' ? { type: o.type } : {}),
    ...(describe !== undefined ? { describe } : {}),
    ...(o.default !== undefined ? { default: o.default } : {}),
    ...(Array.isArray(o.choices) ? { choices: o.choices } : {}),
    required: o.demandOption === true,
  };
}

function unknownMethod(method: string, where: string): never {
  throw new Error(
    `packaging/cli-doc.ts does not know the yargs method .${method}() (in ${where}): teach it, so lvsd(8) documents it`,
  );
}

/** Options and positionals a command's builder declares. */
function readBuilder(builder: unknown, where: string): Pick<CommandDoc, 'options' | 'positionals'> {
  const calls: Call[] = [];
  if (typeof builder === 'function') (builder as (y: Argv) => unknown)(recorder(calls));
  else if (builder && typeof builder === 'object') calls.push({ method: 'options', args: [builder] });
  const options: OptionDoc[] = [];
  const positionals: OptionDoc[] = [];
  for (const { method, args } of calls) {
    if (method === 'option') options.push(optionDoc(String(args[0]), args[1]));
    else if (method === 'options') {
      for (const [k, v] of Object.entries(args[0] as Record<string, unknown>)) options.push(optionDoc(k, v));
    } else if (method === 'positional') positionals.push(optionDoc(String(args[0]), args[1]));
    else if (!QUIET.has(method)) unknownMethod(method, where);
  }
  return { options, positionals };
}

/** What `define` declares, read through the recorder. */
export function readCli(define: (y: Argv) => unknown): CliDoc {
  const calls: Call[] = [];
  define(recorder(calls));
  const doc: CliDoc = { scriptName: '', usage: '', commands: [], options: [], help: false, version: false };
  for (const { method, args } of calls) {
    switch (method) {
      case 'scriptName': doc.scriptName = String(args[0]); break;
      case 'usage': doc.usage = String(args[0]); break;
      case 'help': doc.help = true; break;
      case 'version': doc.version = true; break;
      case 'option': doc.options.push(optionDoc(String(args[0]), args[1])); break;
      case 'command': {
        const command = String(args[0]);
        const name = command.split(/\s+/)[0]!;
        doc.commands.push({ command, name, describe: String(args[1] ?? ''), ...readBuilder(args[2], `command ${name}`) });
        break;
      }
      case 'completion': {
        const command = String(args[0] ?? 'completion');
        doc.commands.push({ command, name: command, describe: String(args[1] ?? ''), options: [], positionals: [] });
        break;
      }
      default:
        if (!QUIET.has(method)) unknownMethod(method, 'the top level');
    }
  }
  return doc;
}
