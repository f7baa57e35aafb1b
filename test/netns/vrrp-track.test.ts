/**
 * VRRP tracking beyond interfaces, between two real `lvsd run` directors on a bridge: a track script that
 * fails (run unprivileged), a tracked file whose number changes, and a tracked process that dies each move
 * the VIP to the peer, and back when they recover. What is asserted is what a user sees: who is master,
 * who holds the VIP, and what `lvsd status` says.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { settled } from './fixtures/vrrp-pair.js';
import { keepalivedSkipReason, sleep, VrrpLab, START_MS } from './fixtures/vrrp-lab.js';
import { importKeepalived, memoryFiles } from '../../src/import/index.js';

const skip = netnsSkipReason();

function instance(priority: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'VI_1', interface: 'eth0', vrid: 74, priority, version: 3, advertInterval: '100ms',
    addresses: ['10.61.0.100/24'], garp: { count: 1, interval: '0s', refresh: '0s' }, ...extra,
  };
}

/** A directory the unprivileged script user can read (the lab's own is private). */
function openDir(): string {
  const dir = mkdtempSync('/tmp/lvsd-track-');
  chmodSync(dir, 0o755);
  return dir;
}

function write(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o644);
}

type Track = { kind: string; name: string; up: boolean; value?: number; weight: number; effect: number | 'fault'; detail?: string };
const tracks = (s: unknown): Track[] => (s as { tracks?: Track[] }).tracks ?? [];

describe('VRRP tracked scripts, files and processes between two lvsd directors', { skip }, () => {
  test('a failing track script lowers the master\'s priority by its weight: the peer takes over; when it passes again, back', async (t) => {
    const vlab = new VrrpLab();
    const dir = openDir();
    t.after(() => { vlab.cleanup(); rmSync(dir, { recursive: true, force: true }); });
    const flag = join(dir, 'flag');
    write(flag, 'ok\n');
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const script = { name: 'chk', command: ['/bin/grep', '-q', 'ok', flag], interval: '200ms', timeout: '2s', weight: -60, fall: 2, rise: 2 };
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { trackScripts: [script] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);
    assert.equal(l1.vrrp('VI_1').state, 'master');

    let since = Date.now();
    write(flag, 'bad\n');
    await l2.transition('VI_1', 'master', 10_000, since);
    await l1.transition('VI_1', 'backup', 10_000, since);
    const s1 = l1.vrrp('VI_1');
    assert.deepEqual(s1.priority, { configured: 150, effective: 90 });
    const chk = tracks(s1).find((x) => x.kind === 'script' && x.name === 'chk');
    assert.ok(chk && !chk.up && chk.effect === -60 && chk.detail === 'exit 1', JSON.stringify(tracks(s1)));
    const change = l1.events('vrrp.track_change').find((e) => e.name === 'chk' && e.up === false);
    assert.ok(change, 'vrrp.track_change logged');
    await vlab.until(() => vlab.holds(d2, '10.61.0.100') && !vlab.holds(d1, '10.61.0.100'), 'the VIP on d2 only');
    assert.ok(vlab.holds(d2, '10.61.0.100') && !vlab.holds(d1, '10.61.0.100'));

    since = Date.now();
    write(flag, 'ok\n');
    await l1.transition('VI_1', 'master', 10_000, since);
    await l2.transition('VI_1', 'backup', 10_000, since);
    assert.equal(l1.vrrp('VI_1').priority.effective, 150);
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a track script with weight 0 runs as the unprivileged user; failing is a fault: VIPs released, the peer takes over', async (t) => {
    const vlab = new VrrpLab();
    const dir = openDir();
    t.after(() => { vlab.cleanup(); rmSync(dir, { recursive: true, force: true }); });
    const flag = join(dir, 'flag');
    write(flag, 'ok\n');
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    // passes only when run as nobody, and only while the flag says ok
    const command = ['/bin/sh', '-c', `[ "$(id -un)" = nobody ] && grep -q ok ${flag}`];
    // the timeout is given: by default it is the interval (200 ms), which a shell, id and grep started as
    // another user overrun on a loaded host, and a run that times out is a failure (fall 1: a fault)
    const script = { name: 'as_nobody', command, interval: '200ms', timeout: '5s', user: 'nobody' };
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { trackScripts: [script] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);
    await sleep(600); // several runs: had it not run as nobody, it would have failed by now
    assert.equal(l1.vrrp('VI_1').state, 'master', JSON.stringify(tracks(l1.vrrp('VI_1'))));

    const since = Date.now();
    write(flag, 'bad\n');
    const fault = await l1.transition('VI_1', 'fault', 10_000, since);
    assert.equal(fault.reason, 'track_down');
    await l2.transition('VI_1', 'master', 10_000, since);
    await l1.waitFor((e) => e.event === 'vrrp.vips_removed', 5000, since);
    assert.ok(!vlab.holds(d1, '10.61.0.100'));
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a tracked file\'s number times its weight moves the priority: the peer takes over at 7 x -10, gives back at 0', async (t) => {
    const vlab = new VrrpLab();
    const dir = openDir();
    t.after(() => { vlab.cleanup(); rmSync(dir, { recursive: true, force: true }); });
    const file = join(dir, 'weight');
    write(file, '0\n');
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { trackFiles: [{ path: file, weight: -10 }] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);

    let since = Date.now();
    write(file, '3\n'); // 150 - 30 = 120: still above the peer
    // waited for, not slept on: the file is read about every second, later on a loaded host
    await l1.waitFor((e) => e.event === 'vrrp.track_change' && e.kind === 'file' && e.value === 3, 10_000, since, 'the file read as 3');
    assert.equal(l1.vrrp('VI_1').priority.effective, 120);
    assert.equal(l1.vrrp('VI_1').state, 'master');

    since = Date.now();
    write(file, '7\n'); // 150 - 70 = 80: below the peer's 100
    await l2.transition('VI_1', 'master', 10_000, since);
    await l1.transition('VI_1', 'backup', 10_000, since);
    const s1 = l1.vrrp('VI_1');
    assert.equal(s1.priority.effective, 80);
    assert.deepEqual(tracks(s1), [{ kind: 'file', name: file, up: true, value: 7, weight: -10, effect: -70 }]);

    since = Date.now();
    write(file, '0\n');
    await l1.transition('VI_1', 'master', 10_000, since);
    await l2.transition('VI_1', 'backup', 10_000, since);
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a tracked process dying faults the master (weight 0): the peer takes over; restarted, the master comes back', async (t) => {
    const vlab = new VrrpLab();
    const procs = new Set<ReturnType<typeof spawn>>();
    const start = () => {
      const p = spawn('sleep', ['4747.25'], { stdio: 'ignore' });
      procs.add(p);
      return p;
    };
    t.after(() => { for (const p of procs) p.kill('SIGKILL'); vlab.cleanup(); });
    let proc = start();
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    const l1 = vlab.lvsd(d1, { vrrp: [instance(150, { trackProcesses: [{ name: 'sleep', args: ['4747.25'], interval: '200ms' }] })] }, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const l2 = vlab.lvsd(d2, { vrrp: [instance(100)] }, 'd2');
    await settled(l1, l2);
    assert.deepEqual(tracks(l1.vrrp('VI_1')), [{ kind: 'process', name: 'sleep 4747.25', up: true, value: 1, weight: 0, effect: 0 }]);

    let since = Date.now();
    proc.kill('SIGKILL');
    const fault = await l1.transition('VI_1', 'fault', 10_000, since);
    assert.equal(fault.reason, 'track_down');
    await l2.transition('VI_1', 'master', 10_000, since);
    assert.deepEqual(tracks(l1.vrrp('VI_1')), [{ kind: 'process', name: 'sleep 4747.25', up: false, value: 0, weight: 0, effect: 'fault' }]);
    await vlab.until(() => vlab.holds(d2, '10.61.0.100') && !vlab.holds(d1, '10.61.0.100'), 'the VIP on d2 only');
    assert.ok(vlab.holds(d2, '10.61.0.100') && !vlab.holds(d1, '10.61.0.100'));

    since = Date.now();
    proc = start();
    await l1.transition('VI_1', 'master', 10_000, since);
    await l2.transition('VI_1', 'backup', 10_000, since);
    await Promise.all([l1.stop(), l2.stop()]);
  });
});

describe('an imported keepalived.conf with vrrp_script and track_file, run by lvsd against keepalived', { skip: skip || keepalivedSkipReason() }, () => {
  test('the script failing, then the file\'s number, each hand the VIP to the keepalived backup, as keepalived would', async (t) => {
    const vlab = new VrrpLab();
    const dir = openDir();
    t.after(() => { vlab.cleanup(); rmSync(dir, { recursive: true, force: true }); });
    const flag = join(dir, 'flag');
    const weight = join(dir, 'weight');
    write(flag, 'ok\n');
    write(weight, '0\n');
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    // the master's keepalived.conf, imported: what a user migrating does
    const conf = [
      'vrrp_script chk {', `  script "/bin/grep -q ok ${flag}"`, '  interval 1', '  weight -60', '  fall 1', '  rise 1', '  user nobody', '}',
      'track_file wfile {', `  file ${weight}`, '  weight -10', '}',
      'vrrp_instance VI_1 {', '  state MASTER', '  interface eth0', '  virtual_router_id 75', '  priority 150', '  advert_int 1', '  version 3',
      '  track_script {', '    chk', '  }', '  track_file {', '    wfile', '  }',
      '  virtual_ipaddress {', '    10.61.0.100/24', '  }', '}', '',
    ].join('\n');
    const imported = importKeepalived('/k/keepalived.conf', memoryFiles({ '/k/keepalived.conf': conf }));
    assert.deepEqual(imported.problems.filter((p) => p.severity === 'error'), []);
    const l1 = vlab.lvsd(d1, imported.config, 'd1');
    await l1.transition('VI_1', 'master', START_MS);
    const k2 = vlab.keepalived(d2, [
      'global_defs {', '  router_id d2', '  vrrp_rt_priority 10', '  vrrp_rlimit_rttime 1000000', '}',
      'vrrp_instance VI_1 {', '  state BACKUP', '  interface eth0', '  virtual_router_id 75', '  priority 100', '  advert_int 1', '  version 3',
      '  garp_master_delay 0', '  virtual_ipaddress {', '    10.61.0.100/24', '  }', '}', '',
    ].join('\n'), 'd2');
    await k2.entering('VI_1', 'BACKUP', 20_000);
    await sleep(3000);
    assert.equal(l1.vrrp('VI_1').state, 'master');

    let since = Date.now();
    write(flag, 'bad\n'); // 150 - 60 = 90 < 100
    await k2.entering('VI_1', 'MASTER', 15_000, since);
    await l1.transition('VI_1', 'backup', 15_000, since);
    since = Date.now();
    write(flag, 'ok\n');
    await l1.transition('VI_1', 'master', 15_000, since);
    await k2.entering('VI_1', 'BACKUP', 15_000, since);

    since = Date.now();
    write(weight, '6\n'); // 150 - 60 = 90 < 100
    await k2.entering('VI_1', 'MASTER', 15_000, since);
    await l1.transition('VI_1', 'backup', 15_000, since);
    assert.equal(l1.vrrp('VI_1').priority.effective, 90);
    assert.deepEqual(k2.complaints(), []);
    await Promise.all([l1.stop(), k2.stop()]);
  });
});
