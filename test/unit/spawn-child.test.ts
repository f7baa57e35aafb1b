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
  await new Promise((r) => setTimeout(r, 100));
  const children = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim();
  const zombies = children === '' ? [] : children.split(' ').filter((p) => /^State:\s+Z/m.test(readFileSync(`/proc/${p}/status`, 'utf8')));
  assert.deepEqual(zombies, []);
  assert.ok(readdirSync('/proc/self/fd').length <= fds + 1, `descriptors: ${fds} before, ${readdirSync('/proc/self/fd').length} after`);
});

test('resolveProgram looks in the PATH given, as execvp does', () => {
  assert.equal(resolveProgram('sh', '/nonexistent:/bin'), '/bin/sh');
  assert.equal(resolveProgram('./x', '/bin'), './x');
  assert.equal(resolveProgram('lvsd-no-such-program', '/usr/bin:/bin'), undefined);
});
