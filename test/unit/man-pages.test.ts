/**
 * The manual pages cannot drift from the code: every command and option yargs itself knows (read from its
 * own --help, not from the recorder the generator uses), every key of the JSON Schema and every LVSD_*
 * variable lvsd reads must appear in the generated lvsd(8) / lvsd.json(5), and groff must format them
 * without a warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { defineCli } from '../../src/cli/definition.js';
import { readCli } from '../../packaging/cli-doc.js';
import { readSchema } from '../../packaging/schema-doc.js';
import { writePages } from '../../packaging/man.js';

const repo = new URL('../../../', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'lvsd-man-'));
const pages = writePages(dir, { version: '9.9.9', date: '2026-01-01' });
const lvsd8 = readFileSync(pages.lvsd, 'utf8');
const lvsd5 = readFileSync(pages.config, 'utf8');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Text as roff wrote it, back to plain: `\-` is `-`, `\e` is `\`, fonts dropped. */
const plain = (roff: string): string => roff.replace(/\\f[BIR]/g, '').replace(/\\-/g, '-').replace(/\\e/g, '\\').replace(/\\&/g, '');

/** yargs' own help text for `args` (in-process, nothing runs). */
async function help(args: string[]): Promise<string> {
  let out = '';
  await defineCli(yargs()).exitProcess(false).parseAsync(args, {}, (_err, _argv, output) => { out = output; });
  return out;
}

test('lvsd(8) names every command yargs lists, with every option and positional of each', async () => {
  const top = await help(['--help']);
  const commands = [...top.matchAll(/^\s+lvsd (\w+)/gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 8, `commands read from lvsd --help: ${commands.join(' ')}`);
  const page = plain(lvsd8);
  for (const c of commands) {
    assert.ok(page.includes(`.SS "lvsd ${c}"`), `lvsd(8) has no section for lvsd ${c}`);
    const text = await help([c, '--help']);
    if (text.startsWith('###-begin')) continue; // `completion --help` prints the script itself: no options
    const section = page.slice(page.indexOf(`.SS "lvsd ${c}"`)).split(/\n\.S[SH] /)[0]!;
    const flags = [...text.matchAll(/(?:^|[\s,])(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]!)
      .filter((f) => f !== '--help' && f !== '--version');
    for (const f of new Set(flags)) assert.ok(section.includes(f), `lvsd(8) lvsd ${c}: ${f} is missing`);
    for (const p of [...(text.split('\n')[0] ?? '').matchAll(/<(\w+)>/g)].map((m) => m[1]!)) {
      assert.ok(section.includes(`.TP\n${p}\n`), `lvsd(8) lvsd ${c}: the positional ${p} has no entry`);
    }
  }
  assert.ok(page.includes('--help') && page.includes('--version'));
});

test('lvsd.json(5) has every key of the JSON Schema', () => {
  const schema = JSON.parse(readFileSync(new URL('schemas/lvsd.schema.json', repo), 'utf8')) as unknown;
  const names = new Set<string>();
  const walk = (node: unknown, underProperties: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, false));
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (underProperties) names.add(k);
      walk(v, k === 'properties' && !underProperties);
    }
  };
  walk(schema, false);
  assert.ok(names.size > 80, `${names.size} keys`);
  const bolded = new Set([...plain(lvsd5).matchAll(/^\.TP\n(\S+)$/gm)].map((m) => m[1]!.split('.').pop()!.replace(/\[\]$/, '')));
  const missing = [...names].filter((n) => !bolded.has(n));
  assert.deepEqual(missing, [], 'keys of the schema missing from lvsd.json(5)');
});

test('lvsd(8) describes every LVSD_* environment variable lvsd reads (outside the lab and the VM runner)', () => {
  const vars = new Set<string>();
  const walk = (d: URL): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) { if (!['vm', 'lab'].includes(e.name)) walk(new URL(`${e.name}/`, d)); continue; }
      if (!e.name.endsWith('.ts')) continue;
      for (const m of readFileSync(new URL(e.name, d), 'utf8').matchAll(/process\.env\.(LVSD_\w+)/g)) vars.add(m[1]!);
    }
  };
  walk(new URL('src/', repo));
  assert.ok(vars.has('LVSD_LOG_LEVEL'));
  const env = plain(lvsd8).split('.SH ENVIRONMENT')[1]!.split('.SH ')[0]!;
  for (const v of vars) assert.ok(env.includes(v), `${v} is not in lvsd(8) ENVIRONMENT`);
});

test('groff formats both pages without a warning', { skip: spawnSync('groff', ['--version']).status === 0 ? undefined : 'no groff' }, () => {
  for (const page of [pages.lvsd, pages.config]) {
    const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', page], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '', `${page}: ${r.stderr}`);
  }
});

test('a definition the generators do not understand stops the build instead of leaving it out', () => {
  assert.throws(() => readCli((y) => y.command('x', 'd', (b) => b.middleware(() => undefined), () => undefined)), /\.middleware\(\).*command x/);
  assert.throws(() => readCli((y) => y.env('LVSD')), /\.env\(\)/);
  assert.throws(() => readSchema({ properties: { a: { oneOf: [{ properties: { b: { type: 'string' } } }] } } }), /"oneOf" at \.a/);
});

test('lvsd.json(5) gives the defaults docs/config.md gives, key by key', () => {
  const page = plain(lvsd5);
  const entry = (path: string): string => page.split(`.TP\n${path}\n`)[1]?.split('\n.')[0] ?? '';
  assert.match(entry('vrrp[].priority'), /Default: 100\./);
  assert.match(entry('services[].realServers[].weight'), /Default: 1\./);
  assert.match(entry('services[].healthCheck.interval'), /Default: 5 s\./);
  assert.match(entry('services[].realServers[].healthCheck.interval'), /Default: 5 s\./);
  assert.match(entry('ipvs.timeouts.tcpFin'), /Default: absent/);
  assert.match(entry('control.socket'), /Default: \/run\/lvsd\/lvsd\.sock\./);
  assert.match(entry('vrrp[].vrid'), /required/);
});
