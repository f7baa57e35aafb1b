/**
 * src/spawn-child.ts: a program started by the addon's clone (nothing of the daemon copied) behaves, for what
 * lvsd uses, as node's spawn does: exit codes and signal names, output on both pipes, exactly the given
 * environment and working directory, a session of its own, the user and groups, a failed start reported as
 * node reports it ('error' then 'close' with -errno), kill(); and every child is reaped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { nativeAvailable } from '../../src/net/native.js';
import { loadSpawn, resolveProgram, setSpawnKind, type SpawnedChild, type SpawnOptions } from '../../src/spawn-child.js';

interface Outcome {
  events: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  error?: NodeJS.ErrnoException;
  pid: number | undefined;
}

function run(child: SpawnedChild): Promise<Outcome> {
  return new Promise((resolve) => {
    const o: Outcome = { events: [], code: null, signal: null, out: '', err: '', pid: child.pid };
    child.stdout.on('data', (b: Buffer) => (o.out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (o.err += b.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => { o.events.push('error'); o.error = e; });
    child.on('exit', () => o.events.push('exit'));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      o.events.push('close');
      Object.assign(o, { code, signal });
      resolve(o);
    });
  });
}

const kinds = (['native', 'node'] as const).filter((k) => k === 'node' || nativeAvailable());
const env = { PATH: '/usr/bin:/bin', LVSD_X: 'one two' };

async function both(file: string, args: string[], options: SpawnOptions = { env }): Promise<Record<string, Outcome>> {
  const out: Record<string, Outcome> = {};
  for (const kind of kinds) {
    setSpawnKind(kind);
    const spawn = await loadSpawn();
    out[kind] = await run(spawn(file, args, options));
  }
  setSpawnKind(undefined);
  return out;
}

test('the addon starts programs natively here', { skip: !nativeAvailable() && 'addon not built' }, () => {
  assert.deepEqual(kinds, ['native', 'node']);
});

test('exit code, output on both pipes, environment and working directory as node gives them', async () => {
  const r = await both('sh', ['-c', 'echo "out $LVSD_X"; echo err >&2; pwd; env | sort; exit 3'], { env, cwd: '/tmp' });
  for (const [kind, o] of Object.entries(r)) {
    assert.equal(o.code, 3, kind);
    assert.equal(o.signal, null, kind);
    assert.equal(o.err, 'err\n', kind);
    assert.match(o.out, /^out one two\n\/tmp\n/, kind);
    const vars = o.out.split('\n').slice(2).filter((l) => /^[A-Z_]+=/.test(l) && !/^(PWD|SHLVL|_)=/.test(l));
    assert.deepEqual(vars, ['LVSD_X=one two', 'PATH=/usr/bin:/bin'], `${kind}: exactly the environment given`);
    assert.deepEqual(o.events, ['exit', 'close'], kind);
    assert.ok(o.pid! > 0, kind);
  }
});

test('a child killed by a signal closes with its name; kill() after the exit does nothing', async () => {
  for (const kind of kinds) {
    setSpawnKind(kind);
    const child = (await loadSpawn())('sleep', ['30'], { env });
    const done = run(child);
    assert.equal(child.kill('SIGTERM'), true, kind);
    const o = await done;
    assert.deepEqual([o.code, o.signal], [null, 'SIGTERM'], kind);
    assert.equal(child.kill('SIGKILL'), false, `${kind}: nothing to kill once reaped`);
  }
  setSpawnKind(undefined);
});

test('a program that does not exist: error as node words it, then close with -ENOENT, no pid', async () => {
  const r = await both('lvsd-no-such-program', ['a', 'b']);
  const abs = await both('/nonexistent/prog', []);
  for (const kind of kinds) {
    for (const [o, file, args] of [[r[kind]!, 'lvsd-no-such-program', ['a', 'b']], [abs[kind]!, '/nonexistent/prog', []]] as const) {
      assert.deepEqual(o.events, ['error', 'close'], kind);
      assert.equal(o.pid, undefined, kind);
      assert.equal(o.code, -2, kind);
      assert.equal(o.error!.message, `spawn ${file} ENOENT`, kind);
      assert.deepEqual([o.error!.code, o.error!.errno, o.error!.syscall, o.error!.path, (o.error as { spawnargs?: string[] }).spawnargs],
        ['ENOENT', -2, `spawn ${file}`, file, args], kind);
    }
  }
});

test('detached: a session of its own (its process group is killed as one)', async () => {
  const r = await both('sh', ['-c', 'echo $$; cut -d" " -f6 /proc/$$/stat'], { env, detached: true });
  for (const [kind, o] of Object.entries(r)) {
    const [pid, sid] = o.out.trim().split('\n');
    assert.equal(sid, pid, `${kind}: session leader`);
  }
  const attached = await both('sh', ['-c', 'cut -d" " -f6 /proc/$$/stat'], { env });
  for (const [kind, o] of Object.entries(attached)) assert.notEqual(Number(o.out.trim()), Number(o.pid), kind);
});

test('as root: the user and group given, no supplementary groups', { skip: process.getuid?.() !== 0 && 'not root' }, async () => {
  const r = await both('sh', ['-c', 'id -u; id -g; id -G'], { env, uid: 65534, gid: 65534 });
  for (const [kind, o] of Object.entries(r)) assert.equal(o.out, '65534\n65534\n65534\n', kind);
});

test('every child is reaped: 300 at once leave no zombie and no descriptor', { skip: !nativeAvailable() && 'addon not built' }, async () => {
  setSpawnKind('native');
  const spawn = await loadSpawn();
  const fds = readdirSync('/proc/self/fd').length;
  const outs = await Promise.all(Array.from({ length: 300 }, (_, i) => run(spawn('sh', ['-c', `exit ${i % 7}`], { env }))));
  setSpawnKind(undefined);
  assert.deepEqual(outs.map((o) => o.code), Array.from({ length: 300 }, (_, i) => i % 7));
  // reaped and closed by the addon's thread: waited for with a deadline (a leak never gets there), not slept on
  const zombieList = (): string[] => {
    const children = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim();
    return children === '' ? [] : children.split(' ').filter((p) => {
      try {
        return /^State:\s+Z/m.test(readFileSync(`/proc/${p}/status`, 'utf8'));
      } catch {
        return false; // reaped between the two reads
      }
    });
  };
  for (const end = Date.now() + 10_000; (zombieList().length > 0 || readdirSync('/proc/self/fd').length > fds + 1) && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(zombieList(), []);
  assert.ok(readdirSync('/proc/self/fd').length <= fds + 1, `descriptors: ${fds} before, ${readdirSync('/proc/self/fd').length} after`);
});

/** Runs `file args` with stdin a pipe, writes `input` in `writes` pieces and ends it; resolves with the outcome. */
async function withStdin(kind: 'native' | 'node', file: string, args: string[], input: Buffer, pieces = 1): Promise<Outcome & { stdinErrors: string[]; stdinClosed: boolean }> {
  setSpawnKind(kind);
  const spawn = await loadSpawn();
  setSpawnKind(undefined);
  const child = spawn(file, args, { env, stdin: 'pipe' });
  assert.ok(child.stdin, `${kind}: a stdin to write`);
  const stdinErrors: string[] = [];
  let stdinClosed = false;
  // the caller listens too (as accept-filter does): this listener sees the EPIPE, the wrapper's keeps it handled
  child.stdin.on('error', (e: NodeJS.ErrnoException) => stdinErrors.push(e.code ?? e.message));
  child.stdin.on('close', () => (stdinClosed = true));
  const done = run(child);
  const size = Math.ceil(input.length / pieces);
  for (let i = 0; i < pieces; i++) child.stdin.write(input.subarray(i * size, (i + 1) * size));
  child.stdin.end();
  const o = await done;
  for (let i = 0; i < 20 && !stdinClosed; i++) await new Promise((r) => setTimeout(r, 10));
  return { ...o, stdinErrors, stdinClosed };
}

test('stdin: what is written reaches the child whole, and ending it closes the child\'s stdin (it sees the end)', async () => {
  const input = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join('')); // past a pipe's 64 KiB
  for (const kind of kinds) {
    const o = await withStdin(kind, 'sh', ['-c', 'wc -c; echo "after the end" >&2'], input, 7);
    assert.equal(o.code, 0, kind);
    assert.equal(Number(o.out.trim()), input.length, `${kind}: bytes the child read`);
    assert.equal(o.err, 'after the end\n', `${kind}: the child saw its stdin end`);
    assert.deepEqual(o.stdinErrors, [], kind);
  }
});

test('without stdin: \'pipe\' the child reads /dev/null and stdin is null', async () => {
  for (const kind of kinds) {
    setSpawnKind(kind);
    const spawn = await loadSpawn();
    setSpawnKind(undefined);
    const child = spawn('sh', ['-c', 'wc -c'], { env });
    assert.equal(child.stdin, null, kind);
    const o = await run(child);
    assert.equal(o.out.trim(), '0', kind);
  }
});

test('a child that exits without reading its stdin: the writes fail with EPIPE on the stream, no SIGPIPE, nothing unhandled, its exit reported', async () => {
  const input = Buffer.alloc(1 << 20, 120); // more than the pipe holds: the write is still pending when the child exits
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('uncaughtException', onUnhandled);
  try {
    for (const kind of kinds) {
      const o = await withStdin(kind, 'sh', ['-c', 'exit 4'], input);
      assert.equal(o.code, 4, kind);
      assert.deepEqual([...new Set(o.stdinErrors)], ['EPIPE'], `${kind}: the stream's error`);
      assert.ok(o.stdinClosed, `${kind}: the stream closed`);
    }
    // the wrapper's own listener: a caller that does not listen is not taken down either
    for (const kind of kinds) {
      setSpawnKind(kind);
      const spawn = await loadSpawn();
      setSpawnKind(undefined);
      const child = spawn('sh', ['-c', 'exit 5'], { env, stdin: 'pipe' });
      const done = run(child);
      child.stdin!.write(input);
      child.stdin!.end();
      assert.equal((await done).code, 5, kind);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    process.off('uncaughtException', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

test('stdin of a program that does not exist: writes go nowhere, the error says why', async () => {
  for (const kind of kinds) {
    setSpawnKind(kind);
    const spawn = await loadSpawn();
    setSpawnKind(undefined);
    const child = spawn('lvsd-no-such-program', [], { env, stdin: 'pipe' });
    const done = run(child);
    child.stdin?.on('error', () => undefined); // node's: a destroyed socket
    child.stdin?.end('rules\n');
    const o = await done;
    assert.equal(o.error?.code, 'ENOENT', kind);
  }
});

test('resolveProgram looks in the PATH given, as execvp does', () => {
  assert.equal(resolveProgram('sh', '/nonexistent:/bin'), '/bin/sh');
  assert.equal(resolveProgram('./x', '/bin'), './x');
  assert.equal(resolveProgram('lvsd-no-such-program', '/usr/bin:/bin'), undefined);
});
