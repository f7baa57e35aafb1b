/**
 * The sockets `lvsd run` opens at exec (src/vrrp/early-listen.ts): which ones the launcher's peek of the
 * config asks for, and that only those the validated config's instances would open reach the VRRP thread
 * (the others are closed). The sockets themselves: test/netns/vrrp-early-socket.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync, mkdtempSync, openSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  handListeners, listenEarly, listenSpecs, PEEK_MAX_BYTES, readConfigDocs, sinceOn, takeEarlyListeners, type EarlyListener,
} from '../../src/vrrp/early-listen.js';
import { runConfigPath } from '../../src/cli/command-files.js';
import { DEFAULT_CONFIG } from '../../src/cli/defaults.js';
import { parse } from './config-fixtures.js';

const instance = (extra: Record<string, unknown> = {}) => ({ name: 'VI_1', interface: 'eth0', vrid: 51, addresses: ['192.0.2.1/24'], ...extra });

test('the peek asks for one socket per instance: family from its first address, multicast unless unicast', () => {
  assert.deepEqual(listenSpecs([
    { vrrp: [instance(), instance({ name: 'V6', interface: 'eth1', addresses: ['2001:db8::1'] })] },
    { services: [] },
    { vrrp: [instance({ name: 'UNI', unicast: { source: '192.0.2.2', peers: ['192.0.2.3'] } })] },
  ]), [
    { instance: 'VI_1', family: 'ipv4', interface: 'eth0', multicast: true },
    { instance: 'V6', family: 'ipv6', interface: 'eth1', multicast: true },
    { instance: 'UNI', family: 'ipv4', interface: 'eth0', multicast: false },
  ]);
});

test('the peek skips what it cannot read and instances named twice: the daemon reports those', () => {
  assert.deepEqual(listenSpecs([null, 3, { vrrp: 'x' }, { vrrp: [null, instance({ interface: 7 }), instance({ addresses: [] }), instance({ name: 'A' }), instance({ name: 'A' })] }]), []);
});

test('the peek reads a file, or a directory\'s *.json files in name order, and nothing from a broken or oversized config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-peek-'));
  const file = join(dir, 'one.json');
  writeFileSync(file, JSON.stringify({ vrrp: [instance()] }));
  assert.deepEqual(readConfigDocs(file), [{ vrrp: [instance()] }]);
  const d = join(dir, 'conf.d');
  mkdirSync(d);
  writeFileSync(join(d, 'b.json'), '{"b":1}');
  writeFileSync(join(d, 'a.json'), '{"a":1}');
  writeFileSync(join(d, '.hidden.json'), '{"h":1}');
  writeFileSync(join(d, 'notes.txt'), 'x');
  assert.deepEqual(readConfigDocs(d), [{ a: 1 }, { b: 1 }]);
  writeFileSync(join(d, 'c.json'), '{ broken');
  assert.deepEqual(readConfigDocs(d), []);
  assert.deepEqual(readConfigDocs(join(dir, 'missing.json')), []);
  const big = join(dir, 'big.json');
  writeFileSync(big, JSON.stringify({ vrrp: [instance()], pad: 'x'.repeat(PEEK_MAX_BYTES) }));
  assert.deepEqual(readConfigDocs(big), []);
});

test('listenEarly opens what the peek asks for, never throws, and the sockets are taken once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-peek-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ vrrp: [instance(), instance({ name: 'NO_IF', interface: 'nope0' })] }));
  listenEarly(file, (spec) => {
    if (spec.interface === 'nope0') throw new Error('ENODEV');
    return 42;
  });
  const taken = takeEarlyListeners();
  assert.deepEqual(taken.map((l) => [l.instance, l.fd]), [['VI_1', 42]]);
  assert.deepEqual(takeEarlyListeners(), []);
});

test('only a socket the validated instance would open is handed on; the others are closed', () => {
  const fds = [0, 1, 2, 3].map(() => openSync('/dev/null', 'r'));
  const listener = (fd: number, extra: Partial<EarlyListener>): EarlyListener => ({ instance: 'VI_1', family: 'ipv4', interface: 'eth0', multicast: true, fd, since: 0, ...extra });
  const config = parse({ vrrp: [instance(), instance({ name: 'UNI', vrid: 52, addresses: ['192.0.2.9/24'], unicast: { source: '192.0.2.2', peers: ['192.0.2.3'] } })] });
  const handed = handListeners([
    listener(fds[0]!, {}),
    listener(fds[1]!, { instance: 'GONE' }),
    listener(fds[2]!, { instance: 'UNI', multicast: true }),
    listener(fds[3]!, { instance: 'UNI', multicast: false, interface: 'eth1' }),
  ], config.vrrp);
  assert.deepEqual(handed.map((l) => l.fd), [fds[0]]);
  fstatSync(fds[0]!);
  for (const fd of fds.slice(1)) assert.throws(() => fstatSync(fd), { code: 'EBADF' }, `descriptor ${fd} closed`);
});

test('the time a socket began to listen, on the VRRP runner\'s clock', () => {
  assert.equal(sinceOn(500, 1000, 1300), 200);
  assert.equal(sinceOn(500, 1400, 1300), 500, 'never in the future');
});

test('the launcher finds the config lvsd run will load as the command line gives it', () => {
  assert.equal(runConfigPath(['run', '--config', '/a.json']), '/a.json');
  assert.equal(runConfigPath(['run', '-c', '/b']), '/b');
  assert.equal(runConfigPath(['run', '--log-level', 'debug', '--config=/c.json']), '/c.json');
  assert.equal(runConfigPath(['run']), DEFAULT_CONFIG);
});
