import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLogLine } from '../../src/log-pretty.js';
import { createLogger } from '../../src/log.js';

const record = {
  level: 'info', time: '2026-11-25T11:58:14.737Z', pid: 42, component: 'vrrp', event: 'vrrp.transition',
  instance: 'VI_1', from: 'backup', to: 'master', reason: 'master_down', msg: 'VI_1: backup -> master (master_down)',
};

test('a JSON log record becomes one readable line: time, level, event, message, the other fields', () => {
  assert.equal(
    formatLogLine(JSON.stringify(record), false),
    '11:58:14.737  INFO   vrrp.transition  VI_1: backup -> master (master_down)  component=vrrp instance=VI_1 from=backup to=master reason=master_down\n',
  );
});

test('values with spaces are quoted, objects stay JSON, colour only when asked', () => {
  const line = formatLogLine(JSON.stringify({ level: 'warn', time: record.time, event: 'x', msg: 'm', err: 'no route', vips: ['a', 'b'] }), false);
  assert.match(line, /err="no route" vips=\["a","b"\]/);
  assert.doesNotMatch(line, /\x1b\[/);
  assert.match(formatLogLine(JSON.stringify(record), true), /\x1b\[32mINFO/);
});

test('a line that is not JSON passes through unchanged', () => {
  assert.equal(formatLogLine('plain text', false), 'plain text\n');
});

test('createLogger writes human lines when pretty, JSON lines otherwise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-log-'));
  for (const pretty of [true, false]) {
    const file = join(dir, `${pretty}.log`);
    const fd = openSync(file, 'w');
    createLogger({ destination: fd, pretty }).info({ event: 'daemon.started', version: '1.2.3' }, 'lvsd running');
    closeSync(fd);
    const text = readFileSync(file, 'utf8');
    if (pretty) assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} {2}INFO {3}daemon\.started {2}lvsd running {2}version=1\.2\.3\n$/);
    else assert.equal(JSON.parse(text).event, 'daemon.started');
  }
});
