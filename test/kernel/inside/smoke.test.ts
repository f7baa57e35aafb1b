/**
 * Runs inside the kernel-test VM (root, ip_vs loaded): proves the kernel side of the harness works, so a
 * failure in another inside test is about that test, not the VM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { insideSkipReason } from '../vm.js';
import { run, tryRun } from './shell.js';

const skip = insideSkipReason();


/** The service lines of `ipvsadm -Ln` ("TCP  10.0.0.1:80 wrr"), whitespace collapsed. */
function services(): string[] {
  return run('ipvsadm', ['-Ln'])
    .split('\n')
    .filter((l) => /^(TCP|UDP|SCTP|FWM)\s/.test(l))
    .map((l) => l.trim().replace(/\s+/g, ' '));
}

test('IPVS is available to root: /proc/net/ip_vs and an empty table', { skip }, () => {
  assert.ok(existsSync('/proc/net/ip_vs'));
  run('ipvsadm', ['-C']);
  assert.match(run('ipvsadm', ['-Ln']), /IP Virtual Server version/);
  assert.deepEqual(services(), []);
});

test('a wrr service with a routed real server shows up in ipvsadm -Ln, and -C removes it', { skip }, (t) => {
  t.after(() => {
    tryRun('ipvsadm', ['-C']);
    tryRun('ip', ['link', 'del', 'lvsdsmoke0']);
  });
  run('ip', ['link', 'add', 'lvsdsmoke0', 'type', 'dummy']);
  run('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'lvsdsmoke0']);
  run('ip', ['link', 'set', 'lvsdsmoke0', 'up']);

  run('ipvsadm', ['-A', '-t', '10.0.0.1:80', '-s', 'wrr']);
  run('ipvsadm', ['-a', '-t', '10.0.0.1:80', '-r', '192.0.2.10:8080', '-m', '-w', '3']);
  assert.deepEqual(services(), ['TCP 10.0.0.1:80 wrr']);
  const listing = run('ipvsadm', ['-Ln', '-t', '10.0.0.1:80']);
  assert.match(listing, /->\s+192\.0\.2\.10:8080\s+Masq\s+3\s/);

  run('ipvsadm', ['-C']);
  assert.deepEqual(services(), []);
});

test('a scheduler module autoloads through the root filesystem modprobe (mh)', { skip }, (t) => {
  t.after(() => tryRun('ipvsadm', ['-C']));
  run('ipvsadm', ['-A', '-u', '10.0.0.2:53', '-s', 'mh']);
  assert.deepEqual(services(), ['UDP 10.0.0.2:53 mh']);
  assert.ok(existsSync('/sys/module/ip_vs_mh'), 'ip_vs_mh should be loaded after use');
});

test('a network namespace joined by a veth pair passes traffic', { skip }, (t) => {
  t.after(() => {
    tryRun('ip', ['link', 'del', 'lvsdsmokev0']);
    tryRun('ip', ['netns', 'del', 'lvsdsmoke']);
  });
  run('ip', ['netns', 'add', 'lvsdsmoke']);
  run('ip', ['link', 'add', 'lvsdsmokev0', 'type', 'veth', 'peer', 'name', 'lvsdsmokev1', 'netns', 'lvsdsmoke']);
  run('ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'lvsdsmokev0']);
  run('ip', ['link', 'set', 'lvsdsmokev0', 'up']);
  run('ip', ['-n', 'lvsdsmoke', 'addr', 'add', '198.51.100.2/24', 'dev', 'lvsdsmokev1']);
  run('ip', ['-n', 'lvsdsmoke', 'link', 'set', 'lvsdsmokev1', 'up']);
  run('ip', ['-n', 'lvsdsmoke', 'link', 'set', 'lo', 'up']);
  assert.match(run('ip', ['-n', 'lvsdsmoke', '-br', 'addr']), /lvsdsmokev1@\S+\s+UP\s+198\.51\.100\.2\/24/);
  // -W 15: the first packet waits for neighbour resolution, slow under TCG on a busy host
  assert.match(run('busybox', ['ping', '-c', '1', '-W', '15', '198.51.100.2']), /1 packets received/);
});
