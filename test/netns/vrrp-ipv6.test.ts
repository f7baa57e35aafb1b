/**
 * IPv6 VIPs with VRRPv3 between two lvsd directors: the same handover story as the interop tests
 * (election, link-down failover, preemption back, clean stop), where the client's neighbour entry for the
 * VIP is moved by the new master's unsolicited Neighbor Advertisement (override flag set).
 */
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { handoverScenario, type Variant } from './fixtures/vrrp-peers.js';
import { VrrpLab } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();

describe('VRRPv3 with IPv6 VIPs between two lvsd directors', { skip }, () => {
  for (const intervalMs of [100, 1000]) {
    test(`${intervalMs} ms: unsolicited NA moves the client, failover and handover within the RFC bounds`, async (t) => {
      const v: Variant = { version: 3, family: 'ipv6', intervalMs, vip: 'fd00:61::100', prefix: 64, vrid: 64 };
      const vlab = new VrrpLab();
      t.after(() => vlab.cleanup());
      const d1 = vlab.node('d1');
      const d2 = vlab.node('d2');
      const client = vlab.node('c');
      vlab.ip(client, 'addr add fd00:61::3/64 dev eth0 nodad');
      await handoverScenario({
        vlab, v, masterNode: d1, backupNode: d2, client,
        master: { kind: 'lvsd', priority: 150 },
        backup: { kind: 'lvsd', priority: 100 },
        log: (line) => t.diagnostic(line),
      });
    });
  }
});
