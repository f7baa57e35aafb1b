/**
 * The operator commands (drain, undrain, reload, status) against a control socket whose handlers the test
 * controls: exit statuses and the sentences an operator reads. The real daemon behind them is proven in
 * the kernel VM (test/kernel/inside/daemon-ops.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlServer, type ControlHandlers } from '../../src/daemon/control-server.js';
import { silentLogger } from '../../src/log.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  // `run` claims its network namespace (@lvsd): as root, in a fresh one, so a daemon or test elsewhere on
  // this host cannot be the one it finds
  const argv = args[0] === 'run' && process.getuid?.() === 0 ? ['unshare', '--net', process.execPath, MAIN, ...args] : [process.execPath, MAIN, ...args];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

async function withDaemon(handlers: Partial<ControlHandlers>, body: (socket: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-cli-'));
  const socket = join(dir, 'lvsd.sock');
  const fail = () => { throw new Error('not expected in this test'); };
  const server = await startControlServer({
    path: socket,
    log: silentLogger,
    handlers: { status: fail, reload: fail, drain: fail, undrain: fail, ...handlers },
  });
  try {
    await body(socket);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('drain of a real server the daemon does not know is a usage error (exit 2) with the daemon\'s sentence', async () => {
  const asked: unknown[] = [];
  await withDaemon({
    drain: (req) => {
      asked.push(req);
      return { ok: false, notFound: 'realServer', message: `service web has no real server ${req.realServer}` };
    },
    undrain: () => ({ ok: false, notFound: 'service', message: 'no service named "nosuch"' }),
  }, async (socket) => {
    const r = await cli(['drain', 'web', '10.0.1.77:8080', '--socket', socket]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'lvsd: service web has no real server 10.0.1.77:8080 (see lvsd status for the names)\n');
    assert.deepEqual(asked, [{ service: 'web', realServer: '10.0.1.77:8080' }]);
    const u = await cli(['undrain', 'nosuch', '10.0.1.11:8080', '--socket', socket]);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /^lvsd: no service named "nosuch"/);
  });
});

test('drain and undrain say what changed, and when nothing did', async () => {
  let drained = false;
  await withDaemon({
    drain: () => { const changed = !drained; drained = true; return { ok: true, changed }; },
    undrain: () => { const changed = drained; drained = false; return { ok: true, changed }; },
  }, async (socket) => {
    assert.deepEqual(await cli(['drain', 'web', '10.0.1.11:8080', '--socket', socket]),
      { status: 0, stdout: 'drained web 10.0.1.11:8080\n', stderr: '' });
    assert.equal((await cli(['drain', 'web', '10.0.1.11:8080', '--socket', socket])).stdout, 'web 10.0.1.11:8080 was already drained\n');
    assert.equal((await cli(['undrain', 'web', '10.0.1.11:8080', '--socket', socket])).stdout, 'undrained web 10.0.1.11:8080\n');
  });
});

test('a drain the kernel did not take says so and exits 1 (it is recorded and retried), instead of printing success', async () => {
  await withDaemon({
    drain: () => ({ ok: true, changed: true, kernel: { applied: false, error: 'edit-dest: No buffer space available' } }),
  }, async (socket) => {
    assert.deepEqual(await cli(['drain', 'web', '10.0.1.11:8080', '--socket', socket]), {
      status: 1, stdout: '',
      stderr: 'lvsd: drained web 10.0.1.11:8080 is recorded, but the kernel has not taken it yet (edit-dest: No buffer space available); lvsd retries: see lvsd status\n',
    });
  });
});

test('a refused reload exits 1 and lists every problem under one headline', async () => {
  await withDaemon({
    reload: () => ({
      ok: false,
      error: 'configuration has 2 problems',
      problems: [
        { file: '/etc/lvsd/services.json', pointer: '/services/0/scheduler', message: '"wrrr" is not allowed' },
        { file: '/etc/lvsd/services.json', pointer: '/services/0/realServers/1/weight', message: 'must be an integer from 0 to 65535' },
      ],
    }),
  }, async (socket) => {
    const r = await cli(['reload', '--socket', socket]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, [
      'lvsd: reload refused, the running config stays: configuration has 2 problems',
      '  /etc/lvsd/services.json: /services/0/scheduler: "wrrr" is not allowed',
      '  /etc/lvsd/services.json: /services/0/realServers/1/weight: must be an integer from 0 to 65535',
      '',
    ].join('\n'));
  });
});

test('a refused reload prints each problem on one line, control characters escaped, whatever the daemon sends', async () => {
  await withDaemon({
    reload: () => ({
      ok: false,
      error: 'bad \u001b[2Jthing\r',
      problems: [{ file: 'c.json', pointer: '/services/0/name', message: '"x\n  c.json: /services/1: forged" is bad' }],
    }),
  }, async (socket) => {
    const r = await cli(['reload', '--socket', socket]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, [
      'lvsd: reload refused, the running config stays: bad \\x1b[2Jthing\\r',
      '  c.json: /services/0/name: "x\\n  c.json: /services/1: forged" is bad',
      '',
    ].join('\n'));
  });
});

test('a reload that could not switch exits with its code\'s status; one applied in part is not reported as reloaded', async () => {
  let answer: Record<string, unknown> = {};
  await withDaemon({ reload: () => answer as never }, async (socket) => {
    answer = { ok: false, applied: false, code: 'LVSD_NATIVE_UNAVAILABLE', error: 'vi_2: cannot open a VRRP socket on eth0' };
    let r = await cli(['reload', '--socket', socket]);
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stderr, 'lvsd: reload refused, the running config stays: vi_2: cannot open a VRRP socket on eth0\n');
    assert.equal(r.stdout, '');

    answer = { ok: false, applied: true, code: 'LVSD_NETLINK_OVERRUN', error: 'the new config is in force but 1 IPVS operation failed' };
    r = await cli(['reload', '--socket', socket]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lvsd: reload incomplete: the new config is in force but 1 IPVS operation failed/);
    assert.equal(r.stdout, '', 'never "reloaded"');

    answer = { ok: false, applied: false, code: 'LVSD_INTERNAL', error: 'reload failed: boom' };
    r = await cli(['reload', '--socket', socket]);
    assert.equal(r.status, 70);
  });
});

test('status with no daemon listening exits 4 and says it is not running', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-cli-'));
  try {
    const socket = join(dir, 'lvsd.sock');
    const r = await cli(['status', '--socket', socket]);
    assert.equal(r.status, 4);
    assert.equal(r.stderr, `lvsd: lvsd is not running (no daemon listening on ${socket})\n`);
    // the kernel table follows on stdout (or why it cannot be read: this host may have no IPVS)
    assert.match(r.stdout, /IPVS table/);
    const j = await cli(['status', '--json', '--socket', socket]);
    assert.equal(j.status, 4);
    assert.equal((JSON.parse(j.stdout) as { daemon: string }).daemon, 'not running');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second lvsd run stops at the control socket, before touching the kernel or probing', async () => {
  await withDaemon({}, async (socket) => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-cli-'));
    try {
      const config = join(dir, 'services.json');
      writeFileSync(config, JSON.stringify({
        services: [{ protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11', port: 8080 }] }],
      }));
      const r = await cli(['run', '--config', config, '--socket', socket, '--state-file', join(dir, 'state.json')]);
      // exit 4 (control), not 3 (IPVS unavailable on a host without it): the socket was checked first
      assert.equal(r.status, 4, r.stderr);
      assert.match(r.stderr, /another lvsd is already listening on /);
      assert.equal(existsSync(join(dir, 'state.json')), false, 'no state written: nothing was applied');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('lvsd run refuses a --socket path that sun_path cannot hold whole, before touching anything', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-cli-'));
  try {
    const config = join(dir, 'services.json');
    writeFileSync(config, JSON.stringify({ services: [{ protocol: 'tcp', address: '192.0.2.10', port: 80 }] }));
    const long = join(dir, 's'.repeat(120 - dir.length), 'lvsd.sock');
    const r = await cli(['run', '--config', config, '--socket', long, '--state-file', join(dir, 'state.json')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^lvsd: --socket is 1\d\d bytes long; a Unix socket path holds at most 107/);
    const rel = await cli(['run', '--config', config, '--socket', 'lvsd.sock', '--state-file', join(dir, 'state.json')]);
    assert.equal(rel.status, 2, rel.stderr);
    assert.match(rel.stderr, /^lvsd: --socket "lvsd\.sock" must be an absolute path/);
    assert.equal(existsSync(join(dir, 'state.json')), false, 'nothing was applied');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
