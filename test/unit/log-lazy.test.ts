/**
 * lazyLogger (src/log.ts): a short CLI command (lvsd apply) gets a logger that loads pino only when a line
 * at its level is logged; what it logs then is the same JSON line the real logger writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, lazyLogger, silentLogger } from '../../src/log.js';

test('below its level a lazy logger makes nothing; at its level it becomes the real logger, children too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-lazylog-'));
  const file = join(dir, 'log');
  const fd = openSync(file, 'a');
  try {
    let made = 0;
    const log = lazyLogger('warn', () => {
      made++;
      return createLogger({ level: 'warn', destination: fd, pretty: false });
    });
    const child = log.child({ component: 'ipvs' });
    log.info({ event: 'ipvs.apply' }, 'dropped');
    child.debug('dropped');
    assert.equal(log.isLevelEnabled('info'), false);
    assert.equal(log.isLevelEnabled('error'), true);
    assert.equal(log.level, 'warn');
    assert.equal(made, 0, 'nothing logged at warn yet: no logger made');
    child.warn({ event: 'ipvs.retry', attempt: 2 }, 'retrying');
    log.error({ event: 'ipvs.failed' }, 'failed');
    assert.equal(made, 1, 'the real logger is made once');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.deepEqual([lines[0]!.level, lines[0]!.event, lines[0]!.component, lines[0]!.attempt, lines[0]!.msg], ['warn', 'ipvs.retry', 'ipvs', 2, 'retrying']);
    assert.deepEqual([lines[1]!.level, lines[1]!.event, lines[1]!.component], ['error', 'ipvs.failed', undefined]);
    assert.equal(typeof lines[0]!.time, 'string');
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the silent logger drops everything, its children too', () => {
  silentLogger.error({ event: 'x' }, 'dropped');
  silentLogger.child({ component: 'c' }).fatal('dropped');
  assert.equal(silentLogger.isLevelEnabled('fatal'), false);
});
