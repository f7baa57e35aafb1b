/** keepalived's accept / no_accept / strict_mode / vrrp_strict -> lvsd acceptMode (keepalived's defaults). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { formatProblem, importKeepalived, memoryFiles } from '../../src/import/index.js';

const FILE = '/etc/keepalived/keepalived.conf';
const imp = (text: string) => importKeepalived(FILE, memoryFiles({ [FILE]: text }), {});
const inst = (name: string, vrid: number, extra: string) =>
  `vrrp_instance ${name} {\n  interface eth0\n  virtual_router_id ${vrid}\n  priority 100\n  virtual_ipaddress {\n    192.0.2.${vrid}\n  }\n${extra}}\n`;

function acceptModes(text: string): { modes: Record<string, unknown>; warnings: string[]; errors: string[] } {
  const r = imp(text);
  const errors = r.problems.filter((p) => p.severity === 'error').map(formatProblem);
  const warnings = r.problems.filter((p) => p.severity === 'warning').map(formatProblem);
  const doc = r.config as { vrrp: Array<{ name: string; acceptMode?: boolean }> };
  const loaded = parseConfig([{ file: 'out.json', text: JSON.stringify(r.config) }]);
  const modes = Object.fromEntries(loaded.vrrp.map((v) => [v.name, v.acceptMode]));
  assert.equal(doc.vrrp.length, loaded.vrrp.length);
  return { modes, warnings, errors };
}

test('accept, no_accept and neither: lvsd acceptMode true, false, true (keepalived accepts by default)', () => {
  const { modes, errors } = acceptModes(inst('A', 1, '  accept\n') + inst('N', 2, '  no_accept\n') + inst('D', 3, ''));
  assert.deepEqual(errors, []);
  assert.deepEqual(modes, { A: true, N: false, D: true });
});

test('vrrp_strict makes every instance no_accept unless it says accept or strict_mode off; a warning says what was taken', () => {
  const { modes, warnings, errors } = acceptModes(`global_defs {\n  vrrp_strict\n}\n` +
    inst('S', 1, '') + inst('A', 2, '  accept\n') + inst('O', 3, '  strict_mode off\n'));
  assert.deepEqual(errors, []);
  assert.deepEqual(modes, { S: false, A: true, O: true });
  assert.equal(warnings.filter((w) => /vrrp_strict: lvsd takes acceptMode false/.test(w)).length, 1, warnings.join('\n'));
  assert.equal(warnings.filter((w) => /vrrp_strict: lvsd takes nothing \(accept is set\)/.test(w)).length, 1, warnings.join('\n'));
});

test('strict_mode on an instance alone: acceptMode false; a bad value is refused at its line', () => {
  assert.deepEqual(acceptModes(inst('S', 1, '  strict_mode\n') + inst('T', 2, '  strict_mode yes\n')).modes, { S: false, T: false });
  const r = imp(inst('X', 1, '  strict_mode maybe\n'));
  assert.ok(r.problems.some((p) => p.severity === 'error' && p.keyword === 'strict_mode' && p.line === 8), JSON.stringify(r.problems));
});
