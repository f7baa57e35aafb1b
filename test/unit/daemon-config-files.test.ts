/**
 * A config directory whose file turns unreadable under a running daemon (issue #10 item 2): `lvsd reload`
 * is refused with the file named, exits non-zero, and every service stays in the (in-memory) IPVS table.
 * Before, the dangling link was skipped and the reload removed its service from the kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../../src/daemon/daemon.js';
import { startControlServer } from '../../src/daemon/control-server.js';
import { serviceId } from '../../src/ipvs/types.js';
import type { Prober } from '../../src/health/index.js';
import { silentLogger } from '../../src/log.js';
import { ModelClient } from './reconcile-model.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

const service = (name: string, port: number) => ({
  name, protocol: 'tcp', address: '192.0.2.10', port, initialState: 'up', realServers: [{ address: '10.0.1.11', port }],
});

test('lvsd reload with a dangling or looping link, or non-UTF-8 bytes, in the config directory is refused and keeps every service', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-files-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'conf.d');
  mkdirSync(conf);
  writeFileSync(join(conf, 'a.json'), JSON.stringify({ services: [service('a', 80)] }));
  writeFileSync(join(conf, 'b.json'), JSON.stringify({ services: [service('b', 81)] }));
  const kernel = new ModelClient();
  const prober: Prober = async () => ({ ok: true, latencyMs: 1, reason: 'ok' });
  const daemon = await Daemon.start({ configPath: conf, log: silentLogger, stateFile: join(dir, 'state.json'), ipvs: async () => kernel, prober });
  t.after(() => daemon.stop());
  const socket = join(dir, 'lvsd.sock');
  const fail = () => { throw new Error('not expected in this test'); };
  const server = await startControlServer({
    path: socket, log: silentLogger,
    handlers: { status: () => daemon.status(), reload: () => daemon.reload(), drain: fail, undrain: fail },
  });
  t.after(() => server.close());
  const inKernel = () => kernel.table.map((e) => serviceId(e.service.key)).sort();
  assert.deepEqual(inKernel(), ['tcp/192.0.2.10:80', 'tcp/192.0.2.10:81']);

  const b = join(conf, 'b.json');
  const breakages: Array<[string, () => void, RegExp]> = [
    ['a dangling link', () => { unlinkSync(b); symlinkSync(join(dir, 'gone.json'), b); }, /b\.json: cannot read: ENOENT/],
    ['a link loop', () => { unlinkSync(b); symlinkSync('b.json', b); }, /b\.json: cannot read: ELOOP/],
    ['Latin-1 bytes', () => { unlinkSync(b); writeFileSync(b, Buffer.from('{"services": [{"name": "caf\xe9"}]}', 'latin1')); }, /b\.json:1:28: not UTF-8: byte 0xe9 at byte offset 27/],
  ];
  for (const [what, breakIt, why] of breakages) {
    breakIt();
    const r = await cli(['reload', '--socket', socket]);
    assert.equal(r.status, 1, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^lvsd: reload refused, the running config stays: /, what);
    assert.match(r.stderr, why, what);
    assert.deepEqual(inKernel(), ['tcp/192.0.2.10:80', 'tcp/192.0.2.10:81'], `${what}: both services stay in the kernel`);
    const st = await cli(['status', '--socket', socket]);
    assert.match(st.stdout, /last reload: REFUSED .*b\.json/, what);
    assert.match(st.stdout, /^b  tcp\/192\.0\.2\.10:81/m, `${what}: status still lists service b`);
  }
  unlinkSync(b);
  writeFileSync(b, JSON.stringify({ services: [service('b', 81)] }));
  assert.deepEqual(await cli(['reload', '--socket', socket]), { status: 0, stdout: 'reloaded\n', stderr: '' });
});
