/**
 * main.ts runs the common command lines without loading yargs (src/cli/quick-argv.ts). For every command
 * line it takes, the handler must get exactly what yargs would hand it; every command line it is not sure
 * of (help, completion, mistakes, unusual spellings) must go to yargs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import yargs, { type Argv } from 'yargs';
import { defineCli } from '../../src/cli/definition.js';
import { quickCommand } from '../../src/cli/quick-argv.js';

/** The argv yargs hands the handler of `args`'s command (the handler itself is not run). */
async function viaYargs(args: string[]): Promise<Record<string, unknown>> {
  const y = yargs(args);
  let seen: Record<string, unknown> | undefined;
  const command = y.command.bind(y) as (...a: unknown[]) => Argv;
  (y as unknown as { command: unknown }).command = (cmd: unknown, desc: unknown, builder: unknown, _handler: unknown) =>
    command(cmd, desc, builder, (argv: Record<string, unknown>) => {
      seen = { ...argv };
    });
  await defineCli(y).fail((message) => {
    throw new Error(`yargs refused ${JSON.stringify(args)}: ${message}`);
  }).parseAsync();
  assert.ok(seen, `yargs ran no handler for ${JSON.stringify(args)}`);
  delete seen['$0'];
  return seen;
}

const TAKEN: string[][] = [
  ['check'],
  ['check', '-c', '/etc/lvsd/x.json'],
  ['check', '--config', 'dir/'],
  ['check', '--config=/tmp/a=b.json'],
  ['apply', '-c', 'x.json', '--dry-run', '--json'],
  ['apply', '-n', '--verify', '--state-file', '/tmp/state'],
  ['apply', '--state-file=/tmp/s', '--config', 'c.json'],
  ['run', '--config', 'c.json', '--socket', '/run/x.sock', '--log-level', 'debug'],
  ['run'],
  ['status'],
  ['status', '--json', '-s', 'web', '-i', 'VI_1'],
  ['status', '-w', '2', '--socket', '/tmp/s.sock'],
  ['status', '--watch', '0.5', '--config', 'c.json'],
  ['reload', '--socket', '/tmp/s'],
  ['drain', 'web', '10.0.0.1:80'],
  ['undrain', 'web', '[2001:db8::1]:80', '--config', 'c.json'],
  ['import', 'keepalived', '/etc/keepalived/keepalived.conf', '-o', 'out.json', '--partial'],
  ['export', 'keepalived', '--router-id', 'lb1', '-c', 'c.json'],
  ['lab', '--nat', '--loop-ms', '100'],
  ['lab', '--ecmp', '--json', '--pool', '30', '--bfd', '200'],
];

for (const args of TAKEN) {
  test(`quick parse of ${args.join(' ')} hands the handler what yargs would`, async () => {
    const quick = quickCommand(defineCli, args);
    assert.ok(quick, 'the quick parser should take this command line');
    assert.equal(quick.command, args[0]);
    assert.deepEqual(quick.argv, await viaYargs(args));
  });
}

const LEFT_TO_YARGS: string[][] = [
  [],
  ['--help'],
  ['--version', 'check'],
  ['check', '--help'],
  ['check', '--version'],
  ['completion'],
  ['chek'],
  ['check', '-x'],
  ['check', '-c'],
  ['check', '-c', '--json'],
  ['check', '-c', 'a', '-c', 'b'],
  ['check', 'extra'],
  ['check', '--', '-c'],
  ['apply', '--no-dry-run'],
  ['apply', '--json=false'],
  ['apply', '-nc', 'x'],
  ['status', '-w', 'abc'],
  ['status', '-w', '1e3'],
  ['drain', 'web'],
  ['drain', 'web', 'a', 'b'],
  ['import', 'nginx', 'f.conf'],
  ['export', 'haproxy'],
];

test('command lines the quick parser is not sure of are left to yargs', () => {
  for (const args of LEFT_TO_YARGS) assert.equal(quickCommand(defineCli, args), undefined, JSON.stringify(args));
});
