/**
 * The manual pages, written from the code so they cannot drift from it: lvsd(8) from the yargs definitions
 * (src/cli/definition.ts, read by cli-doc.ts) and lvsd.json(5) from the JSON Schema (read by
 * schema-doc.ts). Pure: text in, roff out. Build them with `node dist/packaging/man.js OUTDIR`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineCli } from '../src/cli/definition.js';
import { EXIT } from '../src/cli/exit.js';
import { readCli, type CliDoc, type CommandDoc, type OptionDoc } from './cli-doc.js';
import { readSchema, type KeyDoc } from './schema-doc.js';
import { readConfigDocs, type KeyNote } from './config-doc.js';

/** roff-safe text: backslashes, and a leading dot or quote that roff would read as a request. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

const bold = (s: string): string => `\\fB${roff(s)}\\fR`;
const italic = (s: string): string => `\\fI${roff(s)}\\fR`;

/** What each exit status means. A status of EXIT missing here stops the page (and test/unit/man-pages). */
const EXIT_MEANING: Partial<Record<keyof typeof EXIT, string>> = {
  ok: 'done',
  failed: 'invalid config (every problem listed), a refused reload, or kernel operations that failed',
  usage: 'usage: bad arguments, an unknown service or real server for drain/undrain',
  unavailable: 'IPVS, the native addon or privileges are missing',
  daemon: 'the daemon is not running, cannot be reached, or the socket refused you (run as root or a control.group member)',
  internal: 'a bug: please report it with the message',
};

/** The environment variables lvsd reads (src/, outside the lab and the VM runner), and glibc's one the unit sets. */
export const ENVIRONMENT: ReadonlyArray<[string, string]> = [
  ['LVSD_LOG_LEVEL', 'the log level of lvsd run and lvsd apply: debug, info (run\'s default), warn (apply\'s default) or error; --log-level wins'],
  ['LVSD_LOG_FORMAT', 'json forces JSON lines on a terminal, pretty forces readable lines elsewhere (default: pretty on a terminal, JSON otherwise, as under systemd)'],
  ['LVSD_TCP_PROBE', 'socket makes TCP health checks use a Node socket each instead of the native addon'],
  ['LVSD_TCP_ENGINE', 'loop runs the native TCP check engine on the event loop instead of its own thread (a diagnostic: the checks and their outcomes are the same; probes then wait whenever the loop is busy)'],
  ['LVSD_PROBE_NICE', 'the nice value of the TCP check engine\'s thread alone, -20..19 (default -5, above the main thread\'s 0: probes keep their schedule while a drift pass reads a large table on a busy director); below 0 needs CAP_SYS_NICE, and refused the thread runs at the main thread\'s priority (health.probe_nice). See docs/health.md'],
  ['LVSD_TCP_REUSE', 'TCP checks closed with FIN keep the socket of a check whose real server closed first, for the next check, instead of closing it (default on; 0 opens a socket per check). The same segments on the wire; less CPU per check. See docs/health.md'],
  ['LVSD_TCP_CLOSE_AFTER_MS', 'how long a TCP check whose connect() completed at once (a real server on a link inside this host) keeps its socket before closing it, 0-1000 ms (default 5; 0 closes at once): the server closes first and keeps the TIME_WAIT. The verdict never waits for it. See docs/health.md'],
  ['LVSD_UDP_PROBE', 'socket makes UDP health checks use a Node dgram socket instead of the native addon (which alone hears net and host unreachable)'],
  ['LVSD_CODE_CACHE', 'off compiles the command line from source instead of through the V8 code cache shipped beside it (a diagnostic: the output is the same); report also prints on stderr whether V8 took each cache; write is for the build'],
  ['LVSD_VRRP_RT_PRIORITY', 'the SCHED_RR priority of the VRRP thread and of the advert clock thread, 1-99 (default 10); 0 leaves both to ordinary scheduling'],
  ['LVSD_VRRP_CLOCK_LOCK', '0 (or off, false, no) leaves what the advert clock thread runs on unlocked (a diagnostic): by default it locks in memory the top of its stack, the addon and libc\'s code (about 1.5 MiB), so it never waits for a page fault behind a thread holding the address space\'s lock, and the page-out leaves them'],
  ['LVSD_VRRP_ADVERT_CLOCK', '0 makes the VRRP thread\'s own timers send a master\'s periodic adverts instead of the native advert clock thread (a diagnostic: the adverts on the wire are the same; they then wait whenever that thread is busy)'],
  ['LVSD_PAGEOUT', '0 (or off, false, no) keeps the pages of node\'s binary and libraries that only the start touched mapped. By default lvsd run takes them out of its page tables (madvise MADV_DONTNEED, once the daemon has been quiet 30 s after its start, again a minute or more later, and when they have grown back by 4 MiB; never while the host\'s available memory is low; stopped for good when lvsd takes major faults after one); they stay in the page cache, and a mapping holding a private page is left alone: ~25 MiB less RSS at 10,000 TCP checks. See docs/operations.md'],

  ['LVSD_VRRP_THREAD', 'where lvsd run runs the VRRP protocol: worker (the default: a thread of its own, SCHED_RR) or main (the daemon\'s main thread: no second V8 isolate, ~7 MiB less resident memory; a backup whose thread was held reads its socket before it acts on Master_Down); anything else runs the default and is logged (vrrp.thread_mode_invalid)'],
  ['NO_COLOR', 'when set, readable log lines and lvsd status are not coloured'],
  ['MALLOC_ARENA_MAX', 'glibc\'s, read once at exec: the packaged unit sets 1 (one malloc arena shared by every thread of lvsd run instead of one per thread: a few MiB less resident memory at 10,000 checks, ~15 at 100,000; unset, glibc allows 8 per core)'],
];

function exitMeaning(k: keyof typeof EXIT): string {
  const m = EXIT_MEANING[k];
  if (m === undefined) throw new Error(`packaging/man.ts: describe the exit status EXIT.${k} in EXIT_MEANING`);
  return m;
}

function optionLine(o: OptionDoc, positional: boolean): string {
  if (positional) return `.TP\n${italic(o.name)}`;
  const names = [...o.aliases, o.name].map((n) => bold(n.length === 1 ? `-${n}` : `--${n}`)).join(', ');
  const arg = o.type && o.type !== 'boolean' ? ` ${italic(o.type === 'number' ? 'N' : o.type)}` : '';
  return `.TP\n${names}${arg}`;
}

function optionText(o: OptionDoc): string {
  const describe = (o.describe ?? '').trim();
  const parts = [describe && !/[.!?)]$/.test(describe) ? `${describe}.` : describe];
  if (o.choices) parts.push(`One of: ${o.choices.map(String).join(', ')}.`);
  if (o.default !== undefined && o.default !== false) parts.push(`Default: ${String(o.default)}.`);
  if (o.required) parts.push('Required.');
  return roff(parts.filter(Boolean).join(' ').replace(/\s+/g, ' ').trim());
}

function commandSection(c: CommandDoc): string {
  const synopsis = c.command.split(/\s+/).map((w, i) => (i === 0 ? bold(w) : /^[<[]/.test(w) ? italic(w.replace(/[<>[\]]/g, '')) : roff(w)));
  const lines = [`.SS "lvsd ${roff(c.name)}"`, `${bold('lvsd')} ${synopsis.join(' ')}${c.options.length ? ' [\\fIoptions\\fR]' : ''}`, '.PP', roff(c.describe)];
  for (const p of c.positionals) lines.push(optionLine(p, true), optionText(p));
  for (const o of c.options) lines.push(optionLine(o, false), optionText(o));
  return lines.join('\n');
}

export interface PageMeta {
  version: string;
  /** YYYY-MM-DD, for the page footer */
  date: string;
}

/** lvsd(8). */
export function renderLvsdPage(cli: CliDoc, meta: PageMeta): string {
  const [, ...about] = cli.usage.split('\n').filter((l) => l.trim() !== '');
  const globals: string[] = [];
  for (const o of cli.options) globals.push(optionLine(o, false), optionText(o));
  if (cli.help) globals.push('.TP', bold('--help'), 'Show the help of lvsd or of one command, and exit.');
  if (cli.version) globals.push('.TP', bold('--version'), 'Print the version of lvsd, and exit.');
  return [
    `.TH LVSD 8 "${meta.date}" "lvsd ${roff(meta.version)}" "System Administration"`,
    '.SH NAME',
    `lvsd \\- ${roff(about.join(' ').replace(/\.$/, '').replace(/^A /, 'a '))}`,
    '.SH SYNOPSIS',
    `${bold(cli.scriptName)} ${italic('command')} [${italic('options')}]`,
    '.SH DESCRIPTION',
    roff('lvsd programs the kernel\'s IPVS table from a JSON declaration (see lvsd.json(5)), keeps it converged, ' +
      'runs VRRP between two directors so one of them holds the virtual addresses, and turns health checks ' +
      'into real server weights. On a director it runs as the systemd service lvsd.service (lvsd run); the ' +
      'other commands check a config, program the table once, or talk to the running daemon over its control socket.'),
    '.SH COMMANDS',
    ...cli.commands.map(commandSection),
    '.SH GLOBAL OPTIONS',
    ...globals,
    '.SH EXIT STATUS',
    ...(Object.keys(EXIT) as Array<keyof typeof EXIT>).flatMap((k) => ['.TP', bold(String(EXIT[k])), roff(exitMeaning(k))]),
    '.SH ENVIRONMENT',
    ...ENVIRONMENT.flatMap(([name, text]) => ['.TP', bold(name), roff(text)]),
    '.SH FILES',
    '.TP', bold('/etc/lvsd/services.json'), roff('The config lvsd.service runs (a file, or with --config a directory of *.json files merged in name order). Not shipped: write it, lvsd check it, then start the service.'),
    '.TP', bold('/etc/lvsd/services.json.example'), roff('A commented example that declares nothing.'),
    '.TP', bold('/usr/bin/lvsd'), roff('A link to the native front (/usr/lib/lvsd/native/build/Release/lvsd): it answers lvsd reload itself, without starting Node.js (same output and exit status), and runs /usr/lib/lvsd/bin/node with the bundled command line for everything else.'),
    '.TP', bold('/run/lvsd/lvsd.sock'), roff('The control socket (control.socket) that lvsd status, reload, drain and undrain use.'),
    '.TP', bold('/var/lib/lvsd/'), roff('State: state.json (what lvsd applied, so it removes only its own services) and drains.json (drains survive restarts).'),
    '.TP', bold('/lib/systemd/system/lvsd.service'), roff('The systemd unit: systemctl enable --now lvsd; systemctl reload lvsd re-reads the config; a restart adopts the IPVS table without changing it.'),
    '.TP', bold('/usr/share/bash-completion/completions/lvsd'), roff('Bash completion of commands and options (lvsd completion prints it).'),
    '.TP', bold('/usr/share/doc/lvsd/'), roff('operations.md (install, upgrade, drain, log events, metrics), config.md, health.md, status.md, and examples/.'),
    '.SH SEE ALSO',
    `${bold('lvsd.json')}(5), ${bold('ipvsadm')}(8), ${bold('systemctl')}(1), ${bold('journalctl')}(1)`,
    '',
  ].join('\n');
}

const SECTION_TEXT: Record<string, string> = {
  ipvs: 'How lvsd treats the kernel\'s IPVS table.',
  services: 'The virtual services: one IPVS service each, with its real servers and health check.',
  vrrp: 'VRRP instances: which director holds which virtual addresses.',
  syncGroups: 'Groups of VRRP instances that change state together.',
  control: 'The control socket that lvsd status, reload, drain and undrain use.',
  metrics: 'The Prometheus metrics listener.',
  health: 'Settings for all health checks.',
  connectionSync: 'The kernel\'s connection-sync daemon, so a takeover keeps established connections.',
};

/** lvsd.json(5). */
export function renderConfigPage(
  schema: { title: string; description: string; keys: KeyDoc[] },
  meta: PageMeta,
  docs: (path: string) => KeyNote | undefined = () => undefined,
): string {
  const out = [
    `.TH LVSD.JSON 5 "${meta.date}" "lvsd ${roff(meta.version)}" "File Formats"`,
    '.SH NAME',
    'lvsd.json \\- the configuration of lvsd(8): services, real servers, health checks, VRRP',
    '.SH SYNOPSIS',
    '/etc/lvsd/services.json',
    '.SH DESCRIPTION',
    roff('A JSON object. ' + schema.description),
    '.PP',
    roff('Durations are seconds as a number or a string with units: "250ms", "2s", "5m", "1h", "1m30s". Addresses are ' +
      'IPv4 or IPv6 text. lvsd check reports every problem with its file and JSON pointer. This page lists every key ' +
      'the schema (/usr/lib/lvsd/schemas/lvsd.schema.json) allows, with its type, and its default and notes as ' +
      '/usr/share/doc/lvsd/config.md gives them; the rules between keys and worked examples are there and in /usr/share/doc/lvsd/examples/.'),
  ];
  let section = '';
  for (const k of schema.keys) {
    if (k.section !== section) {
      section = k.section;
      out.push(`.SH "${roff(section.toUpperCase())}"`);
      if (SECTION_TEXT[section]) out.push(roff(SECTION_TEXT[section]!));
    }
    const doc = docs(k.path);
    const sentence = (t: string | undefined): string => {
      if (!t) return '';
      const s = t[0]!.toUpperCase() + t.slice(1);
      return /[.!?]$/.test(s) ? s : `${s}.`;
    };
    const dflt = doc?.default;
    const text = [
      k.type + (k.required ? ', required' : '') + (k.notes.length ? `; ${k.notes.join('; ')}` : '') + '.',
      sentence(k.description),
      dflt === undefined || k.required ? '' : /^required/i.test(dflt) ? sentence(dflt) : `Default: ${sentence(dflt).replace(/^./, (c) => (/^[A-Z][a-z]/.test(dflt) ? c : dflt[0]!))}`,
      sentence(doc?.notes),
    ].filter(Boolean).join(' ');
    out.push('.TP', bold(k.path), roff(text));
  }
  out.push('.SH EXAMPLE', '.nf', roff(EXAMPLE.trim()), '.fi', '.SH SEE ALSO', `${bold('lvsd')}(8)`, '');
  return out.join('\n');
}

const EXAMPLE = `
{
  "services": [
    { "name": "web", "protocol": "tcp", "address": "192.0.2.10", "port": 80,
      "scheduler": "wrr", "forwarding": "dr",
      "healthCheck": { "type": "http", "path": "/health", "interval": "2s" },
      "realServers": [ { "address": "10.0.1.11", "weight": 100 },
                       { "address": "10.0.1.12", "weight": 100 } ] }
  ],
  "vrrp": [
    { "name": "VI_1", "interface": "eth0", "vrid": 51, "priority": 150,
      "addresses": ["192.0.2.10/24"] }
  ]
}`;

/** Writes lvsd.8 and lvsd.json.5 into `outDir` (uncompressed): `node dist/packaging/man.js OUTDIR [VERSION DATE]`. */
export function writePages(outDir: string, meta: PageMeta): { lvsd: string; config: string } {
  const schemaPath = new URL('../../schemas/lvsd.schema.json', import.meta.url);
  const schema = readSchema(JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>);
  mkdirSync(outDir, { recursive: true });
  const lvsd = join(outDir, 'lvsd.8');
  const config = join(outDir, 'lvsd.json.5');
  writeFileSync(lvsd, renderLvsdPage(readCli(defineCli), meta));
  const docs = readConfigDocs(readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8'));
  writeFileSync(config, renderConfigPage(schema, meta, docs));
  return { lvsd, config };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const [outDir = 'dist/man', version = pkg.version, date = new Date().toISOString().slice(0, 10)] = process.argv.slice(2);
  const written = writePages(outDir, { version, date });
  process.stdout.write(`${written.lvsd}\n${written.config}\n`);
}
