/**
 * The IPVS table model (src/table) is a leaf every part shares: the config and the health checker speak of
 * the table through it, never through the netlink client; flags are named in one place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3, TUN_F_CSUM, TUN_F_REMCSUM,
  SCHEDULER_FLAG_BITS, TUNNEL_CHECKSUM_BITS, schedulerFlagWords, serviceFlagNames, tunnelChecksum, unknownServiceFlags,
} from '../../src/table/index.js';

const srcDir = fileURLToPath(new URL('../../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);
}

test('src/config and src/health do not import src/ipvs: the table model is theirs', () => {
  for (const folder of ['config', 'health']) {
    for (const file of sources(join(srcDir, folder))) {
      for (const spec of importsOf(file)) assert.doesNotMatch(spec, /(^|\/)ipvs\//, `${file} imports ${spec}`);
    }
  }
});

test('src/table is a leaf: it imports only node modules, itself and the pure address helpers', () => {
  for (const file of sources(join(srcDir, 'table'))) {
    for (const spec of importsOf(file)) {
      assert.ok(spec.startsWith('node:') || spec.startsWith('./') || spec === '../net/address.js', `${file} imports ${spec}`);
    }
  }
});

test('one DesiredEntry: no other module declares it', () => {
  for (const file of sources(srcDir)) {
    if (file.includes(`${join('src', 'table')}`)) continue;
    assert.doesNotMatch(readFileSync(file, 'utf8'), /interface DesiredEntry\b/, file);
  }
});

test('service flags have one name per vocabulary', () => {
  const all = SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1 | SVC_F_SCHED2 | SVC_F_SCHED3;
  assert.deepEqual(serviceFlagNames(all, 'wlc'), ['persistent', 'one-packet', 'sched-flag-1', 'sched-flag-2', 'sched-flag-3']);
  assert.deepEqual(serviceFlagNames(all, 'wlc', 'short'), ['persistent', 'ops', 'sched1', 'sched2', 'sched3']);
  assert.deepEqual(serviceFlagNames(all, 'mh', 'short'), ['persistent', 'ops', 'mh-fallback', 'mh-port', 'sched3']);
  assert.equal(unknownServiceFlags(all | 0x400), 0x400);
  for (const sched of ['sh', 'mh']) {
    const words = schedulerFlagWords(SVC_F_SCHED1 | SVC_F_SCHED2, sched);
    assert.deepEqual(words, [`${sched}-fallback`, `${sched}-port`]);
    assert.equal(words.reduce((bits, w) => bits | SCHEDULER_FLAG_BITS[w]!, 0), SVC_F_SCHED1 | SVC_F_SCHED2);
  }
  for (const [word, bits] of Object.entries(TUNNEL_CHECKSUM_BITS)) assert.equal(tunnelChecksum(bits), word);
  assert.equal(tunnelChecksum(0, 'short'), 'nocsum');
  assert.equal(tunnelChecksum(TUN_F_CSUM | TUN_F_REMCSUM), 'remcsum');
});
