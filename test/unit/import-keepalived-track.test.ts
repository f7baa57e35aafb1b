/** keepalived's vrrp_script / track_file / vrrp_track_process and the instances' track_* blocks -> lvsd tracking. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/index.js';
import { formatProblem, importKeepalived, memoryFiles } from '../../src/import/index.js';

const FILE = '/etc/keepalived/keepalived.conf';
const imp = (text: string) => importKeepalived(FILE, memoryFiles({ [FILE]: text }));
const errors = (r: ReturnType<typeof imp>) => r.problems.filter((p) => p.severity === 'error').map(formatProblem);

const instance = (tracks: string) => `
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 150
  virtual_ipaddress {
    192.0.2.100/24
  }
${tracks}
}`;

test('vrrp_script, track_file and vrrp_track_process map into the instances that name them, weights written out, and lvsd accepts the result', () => {
  const r = imp(`
vrrp_script chk_nginx {
  script "/usr/local/bin/check nginx"
  interval 2
  timeout 3
  weight -20
  rise 2
  fall 3
  user checker
  init_fail
}
vrrp_script chk_plain {
  script /bin/true
}
track_file weightfile {
  file /run/lvs-weight
  weight -5 reverse
}
vrrp_track_process haproxy {
  process haproxy -f /etc/haproxy.cfg
  quorum 1
  quorum_max 2
  delay 0.5
}
vrrp_track_process sshd {
  process sshd
}
${instance(`
  track_script {
    chk_nginx
    chk_plain weight 10 reverse
  }
  track_file {
    weightfile
  }
  track_process {
    haproxy weight 0
    sshd
  }`)}
`);
  assert.deepEqual(errors(r), []);
  assert.ok(r.complete);
  const v = (r.config.vrrp as Array<Record<string, unknown>>)[0]!;
  assert.deepEqual(v.trackScripts, [
    { name: 'chk_nginx', command: ['/usr/local/bin/check', 'nginx'], interval: 2, timeout: 3, weight: -20, rise: 2, fall: 3, user: 'checker', initFail: true },
    { name: 'chk_plain', command: ['/bin/true'], weight: 10, reverse: true },
  ]);
  assert.deepEqual(v.trackFiles, [{ path: '/run/lvs-weight', weight: -5, reverse: true }]);
  assert.deepEqual(v.trackProcesses, [
    { name: 'haproxy', args: ['-f', '/etc/haproxy.cfg'], quorum: 1, quorumMax: 2, delay: 0.5, weight: 0 },
    { name: 'sshd', weight: 1 }, // keepalived's default weight for a process, written out (lvsd's own default is 0)
  ]);
  const c = parseConfig([{ file: 'x.json', text: JSON.stringify(r.config) }]);
  assert.equal(c.vrrp[0]!.trackScripts[0]!.user, 'checker');
  assert.equal(c.vrrp[0]!.trackScripts[1]!.interval, 1);
});

test('a track_script naming no vrrp_script, and keepalived-only options, are errors at their line', () => {
  const r = imp(`
vrrp_track_process p {
  process nginx
  param_match partial
}
track_file f {
  file /run/w
  init_file 5
}
${instance(`
  track_script {
    missing
  }
  track_process {
    p
  }`)}
`);
  const e = errors(r);
  assert.ok(e.some((x) => /:4: param_match: lvsd matches the arguments exactly/.test(x)), e.join('\n'));
  assert.ok(e.some((x) => /:8: init_file: lvsd writes nothing to the file/.test(x)), e.join('\n'));
  assert.ok(e.some((x) => /:20: missing: no vrrp_script named missing/.test(x)), e.join('\n'));
  assert.ok(!r.complete);
});

test('track_* in a vrrp_sync_group is refused with the way to write it', () => {
  const r = imp(`
vrrp_script s {
  script /bin/true
}
${instance('')}
vrrp_sync_group G {
  group {
    VI_1
  }
  track_script {
    s
  }
}
`);
  assert.ok(errors(r).some((x) => /track_script: lvsd tracks scripts per instance: put it on the member instances/.test(x)), errors(r).join('\n'));
});
