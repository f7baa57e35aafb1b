/**
 * lineLogger (src/log-line.ts), the VRRP worker's logger without pino: for the calls lvsd makes it writes
 * the line log.ts's pino logger writes (same fields, same order, same level filtering), but for the time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '../../src/log.js';
import { lineLogger } from '../../src/log-line.js';

const err = Object.assign(new Error('socket gone'), { code: 'EBADF' });

function calls(root: Logger): void {
  const log = root.child({ component: 'vrrp' });
  log.info({ event: 'vrrp.transition', instance: 'VI_1', from: 'backup', to: 'master', gone: undefined }, 'VI_1: backup -> master');
  log.debug({ event: 'vrrp.advert' }, 'below the level: dropped');
  log.warn('a plain line');
  log.error({ event: 'vrrp.socket_reopened', instance: 'VI_1', err }, 'reopened');
  log.child({ instance: 'VI_2' }).warn({ event: 'vrrp.notify_failed', nested: { argv: ['/bin/x', 'a b'], code: 1 } }, 'notify %s exited %d', 'x', 1);
  log.info({}, 'no fields');
  log.info({ event: 'only.fields' });
  log.child({ component: 'override' }).info({ event: 'dup' }, 'dup key');
}

function lines(make: (fd: number) => Logger): Array<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-linelog-'));
  const file = join(dir, 'log');
  const fd = openSync(file, 'a');
  try {
    const log = make(fd);
    calls(log);
    log.flush();
  } finally {
    closeSync(fd);
  }
  const text = readFileSync(file, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return text.trim().split('\n').map((l) => {
    const rec = JSON.parse(l) as Record<string, unknown>;
    assert.match(String(rec.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    rec.time = 'T';
    return rec;
  });
}

test('the worker logger writes the lines pino writes, key order included', () => {
  const ours = lines((fd) => lineLogger({ level: 'info', destination: fd, pretty: false }));
  const pinos = lines((fd) => createLogger({ level: 'info', destination: fd, pretty: false }));
  assert.equal(ours.length, 7);
  assert.deepEqual(ours.map((r) => Object.keys(r)), pinos.map((r) => Object.keys(r)));
  assert.deepEqual(ours, pinos);
});

test('the worker logger filters by level, children inherit it, isLevelEnabled agrees', () => {
  const got: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-linelog-'));
  const fd = openSync(join(dir, 'log'), 'a');
  try {
    const log = lineLogger({ level: 'warn', destination: fd, pretty: false });
    assert.equal(log.level, 'warn');
    assert.equal(log.isLevelEnabled('info'), false);
    assert.equal(log.isLevelEnabled('error'), true);
    const child = log.child({ component: 'vrrp' });
    child.info('dropped');
    child.warn('kept');
    got.push(...readFileSync(join(dir, 'log'), 'utf8').trim().split('\n'));
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(got.length, 1);
  assert.equal((JSON.parse(got[0]!) as { msg: string }).msg, 'kept');
});
