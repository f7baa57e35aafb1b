import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:os';
import { kernelError } from '../../src/ipvs/kernel-errors.js';
import type { DestSpec, IpvsCommand, ServiceKey, ServiceSpec } from '../../src/ipvs/types.js';

const E = constants.errno;
const key: ServiceKey = { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: '192.0.2.10', port: 80 };
const service: ServiceSpec = { key, scheduler: 'mh', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
const dest: DestSpec = {
  family: 'ipv4', address: '10.0.1.11', port: 8080, forwarding: 'nat', weight: 1, upperThreshold: 0, lowerThreshold: 0,
  tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
};

function message(command: IpvsCommand, errno: number): string {
  return kernelError(command, errno).message;
}

describe('kernel refusals as sentences', () => {
  it('names the object and the fix', () => {
    assert.equal(message({ cmd: 'new-service', service }, E.ENOENT), 'scheduler "mh" is not available: load module ip_vs_mh');
    assert.equal(message({ cmd: 'new-service', service }, E.EEXIST), 'service tcp/192.0.2.10:80 already exists');
    assert.equal(message({ cmd: 'set-service', service }, E.ESRCH), 'service tcp/192.0.2.10:80 does not exist');
    assert.equal(message({ cmd: 'del-service', key: { kind: 'fwmark', family: 'ipv6', fwmark: 9 } }, E.ESRCH), 'service fwmark/ipv6/9 does not exist');
    assert.equal(message({ cmd: 'new-dest', service: key, dest }, E.ENETUNREACH), 'real server 10.0.1.11:8080 has no route');
    assert.equal(message({ cmd: 'new-dest', service: key, dest }, E.EEXIST), 'real server 10.0.1.11:8080 already exists in service tcp/192.0.2.10:80');
    assert.equal(message({ cmd: 'del-dest', service: key, dest }, E.ENOENT), 'real server 10.0.1.11:8080 does not exist in service tcp/192.0.2.10:80');
    assert.equal(message({ cmd: 'new-dest', service: key, dest }, E.ESRCH), 'service tcp/192.0.2.10:80 does not exist');
    assert.equal(message({ cmd: 'new-daemon', daemon: { state: 'backup', interface: 'eth9', syncId: 1 } }, E.ENODEV), 'sync daemon interface "eth9" does not exist');
  });

  it('says what CAP_NET_ADMIN is for, whatever the command', () => {
    for (const command of [{ cmd: 'new-service', service }, { cmd: 'del-daemon', state: 'master' }] as IpvsCommand[]) {
      assert.equal(message(command, E.EPERM), 'permission denied: lvsd needs CAP_NET_ADMIN');
    }
  });

  it('mentions the persistence engine when one is set and the module lookup failed', () => {
    assert.match(message({ cmd: 'new-service', service: { ...service, pe: 'sip' } }, E.ENOENT), /persistence engine "sip": module ip_vs_pe_sip/);
  });

  it('explains the EINVAL cases it can tell apart', () => {
    const v6dest = { ...dest, family: 'ipv6' as const, address: '2001:db8::5' };
    assert.match(message({ cmd: 'new-dest', service: key, dest: v6dest }, E.EINVAL), /another address family needs tunnel forwarding/);
    assert.match(message({ cmd: 'new-dest', service: key, dest: { ...dest, forwarding: 'tunnel', tunnelType: 'gue' } }, E.EINVAL), /GUE tunnel needs a tunnel port/);
  });

  it('falls back to the errno name, and keeps errno and command in details', () => {
    const e = kernelError({ cmd: 'set-timeouts', timeouts: { tcp: 1, tcpFin: 0, udp: 0 } }, E.ENOMEM);
    assert.equal(e.code, 'LVSD_IPVS_KERNEL');
    assert.equal(e.message, 'set-timeouts was refused by the kernel: ENOMEM');
    assert.deepEqual((e.details as { errno: number; code: string }).errno, E.ENOMEM);
    assert.equal((e.details as { description: string }).description, 'set-timeouts');
    assert.equal((e.details as { command: IpvsCommand }).command.cmd, 'set-timeouts');
  });
});
