/**
 * A reload is a transaction: when a part cannot take the new config (IPVS unreachable, VRRP refuses),
 * the old one stays whole (kernel table, health states, VRRP instances) and every trigger logs, counts
 * and shows the failure with its code. When the config is valid and in force but IPVS takes only part
 * of it, the reload is not a success: it says so and the daemon repairs. Over the in-memory IPVS model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Daemon } from '../../src/daemon/daemon.js';
import type { IpvsCommand } from '../../src/ipvs/types.js';
import { faults } from './reconcile-model.js';
import { VI_1, WEB, daemonLab, metricValue, until, weights } from './daemon-lab.js';

/** The new config: 10.0.1.13 removed, 10.0.1.14 added, 10.0.1.11 weighs 50, the VRRP priority changes, a second instance. */
const NEXT = {
  services: [{ ...WEB, realServers: [
    { address: '10.0.1.11', port: 8080, weight: 50 },
    { address: '10.0.1.12', port: 8080, weight: 100 },
    { address: '10.0.1.14', port: 8080, weight: 100 },
  ] }],
  vrrp: [{ ...VI_1, priority: 100 }, { name: 'vi_2', interface: 'eth0', vrid: 52, addresses: ['192.0.2.20/24'] }],
};

const ALL_UP = { '10.0.1.11:8080': 100, '10.0.1.12:8080': 100, '10.0.1.13:8080': 100 };

/** What must not move when a reload fails. */
async function observe(d: Daemon) {
  const s = await d.status();
  return {
    services: s.services.map((svc) => ({
      name: svc.name,
      realServers: svc.realServers.map((r) => [r.id, r.weight.configured, r.health.state, r.health.since]),
    })),
    config: d.currentConfig,
  };
}

async function started(t: Parameters<typeof daemonLab>[0]) {
  const lab = daemonLab(t, { vrrp: true });
  const d = await lab.start({ repairBackoff: { baseMs: 50, maxMs: 200 } });
  await until('all up', 5000, () => JSON.stringify(weights(lab.kernel)) === JSON.stringify(ALL_UP));
  return { lab, d, before: await observe(d), table: JSON.stringify(lab.kernel.table), batches: lab.kernel.batches.length };
}

test('a reload VRRP refuses keeps the old config whole: kernel table, health states, VRRP; says why with a code, everywhere', async (t) => {
  const { lab, d, before, table, batches } = await started(t);
  lab.vrrp!.failUpdate = Object.assign(new Error('vi_2: cannot open a VRRP socket on eth0'), { code: 'LVSD_NATIVE_UNAVAILABLE' });
  lab.write(NEXT);
  const probedBefore = lab.probed.length;

  const r = await d.reload('sighup');
  assert.equal(r.ok, false);
  assert.equal(r.applied, false);
  assert.equal(r.code, 'LVSD_NATIVE_UNAVAILABLE');
  assert.match(r.error!, /cannot open a VRRP socket/);

  assert.equal(JSON.stringify(lab.kernel.table), table, 'kernel table unchanged');
  assert.equal(lab.kernel.batches.length, batches, 'no command sent');
  assert.deepEqual(await observe(d), before, 'same config, same real servers, same health states');
  assert.deepEqual(lab.vrrp!.running, ['vi_1/51/150'], 'VRRP still runs the old instances');
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!lab.probed.slice(probedBefore).includes('10.0.1.14:8080'), 'the new real server is not probed');
  assert.ok(lab.probed.slice(probedBefore).includes('10.0.1.13:8080'), 'the old one still is');

  const snap = await d.status();
  assert.equal(snap.lastLoad?.ok, false);
  assert.equal(snap.lastLoad?.result, 'failed');
  assert.equal(snap.lastLoad?.code, 'LVSD_NATIVE_UNAVAILABLE');
  assert.match(snap.lastLoad?.error ?? '', /cannot open a VRRP socket/);
  const line = lab.logs.find((l) => l.event === 'config.reload_failed');
  assert.equal(line?.trigger, 'sighup');
  assert.equal(line?.step, 'vrrp');
  assert.equal(line?.code, 'LVSD_NATIVE_UNAVAILABLE');
  assert.equal(metricValue(await lab.metrics.registry.metrics(), 'lvsd_config_reloads_total', { result: 'failed' }), 1);

  // once VRRP can take it, the same file reloads (from the file watcher, say) and everything switches
  lab.vrrp!.failUpdate = undefined;
  const ok = await d.reload('file');
  assert.deepEqual(ok, { ok: true, applied: true });
  assert.deepEqual(lab.vrrp!.running, ['vi_1/51/100', 'vi_2/52/100']);
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 50);
  assert.equal(weights(lab.kernel)['10.0.1.13:8080'], undefined);
  assert.equal(lab.logs.find((l) => l.event === 'config.reloaded')?.trigger, 'file');
  assert.equal((await d.status()).lastLoad?.result, 'ok');
});

test('a reload that cannot read IPVS is refused before anything switches (VRRP untouched) and counted as failed, not ok', async (t) => {
  const { lab, d, before, table } = await started(t);
  lab.write(NEXT);
  lab.kernel.inject({ on: 'info', error: faults.overrun });
  const r = await d.reload('control');
  assert.equal(r.ok, false);
  assert.equal(r.code, 'LVSD_NETLINK_OVERRUN');
  assert.equal(JSON.stringify(lab.kernel.table), table);
  assert.deepEqual(await observe(d), before);
  assert.equal(lab.vrrp!.configs.length, 1, 'VRRP was not asked to change');
  const text = await lab.metrics.registry.metrics();
  assert.equal(metricValue(text, 'lvsd_config_reloads_total', { result: 'failed' }), 1);
  assert.equal(metricValue(text, 'lvsd_config_reloads_total', { result: 'ok' }), 1, 'only the start load succeeded');
  assert.equal(lab.logs.find((l) => l.event === 'config.reload_failed')?.step, 'ipvs');
});

test('a refused config is logged on every trigger with its code, and the running one stays', async (t) => {
  const { lab, d, before } = await started(t);
  lab.write({ services: [{ ...WEB, scheduler: 'nosuch' }] });
  const r = await d.reload('file');
  assert.equal(r.ok, false);
  assert.equal(r.code, 'LVSD_CONFIG_INVALID');
  assert.ok(r.problems && r.problems.length > 0);
  assert.deepEqual(await observe(d), before);
  const line = lab.logs.find((l) => l.event === 'config.reload_refused');
  assert.equal(line?.trigger, 'file');
  assert.equal((await d.status()).lastLoad?.result, 'refused');
  assert.equal(metricValue(await lab.metrics.registry.metrics(), 'lvsd_config_reloads_total', { result: 'refused' }), 1);
});

test('a reload naming a user this host does not have (a notify command, an exec check) is refused with the pointer; the running config stays', async (t) => {
  const { lab, d, before } = await started(t);
  lab.write({
    services: [{ ...WEB, healthCheck: { type: 'exec', command: ['/bin/true'], user: 'lvsd-no-such-user-1' } }],
    vrrp: [{ ...VI_1, notify: { master: ['/bin/true'], user: 'lvsd-no-such-user-2' } }],
  });
  const r = await d.reload('control');
  assert.equal(r.ok, false);
  assert.equal(r.code, 'LVSD_CONFIG_INVALID');
  assert.deepEqual(r.problems?.map((p) => [p.pointer, p.message]), [
    ['/services/0/healthCheck/user', 'no user "lvsd-no-such-user-1" on this host (exec checks, track scripts and notify commands run as it)'],
    ['/vrrp/0/notify/user', 'no user "lvsd-no-such-user-2" on this host (exec checks, track scripts and notify commands run as it)'],
  ]);
  assert.deepEqual(await observe(d), before, 'the healthy real servers keep their weights and states');
  assert.deepEqual(lab.vrrp!.running, ['vi_1/51/150']);
  assert.equal((await d.status()).lastLoad?.result, 'refused');
});

test('a valid reload that IPVS takes only in part is in force, reported as incomplete (not ok), shown and repaired', async (t) => {
  const { lab, d } = await started(t);
  lab.write(NEXT);
  const newDest = (c: IpvsCommand) => c.cmd === 'new-dest' && c.dest.address === '10.0.1.14';
  lab.kernel.inject({ on: 'op', match: newDest, error: faults.enobufs });
  const r = await d.reload('control');
  assert.equal(r.ok, false);
  assert.equal(r.applied, true);
  assert.equal(r.code, 'LVSD_NETLINK_OVERRUN');
  assert.match(r.error!, /1 IPVS operation failed/);
  const snap = await d.status();
  assert.equal(snap.lastLoad?.result, 'partial');
  assert.equal(snap.lastLoad?.ok, false);
  assert.deepEqual(lab.vrrp!.running, ['vi_1/51/100', 'vi_2/52/100'], 'the new config is in force');
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 50, 'the rest of the table was applied');
  assert.equal(lab.logs.find((l) => l.event === 'config.reload_partial')?.trigger, 'control');
  assert.equal(metricValue(await lab.metrics.registry.metrics(), 'lvsd_config_reloads_total', { result: 'partial' }), 1);
  // the repair adds the missing real server
  await until('repaired', 5000, () => '10.0.1.14:8080' in weights(lab.kernel) && lab.logs.some((l) => l.event === 'daemon.repaired'));
  assert.equal((await d.status()).ipvs.state, 'ok');
});

test('reloads removing a real server, a service and a VRRP instance remove their metric series', async (t) => {
  const { lab, d } = await started(t);
  lab.metrics.healthResult('web', '10.0.1.13:8080', 'up'); // as the probes did
  let text = await lab.metrics.registry.metrics();
  assert.equal(metricValue(text, 'lvsd_health_up', { service: 'web', real_server: '10.0.1.13:8080' }), 1);
  assert.equal(metricValue(text, 'lvsd_vrrp_state', { instance: 'vi_1' }), 2);

  lab.write(NEXT);
  assert.equal((await d.reload()).ok, true);
  text = await lab.metrics.registry.metrics();
  assert.equal(metricValue(text, 'lvsd_health_up', { service: 'web', real_server: '10.0.1.13:8080' }), undefined, 'removed real server: no up series');
  assert.doesNotMatch(text, /real_server="10\.0\.1\.13:8080"/, 'nor any other series');
  assert.equal(metricValue(text, 'lvsd_health_up', { service: 'web', real_server: '10.0.1.12:8080' }), 1, 'the others stay');
  assert.equal(metricValue(text, 'lvsd_vrrp_adverts_sent_total', { instance: 'vi_2' }), 3);

  lab.write({ services: [], vrrp: [{ ...VI_1, priority: 100 }] });
  assert.equal((await d.reload()).ok, true);
  text = await lab.metrics.registry.metrics();
  assert.doesNotMatch(text, /service="web"/, 'removed service: none of its series');
  assert.doesNotMatch(text, /instance="vi_2"/, 'removed VRRP instance: none of its series');
  assert.match(text, /instance="vi_1"/);
});

test('a reload that keeps one service whole (reused) and changes another: the kept one keeps its series, health state and kernel entry; the changed one\'s removed real server loses its series', async (t) => {
  const lab = daemonLab(t);
  const API = { ...WEB, name: 'api', address: '192.0.2.20', realServers: [{ address: '10.0.2.11', port: 8080, weight: 100 }, { address: '10.0.2.12', port: 8080, weight: 100 }] };
  lab.alive.add('10.0.2.11:8080');
  lab.alive.add('10.0.2.12:8080');
  lab.write({ services: [WEB, API] });
  const d = await lab.start();
  await until('all up', 5000, () => weights(lab.kernel, 'tcp/192.0.2.20:80')['10.0.2.12:8080'] === 100 && weights(lab.kernel)['10.0.1.13:8080'] === 100);
  lab.metrics.healthResult('api', '10.0.2.11:8080', 'up');
  lab.metrics.healthResult('web', '10.0.1.13:8080', 'up');
  const since = (await d.status()).services.find((s) => s.name === 'api')!.realServers.map((r) => r.health.since);

  // web loses 10.0.1.13; api is byte-for-byte the same item, so the reload reuses it whole
  lab.write({ services: [{ ...WEB, realServers: WEB.realServers.slice(0, 2) }, API] });
  const r = await d.reload('control');
  assert.deepEqual(r, { ok: true, applied: true });
  const line = lab.logs.filter((l) => l.event === 'config.reloaded').pop()!;
  assert.equal(line.itemsReused, 1);
  assert.equal(line.itemsBuilt, 1);
  const text = await lab.metrics.registry.metrics();
  assert.equal(metricValue(text, 'lvsd_health_up', { service: 'api', real_server: '10.0.2.11:8080' }), 1, 'the kept service keeps its series');
  assert.doesNotMatch(text, /real_server="10\.0\.1\.13:8080"/, 'the removed real server has none');
  assert.deepEqual((await d.status()).services.find((s) => s.name === 'api')!.realServers.map((r) => r.health.since), since, 'health state kept');
  assert.deepEqual(weights(lab.kernel, 'tcp/192.0.2.20:80'), { '10.0.2.11:8080': 100, '10.0.2.12:8080': 100 });
  assert.equal(weights(lab.kernel)['10.0.1.13:8080'], undefined);
  // a verdict after the reload still reaches the kept service's kernel entry
  lab.alive.delete('10.0.2.12:8080');
  await until('api 10.0.2.12 out', 5000, () => weights(lab.kernel, 'tcp/192.0.2.20:80')['10.0.2.12:8080'] === 0);
});

test('a stop during a reload waits for it and leaves nothing of the new config running (no probe of a new real server afterwards)', async (t) => {
  const { lab, d } = await started(t);
  lab.write(NEXT);
  let open!: () => void;
  lab.vrrp!.gate = new Promise<void>((r) => (open = r));
  const reloading = d.reload('sighup');
  await until('the reload is at VRRP (IPVS and health prepared)', 2000, () => lab.vrrp!.updateCalls > 0);
  const stopping = d.stop();
  open();
  const r = await reloading;
  await stopping;
  assert.equal(r.ok, false);
  const probes = lab.probed.length;
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(lab.probed.length, probes, 'no probe runs after stop');
  assert.ok(!lab.probed.includes('10.0.1.14:8080'), 'the new real server was never probed');
  assert.equal(lab.vrrp!.stopped, true);
});
