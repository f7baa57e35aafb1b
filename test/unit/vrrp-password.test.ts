/**
 * VRRPv2 simple-text authentication (RFC 2338 5.3.6.1, keepalived's auth_type PASS): on the wire, in the
 * config, and through `lvsd import keepalived` / `lvsd export keepalived`. Interop with a real keepalived
 * is in test/netns/vrrp-interop.test.ts ("with a password").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAdvert, encodeAdvert, passwordBytes, type AdvertV2 } from '../../src/vrrp/packet.js';
import { parseConfig } from '../../src/config/index.js';
import { decodeIncoming, outgoingAdverts } from '../../src/vrrp/wire.js';
import { formatProblem, importKeepalived, memoryFiles } from '../../src/import/index.js';

const imp = (file: string, text: string) => {
  const r = importKeepalived(file, memoryFiles({ [file]: text }), {});
  return {
    exitCode: r.complete ? 0 : 1, config: r.config,
    errors: r.problems.filter((p) => p.severity === 'error').map(formatProblem),
    warnings: r.problems.filter((p) => p.severity === 'warning').map(formatProblem),
  };
};

const V2: AdvertV2 = {
  version: 2, family: 'ipv4', vrid: 51, priority: 100, addresses: ['192.0.2.10'], advertInterval: 1,
  source: '192.0.2.1', destination: '224.0.0.18',
};
const ctx = (password?: string) => ({
  family: 'ipv4' as const, source: V2.source, destination: V2.destination, ttl: 255,
  expect: { version: 2 as const, vrid: 51, advertInterval: 1, ...(password ? { password: passwordBytes(password) } : {}) },
});

test('a password goes on the wire as keepalived puts it: auth type 1, its bytes zero-padded to 8 after the addresses', () => {
  const b = encodeAdvert({ ...V2, password: passwordBytes('1111') });
  assert.equal(b[4], 1);
  assert.deepEqual([...b.subarray(b.length - 8)], [0x31, 0x31, 0x31, 0x31, 0, 0, 0, 0]);
  const none = encodeAdvert(V2);
  assert.equal(none[4], 0);
  assert.deepEqual([...none.subarray(none.length - 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => passwordBytes('123456789'), /1 to 8 bytes/);
  assert.throws(() => encodeAdvert({ ...V2, version: 3, maxAdvertInterval: 100, password: passwordBytes('x') } as never), /VRRPv2 only/);
});

test('received adverts: the same password passes; another password, none when one is expected, or one when none is, is dropped as auth', () => {
  const withPw = (pw: string) => encodeAdvert({ ...V2, password: passwordBytes(pw) });
  assert.equal(decodeAdvert(withPw('1111'), ctx('1111')).ok, true);
  assert.deepEqual(decodeAdvert(withPw('1112'), ctx('1111')), { ok: false, reason: 'auth' });
  assert.deepEqual(decodeAdvert(encodeAdvert(V2), ctx('1111')), { ok: false, reason: 'auth' });
  assert.deepEqual(decodeAdvert(withPw('1111'), ctx()), { ok: false, reason: 'auth' });
  assert.equal(decodeAdvert(encodeAdvert(V2), ctx()).ok, true);
});

const doc = (vrrp: Record<string, unknown>) => [{ file: 'c.json', text: JSON.stringify({
  vrrp: [{ name: 'vi', interface: 'eth0', vrid: 5, addresses: ['192.0.2.5/24'], ...vrrp }],
}) }];

test('config: authentication is VRRPv2 only and at most 8 bytes, each refusal with its pointer', () => {
  assert.deepEqual(parseConfig(doc({ version: 2, authentication: { type: 'pass', password: 'secret' } })).vrrp[0]!.authentication,
    { type: 'pass', password: 'secret' });
  assert.throws(() => parseConfig(doc({ version: 3, authentication: { type: 'pass', password: 'x' } })),
    /c\.json: \/vrrp\/0\/authentication: is VRRPv2 only/);
  assert.deepEqual(parseConfig(doc({ version: 3, v2Compat: true, authentication: { type: 'pass', password: 'secret' } })).vrrp[0]!.authentication,
    { type: 'pass', password: 'secret' }, 'v2Compat: the password is for its VRRPv2 adverts');
  assert.throws(() => parseConfig(doc({ version: 2, authentication: { type: 'pass', password: 'ééééé' } })),
    /\/vrrp\/0\/authentication\/password: is 10 bytes in UTF-8/);
  assert.throws(() => parseConfig(doc({ version: 2, authentication: { type: 'ah', password: 'x' } })), /\/vrrp\/0\/authentication\/type/);
});

const conf = (auth: string, extra = '') => `
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  ${extra}
  authentication {
${auth}
  }
  virtual_ipaddress {
    192.0.2.16
  }
}
`;

test('import: auth_type PASS maps (cut to 8 bytes as keepalived sends it, with a warning), AH is refused, VRRPv3 ignores it', () => {
  const pass = imp('/etc/k.conf', conf('    auth_type PASS\n    auth_pass 1111'));
  assert.equal(pass.exitCode, 0);
  assert.deepEqual((pass.config as { vrrp: Array<{ authentication: unknown }> }).vrrp[0]!.authentication, { type: 'pass', password: '1111' });
  const long = imp('/etc/k.conf', conf('    auth_type PASS\n    auth_pass 1234567890'));
  assert.deepEqual((long.config as { vrrp: Array<{ authentication: unknown }> }).vrrp[0]!.authentication, { type: 'pass', password: '12345678' });
  assert.match(long.warnings.join('\n'), /\/etc\/k\.conf:8: auth_pass: keepalived sends only the first 8 bytes/);
  const ah = imp('/etc/k.conf', conf('    auth_type AH\n    auth_pass 1111'));
  assert.notEqual(ah.exitCode, 0);
  assert.match(ah.errors.join('\n'), /\/etc\/k\.conf:6: authentication: lvsd has no IPsec AH/);
  const v3 = imp('/etc/k.conf', conf('    auth_type PASS\n    auth_pass 1111', 'version 3'));
  assert.equal(v3.exitCode, 0);
  assert.equal((v3.config as { vrrp: Array<{ authentication?: unknown }> }).vrrp[0]!.authentication, undefined);
  assert.match(v3.warnings.join('\n'), /authentication: VRRPv3 has no authentication/);
});

const group = (groupBody: string, vi2Extra = '') => `
vrrp_sync_group G1 {
  group {
    VI_2
    VI_3
  }
${groupBody}
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  ${vi2Extra}
  virtual_ipaddress {
    192.0.2.100
  }
}
vrrp_instance VI_3 {
  interface eth0
  virtual_router_id 53
  virtual_ipaddress {
    192.0.2.101
  }
}
`;

test('import: a sync group\'s notify commands run from its first member instance (once per group transition); a clash with the member\'s own is refused', () => {
  const r = imp('/etc/g.conf', group('  notify_master "/bin/to-master a b"\n  notify /bin/any'));
  assert.notEqual(r.exitCode, 0, 'notify with notify_master at group level: one command per state');
  const ok = imp('/etc/g.conf', group('  notify_master "/bin/to-master a b"\n  notify_fault /bin/to-fault'));
  assert.equal(ok.exitCode, 0, ok.errors.join('\n'));
  const vrrp = (ok.config as { vrrp: Array<{ name: string; notify?: Record<string, string[]> }> }).vrrp;
  assert.deepEqual(vrrp.find((v) => v.name === 'VI_2')!.notify, { master: ['/bin/to-master', 'a', 'b'], fault: ['/bin/to-fault'] });
  assert.equal(vrrp.find((v) => v.name === 'VI_3')!.notify, undefined, 'not twice');
  assert.match(ok.warnings.join('\n'), /\/etc\/g\.conf:7: notify_master: lvsd runs it from member instance VI_2/);
  const generic = imp('/etc/g.conf', group('  notify /bin/any'));
  assert.deepEqual((generic.config as { vrrp: Array<{ notify?: Record<string, string[]> }> }).vrrp[0]!.notify!.backup, ['/bin/any', 'GROUP', 'G1', 'BACKUP']);
  const clash = imp('/etc/g.conf', group('  notify_master /bin/group-master', 'notify_master /bin/own-master'));
  assert.notEqual(clash.exitCode, 0);
  assert.match(clash.errors.join('\n'), /\/etc\/g\.conf:7: notify_master: member instance VI_2 has its own master command/);
});

test('v2Compat with a password: the VRRPv2 adverts carry it and must carry it; the VRRPv3 ones have no such field and pass', () => {
  const cfg = parseConfig(doc({ version: 3, v2Compat: true, advertInterval: '1s', authentication: { type: 'pass', password: '1111' } })).vrrp[0]!;
  const out = outgoingAdverts(cfg, '192.0.2.1', 100);
  assert.deepEqual(out.map((o) => o.payload[0]! >> 4), [3, 2]);
  const [v3, v2] = out.map((o) => o.payload);
  assert.equal(v2![4], 1, 'the VRRPv2 advert says simple text');
  assert.deepEqual([...v2!.subarray(v2!.length - 8)], [0x31, 0x31, 0x31, 0x31, 0, 0, 0, 0]);
  const ip = { source: '192.0.2.9', destination: '224.0.0.18', ttl: 255 };
  const v2From = (pw?: string) => encodeAdvert({ ...V2, vrid: 5, addresses: ['192.0.2.5'], source: ip.source, ...(pw ? { password: passwordBytes(pw) } : {}) });
  assert.equal(decodeIncoming(cfg, v2From('1111'), ip).ok, true, 'a VRRPv2 peer with the password');
  assert.deepEqual(decodeIncoming(cfg, v2From(), ip), { ok: false, reason: 'auth' }, 'a VRRPv2 peer without it');
  assert.deepEqual(decodeIncoming(cfg, v2From('2222'), ip), { ok: false, reason: 'auth' }, 'a VRRPv2 peer with another');
  const v3From = encodeAdvert({ version: 3, family: 'ipv4', vrid: 5, priority: 100, addresses: ['192.0.2.5'], maxAdvertInterval: 100, ...ip });
  assert.equal(decodeIncoming(cfg, v3From, ip).ok, true, 'a VRRPv3 peer (another v2Compat router)');
  assert.ok(v3!.length < v2!.length, 'the VRRPv3 advert has no authentication data');
});
