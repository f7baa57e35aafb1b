/**
 * Interop with Debian's keepalived (2.2.7, /usr/sbin/keepalived) as the VRRP peer: VRRPv2 IPv4 (1 s, and
 * with keepalived's simple-text password, auth_type PASS),
 * VRRPv3 IPv4 (100 ms, multicast and unicast) and VRRPv3 IPv6 (100 ms), each with keepalived as master and lvsd as backup and
 * the other way round. Each run goes election -> master's link down (backup takes over within
 * Master_Down_Interval + margin, the client's neighbour entry follows) -> link up (preempted back) ->
 * clean stop of the master (handover within Skew_Time + margin), the VIP never on both routers for longer
 * than one advert interval, lvsd counting no invalid adverts and keepalived logging no complaint.
 */
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { handoverScenario, type Kind, type Variant } from './fixtures/vrrp-peers.js';
import { keepalivedSkipReason, VrrpLab } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason() || keepalivedSkipReason();

const variants: Array<[string, Variant]> = [
  ['VRRPv2 IPv4, 1 s', { version: 2, family: 'ipv4', intervalMs: 1000, vip: '10.61.0.100', prefix: 24, vrid: 61 }],
  ['VRRPv2 IPv4 with a password (auth_type PASS), 1 s', { version: 2, family: 'ipv4', intervalMs: 1000, vip: '10.61.0.100', prefix: 24, vrid: 66, password: 'lvsd-pw' }],
  ['VRRPv3 IPv4, 100 ms', { version: 3, family: 'ipv4', intervalMs: 100, vip: '10.61.0.100', prefix: 24, vrid: 62 }],
  ['VRRPv3 IPv4 unicast, 100 ms', { version: 3, family: 'ipv4', intervalMs: 100, vip: '10.61.0.100', prefix: 24, vrid: 65, unicast: true }],
  ['VRRPv3 IPv6, 100 ms', { version: 3, family: 'ipv6', intervalMs: 100, vip: 'fd00:61::100', prefix: 64, vrid: 63 }],
];

describe('lvsd and keepalived as VRRP peers', { skip }, () => {
  for (const [label, v] of variants) {
    // with a password one direction suffices: each router both sends to and accepts from the other in it
    const pairs = ([['keepalived', 'lvsd'], ['lvsd', 'keepalived']] as Array<[Kind, Kind]>).filter(([m]) => !v.password || m === 'keepalived');
    for (const [master, backup] of pairs) {
      test(`${label}: ${master} master, ${backup} backup: failover, preemption, clean stop both ways`, async (t) => {
        const vlab = new VrrpLab();
        t.after(() => vlab.cleanup());
        const d1 = vlab.node('d1');
        const d2 = vlab.node('d2');
        const client = vlab.node('c');
        if (v.family === 'ipv6') vlab.ip(client, 'addr add fd00:61::3/64 dev eth0 nodad');
        await handoverScenario({
          vlab, v, masterNode: d1, backupNode: d2, client,
          master: { kind: master, priority: 150 },
          backup: { kind: backup, priority: 100 },
          log: (line) => t.diagnostic(`${label} ${master}->${backup}: ${line}`),
        });
      });
    }
  }
});
