/**
 * The native front (native/front/exec.c) when node cannot be run: exit 127 when there is none (no
 * package bin/node, none on PATH), 126 when one is found but cannot be executed, each with one line naming
 * the path tried and the errno's words, as an operator's shell says it; the first node on PATH that runs
 * wins over a non-executable one before it, as a shell's search does. (Before: 70, "internal error".)
 *
 * A throwaway package: the real front copied to <pkg>/native/build/Release/lvsd and an empty
 * <pkg>/dist/bundle/lvsd.cjs, so the front takes <pkg> as its package; `node` is then what this test puts there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FRONT = fileURLToPath(new URL('../../../native/build/Release/lvsd', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lvsd-front-exec-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A package holding the front and an empty bundle; `ownNode`: what its bin/node is ('none': no file). */
function pkg(ownNode: 'none' | 'not-executable' | 'not-a-program' | 'echo'): string {
  const root = join(dir, `p${n++}`);
  mkdirSync(join(root, 'native/build/Release'), { recursive: true });
  mkdirSync(join(root, 'dist/bundle'), { recursive: true });
  mkdirSync(join(root, 'bin'));
  copyFileSync(FRONT, join(root, 'native/build/Release/lvsd'));
  writeFileSync(join(root, 'dist/bundle/lvsd.cjs'), '');
  const node = join(root, 'bin/node');
  if (ownNode === 'not-executable') writeFileSync(node, '#!/bin/sh\necho never\n', { mode: 0o644 });
  if (ownNode === 'not-a-program') writeFileSync(node, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 0]), { mode: 0o755 });
  if (ownNode === 'echo') writeFileSync(node, '#!/bin/sh\necho "own $#"\n', { mode: 0o755 });
  return root;
}

/** A directory holding a `node` of the kind asked for. */
function pathDir(kind: 'not-executable' | 'echo' | 'directory'): string {
  const d = join(dir, `d${n++}`);
  mkdirSync(d);
  if (kind === 'directory') mkdirSync(join(d, 'node'));
  else writeFileSync(join(d, 'node'), `#!/bin/sh\necho "path ${d}"\n`, { mode: kind === 'echo' ? 0o755 : 0o644 });
  return d;
}

function run(root: string, PATH: string | undefined, args = ['status']) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (PATH === undefined) delete env.PATH;
  else env.PATH = PATH;
  const r = spawnSync(join(root, 'native/build/Release/lvsd'), args, { env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('no node anywhere: exit 127, one line naming PATH and why', () => {
  const root = pkg('none');
  const missing = join(dir, 'no-such-dir');
  assert.deepEqual(run(root, `${missing}:/nonexistent`), {
    status: 127, stdout: '', stderr: `lvsd: cannot run node: none in PATH (${missing}:/nonexistent): No such file or directory\n`,
  });
});

test('a node on PATH that is not executable (and none after it): exit 126 naming that file', () => {
  const root = pkg('none');
  const bad = pathDir('not-executable');
  assert.deepEqual(run(root, `/nonexistent:${bad}`), { status: 126, stdout: '', stderr: `lvsd: cannot run ${bad}/node: Permission denied\n` });
  const isDir = pathDir('directory');
  assert.deepEqual(run(root, isDir), { status: 126, stdout: '', stderr: `lvsd: cannot run ${isDir}/node: Permission denied\n` });
});

test('the first node on PATH that runs is run, past a non-executable one, with lvsd\'s flags, the bundle and the arguments', () => {
  const root = pkg('none');
  const bad = pathDir('not-executable');
  const good = pathDir('echo');
  assert.deepEqual(run(root, `${bad}::${good}`), { status: 0, stdout: `path ${good}\n`, stderr: '' });
});

test('the package\'s own bin/node: run when there; not executable or not a program: exit 126 naming it, no other node stands in', () => {
  const good = pathDir('echo');
  // flags (2), the bundle, then "status --json"
  assert.deepEqual(run(pkg('echo'), good, ['status', '--json']), { status: 0, stdout: 'own 5\n', stderr: '' });
  const noExec = pkg('not-executable');
  assert.deepEqual(run(noExec, good), { status: 126, stdout: '', stderr: `lvsd: cannot run ${noExec}/bin/node: Permission denied\n` });
  const noProgram = pkg('not-a-program');
  assert.deepEqual(run(noProgram, good), { status: 126, stdout: '', stderr: `lvsd: cannot run ${noProgram}/bin/node: Exec format error\n` });
});

test('PATH unset: the C library\'s default path is searched (a node there runs, else 127 naming it)', () => {
  const root = pkg('none');
  const r = run(root, undefined, ['--version']);
  const systemNode = spawnSync('sh', ['-c', 'PATH=$(getconf PATH) command -v node'], { encoding: 'utf8' }).stdout.trim();
  if (systemNode === '') {
    assert.equal(r.status, 127);
    assert.match(r.stderr, /^lvsd: cannot run node: none in PATH \([^)]*\): No such file or directory\n$/);
  } else {
    // a real node ran the empty bundle: nothing printed, exit 0
    assert.deepEqual([r.status, r.stderr], [0, '']);
  }
});

test('a dangling bin/node link is no runtime: PATH is searched', () => {
  const root = pkg('none');
  symlinkSync(join(dir, 'nowhere'), join(root, 'bin/node'));
  const good = pathDir('echo');
  chmodSync(join(good, 'node'), 0o755);
  assert.deepEqual(run(root, good), { status: 0, stdout: `path ${good}\n`, stderr: '' });
});
