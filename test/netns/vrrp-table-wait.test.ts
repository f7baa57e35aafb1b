/**
 * A starting director does not take the VIP before its IPVS table is programmed (issue #11: since fast
 * start, VRRP starts before the table). Real namespaces: keepalived (Debian's, priority 100) is master;
 * lvsd (priority 200, preempting, one service) starts over the in-memory IPVS model slowed so that its
 * first reconcile finishes long after Master_Down_Interval. The VIP stays on keepalived's director until the
 * model has taken lvsd's table, lvsd says it is waiting (log and `lvsd status`), then lvsd takes over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { netnsSkipReason } from './netns.js';
import { keepalivedSkipReason, Lvsd, LVSD_MAIN, VrrpLab } from './fixtures/vrrp-lab.js';
import { Router, type Variant } from './fixtures/vrrp-peers.js';

const skip = netnsSkipReason() || keepalivedSkipReason();
const MODEL_DAEMON = fileURLToPath(new URL('./fixtures/model-daemon.js', import.meta.url));
const v: Variant = { version: 3, family: 'ipv4', intervalMs: 1000, vip: '10.61.0.100', prefix: 24, vrid: 71 };
/** The slowed model's delay per batch: beyond lvsd's Master_Down_Interval (3.22 s at priority 200, 1 s adverts). */
const TABLE_DELAY_MS = 5000;

test('a preempting director starting under a lower-priority master takes the VIP only once its table is programmed', { skip }, async (t) => {
  const vlab = new VrrpLab();
  t.after(() => vlab.cleanup());
  const d1 = vlab.node('d1');
  const d2 = vlab.node('d2');
  const keepalived = Router.start(vlab, d1, { kind: 'keepalived', priority: 100 }, v, 'd1').keepalived!;
  await keepalived.entering('VI_1', 'MASTER', 20_000);
  const onD1 = vlab.watchAddresses(d1);
  const onD2 = vlab.watchAddresses(d2);
  await Promise.all([onD1.ready(), onD2.ready()]);
  assert.ok(vlab.holds(d1, v.vip), 'keepalived holds the VIP before lvsd starts');

  const socket = `${vlab.dir}/d2.sock`;
  const config = vlab.file('d2.json', JSON.stringify({
    control: { socket },
    services: [{
      name: 'web', protocol: 'tcp', address: v.vip, port: 80, scheduler: 'wrr', forwarding: 'dr',
      healthCheck: { type: 'none' }, realServers: [{ address: '10.61.0.50', port: 80 }],
    }],
    vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: v.vrid, priority: 200, version: 3, advertInterval: '1s', preempt: true, addresses: [`${v.vip}/${v.prefix}`] }],
  }));
  const startedAt = Date.now();
  const child = vlab.spawn(d2, ['env', `MODEL_EXECUTE_DELAY_MS=${TABLE_DELAY_MS}`, process.execPath, MODEL_DAEMON, config, socket, `${vlab.dir}/d2.state`]);
  const lvsd = new Lvsd(vlab, d2, child, socket, 'd2');

  // it would preempt now (Master_Down ran out, keepalived's adverts discarded) but waits for its table
  const waiting = await lvsd.waitFor((m) => m.event === 'vrrp.waiting_for_table', 20_000, 0, 'vrrp.waiting_for_table');
  assert.equal(waiting.instance, 'VI_1');
  assert.equal(waiting.reason, 'master_down');
  const status = spawnSync(process.execPath, [LVSD_MAIN, 'status', '--socket', socket, '--json'], { encoding: 'utf8', timeout: 60_000 });
  const executedBeforeStatus = lvsd.events('model.executed').length > 0;
  if (!executedBeforeStatus) {
    assert.notEqual(status.status, 0);
    assert.match(status.stderr, /IPVS table is being programmed, and VRRP stays backup/, status.stderr);
  } else {
    t.diagnostic('the table was programmed before lvsd status answered: its answer while waiting not checked');
  }
  assert.ok(vlab.holds(d1, v.vip) && !vlab.holds(d2, v.vip), 'the VIP has not moved while lvsd waits');

  const master = await lvsd.transition('VI_1', 'master', 2 * TABLE_DELAY_MS + 20_000);
  // the first reconcile sends the service, then its real server: two batches, each slowed
  const batches = lvsd.items.slice(0, lvsd.items.indexOf(master)).filter((m) => m.event === 'model.executed');
  assert.equal(batches.length, 2, `the table was programmed before lvsd became master:\n${lvsd.raw.slice(-3000)}`);
  const programmedAt = batches.at(-1)!.time as number;
  assert.ok(programmedAt - startedAt >= 2 * TABLE_DELAY_MS, 'the slowed model did hold the table back');
  const ready = lvsd.events('vrrp.table_ready')[0];
  assert.equal(ready?.ok, true);
  assert.deepEqual(ready?.claiming, ['VI_1']);
  await keepalived.entering('VI_1', 'BACKUP', 10_000);
  await onD1.waitFor((e) => e.address === v.vip && !e.added, 10_000, 0, 'the VIP removed from keepalived\'s director');
  await onD2.waitFor((e) => e.address === v.vip && e.added, 10_000, 0, 'the VIP added on lvsd\'s director');
  // the kernel's own record of the VIP's moves (ip -ts monitor): none before the table was in
  const d2Added = onD2.items.filter((e) => e.address === v.vip && e.added).map((e) => e.at);
  const d1Removed = onD1.items.filter((e) => e.address === v.vip && !e.added).map((e) => e.at);
  assert.ok(d2Added.length > 0 && d1Removed.length > 0, `the VIP moved to lvsd in the end:\n${onD1.raw}\n${onD2.raw}`);
  assert.ok(Math.min(...d2Added) >= programmedAt, `lvsd added the VIP ${programmedAt - Math.min(...d2Added)} ms before its table was programmed`);
  assert.ok(Math.min(...d1Removed) >= programmedAt, `keepalived gave the VIP up ${programmedAt - Math.min(...d1Removed)} ms before lvsd's table was programmed`);
  assert.ok(vlab.holds(d2, v.vip) && !vlab.holds(d1, v.vip));
  if (lvsd.vrrpThread === 'worker') {
    // the VRRP thread's SCHED_RR is one system call (no process started, nothing stalled): set when its
    // instances start, so its backups' timers run real-time while the daemon programs the table
    const rt = await lvsd.waitFor((m) => m.event === 'vrrp.realtime' || m.event === 'vrrp.realtime_unavailable', 20_000, 0, 'SCHED_RR set');
    assert.equal(rt.event, 'vrrp.realtime', `SCHED_RR not set: ${JSON.stringify(rt)}`);
    assert.ok(lvsd.items.indexOf(rt) < lvsd.items.indexOf(ready!), `SCHED_RR set only after the table was programmed:\n${lvsd.raw.slice(-3000)}`);
  } else {
    // on the main thread (LVSD_VRRP_THREAD=main) nothing is made real-time: that thread probes and spawns
    assert.equal(lvsd.vrrpThread, 'main');
    assert.equal(lvsd.events('vrrp.realtime').length, 0, 'the main thread was made real-time');
  }
  await lvsd.stop();
});
