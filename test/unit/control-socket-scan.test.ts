/**
 * The control socket is found by scanning a config's top level, not parsing it whole
 * (src/config/control-socket.ts): for every file JSON.parse accepts, the scan gives JSON.parse's
 * `control` (the last of a key written twice, an escaped key decoded, a key inside a string or a nested
 * object ignored, a byte order mark skipped), or says it is unsure and the file is parsed whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { controlSocketOf, topLevelValue } from '../../src/config/control-socket.js';

/** What the scan says `control` is: the parsed value, 'absent', or 'unsure'. */
function scanned(text: string | Buffer): unknown {
  const v = topLevelValue(typeof text === 'string' ? Buffer.from(text) : text, 'control');
  if (v === undefined) return 'unsure';
  if (v === null) return 'absent';
  return JSON.parse(Buffer.from(v).toString('utf8'));
}

/** What JSON.parse says. */
function parsed(text: string): unknown {
  const data = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as Record<string, unknown>;
  return Object.hasOwn(data, 'control') ? data.control : 'absent';
}

test('hostile files: the key in strings, nested, escaped, after a BOM, written twice, beside backslashes', () => {
  const cases: Array<[string, string, unknown]> = [
    ['first', '{"control":{"socket":"/a"},"services":[]}', { socket: '/a' }],
    ['last', '{"services":[{"address":"10.0.0.1"}],"control":{"socket":"/a"}}', { socket: '/a' }],
    ['only inside a string', '{"services":[{"name":"\\"control\\": {\\"socket\\": \\"/x\\"}"}]}', 'absent'],
    ['a string holding the key, then the key', '{"note":"\\"control\\":1","control":{"socket":"/b"}}', { socket: '/b' }],
    ['only nested', '{"services":[{"control":{"socket":"/nested"}}],"x":{"control":1}}', 'absent'],
    ['nested before the top-level one', '{"x":{"control":{"socket":"/n"}},"control":{"socket":"/top"}}', { socket: '/top' }],
    ['escaped key', '{"\\u0063ontrol":{"socket":"/esc"}}', { socket: '/esc' }],
    ['escaped duplicate wins', '{"control":{"socket":"/a"},"services":[],"c\\u006Fntrol":{"socket":"/b"}}', { socket: '/b' }],
    ['plain duplicate wins', '{"control":{"socket":"/a"},"services":[1,2],"control":{"socket":"/b"}}', { socket: '/b' }],
    ['key with an escaped quote is another key', '{"control\\"":{"socket":"/q"}}', 'absent'],
    ['BOM', '\ufeff{"control":{"socket":"/bom"}}', { socket: '/bom' }],
    ['whitespace everywhere', ' \n\t{ \r\n "control" \t: { "socket" : "/ws" } \n } \n', { socket: '/ws' }],
    ['backslashes before quotes', '{"a":"\\\\","b":"\\\\\\"","control":{"socket":"/c"}}', { socket: '/c' }],
    ['brackets in strings', '{"services":[{"name":"]}{["}],"control":{"socket":"/d"}}', { socket: '/d' }],
    ['scalars around it', '{"a":1.5e3,"b":true,"c":null,"control":{"socket":"/e"},"d":-0}', { socket: '/e' }],
    ['control is not an object', '{"control":"/run/x.sock"}', '/run/x.sock'],
    ['control is null', '{"control":null}', null],
    ['non-ASCII around it', '{"name":"ümlaut ✓ 𝄞","control":{"socket":"/ü"}}', { socket: '/ü' }],
    ['empty object', '{}', 'absent'],
  ];
  for (const [what, text, want] of cases) {
    assert.deepEqual(parsed(text), want, `${what}: the case itself is what JSON.parse says`);
    assert.deepEqual(scanned(text), want, what);
  }
});

test('files the scan cannot be sure of are left to the whole parse (unsure), never answered wrongly', () => {
  for (const text of [
    '[{"control":{"socket":"/a"}}]', // not an object
    '"control"',
    '{"control":{"socket":"/a"}} trailing', // JSON.parse refuses it
    '{"control":{"socket":"/a"}', // cut short
    '{"control":{"socket":"/a"]}', // mismatched bracket
    '{"\\u00ZZcontrol":1}', // a bad escape in a key
    '{"control" {"socket":"/a"}}', // no colon
    '',
  ]) {
    assert.equal(scanned(text), 'unsure', text);
  }
});

/** A JSON text of `value` with random spacing and keys escaped at random (\uXXXX), as a person or tool might write it. */
function write(value: unknown, rand: () => number): string {
  const space = () => [' ', '\n', '\t', '\r\n', ''][Math.floor(rand() * 5)]!.repeat(rand() < 0.3 ? 1 : 0);
  const key = (k: string) => {
    if (rand() < 0.7) return JSON.stringify(k);
    return `"${[...k].map((c) => (rand() < 0.5 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(c).slice(1, -1))).join('')}"`;
  };
  const go = (v: unknown): string => {
    if (Array.isArray(v)) return `[${space()}${v.map((x) => `${go(x)}${space()}`).join(',')}]`;
    if (v !== null && typeof v === 'object') {
      return `{${space()}${Object.entries(v).map(([k, x]) => `${key(k)}${space()}:${space()}${go(x)}${space()}`).join(',')}}`;
    }
    return JSON.stringify(v);
  };
  return go(value);
}

test('property: for any JSON object file (spacing, escaped keys, duplicates written out, BOM), the scan gives JSON.parse\'s control', () => {
  const keyArb = fc.constantFrom('control', 'services', 'ipvs', 'a', 'contro', 'control ', 'Control', 'c"ontrol', '\\');
  const leaf = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant('"control": {"socket": "/s"}'), fc.constant({ control: { socket: '/nested' } }));
  const entries = fc.array(fc.tuple(keyArb, leaf), { maxLength: 8 });
  fc.assert(fc.property(entries, fc.integer(), fc.boolean(), (pairs, seed, bom) => {
    let state = seed >>> 0;
    const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    // duplicates are written as such (an object cannot hold them): each pair becomes `key: value` in order
    const body = pairs.map(([k, v]) => `${write({ [k]: v }, rand).replace(/^\{\s*/, '').replace(/\s*\}$/, '')}`).join(',');
    const text = `${bom ? '\ufeff' : ''}{${body}}`;
    assert.deepEqual(scanned(text), parsed(text), text);
  }), { numRuns: 2000 });
});

test('controlSocketOf: a directory\'s file that names control wins; files without it are passed by scanning; an unsure file is parsed whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-scan-'));
  try {
    writeFileSync(join(dir, '00-services.json'), JSON.stringify({ services: [{ name: 'control', control: { socket: '/no' } }] }));
    writeFileSync(join(dir, '10-global.json'), `\ufeff${JSON.stringify({ ipvs: {}, control: { socket: '/run/lvsd/x.sock' } })}`);
    writeFileSync(join(dir, '20-late.json'), JSON.stringify({ control: { socket: '/too/late' } }));
    assert.equal(await controlSocketOf(dir), '/run/lvsd/x.sock');
    const one = join(dir, '10-global.json');
    writeFileSync(one, '{"services": [{"port": 80}], "control": {"socket": "relative.sock"}}');
    assert.equal(await controlSocketOf(one), undefined, 'not absolute: none');
    writeFileSync(one, '[1, 2]');
    assert.equal(await controlSocketOf(one), undefined, 'an array names no control');
    writeFileSync(one, '{"control": {"socket": "/a"} trailing');
    await assert.rejects(controlSocketOf(one), SyntaxError, 'not JSON and the scan unsure: the whole parse says so');
    // JSON.parse refuses this file only after "control", where the scan does not look: the socket is found,
    // so lvsd reload reaches the daemon, which names the problem
    writeFileSync(one, '{"control": {"socket": "/run/lvsd/y.sock"}, "services": [{"port": 80,}]}');
    assert.equal(await controlSocketOf(one), '/run/lvsd/y.sock');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('controlSocketOf reads each file as a regular file without blocking: a FIFO or a directory under a *.json name is an error naming it, not a hang', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-scan-'));
  try {
    const fifo = join(dir, 'services.json');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(controlSocketOf(fifo), (e: Error & { code?: string }) => e.code === 'LVSD_CONFIG_UNREADABLE' && e.message.includes(fifo));
    const sub = join(dir, 'conf.d');
    mkdirSync(join(sub, '10-x.json'), { recursive: true });
    await assert.rejects(controlSocketOf(sub), (e: Error & { code?: string }) => e.code === 'LVSD_CONFIG_UNREADABLE' && e.message.includes('10-x.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
