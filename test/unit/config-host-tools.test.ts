/** Programs a config needs on this host (src/config/host-tools.ts): acceptMode false needs nft. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missingTools, onPath } from '../../src/config/host-tools.js';
import { parse } from './config-fixtures.js';

const vi = (name: string, vrid: number, extra: Record<string, unknown> = {}) => ({ name, interface: 'eth0', vrid, addresses: [`192.0.2.${vrid}`], ...extra });

test('acceptMode false without nft on the host: one problem per such instance, at its acceptMode, saying what to install', () => {
  const config = parse({ vrrp: [vi('A', 1, { acceptMode: false }), vi('B', 2), vi('O', 3, { acceptMode: false, priority: 255 }), vi('C', 4, { acceptMode: false })] });
  const problems = missingTools(config, () => false);
  assert.deepEqual(problems.map((p) => `${p.file}${p.pointer}`), ['c.json/vrrp/0/acceptMode', 'c.json/vrrp/3/acceptMode'], 'not B (accepts), not O (the owner)');
  assert.match(problems[0]!.message, /needs nft .*apt install nftables/);
  assert.deepEqual(missingTools(config, (p) => p === 'nft'), [], 'nft present: nothing');
  assert.deepEqual(missingTools(parse({ vrrp: [vi('B', 2)] }), () => false), [], 'nobody needs it: nft is not looked for');
});

test('onPath finds executables in PATH directories only', () => {
  assert.equal(onPath('sh', '/nonexistent:/bin'), true);
  assert.equal(onPath('sh', '/nonexistent'), false);
  assert.equal(onPath('sh', ''), false);
});
