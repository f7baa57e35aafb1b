/** keepalived keywords -> lvsd config: mapped, approximated (warning) or refused (error), each at FILE:LINE. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { formatProblem, importKeepalived, memoryFiles } from '../../src/import/index.js';

const FILE = '/etc/keepalived/keepalived.conf';
const imp = (text: string, configId?: string) => importKeepalived(FILE, memoryFiles({ [FILE]: text }), { configId });
const errors = (r: ReturnType<typeof imp>) => r.problems.filter((p) => p.severity === 'error').map(formatProblem);
const warnings = (r: ReturnType<typeof imp>) => r.problems.filter((p) => p.severity === 'warning').map(formatProblem);

test('a virtual server with its options, real servers and checks maps key by key, and lvsd accepts it', () => {
  const r = imp(`
virtual_server 192.0.2.10 443 {
  delay_loop 5
  lb_algo sh
  sh-port
  lb_kind DR
  protocol TCP
  persistence_timeout 600
  persistence_granularity 255.255.255.0
  quorum 2
  sorry_server 192.0.2.99 443
  alpha
  real_server 192.0.2.11 443 {
    weight 3
    uthreshold 100
    lthreshold 50
    inhibit_on_failure
    SSL_GET {
      url {
        path /health
        status_code 200-201 204
        virtualhost www.example
      }
      connect_port 8443
      connect_timeout 2
      retry 2
      delay_before_retry 5
    }
  }
  real_server 192.0.2.12 443 {
    weight 3
    inhibit_on_failure
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
}
virtual_server fwmark 7 {
  lb_algo rr
  real_server 10.0.0.1 {
    MISC_CHECK {
      misc_path "/usr/local/bin/check arg"
      misc_timeout 3
      misc_dynamic
      user checker
    }
  }
}
virtual_server 2001:db8::53 53 {
  protocol UDP
  ops
  lb_algo mh
  real_server 2001:db8::1 53 {
    DNS_CHECK {
      type AAAA
      name example.org
      retry 2
      delay_before_retry 60
    }
  }
}`);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(r.config.services, [
    {
      protocol: 'tcp', address: '192.0.2.10', port: 443, scheduler: 'sh', forwarding: 'dr', schedulerFlags: ['sh-port'],
      sorryServer: { address: '192.0.2.99', port: 443 }, persistence: { timeout: 600, netmask: '255.255.255.0' },
      onFailure: 'inhibit', initialState: 'down', quorum: { minUp: 1 },
      realServers: [
        { address: '192.0.2.11', port: 443, weight: 3, upperThreshold: 100, lowerThreshold: 50,
          healthCheck: { type: 'https', path: '/health', expectStatus: [200, 201, 204], host: 'www.example', port: 8443, verify: false, interval: 5, timeout: 2, rise: 1, fall: 3 } },
        { address: '192.0.2.12', port: 443, weight: 3, healthCheck: { type: 'tcp', interval: 5, timeout: 1, rise: 1, fall: 1 } },
      ],
    },
    {
      fwmark: 7, scheduler: 'rr', forwarding: 'nat', onFailure: 'remove', initialState: 'up',
      realServers: [{ address: '10.0.0.1', healthCheck: { type: 'exec', command: ['/usr/local/bin/check', 'arg'], dynamicWeight: true, user: 'checker', interval: 60, timeout: 3, rise: 1, fall: 1 } }],
    },
    {
      protocol: 'udp', address: '2001:db8::53', port: 53, scheduler: 'mh', forwarding: 'nat', onePacket: true, onFailure: 'remove', initialState: 'up',
      realServers: [{ address: '2001:db8::1', port: 53, healthCheck: { type: 'dns', queryType: 'AAAA', query: 'example.org', interval: 60, timeout: 5, rise: 1, fall: 3 } }],
    },
  ]);
  // quorum 2 over weights 3: one server of weight 3 is enough, as keepalived sums weights
  assert.ok(warnings(r).some((w) => /:27: SSL_GET: lvsd retries at the check interval \(5s\), not delay_before_retry \(5s\)/.test(w)) === false);
  assert.ok(warnings(r).some((w) => /:57: DNS_CHECK: lvsd retries at the check interval/.test(w)) === false);
  assert.ok(warnings(r).some((w) => /:47: MISC_CHECK|misc_path/.test(w)));
  parseConfig([{ file: 'x.json', text: JSON.stringify(r.config) }]);
});

test('VRRP instances, sync groups, sync daemon, timeouts and globals map; keepalived defaults are written out', () => {
  const r = imp(`
global_defs {
  router_id d1
  vrrp_garp_interval 0.1
  lvs_timeouts tcp 900 tcpfin 120 udp 300
  lvs_sync_daemon eth1 VI_1 id 9
}
vrrp_sync_group G {
  group {
    VI_1
    VI_6
  }
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 2
  nopreempt
  unicast_src_ip 10.0.0.1
  unicast_peer {
    10.0.0.2
  }
  track_interface {
    eth1 weight -20
    eth2
  }
  notify_master "/usr/local/bin/notify master VI_1"
  virtual_ipaddress {
    192.0.2.1/24 dev eth0
    192.0.2.2
  }
}
vrrp_instance VI_6 {
  interface eth0
  virtual_router_id 52
  advert_int 0.5
  virtual_ipaddress {
    2001:db8::1/64
  }
}`);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(r.config.vrrp, [
    { name: 'VI_1', interface: 'eth0', vrid: 51, priority: 150, advertInterval: 2, preempt: false, version: 2,
      unicast: { source: '10.0.0.1', peers: ['10.0.0.2'] }, trackInterfaces: [{ name: 'eth1', weight: -20 }, { name: 'eth2' }],
      notify: { master: ['/usr/local/bin/notify', 'master', 'VI_1'] }, addresses: ['192.0.2.1/24', '192.0.2.2'], garp: { interval: 0.1 } },
    { name: 'VI_6', interface: 'eth0', vrid: 52, advertInterval: 0.5, addresses: ['2001:db8::1/64'], version: 3, priority: 100, garp: { interval: 0.1 } },
  ]);
  assert.deepEqual(r.config.syncGroups, [{ name: 'G', instances: ['VI_1', 'VI_6'] }]);
  assert.deepEqual(r.config.connectionSync, { instance: 'VI_1', interface: 'eth1', syncId: 9 });
  assert.deepEqual(r.config.ipvs, { timeouts: { tcp: 900, tcpFin: 120, udp: 300 } });
  assert.deepEqual(warnings(r), [`${FILE}:3: router_id: lvsd names itself by host name in logs`]);
});

test('what lvsd cannot do is refused at its FILE:LINE with why, every one, and the rest is still a valid config', () => {
  const r = imp(`vrrp_script chk {
  script "true"
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  authentication {
    auth_type AH
    auth_pass x
  }
  track_script {
    chk
  }
  virtual_ipaddress {
    192.0.2.1
    192.0.2.2 dev eth9
  }
}
virtual_server 192.0.2.10 80 {
  ha_suspend
  frobnicate 3
  real_server 10.0.0.1 80 {
    BFD_CHECK {
    }
    TCP_CHECK {
    }
  }
}
`);
  assert.deepEqual(errors(r), [
    `${FILE}:7: authentication: lvsd has no IPsec AH authentication (RFC 2338 type 2; RFC 3768 removed it): remove authentication from the keepalived pair first (a reload on each), then import`,
    `${FILE}:16: dev: lvsd puts an instance's addresses on its own interface (eth0), not on eth9: use an instance on eth9`,
    `${FILE}:20: ha_suspend: lvsd keeps its services whatever the VRRP state (a backup director serves nothing anyway)`,
    `${FILE}:21: frobnicate: not a keyword of virtual_server the importer knows (nothing was imported from it)`,
    `${FILE}:23: BFD_CHECK: lvsd has no BFD (--partial writes the real server without this check)`,
  ]);
  assert.equal(r.complete, false);
  const cfg = parseConfig([{ file: 'x.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(cfg.vrrp[0]!.addresses.map((a) => a.address), ['192.0.2.1']);
  assert.equal(cfg.services[0]!.realServers[0]!.healthCheck.type, 'tcp');
});

test("what lvsd's validator refuses is reported at the keepalived line it came from and left out", () => {
  const r = imp(`vrrp_instance A {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    192.0.2.1
  }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    192.0.2.1
  }
}
virtual_server 192.0.2.10 80 {
  lb_kind DR
  protocol TCP
  ops
}
`);
  const e = errors(r).sort();
  assert.equal(e.length, 2, e.join('\n'));
  assert.match(e[0]!, new RegExp(`^${FILE}:15: onePacket: lvsd refuses the result`));
  assert.match(e[1]!, new RegExp(`^${FILE}:8: addresses: lvsd refuses the result`));
  assert.deepEqual((r.config.vrrp as Array<{ name: string }>).map((v) => v.name), ['A']);
  assert.equal(r.config.services, undefined);
});

test('virtual_server_group: one lvsd service with members (ranges kept, fwmark families), no expansion warning', () => {
  const r = imp(`virtual_server_group G {
  10.0.0.1-3 80
  fwmark 5
}
virtual_server group G {
  lb_kind NAT
  quorum 1
  real_server 10.1.0.1 8080 {
    TCP_CHECK {
    }
  }
}
virtual_server_group H {
  10.0.0.7 53
}
virtual_server group H {
  real_server 10.1.0.1 53 {
  }
}
virtual_server group H {
  protocol UDP
  real_server 10.1.0.1 53 {
  }
}
virtual_server_group G6 {
  2001:db8::9-b 443
  fwmark 6 inet6
}
virtual_server group G6 {
  real_server 2001:db8:1::1 443 {
  }
}`);
  assert.deepEqual(errors(r), []);
  const services = r.config.services as Array<Record<string, unknown>>;
  assert.deepEqual(services.map((s) => [s.name, s.protocol, s.members]), [
    ['G', 'tcp', [{ address: '10.0.0.1', lastAddress: '10.0.0.3', port: 80 }, { fwmark: 5 }]],
    ['H', 'tcp', [{ address: '10.0.0.7', port: 53 }]],
    ['H-udp', 'udp', [{ address: '10.0.0.7', port: 53 }]],
    ['G6', 'tcp', [{ address: '2001:db8::9', lastAddress: '2001:db8::b', port: 443 }, { fwmark: 6, family: 'ipv6' }]],
  ]);
  assert.ok(!warnings(r).some((w) => /expanded|group G/.test(w)), warnings(r).join('\n'));
  // lvsd runs each as one IPVS service per member
  const config = parseConfig([{ file: 'i.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(config.services.map((s) => s.name), [
    'G[tcp/10.0.0.1:80]', 'G[tcp/10.0.0.2:80]', 'G[tcp/10.0.0.3:80]', 'G[fwmark/ipv4/5]',
    'H[tcp/10.0.0.7:53]', 'H-udp[udp/10.0.0.7:53]',
    'G6[tcp/[2001:db8::9]:443]', 'G6[tcp/[2001:db8::a]:443]', 'G6[tcp/[2001:db8::b]:443]', 'G6[fwmark/ipv6/6]',
  ]);
});

test('virtual_server_group: a bad line is refused at its line; a fwmark line takes only inet or inet6', () => {
  const r = imp(`virtual_server_group G {
  10.0.0.5-3 80
  fwmark 5 inet7
  10.0.0.9 80
}
virtual_server group G {
  real_server 10.1.0.1 80 {
  }
}`);
  assert.deepEqual(errors(r).map((e) => e.replace(/^.*?:(\d+): /, '$1: ')).map((e) => e.slice(0, 20)), ['2: 10.0.0.5-3: the r', '3: fwmark: unexpecte']);
});

test('lvs_sync_daemon: optional inst, the id defaults to the instance\'s virtual_router_id; without an instance it is refused', () => {
  const vi = 'vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 42\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n';
  const r = imp(`global_defs {\n lvs_sync_daemon eth1 inst VI_1 port 8849 ttl 2 group 224.0.0.82\n}\n${vi}`);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(r.config.connectionSync, { instance: 'VI_1', interface: 'eth1', port: 8849, ttl: 2, group: '224.0.0.82', syncId: 42 });
  const none = imp(`global_defs {\n lvs_sync_daemon eth1 id 3\n}\n${vi}`);
  assert.match(errors(none)[0]!, /:2: lvs_sync_daemon: without a VRRP instance/);
});

test('a stray value or a block after a keyword that takes none is refused, never dropped silently', () => {
  const r = imp(`virtual_server 192.0.2.10 80 {
  ops yes
  protocol UDP
  real_server 10.0.0.1 80 {
    weight 10 TCP_CHECK {
      connect_timeout 2
    }
  }
}`);
  assert.deepEqual(errors(r), [
    `${FILE}:2: ops: unexpected yes (nothing was imported from it)`,
    `${FILE}:5: weight: unexpected TCP_CHECK (nothing was imported from it)`,
    `${FILE}:5: weight: takes no { } block here (nothing in it was imported)`,
  ]);
});

test('SMTP_CHECK maps to an smtp check with its helo_name; UDP_CHECK to a udp check with its hex payload and reply pattern', () => {
  const r = imp(`
virtual_server 192.0.2.10 25 {
  delay_loop 10
  protocol TCP
  real_server 10.0.0.1 25 {
    SMTP_CHECK {
      helo_name lb1.example.net
      connect_timeout 3
      retry 2
      delay_before_retry 10
    }
  }
}
virtual_server 192.0.2.10 53 {
  delay_loop 10
  protocol UDP
  real_server 10.0.0.1 53 {
    UDP_CHECK {
      payload Ab12f 3 456
      require_reply 4c5x 0
      min_reply_length 4
      connect_timeout 3
      retry 0
    }
  }
  real_server 10.0.0.2 53 {
    UDP_CHECK {
      connect_timeout 3
      retry 0
    }
  }
}
`);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(warnings(r), [
    `${FILE}:27: UDP_CHECK: no payload: keepalived sends random bytes, lvsd an empty datagram (set payload if the service ignores empty ones)`,
  ]);
  const cfg = parseConfig([{ file: 'x.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(cfg.services[0]!.realServers[0]!.healthCheck,
    { type: 'smtp', heloName: 'lb1.example.net', interval: 10, timeout: 3, rise: 1, fall: 3, address: '10.0.0.1', port: 25 });
  assert.deepEqual(cfg.services[1]!.realServers[0]!.healthCheck, {
    type: 'udp', payload: 'ab120f034506', requireReply: true, expectReply: '4c5x00', minReplyLength: 4, maxReplyLength: 255,
    interval: 10, timeout: 3, rise: 1, fall: 1, address: '10.0.0.1', port: 53,
  });
  assert.deepEqual(cfg.services[1]!.realServers[1]!.healthCheck, {
    type: 'udp', payload: '', requireReply: false, minReplyLength: 0, maxReplyLength: 65535,
    interval: 10, timeout: 3, rise: 1, fall: 1, address: '10.0.0.2', port: 53,
  });
  const bad = imp(`virtual_server 192.0.2.10 53 {
  protocol UDP
  real_server 10.0.0.1 53 {
    UDP_CHECK {
      payload 12zz
      require_reply
      max_reply_length 70000
    }
  }
  real_server 10.0.0.2 53 {
    SMTP_CHECK {
      helo_name "two words"
    }
  }
}
`);
  assert.deepEqual(errors(bad), [
    `${FILE}:5: payload: "12zz" is not a hex string`,
    `${FILE}:7: max_reply_length: "70000" is not a whole number from 0 to 65535`,
    `${FILE}:12: helo_name: "two words" has a space, control or non-ASCII character: lvsd sends a host name`,
  ]);
});

test('quorum_up / quorum_down map to quorum.up / quorum.down (keepalived\'s quorum of 1 when none is set), and lvsd accepts them', () => {
  const r = imp(`
virtual_server 192.0.2.10 80 {
  quorum_up "/usr/local/bin/q up"
  quorum_down "/usr/local/bin/qdown now"
  real_server 10.0.0.1 80 {
    TCP_CHECK {
    }
  }
}
`);
  assert.deepEqual(errors(r), []);
  const cfg = parseConfig([{ file: 'x.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(cfg.services[0]!.quorum, { minUp: 1, up: ['/usr/local/bin/q', 'up'], down: ['/usr/local/bin/qdown', 'now'] });
});

test('notify_up / notify_down map to the real server\'s notify; SCRIPT [USER [GROUP]] as keepalived reads it: the user is kept, a group is a warning, two users an error', () => {
  const r = imp(`
virtual_server 192.0.2.10 80 {
  quorum_up "/usr/local/bin/q up" nobody
  real_server 10.0.0.1 80 {
    notify_up "/usr/local/bin/rs up" nobody nogroup
    notify_down /usr/local/bin/rs-down nobody
    TCP_CHECK {
    }
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    192.0.2.10/24
  }
  notify_master "/usr/local/bin/n master" nobody
  notify_backup /usr/local/bin/n-backup
}
`);
  assert.deepEqual(errors(r), []);
  assert.deepEqual(warnings(r).filter((w) => /group/.test(w)), [`${FILE}:5: notify_up: lvsd runs it with the primary group of nobody, not with group nogroup`]);
  const cfg = parseConfig([{ file: 'x.json', text: JSON.stringify(r.config) }]);
  assert.deepEqual(cfg.services[0]!.realServers[0]!.notify, { up: ['/usr/local/bin/rs', 'up'], down: ['/usr/local/bin/rs-down'], user: 'nobody' });
  assert.deepEqual(cfg.services[0]!.quorum, { minUp: 1, up: ['/usr/local/bin/q', 'up'], user: 'nobody' });
  assert.deepEqual(cfg.vrrp[0]!.notify, { master: ['/usr/local/bin/n', 'master'], backup: ['/usr/local/bin/n-backup'], user: 'nobody' });

  const two = imp(`
virtual_server 192.0.2.10 80 {
  real_server 10.0.0.1 80 {
    notify_up /bin/up nobody
    notify_down /bin/down daemon
  }
}
`);
  assert.deepEqual(errors(two), [`${FILE}:5: notify_down: runs as daemon, another of the real server's notify commands as nobody: lvsd runs them all as one user`]);
});
