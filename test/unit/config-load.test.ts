/**
 * Reading a config directory (issue #10 items 2 and 16): a *.json entry that cannot be read as a regular
 * UTF-8 file fails the whole load naming that file, instead of being skipped (which dropped its services)
 * or read with U+FFFD in place of its bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/index.js';
import { isLvsdError } from '../../src/errors.js';

const service = (name: string, port: number) => ({ name, protocol: 'tcp', address: '192.0.2.1', port });

function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-load-'));
  writeFileSync(join(dir, 'a.json'), JSON.stringify({ services: [service('a', 80)] }));
  return body(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function refusedAs(file: string, why: RegExp) {
  return (e: unknown) => {
    assert.ok(isLvsdError(e, 'LVSD_CONFIG_UNREADABLE'), `expected LVSD_CONFIG_UNREADABLE, got ${String(e)}`);
    assert.equal((e.details as { file: string }).file, file);
    assert.match(e.message, why);
    return true;
  };
}

test('a dangling symbolic link in a config directory fails the load naming it (it used to be skipped)', async () => {
  await withDir(async (dir) => {
    symlinkSync(join(dir, 'gone.json'), join(dir, 'b.json'));
    await assert.rejects(loadConfig(dir), refusedAs(join(dir, 'b.json'), /b\.json: cannot read: ENOENT \(missing, or a symbolic link to nothing\)$/));
  });
});

test('a symbolic link loop in a config directory fails the load naming it', async () => {
  await withDir(async (dir) => {
    symlinkSync('c.json', join(dir, 'b.json'));
    symlinkSync('b.json', join(dir, 'c.json'));
    await assert.rejects(loadConfig(dir), refusedAs(join(dir, 'b.json'), /cannot read: ELOOP/));
  });
});

test('a directory or a FIFO under a *.json name fails the load (a FIFO does not hang it)', async () => {
  await withDir(async (dir) => {
    mkdirSync(join(dir, 'b.json'));
    await assert.rejects(loadConfig(dir), refusedAs(join(dir, 'b.json'), /cannot read: not a regular file$/));
    rmSync(join(dir, 'b.json'), { recursive: true });
    execFileSync('mkfifo', [join(dir, 'b.json')]);
    await assert.rejects(loadConfig(dir), refusedAs(join(dir, 'b.json'), /cannot read: not a regular file$/));
    await assert.rejects(loadConfig(join(dir, 'b.json')), refusedAs(join(dir, 'b.json'), /not a regular file/));
  });
});

test('a file lvsd may not read fails the load with EACCES naming it', async () => {
  // Root reads anything, so the load runs in a child as nobody (uid 65534) when the test runs as root.
  await withDir(async (dir) => {
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ services: [service('b', 81)] }));
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'a.json'), 0o644);
    chmodSync(join(dir, 'b.json'), 0o000);
    const index = fileURLToPath(new URL('../../src/config/index.js', import.meta.url));
    const script = `import(${JSON.stringify(index)}).then((c) => c.loadConfig(${JSON.stringify(dir)}))
      .then(() => console.log('loaded'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, details: e.details })))`;
    const asRoot = process.getuid?.() === 0;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', ...(asRoot && { uid: 65534, gid: 65534 }), timeout: 20_000 });
    const out = JSON.parse(r.stdout.trim()) as { code: string; message: string; details: { file: string } };
    assert.equal(out.code, 'LVSD_CONFIG_UNREADABLE');
    assert.equal(out.details.file, join(dir, 'b.json'));
    assert.match(out.message, /b\.json: cannot read: EACCES$/);
  });
});

test('a symbolic link to a readable file is read like the file', async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, 'real-b'), JSON.stringify({ services: [service('b', 81)] }));
    symlinkSync(join(dir, 'real-b'), join(dir, 'b.json'));
    assert.deepEqual((await loadConfig(dir)).services.map((s) => s.name), ['a', 'b']);
  });
});

test('bytes that are not UTF-8 are refused with their byte offset, line and column, not read as U+FFFD', async () => {
  await withDir(async (dir) => {
    // "caf\xe9" is Latin-1: the 0xe9 byte is not followed by continuation bytes
    const text = Buffer.concat([Buffer.from('{\n  "services": [{ "name": "caf'), Buffer.from([0xe9]), Buffer.from('", "protocol": "tcp", "address": "192.0.2.1", "port": 81 }]\n}')]);
    writeFileSync(join(dir, 'b.json'), text);
    await assert.rejects(loadConfig(dir), (e) => {
      assert.ok(isLvsdError(e, 'LVSD_CONFIG_UNREADABLE'));
      assert.equal(e.message, `${join(dir, 'b.json')}:2:30: not UTF-8: byte 0xe9 at byte offset 31 is not UTF-8 (save the file as UTF-8)`);
      assert.deepEqual({ ...(e.details as object), reason: undefined }, { file: join(dir, 'b.json'), line: 2, column: 30, byteOffset: 31, reason: undefined });
      return true;
    });
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xff]]) {
      writeFileSync(join(dir, 'b.json'), Buffer.concat([Buffer.from('{"x": "'), Buffer.from(bad), Buffer.from('"}')]));
      await assert.rejects(loadConfig(dir), (e) => isLvsdError(e, 'LVSD_CONFIG_UNREADABLE') && /byte offset 7 /.test(e.message),
        `bytes ${bad.map((b) => b.toString(16)).join(' ')}`);
    }
    // UTF-8 proper (with a BOM, two-, three- and four-byte characters) is read as it is
    writeFileSync(join(dir, 'b.json'), `\ufeff${JSON.stringify({ services: [{ ...service('café ✓ 𝄞', 81) }] })}`);
    assert.equal((await loadConfig(dir)).services[1]!.name, 'café ✓ 𝄞');
  });
});
