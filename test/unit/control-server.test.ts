import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlServer, type ControlHandlers, type DrainRequest } from '../../src/daemon/control-server.js';
import { requestDaemon } from '../../src/cli/control-client.js';
import { LvsdError, isLvsdError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { fixtureSnapshot } from './status-fixture.js';

const CLIENT_MODULE = fileURLToPath(new URL('../../src/cli/control-client.js', import.meta.url));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-control-'));
  chmodSync(dir, 0o755); // reachable by other users, so only the socket's own mode guards it
  return dir;
}

function handlers(drained: Set<string> = new Set()): ControlHandlers {
  const known = (r: DrainRequest) => {
    if (r.service !== 'web') return { ok: false as const, notFound: 'service' as const, message: `no service named ${r.service}` };
    if (r.realServer !== '10.0.1.11:8080') {
      return { ok: false as const, notFound: 'realServer' as const, message: `service web has no real server ${r.realServer}` };
    }
    return undefined;
  };
  return {
    status: () => fixtureSnapshot(),
    reload: () => ({ ok: false, error: 'config invalid', problems: [{ file: '/etc/lvsd/lvsd.json', pointer: '/vrrp/0/vrid', message: 'must be <= 255' }] }),
    drain: (r) => known(r) ?? { ok: true, changed: !drained.has(r.realServer) && !!drained.add(r.realServer) },
    undrain: (r) => known(r) ?? { ok: true, changed: drained.delete(r.realServer) },
  };
}

/** Runs the control client as another user in a child process and reports what it got. */
type Outcome = { ok?: boolean; node?: string; code?: string; errno?: string; message?: string };
async function requestAs(user: string, group: string, socket: string): Promise<Outcome> {
  const script = `
    const { requestDaemon } = await import(${JSON.stringify(CLIENT_MODULE)});
    try { const s = await requestDaemon(process.argv[1], 'GET', '/v1/status'); console.log(JSON.stringify({ ok: true, node: s.node })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.details?.errno, message: e.message })); }`;
  // asynchronous: the server answering it lives in this process
  const { stdout } = await promisify(execFile)('setpriv', [`--reuid=${user}`, `--regid=${group}`, '--clear-groups',
    process.execPath, '--input-type=module', '-e', script, socket], { encoding: 'utf8' });
  return JSON.parse(stdout) as Outcome;
}

test('GET /v1/status answers the handler snapshot over the Unix socket', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const server = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  const status = await requestDaemon(path, 'GET', '/v1/status');
  assert.deepEqual(status, fixtureSnapshot());
  assert.equal(statSync(path).mode & 0o777, 0o600, 'root-only socket without a group');
});

test('POST /v1/reload passes a refused reload through with its problems', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const server = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  const result = await requestDaemon<{ ok: boolean; problems: unknown[] }>(path, 'POST', '/v1/reload');
  assert.equal(result.ok, false);
  assert.deepEqual(result.problems, [{ file: '/etc/lvsd/lvsd.json', pointer: '/vrrp/0/vrid', message: 'must be <= 255' }]);
});

test('drain and undrain: ok, idempotent, and 404 with a clear message for unknown names', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const drained = new Set<string>();
  const server = await startControlServer({ path, handlers: handlers(drained), log: silentLogger });
  t.after(() => server.close());
  const body = { service: 'web', realServer: '10.0.1.11:8080' };
  assert.deepEqual(await requestDaemon(path, 'POST', '/v1/drain', body), { ok: true, changed: true });
  assert.deepEqual(await requestDaemon(path, 'POST', '/v1/drain', body), { ok: true, changed: false });
  assert.ok(drained.has('10.0.1.11:8080'));
  assert.deepEqual(await requestDaemon(path, 'POST', '/v1/undrain', body), { ok: true, changed: true });
  await assert.rejects(requestDaemon(path, 'POST', '/v1/drain', { service: 'web', realServer: '10.9.9.9:80' }), (e: unknown) =>
    isLvsdError(e, 'LVSD_CONTROL') && e.message === 'service web has no real server 10.9.9.9:80'
    && (e.details as { status: number; code: string }).status === 404 && (e.details as { code: string }).code === 'NOT_FOUND');
  await assert.rejects(requestDaemon(path, 'POST', '/v1/undrain', { service: 'mail', realServer: '10.0.1.11:8080' }),
    (e: unknown) => isLvsdError(e) && e.message === 'no service named mail');
});

test('bad requests get JSON errors: missing fields, wrong method, unknown endpoint, handler failure', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const h = handlers();
  h.status = () => { throw new LvsdError('LVSD_IPVS_UNAVAILABLE', 'no IPVS in this kernel'); };
  const server = await startControlServer({ path, handlers: h, log: silentLogger });
  t.after(() => server.close());
  const details = async (p: Promise<unknown>) => {
    const e = await p.then(() => undefined, (err: unknown) => err);
    assert.ok(isLvsdError(e, 'LVSD_CONTROL'), `expected an LvsdError, got ${String(e)}`);
    return { ...(e.details as { socket: string; status?: number; code?: string }), message: e.message };
  };
  assert.deepEqual(await details(requestDaemon(path, 'POST', '/v1/drain', { service: 'web' })), {
    socket: path, status: 400, code: 'BAD_REQUEST',
    message: 'expected a JSON body {"service": "<name or key>", "realServer": "<address:port>"}',
  });
  assert.equal((await details(requestDaemon(path, 'GET', '/v1/reload'))).status, 405);
  assert.equal((await details(requestDaemon(path, 'GET', '/v2/nothing'))).status, 404);
  assert.deepEqual(await details(requestDaemon(path, 'GET', '/v1/status')),
    { socket: path, status: 500, code: 'LVSD_IPVS_UNAVAILABLE', message: 'no IPVS in this kernel' });
});

test('the client says lvsd is not running when there is no socket, or only a stale one', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  await assert.rejects(requestDaemon(path, 'GET', '/v1/status'), (e: unknown) =>
    isLvsdError(e, 'LVSD_CONTROL') && e.message === `lvsd is not running (no daemon listening on ${path})`);
  await leaveStaleSocket(path);
  await assert.rejects(requestDaemon(path, 'GET', '/v1/status'), (e: unknown) =>
    isLvsdError(e, 'LVSD_CONTROL') && e.message === `lvsd is not running (no daemon listening on ${path})`);
});

/** A socket file with no listener: what a daemon killed with SIGKILL leaves behind. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e',
    `require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))`, path]);
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(statSync(path).isSocket());
}

test('a stale socket file is replaced; a missing directory is created private', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'run', 'lvsd', 'lvsd.sock');
  const first = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  assert.equal(statSync(join(dir, 'run', 'lvsd')).mode & 0o777, 0o700);
  await first.close();
  await leaveStaleSocket(path);
  const server = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  assert.equal((await requestDaemon<{ node: string }>(path, 'GET', '/v1/status')).node, 'lb1.example.net');
});

test('refuses to start while another daemon listens on the socket, or when the path is not a socket', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const server = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  await assert.rejects(startControlServer({ path, handlers: handlers(), log: silentLogger }), (e: unknown) =>
    isLvsdError(e, 'LVSD_CONTROL') && e.message === `another lvsd is already listening on ${path}`);
  assert.equal((await requestDaemon<{ node: string }>(path, 'GET', '/v1/status')).node, 'lb1.example.net', 'the first still answers');
  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'precious');
  await assert.rejects(startControlServer({ path: file, handlers: handlers(), log: silentLogger }),
    (e: unknown) => isLvsdError(e, 'LVSD_CONTROL') && /is not a socket/.test(e.message));
});

const asRoot = { skip: process.getuid?.() !== 0 ? 'needs root to switch users and chown' : false };

test('an unprivileged user is refused by the socket mode (EACCES), with a message naming the socket', asRoot, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const server = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  const got = await requestAs('nobody', 'nogroup', path);
  assert.equal(got.ok, undefined, 'nobody must not get the status');
  assert.equal(got.code, 'LVSD_CONTROL');
  assert.equal(got.errno, 'EACCES');
  assert.equal(got.message, `permission denied on ${path}: run as root or as a member of the control socket's group`);
});

test('with a group, members may use the socket (mode 0660) and others are refused', asRoot, async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'run', 'lvsd.sock');
  const server = await startControlServer({ path, group: 'nogroup', handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  const st = statSync(path);
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.gid, 65534);
  const dirSt = statSync(join(dir, 'run'));
  assert.equal(dirSt.mode & 0o777, 0o750, 'a directory it creates is open to the group only');
  assert.equal(dirSt.gid, 65534);
  assert.deepEqual(await requestAs('nobody', 'nogroup', path), { ok: true, node: 'lb1.example.net' });
  assert.equal((await requestAs('nobody', 'daemon', path)).errno, 'EACCES');
  await assert.rejects(startControlServer({ path: join(dir, 'x.sock'), group: 'no-such-group-lvsd', handlers: handlers(), log: silentLogger }),
    (e: unknown) => isLvsdError(e, 'LVSD_CONTROL') && /does not exist/.test(e.message));
});

test('a request body that never finishes arriving does not hold its connection for ever', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lvsd.sock');
  const server = await startControlServer({ path, handlers: handlers(), log: silentLogger });
  t.after(() => server.close());
  const { connect } = await import('node:net');
  const started = Date.now();
  const closed = await new Promise<boolean>((resolve) => {
    const s = connect(path, () => s.write('POST /v1/drain HTTP/1.1\r\nHost: lvsd\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"serv'));
    s.on('close', () => resolve(true));
    s.on('error', () => undefined);
    setTimeout(() => { s.destroy(); resolve(false); }, 20_000).unref();
  });
  assert.equal(closed, true, 'the daemon closed the connection');
  assert.ok(Date.now() - started < 19_000);
});

test('the client reads HTTP/1.1 answers: content-length, chunked, and says when one is cut short or not HTTP', async () => {
  const { parseAnswer } = await import('../../src/cli/control-client.js');
  const b = (s: string) => Buffer.from(s, 'latin1');
  const ok = parseAnswer(b('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'));
  assert.ok(typeof ok !== 'string');
  assert.deepEqual([ok.status, ok.body.toString()], [200, '{"ok":true}']);
  const chunked = parseAnswer(b('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'));
  assert.ok(typeof chunked !== 'string');
  assert.deepEqual([chunked.status, chunked.body.toString()], [404, '{"a":1}']);
  const untilClose = parseAnswer(b('HTTP/1.0 200 OK\r\n\r\n[1]'));
  assert.ok(typeof untilClose !== 'string');
  assert.equal(untilClose.body.toString(), '[1]');
  assert.equal(parseAnswer(b('HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{"ok":true}')), 'the answer was cut short');
  assert.equal(parseAnswer(b('HTTP/1.1 200 OK\r\ncontent-le')), 'the answer was cut short');
  assert.equal(parseAnswer(b('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"a"')), 'the answer was cut short');
  assert.equal(parseAnswer(b('')), 'the connection closed without an answer');
  assert.equal(parseAnswer(b('SSH-2.0-OpenSSH\r\n\r\n')), 'the answer is not HTTP');
});

test('a daemon that closes the connection without answering is a clear LVSD_CONTROL error, not a hang', async (t) => {
  const { createServer } = await import('node:net');
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'mute.sock');
  const server = createServer((c) => c.once('data', () => c.end()));
  await new Promise<void>((r) => server.listen(path, r));
  t.after(() => server.close());
  await assert.rejects(requestDaemon(path, 'POST', '/v1/reload', {}), (e: unknown) =>
    isLvsdError(e, 'LVSD_CONTROL') && /closed without an answer/.test((e as Error).message));
});
