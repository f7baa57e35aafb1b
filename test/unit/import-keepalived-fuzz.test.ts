/** Whatever the input, the importer returns structured problems and a config lvsd accepts; it never throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/index.js';
import { importKeepalived, memoryFiles } from '../../src/import/index.js';
import { samplesDir } from './keepalived-samples.js';

const FILE = '/k/keepalived.conf';
const TOKENS = [
  '{', '}', '{ }', '!', '#', '"', '"a b"', '\\', '$X', '${X}', '$X=1', '$X=a \\', '@id', '@^id', '~SEQ(i,1,3)', '~SEQx(i,3)', '$i',
  'include', 'include *.conf', 'include ../k/keepalived.conf', 'virtual_server', 'virtual_server_group', 'group', 'fwmark', 'real_server',
  'vrrp_instance', 'vrrp_sync_group', 'global_defs', 'virtual_ipaddress', 'TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'MISC_CHECK', 'DNS_CHECK',
  'url', 'path', '/', 'status_code', '200-299', 'digest', 'misc_path', 'quorum', 'weight', 'lb_kind', 'NAT', 'DR', 'TUN', 'lb_algo', 'rr',
  'sh', 'protocol', 'UDP', 'persistence_timeout', 'persistence_granularity', 'interface', 'eth0', 'virtual_router_id', 'priority', 'advert_int',
  'unicast_peer', 'unicast_src_ip', 'track_interface', 'notify_master', 'lvs_sync_daemon', 'lvs_timeouts', 'tcp', '0', '1', '-1', '255',
  '65536', '4294967296', '0.5', 'NaN', '10.0.0.1', '10.0.0.1-9', '10.0.0.9-1', '2001:db8::1', '2001:db8::1-ff', 'dev', 'label', 'connect_port',
  'delay_loop', 'retry', 'alpha', 'sorry_server', 'ops', 'sh-port', 'flag-3', 'hysteresis', 'inhibit_on_failure', '\n', '\n', '\n', ' ', '\t',
];

function check(text: string, extra: Record<string, string> = {}): void {
  const r = importKeepalived(FILE, memoryFiles({ [FILE]: text, ...extra }), { configId: 'id' });
  for (const p of r.problems) {
    assert.ok(typeof p.file === 'string' && Number.isInteger(p.line) && p.keyword !== undefined && p.message.length > 0);
    assert.ok(p.severity === 'error' || p.severity === 'warning');
  }
  parseConfig([{ file: 'fuzz.json', text: JSON.stringify(r.config) }]);
}

test('token soups never crash the importer, and what it writes is always a valid lvsd config', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 120 }), fc.array(fc.constantFrom(...TOKENS), { maxLength: 30 }), (a, b) => {
      check(a.join(' '), { '/k/a.conf': b.join(' ') });
    }),
    { numRuns: 400 },
  );
});

test('arbitrary text never crashes the importer', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => check(s)), { numRuns: 300 });
});

const dir = samplesDir();
test('mutated keepalived samples (lines dropped, duplicated, swapped, words replaced) never crash the importer', { skip: dir ? false : 'no samples' }, () => {
  const samples = readdirSync(dir!).filter((f) => f.startsWith('keepalived.conf.')).map((f) => readFileSync(join(dir!, f), 'utf8').split('\n'));
  fc.assert(
    fc.property(
      fc.nat(samples.length - 1),
      fc.array(fc.tuple(fc.constantFrom('drop', 'dup', 'swap', 'word'), fc.nat(200), fc.nat(200), fc.constantFrom(...TOKENS)), { maxLength: 8 }),
      (which, edits) => {
        const lines = [...samples[which]!];
        for (const [op, i, j, tok] of edits) {
          const a = i % Math.max(lines.length, 1);
          const b = j % Math.max(lines.length, 1);
          if (op === 'drop') lines.splice(a, 1);
          else if (op === 'dup') lines.splice(a, 0, lines[a] ?? '');
          else if (op === 'swap') [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
          else {
            const words = (lines[a] ?? '').split(/(\s+)/);
            words[(j % Math.max(words.length, 1))] = tok;
            lines[a] = words.join('');
          }
        }
        check(lines.join('\n'));
      },
    ),
    { numRuns: 300 },
  );
});

test('a file that includes itself inside ~SEQ stops at a bounded number of reads, with one problem each, promptly', () => {
  // ~SEQ(i,1,2) doubles every level: 2^32 reads before the depth limit; it hung the fuzz above 1 run in 13
  for (const n of [2, 3]) {
    const r = importKeepalived(FILE, memoryFiles({ [FILE]: `~SEQ(i,1,${n}) include ../k/keepalived.conf` }), { configId: 'id' });
    assert.deepEqual(r.problems.map((p) => p.message), [
      'more than 32 levels of include (does a file include itself?)',
      'more than 1000 files read through include (does a file include itself?); stopped reading',
    ]);
  }
});
