/**
 * The native front (native/front) built with AddressSanitizer and UndefinedBehaviorSanitizer:
 * - in one process (a harness calling reload.c's reload_answer), every cut of the hand-made answers and of
 *   mutated and random ones, each in a buffer of its own size, so a read one byte past an answer is caught;
 * - the front itself against a fake control socket that answers mutated answers whole, a byte at a time
 *   (short reads) or closes mid-answer.
 * Every run ends with one of lvsd's exit statuses and its own words, never a sanitizer report.
 * cli-front.test.ts holds what the front says to node's words; this holds the C to memory safety on answers
 * nobody wrote by hand. The draws come from a fixed seed (the same every run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FRONT_SRC = fileURLToPath(new URL('../../../native/front/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lvsd-front-fuzz-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const ASAN = join(dir, 'lvsd-asan');
const HARNESS = join(dir, 'answer-harness');
const SANITIZE = ['-std=gnu11', '-D_GNU_SOURCE', '-g', '-O1', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
const sources = readdirSync(FRONT_SRC).filter((f) => f.endsWith('.c')).map((f) => join(FRONT_SRC, f));
const built = spawnSync('cc', [...SANITIZE, '-DLVSD_FRONT_TIMEOUT_MS=5000', '-o', ASAN, ...sources], { encoding: 'utf8' });
/** The sanitized build runs here (a sanitizer runtime can fail to start on some kernels: that is no finding of ours). */
function sanitizedRuns(): string | false {
  if (built.error || built.status !== 0) return `no C compiler with AddressSanitizer (${built.error?.message ?? built.stderr.split('\n')[0]})`;
  const r = spawnSync(ASAN, ['reload', '--socket', join(dir, 'none.sock')], { encoding: 'utf8', env: { PATH: '/nonexistent', ASAN_OPTIONS: 'detect_leaks=0' } });
  return r.status === 4 && /^lvsd: lvsd is not running/.test(r.stderr) ? false : `the sanitized build does not run here (${r.status}: ${r.stderr.split('\n')[0]})`;
}
const skip = sanitizedRuns();

/** Reads each file named, then gives reload_answer each of its cuts (0 bytes to all) in a buffer of that size. */
const HARNESS_C = `#include "front.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int keep = dup(1), null = open("/dev/null", O_WRONLY);
  dup2(null, 1);
  dup2(null, 2);
  long runs = 0;
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) return 98;
    static uint8_t data[1 << 16];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    for (size_t cut = 0; cut <= n; cut++) {
      uint8_t *raw = malloc(cut ? cut : 1);
      memcpy(raw, data, cut);
      int status = reload_answer("/run/lvsd/lvsd.sock", raw, cut);
      if (status != 0 && status != 1 && status != 2 && status != 3 && status != 4 && status != 70) {
        dprintf(keep, "%s cut %zu: exit status %d\\n", argv[i], cut, status);
        return 99;
      }
      runs++;
    }
  }
  dprintf(keep, "%ld\\n", runs);
  return 0;
}
`;

/** mulberry32: a small PRNG, so each run draws the same answers */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"ok":true}',
  'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"ok\r\n7\r\n":true}\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\n\r\n{"ok":false,"applied":false,"code":"LVSD_USAGE","error":"a\\nb","problems":[{"file":"f","pointer":"/p","message":"\\ud800m\\u001b"}]}',
  'HTTP/1.1 200 OK\r\ncontent-length: 0x4a\r\n\r\n{"ok":false,"applied":true,"error":"\\ud83d\\ude00 \u00e9 \u2028","deep":[[[{"a":[1e5,-0.5,null]}]]]}',
  'HTTP/1.1 503 Busy\r\ncontent-length: 37\r\n\r\n{"error":{"code":"X","message":"busy"}}',
];
const ALPHABET = Buffer.from('{}[]":,\\u0123456789abcdefxX-+.eE \r\n\t\x00trunlfsHTP/chunkedcontent-length:', 'latin1');

function mutate(next: () => number, seed: Buffer): Buffer {
  let b = Buffer.from(seed);
  for (let k = 1 + Math.floor(next() * 6); k > 0; k--) {
    const at = Math.floor(next() * (b.length + 1));
    const byte = next() < 0.2 ? Math.floor(next() * 256) : ALPHABET[Math.floor(next() * ALPHABET.length)]!;
    const op = next();
    if (op < 0.4) b = Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
    else if (op < 0.7) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    else if (at < b.length) b[at] = byte;
  }
  // cut short half the time: most reads past the end of something are found at an end
  return next() < 0.5 ? b.subarray(0, Math.floor(next() * (b.length + 1))) : b;
}

let sockets = 0;

type Delivery = 'whole' | 'trickle' | 'cut';

/** A control socket answering `current.answer` as `current.how` says, to each request. */
async function fakeDaemon(current: { answer: Buffer; how: Delivery }): Promise<{ path: string; close: () => Promise<void> }> {
  const path = join(dir, `fuzz${sockets++}.sock`);
  const open = new Set<Socket>();
  const server = createServer((c) => {
    open.add(c);
    c.on('close', () => open.delete(c));
    c.on('error', () => undefined);
    let got = Buffer.alloc(0);
    let answered = false;
    c.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const head = got.indexOf('\r\n\r\n');
      if (answered || head < 0 || got.length < head + 4 + 2) return;
      answered = true;
      const { answer, how } = current;
      if (how === 'whole') c.end(answer);
      else if (how === 'cut') c.write(answer.subarray(0, answer.length >> 1), () => c.destroy()); // closed mid-answer
      else {
        // a byte at a time, each its own write: the front's reads come short
        let i = 0;
        const step = () => (i < answer.length ? c.write(answer.subarray(i, ++i), () => setImmediate(step)) : c.end());
        step();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    close: async () => {
      for (const c of open) c.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function run(socket: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ASAN, ['reload', '--socket', socket], { encoding: 'latin1', timeout: 30_000, env: { PATH: '/nonexistent', ASAN_OPTIONS: 'detect_leaks=0' } },
      (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });
}

test('every cut of hand-made, mutated and random answers, read in one process: an exit status, no sanitizer report', { skip }, () => {
  writeFileSync(join(dir, 'harness.c'), HARNESS_C);
  const cc = spawnSync('cc', [...SANITIZE, '-I', FRONT_SRC, '-o', HARNESS, join(dir, 'harness.c'), ...sources.filter((f) => !f.endsWith('main.c'))], { encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const next = prng(0x5eed);
  const answers: Buffer[] = SEEDS.map((a) => Buffer.from(a, 'utf8'));
  for (let i = 0; i < 200; i++) {
    answers.push(i % 10 === 9 ? Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256))) : mutate(next, answers[i % SEEDS.length]!));
  }
  const files = answers.map((a, i) => {
    const file = join(dir, `answer${i}`);
    writeFileSync(file, a);
    return file;
  });
  const r = spawnSync(HARNESS, files, { encoding: 'latin1', env: { ASAN_OPTIONS: 'detect_leaks=0' }, timeout: 120_000 });
  assert.doesNotMatch(r.stderr, /Sanitizer|runtime error/, r.stderr);
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.equal(Number(r.stdout), answers.reduce((n, a) => n + a.length + 1, 0), 'every cut of every answer was read');
});

test('mutated and random answers, whole, a byte at a time or closed halfway: an exit status and lvsd\'s words, no sanitizer report', { skip }, async () => {
  const next = prng(0x1f5d);
  const current: { answer: Buffer; how: Delivery } = { answer: Buffer.alloc(0), how: 'whole' };
  const daemon = await fakeDaemon(current);
  const statuses = new Set<number>();
  try {
    for (let i = 0; i < 18; i++) {
      const seed = Buffer.from(SEEDS[i % SEEDS.length]!, 'utf8');
      current.answer = i % 10 === 9 ? Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256))) : mutate(next, seed);
      current.how = i % 6 === 5 ? 'cut' : i % 6 === 4 ? 'trickle' : 'whole';
      const r = await run(daemon.path);
      const what = `${current.how} ${JSON.stringify(current.answer.toString('latin1'))}`;
      assert.doesNotMatch(r.stderr, /Sanitizer|runtime error/, `${what}: ${r.stderr}`);
      assert.ok([0, 1, 2, 3, 4, 70].includes(r.status), `${what}: exit status ${r.status}`);
      if (r.status === 0) assert.deepEqual([r.stdout, r.stderr], ['reloaded\n', ''], what);
      else {
        assert.equal(r.stdout, '', what);
        assert.match(r.stderr, /^lvsd: [^\n]*\n(  [^\n]*\n)*$/, `${what}: one headline, then problems, each on its own line`);
      }
      statuses.add(r.status);
    }
  } finally {
    await daemon.close();
  }
  assert.ok(statuses.has(0) && statuses.has(4), `the draws reached success and failure (${[...statuses]})`);
});

test('an answer read a byte at a time is read as it is read whole', { skip }, async () => {
  const current: { answer: Buffer; how: Delivery } = { answer: Buffer.alloc(0), how: 'whole' };
  const daemon = await fakeDaemon(current);
  try {
    for (const seed of SEEDS) {
      current.answer = Buffer.from(seed, 'utf8');
      current.how = 'whole';
      const whole = await run(daemon.path);
      current.how = 'trickle';
      assert.deepEqual(await run(daemon.path), whole, seed);
    }
  } finally {
    await daemon.close();
  }
});
