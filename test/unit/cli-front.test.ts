/**
 * The native front of the lvsd command (native/front: what /usr/bin/lvsd and package.json's bin run) answers
 * `lvsd reload --socket PATH` itself and hands every other command line to node with the bundle. Each
 * test here runs the real front and the node CLI it stands in for (node with lvsd's flags and
 * dist/bundle/lvsd.cjs, as /usr/bin/lvsd ran it; cli-bundle.test.ts holds the bundle to dist/src) against
 * the same control socket
 * (the daemon's own control server with scripted handlers, or a fake server answering raw bytes) and asks
 * for the same output and exit status: success, a refused config with every problem, an incomplete
 * reload, every error code's exit status, no daemon, an answer that is garbage, cut short, not a reload
 * result, too big, or never comes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { startControlServer, type ControlHandlers, type ReloadResult } from '../../src/daemon/control-server.js';
import { silentLogger } from '../../src/log.js';

const FRONT = fileURLToPath(new URL('../../../native/build/Release/lvsd', import.meta.url));
const FRONT_SRC = fileURLToPath(new URL('../../../native/front/', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../bundle/lvsd.cjs', import.meta.url));
const MAIN_TS = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'lvsd-front-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const socketPath = () => join(dir, `s${n++}.sock`);

interface Run { status: number; stdout: string; stderr: string }

function exec(file: string, args: string[], timeoutMs = 30_000, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 << 20, env }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ status: typeof code === 'number' ? code : -1, stdout, stderr });
    });
  });
}

const front = (args: string[], timeoutMs?: number) => exec(FRONT, args, timeoutMs);
/** The front with no node to run (PATH empty; a checkout has no bin/node): what it answers itself, or "cannot run node". */
const frontAlone = (args: string[]) => exec(FRONT, args, 30_000, { ...process.env, PATH: '/nonexistent' });
/** main.ts's node flags (#!/usr/bin/env -S node FLAGS) */
const FLAGS = /^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(readFileSync(MAIN_TS, 'utf8').split('\n')[0]!)?.[1]?.trim().split(' ') ?? [];
const node = (args: string[]) => exec(process.execPath, [...FLAGS, BUNDLE, ...args]);

/**
 * The front and node on the same command line, one after the other: the same output and exit status.
 * `alone`: the front answers it without node (it runs with no node to find), else it may hand it to node.
 */
async function same(args: string[], what = args.join(' '), alone = true): Promise<Run> {
  const f = await (alone ? frontAlone(args) : front(args));
  const j = await node(args);
  assert.deepEqual(f, j, `${what}: the front (first) and node (second) differ`);
  return f;
}

async function withDaemon(handlers: Partial<ControlHandlers>, body: (socket: string) => Promise<void>): Promise<void> {
  const socket = socketPath();
  const fail = () => { throw new Error('not expected in this test'); };
  const server = await startControlServer({ path: socket, log: silentLogger, handlers: { status: fail, reload: fail, drain: fail, undrain: fail, ...handlers } });
  try {
    await body(socket);
  } finally {
    await server.close();
  }
}

/** A control socket that reads the request and answers `answer` (raw bytes), then closes; or never answers. */
async function withFake(answer: Buffer | string | 'hang', body: (socket: string, requests: Buffer[]) => Promise<void>): Promise<void> {
  const socket = socketPath();
  const requests: Buffer[] = [];
  const open = new Set<Socket>();
  const server = createServer((c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
    c.on('error', () => undefined);
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => {
      got.push(d);
      const all = Buffer.concat(got);
      const head = all.indexOf('\r\n\r\n');
      if (head < 0 || all.length < head + 4 + 2) return; // the request's body is "{}"
      requests.push(all);
      if (answer !== 'hang') c.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  try {
    await body(socket, requests);
  } finally {
    for (const c of open) c.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

const http = (body: string, head = `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}`, status = '200 OK') =>
  `HTTP/1.1 ${status}\r\n${head}\r\n\r\n${body}`;

test('the front is built (npm run install) and runs node\'s flags', () => {
  assert.ok(existsSync(FRONT), `${FRONT} is missing: npm run install builds it`);
  const header = readFileSync(join(FRONT_SRC, 'node-flags.h'), 'utf8');
  const listed = [...(/#define LVSD_NODE_FLAGS (.*)/.exec(header)?.[1] ?? '').matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  assert.ok(FLAGS.length > 0);
  assert.deepEqual(listed, FLAGS, 'native/front/node-flags.h lists main.ts\'s node flags');
});

test('a reload the daemon takes prints "reloaded" and exits 0, sending the request node sends', async () => {
  let reloads = 0;
  await withDaemon({ reload: () => { reloads++; return { ok: true, applied: true }; } }, async (socket) => {
    assert.deepEqual(await same(['reload', '--socket', socket]), { status: 0, stdout: 'reloaded\n', stderr: '' });
    assert.deepEqual(await same(['reload', `--socket=${socket}`, '--config', '/nonexistent.json']), { status: 0, stdout: 'reloaded\n', stderr: '' });
  });
  assert.equal(reloads, 4, 'one reload per run');
  await withFake(http('{"ok":true}'), async (socket, requests) => {
    await front(['reload', '--socket', socket]);
    await node(['reload', '--socket', socket]);
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.toString('latin1'), requests[1]!.toString('latin1'), 'the same bytes on the wire');
  });
});

test('a refused reload prints every problem under one headline, control characters escaped, as node does', async () => {
  const answers: ReloadResult[] = [
    {
      ok: false, code: 'LVSD_CONFIG_INVALID', error: 'configuration has 2 problems\n  c.json: forged',
      problems: [
        { file: '/etc/lvsd/services.json', pointer: '/services/0/scheduler', message: '"wrrr" is not allowed' },
        { file: 'c.json', pointer: '/services/0/name', message: '"x\n  c.json: /services/1: forged" \u001b[2J is bad\r\u0085\u2028 \ud83d\ude00 \ud800 é' },
      ],
    },
    { ok: false, error: 'bad \u001b[2Jthing\r\nsecond line', problems: [] },
    { ok: false },
    { ok: false, applied: false, code: 'LVSD_NATIVE_UNAVAILABLE', error: 'vi_2: cannot open a VRRP socket on eth0' },
  ];
  for (const answer of answers) {
    await withDaemon({ reload: () => answer }, async (socket) => {
      const r = await same(['reload', '--socket', socket], JSON.stringify(answer));
      assert.notEqual(r.status, 0);
      assert.equal(r.stdout, '');
    });
  }
});

test('an incomplete reload, and each error code a daemon sends, exit as node exits', async () => {
  const codes = ['LVSD_CONFIG_INVALID', 'LVSD_CONFIG_UNREADABLE', 'LVSD_IPVS_UNAVAILABLE', 'LVSD_IPVS_KERNEL', 'LVSD_IPVS_PROTOCOL',
    'LVSD_IPVS_ENCODE', 'LVSD_NETLINK_OVERRUN', 'LVSD_NATIVE_UNAVAILABLE', 'LVSD_CONTROL', 'LVSD_STATE', 'LVSD_BGP',
    'LVSD_ALREADY_RUNNING', 'LVSD_FIREWALL', 'LVSD_USAGE', 'LVSD_INTERNAL', 'LVSD_NO_SUCH_CODE'];
  let answer: ReloadResult = { ok: false };
  await withDaemon({ reload: () => answer }, async (socket) => {
    answer = { ok: false, applied: true, code: 'LVSD_NETLINK_OVERRUN', error: 'the new config is in force but 1 IPVS operation failed' };
    const r = await same(['reload', '--socket', socket]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lvsd: reload incomplete: the new config is in force but 1 IPVS operation failed \(lvsd status/);
    answer = { ok: false, applied: true };
    await same(['reload', '--socket', socket]);
    const statuses = new Set<number>();
    for (const code of codes) {
      answer = { ok: false, applied: false, code, error: `because ${code}` };
      statuses.add((await same(['reload', '--socket', socket], code)).status);
    }
    assert.deepEqual([...statuses].sort((a, b) => a - b), [1, 2, 3, 4, 70]);
  });
});

test('a daemon that fails the request: its sentence, or the HTTP status, exit 4', async () => {
  await withDaemon({ reload: () => { throw new Error('boom\u001b[31m'); } }, async (socket) => {
    const r = await same(['reload', '--socket', socket]);
    assert.deepEqual(r, { status: 4, stdout: '', stderr: 'lvsd: boom\\x1b[31m\n' });
  });
  for (const body of ['', '{"error":"flat"}', '{"error":{"message":7}}', '[]', '"x"', '{"error":{"message":"one"},"error":{"message":"the last"}}']) {
    await withFake(http(body, `content-length: ${Buffer.byteLength(body)}`, '503 Busy'), async (socket) => {
      assert.equal((await same(['reload', '--socket', socket], body)).status, 4);
    });
  }
});

test('no daemon: the socket missing, nobody listening, or not a socket; exit 4 in node\'s words', async () => {
  const plain = join(dir, 'plain-file');
  writeFileSync(plain, '');
  for (const socket of [join(dir, 'none.sock'), plain, join(plain, 'below'), dir]) {
    const r = await same(['reload', '--socket', socket]);
    assert.equal(r.status, 4);
  }
  assert.equal((await front(['reload', '--socket', join(dir, 'none.sock')])).stderr,
    `lvsd: lvsd is not running (no daemon listening on ${join(dir, 'none.sock')})\n`);
});

test('an answer that is not HTTP, cut short, not JSON or not a reload result: exit 4, said as node says it', async () => {
  const answers: Array<string | Buffer> = [
    '',
    'hello',
    'HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"ok":true}trailing bytes cut off',
    'HTTP/1.1 200 OK\r\ncontent-length: 0x0b\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ncontent-length: 1e1\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ncontent-length: 11.5\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\nContent-Length:  \r\n\r\n{"ok":true}',
    // a NUL after a leading 0 is no radix prefix: Number('0\u00001') is NaN (strchr found the terminator: read as 0b1)
    'HTTP/1.1 200 OK\r\ncontent-length: 0\u00001\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ncontent-length: 0\u000011\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n4\r\n{"ok\r\n0x7;x\r\n":true}\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"ok\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{"ok\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n{"ok\r\n0\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: xchunked\r\ncontent-length: 11\r\n\r\n{"ok":true}',
    'HTTP/1.0 299\r\n\r\n{"ok":true}',
    'HTTP/1.1 2000 OK\r\n\r\n{"ok":true}',
    http('{"ok":true,}'),
    http('\ufeff{"ok":true}'),
    http(' {"ok" : true } '),
    http('{"ok":"yes"}'),
    http('{"ok":false,"error":5}'),
    http('{"ok":false,"problems":[{"file":"a","pointer":"/","message":null}]}'),
    http('{"ok":false,"problems":{}}'),
    http('{"\\u006fk":false,"ok":true}'),
    http('{"ok":true,"ok":false,"error":"the last ok counts","deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}'),
    http('null'),
    http('[{"ok":true}]'),
    http('{"ok":true'),
    http('{"ok":false,"error":"\\ud83d\\ude00 \\udc00\\ud800 \\u0000 \\/"}'),
    Buffer.concat([Buffer.from(http('{"ok":false,"error":"', `content-length: 41`)), Buffer.from([0xc3, 0x28, 0xe2, 0x82, 0xf0, 0x9f, 0x98, 0xed, 0xa0, 0x80, 0xff, 0xc2, 0x85, 0x41, 0xf4, 0x90, 0x80, 0x80, 0x7f, 0x22, 0x7d])]),
  ];
  for (const answer of answers) {
    await withFake(answer, async (socket) => {
      await same(['reload', '--socket', socket], JSON.stringify(answer.toString()));
    });
  }
});

test('random answers are read to the same verdict and text as node reads them', async () => {
  const text = fc.string({ unit: fc.constantFrom('a', 'é', '\n', '\u001b', '\u0085', '\u2028', '\ud83d\ude00', '"', '\\', ' ') , maxLength: 12 });
  const problem = fc.record({ file: text, pointer: text, message: text });
  const result = fc.record({
    ok: fc.boolean(), applied: fc.option(fc.boolean(), { nil: undefined }), code: fc.option(fc.constantFrom('LVSD_USAGE', 'LVSD_BGP', 'NOPE'), { nil: undefined }),
    error: fc.option(text, { nil: undefined }), problems: fc.option(fc.array(problem, { maxLength: 3 }), { nil: undefined }),
  }, { requiredKeys: ['ok'] });
  const framing = fc.constantFrom('length', 'chunked', 'none', 'short');
  await fc.assert(fc.asyncProperty(result, framing, fc.integer({ min: 0, max: 40 }), async (r, how, cut) => {
    const body = JSON.stringify(r);
    const bytes = Buffer.from(body);
    const answer = how === 'length' ? http(body)
      : how === 'chunked' ? `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${bytes.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
        : how === 'none' ? `HTTP/1.1 200 OK\r\n\r\n${body}`
          : Buffer.from(http(body)).subarray(0, Math.max(0, Buffer.byteLength(http(body)) - cut));
    await withFake(answer, async (socket) => {
      await same(['reload', '--socket', socket], JSON.stringify(answer.toString()));
    });
  }), { numRuns: 20 });
});

test('an answer of exactly 64 MiB is read as node reads it (the bound is for more)', async () => {
  const body = '{"ok":true}';
  const headFor = (length: number) => `HTTP/1.1 200 OK\r\ncontent-length: ${length}\r\n\r\n`;
  // the body's length changes the head's: found where the whole answer is 64 MiB to the byte
  let length = (64 << 20) - headFor(64 << 20).length;
  while (headFor(length).length + length !== 64 << 20) length++;
  const answer = Buffer.alloc(64 << 20, 0x20);
  answer.write(headFor(length), 0, 'latin1');
  answer.write(body, answer.length - body.length, 'latin1');
  await withFake(answer, async (socket) => {
    assert.deepEqual(await same(['reload', '--socket', socket]), { status: 0, stdout: 'reloaded\n', stderr: '' });
  });
});

test('an answer over 64 MiB is refused (not read without end), exit 4', async () => {
  const big = Buffer.alloc(65 << 20, 0x20);
  await withFake(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`), big]), async (socket) => {
    const r = await front(['reload', '--socket', socket]);
    assert.deepEqual(r, { status: 4, stdout: '', stderr: `lvsd: lvsd's answer to POST /v1/reload on ${socket} cannot be read: it is over 64 MiB\n` });
  });
});

test('a daemon that never answers: the front gives up at its limit and says so (built here with a 1.5 s limit)', { skip: spawnSync('cc', ['--version']).status !== 0 && 'no C compiler' }, async () => {
  const short = join(dir, 'lvsd-short');
  const cc = spawnSync('cc', ['-std=gnu11', '-D_GNU_SOURCE', '-DLVSD_FRONT_TIMEOUT_MS=1500', '-O1', '-o', short,
    ...readdirSync(FRONT_SRC).filter((f) => f.endsWith('.c')).map((f) => join(FRONT_SRC, f)), '-lm'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  await withFake('hang', async (socket, requests) => {
    const started = Date.now();
    const r = await exec(short, ['reload', '--socket', socket]);
    assert.deepEqual(r, { status: 4, stdout: '', stderr: `lvsd: lvsd did not answer POST /v1/reload on ${socket} within 1.5s\n` });
    assert.ok(Date.now() - started >= 1400, 'not before the limit');
    assert.equal(requests.length, 1, 'the request was sent');
  });
  // started with stderr closed (node opens /dev/null on a closed 0, 1 or 2 at its start): the socket must not
  // become fd 2, or what the front says goes to the daemon instead of nowhere
  await withFake('hang', async (socket, requests) => {
    const r = await exec('/bin/sh', ['-c', 'exec 2>&-; exec "$0" reload --socket "$1"', short, socket]);
    assert.deepEqual(r, { status: 4, stdout: '', stderr: '' });
    assert.equal(requests.length, 1, 'one request');
    assert.doesNotMatch(requests[0]!.toString('latin1'), /lvsd:/, 'nothing but the request reached the daemon');
  });
});

test('every other command line is node\'s: other commands, reload without --socket, unknown or repeated options, --help', async () => {
  await withDaemon({ reload: () => ({ ok: true }) }, async (socket) => {
    const config = join(dir, 'control.json');
    writeFileSync(config, JSON.stringify({ control: { socket }, services: [] }));
    const lines: string[][] = [
      ['--version'],
      ['reload', '--socket', socket, '--socket', socket],
      ['reload', '--socket', socket, '--bogus'],
      ['reload', '--socket'],
      ['reload', '--socket', '-x'],
      ['reload', '--socket', socket, 'extra'],
      ['reload', '--socket', socket, '--help'],
      ['status', '--socket', join(dir, 'none.sock'), '--json'],
      ['nosuchcommand'],
      ['reload', '--config', dir], // a config directory is node's to read
    ];
    for (const args of lines) {
      await same(args, args.join(' '), false);
      assert.match((await frontAlone(args)).stderr, /^lvsd: cannot run node: none in PATH \(\/nonexistent\): No such file or directory\n$/, `${args.join(' ')} is node's`);
    }
  });
});

test('an option given twice is refused by both alike: a usage error naming it and its values, exit 2, nothing sent', async () => {
  let asked = 0;
  await withDaemon({ reload: () => ({ ok: asked++ < 0 }), status: () => { asked++; throw new Error('no status may be asked for'); } }, async (socket) => {
    const other = join(dir, 'other.sock');
    const cases: Array<[string[], string]> = [
      [['reload', '--socket', socket, '--socket', other], `--socket given 2 times (${JSON.stringify(socket)}, ${JSON.stringify(other)})`],
      [['reload', `--socket=${socket}`, '--socket', socket], `--socket given 2 times (${JSON.stringify(socket)}, ${JSON.stringify(socket)})`],
      [['reload', '-c', '/a.json', '--config', '/b.json'], '--config given 2 times ("/a.json", "/b.json")'],
      [['status', '--socket', socket, '--socket', other], `--socket given 2 times (${JSON.stringify(socket)}, ${JSON.stringify(other)})`],
    ];
    for (const [args, said] of cases) {
      const r = await same(args, args.join(' '), false);
      assert.deepEqual(r, { status: 2, stdout: '', stderr: `lvsd: ${said}: give it once\nRun "lvsd --help" for usage.\n` }, args.join(' '));
    }
  });
  assert.equal(asked, 0, 'the daemon was asked nothing');
});

test('without --socket, the config\'s control.socket: read by the front where it is sure, else by node, to the same socket', async () => {
  // the default socket is only named where no daemon (this host's, another test's) can be reached there
  const defaultFree = !existsSync('/run/lvsd/lvsd.sock');
  let reloads = 0;
  await withDaemon({ reload: () => { reloads++; return { ok: true }; } }, async (socket) => {
    const escaped = JSON.stringify(socket).replace(/\//g, '\\/');
    // [what, the file, whether this test may run it, whether the front answers it without node]
    const configs: Array<[string, string | Buffer, boolean, boolean]> = [
      ['names the socket', JSON.stringify({ control: { socket }, services: [] }), true, true],
      ['after a byte order mark, in escapes', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`{"services":[],"control":{"socket":${escaped}}}`)]), true, true],
      ['twice: the last counts', `{"control":{"socket":"/nonexistent/a.sock"},"x":[{"control":1}],"control":{"socket":"/x","socket":${JSON.stringify(socket)}}}`, true, true],
      ['not JSON after its control (node still finds the socket)', `{"control":{"socket":${JSON.stringify(socket)}},"services":[1,}`, true, false],
      ['no control: the default socket', '{"services":[]}', defaultFree, true],
      ['a relative socket: the default', '{"control":{"socket":"lvsd.sock"}}', defaultFree, true],
      ['a socket that is not a string: the default', '{"control":{"socket":7}}', defaultFree, true],
      ['not JSON at all: the default', '{"control":', defaultFree, false],
      ['an array: the default', '[{"control":{"socket":"/x"}}]', defaultFree, true],
    ];
    for (const [what, text, run, alone] of configs) {
      if (!run) continue;
      const config = join(dir, `c${n++}.json`);
      writeFileSync(config, text);
      await same(['reload', '--config', config], what, alone);
      await same(['reload', '-c', config], what, alone);
    }
    if (defaultFree) {
      await same(['reload', '--config', join(dir, 'missing.json')], 'missing', false);
      await same(['reload', '--config=']);
    }
  });
  assert.ok(reloads >= 8, 'the configs naming the socket reached the daemon');
});
