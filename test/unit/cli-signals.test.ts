/**
 * `lvsd run` traps SIGTERM, SIGINT and SIGHUP from its first moment: a signal while the daemon is still
 * starting no longer ends the process on the spot (Node's default); it is replayed once the daemon runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { silentLogger } from '../../src/log.js';
import { trapSignals } from '../../src/daemon/signals.js';

test('signals during start are held: SIGHUPs become one reload once started, listeners go on detach', () => {
  const proc = new EventEmitter();
  const trap = trapSignals(silentLogger, proc);
  assert.equal(proc.listenerCount('SIGHUP'), 1, 'a listener from the start: Node would otherwise exit on SIGHUP');
  proc.emit('SIGHUP');
  proc.emit('SIGHUP');
  const calls: string[] = [];
  trap.attach({ stop: (s) => calls.push(`stop ${s}`), reload: () => calls.push('reload') });
  assert.deepEqual(calls, ['reload']);
  proc.emit('SIGHUP');
  proc.emit('SIGTERM');
  assert.deepEqual(calls, ['reload', 'reload', 'stop SIGTERM']);
  trap.detach();
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) assert.equal(proc.listenerCount(s), 0);
});

test('a stop signal during start stops the daemon as soon as it has started (and no reload runs first)', () => {
  const proc = new EventEmitter();
  const trap = trapSignals(silentLogger, proc);
  proc.emit('SIGHUP');
  proc.emit('SIGINT');
  proc.emit('SIGTERM');
  const calls: string[] = [];
  trap.attach({ stop: (s) => calls.push(`stop ${s}`), reload: () => calls.push('reload') });
  assert.deepEqual(calls, ['stop SIGINT']);
  trap.detach();
});
