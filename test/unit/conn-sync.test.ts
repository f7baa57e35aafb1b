import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../src/log.js';
import { ConnSync, planSync, sameDaemon, wantedDaemons } from '../../src/daemon/conn-sync.js';
import type { ConnectionSyncConfig } from '../../src/config/types.js';
import type { IpvsClient, IpvsCommand, IpvsResult, SyncDaemon } from '../../src/ipvs/types.js';

const cfg: ConnectionSyncConfig = { instance: 'VI_1', interface: 'eth0', syncId: 7 };
/** What the kernel reports for a daemon started from cfg: every default filled in. */
const kernel = (state: 'master' | 'backup', over: Partial<SyncDaemon> = {}): SyncDaemon => ({
  state, interface: 'eth0', syncId: 7, maxLength: 1472, group: '224.0.0.81', port: 8848, ttl: 1, ...over,
});

/** A kernel's sync daemons: at most one per state; starting a running one is EEXIST, stopping a missing one ESRCH. */
class FakeKernel implements Pick<IpvsClient, 'getDaemons' | 'execute'> {
  daemons: SyncDaemon[] = [];
  sent: IpvsCommand[] = [];
  refuseNew = false;
  async getDaemons(): Promise<SyncDaemon[]> {
    return this.daemons.map((d) => ({ ...d }));
  }
  async execute(commands: readonly IpvsCommand[]): Promise<IpvsResult[]> {
    return commands.map((c) => {
      this.sent.push(c);
      if (c.cmd === 'new-daemon') {
        if (this.refuseNew) return { ok: false, error: Object.assign(new Error('ENODEV'), { code: 'LVSD_IPVS_KERNEL' }) };
        if (this.daemons.some((d) => d.state === c.daemon.state)) return { ok: false, error: new Error('EEXIST') };
        this.daemons.push(kernel(c.daemon.state, c.daemon));
        return { ok: true };
      }
      if (c.cmd === 'del-daemon') {
        const at = this.daemons.findIndex((d) => d.state === c.state);
        if (at < 0) return { ok: false, error: new Error('ESRCH') };
        this.daemons.splice(at, 1);
        return { ok: true };
      }
      throw new Error(`unexpected ${c.cmd}`);
    });
  }
}

const client = (k: FakeKernel) => k as unknown as IpvsClient;
const states = (k: FakeKernel) => k.daemons.map((d) => d.state).sort();

test('the master runs the master sync daemon; backup, fault and a starting director run the backup one', () => {
  assert.deepEqual(wantedDaemons(cfg, 'master').map((d) => d.state), ['master']);
  for (const s of ['backup', 'fault', 'initialize', 'init', 'stopped', undefined]) {
    assert.deepEqual(wantedDaemons(cfg, s).map((d) => d.state), ['backup'], String(s));
  }
  assert.deepEqual(wantedDaemons(undefined, 'master'), [], 'no connectionSync: no daemon');
  assert.deepEqual(wantedDaemons({ ...cfg, port: 9000, ttl: 2 }, 'master')[0], {
    state: 'master', interface: 'eth0', syncId: 7, port: 9000, ttl: 2,
  });
});

test('a kernel daemon with the defaults filled in matches a config that left them out, not one that set others', () => {
  const [want] = wantedDaemons(cfg, 'backup');
  assert.equal(sameDaemon(want!, kernel('backup')), true);
  assert.equal(sameDaemon(wantedDaemons({ ...cfg, port: 9000 }, 'backup')[0]!, kernel('backup')), false);
  assert.equal(sameDaemon(want!, kernel('backup', { syncId: 8 })), false);
  assert.equal(sameDaemon(want!, kernel('backup', { interface: 'eth1' })), false);
  assert.equal(sameDaemon(want!, kernel('master')), false);
});

test('becoming master starts the master daemon before stopping the backup one; already converged sends nothing', () => {
  assert.deepEqual(planSync(wantedDaemons(cfg, 'master'), [kernel('backup')]), [
    { cmd: 'new-daemon', daemon: { state: 'master', interface: 'eth0', syncId: 7 } },
    { cmd: 'del-daemon', state: 'backup' },
  ]);
  assert.deepEqual(planSync(wantedDaemons(cfg, 'master'), [kernel('master')]), []);
  assert.deepEqual(planSync(wantedDaemons(cfg, 'backup'), [kernel('backup'), kernel('master')]), [{ cmd: 'del-daemon', state: 'master' }]);
  assert.deepEqual(planSync([], [kernel('backup'), kernel('master')]), [
    { cmd: 'del-daemon', state: 'backup' },
    { cmd: 'del-daemon', state: 'master' },
  ]);
});

test('a running daemon with other settings (a changed syncId) is restarted, stop first', () => {
  assert.deepEqual(planSync(wantedDaemons({ ...cfg, syncId: 9 }, 'backup'), [kernel('backup')]), [
    { cmd: 'del-daemon', state: 'backup' },
    { cmd: 'new-daemon', daemon: { state: 'backup', interface: 'eth0', syncId: 9 } },
  ]);
});

test('ConnSync converges at start from what a crashed run left, then follows the instance through transitions', async () => {
  const k = new FakeKernel();
  k.daemons = [kernel('master')]; // a killed master left its master daemon running
  const s = await ConnSync.start({ client: client(k), config: cfg, state: 'backup', log: silentLogger });
  assert.deepEqual(states(k), ['backup']);

  s.transition('VI_2', 'backup', 'master'); // another instance: nothing
  await s.converge('check');
  assert.deepEqual(states(k), ['backup']);

  s.transition('VI_1', 'backup', 'master');
  await s.converge('check');
  assert.deepEqual(states(k), ['master']);

  s.transition('VI_1', 'master', 'fault');
  await s.converge('check');
  assert.deepEqual(states(k), ['backup']);

  // two transitions before the first converge ran: each converge reads the latest state, so the
  // short-lived master state costs no start/stop of the master daemon
  s.transition('VI_1', 'fault', 'master');
  s.transition('VI_1', 'master', 'backup');
  await s.converge('check');
  assert.deepEqual(states(k), ['backup']);
  assert.equal(k.sent.filter((c) => c.cmd === 'new-daemon' && c.daemon.state === 'master').length, 1);

  await s.stop();
  assert.deepEqual(states(k), ['backup'], 'a stop keeps the backup daemon');
});

test('a stopping master gives up the master daemon; removing connectionSync on reload stops every daemon', async () => {
  const k = new FakeKernel();
  const s = await ConnSync.start({ client: client(k), config: cfg, state: 'master', log: silentLogger });
  assert.deepEqual(states(k), ['master']);
  await s.update(undefined);
  assert.deepEqual(states(k), []);
  await s.update(cfg, 'master');
  assert.deepEqual(states(k), ['master']);
  await s.stop();
  assert.deepEqual(states(k), ['backup']);
  s.transition('VI_1', 'backup', 'master'); // after stop: ignored
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(states(k), ['backup']);
});

test('a refused start is retried until the kernel accepts it', async () => {
  const k = new FakeKernel();
  k.refuseNew = true; // the interface does not exist yet
  const s = await ConnSync.start({ client: client(k), config: cfg, state: 'backup', log: silentLogger, retryMs: 20 });
  assert.deepEqual(states(k), []);
  k.refuseNew = false;
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(states(k), ['backup']);
  await s.stop();
});

test('a refused sync daemon is reported for metrics, kept as the problem until it converges, and retried backing off', async () => {
  const k = new FakeKernel();
  k.refuseNew = true;
  const failed: Array<[string, string | undefined, number]> = [];
  const s = await ConnSync.start({
    client: client(k), config: cfg, state: 'backup', log: silentLogger, retryMs: 40,
    onFailed: (op, code) => failed.push([op, code, performance.now()]),
  });
  assert.deepEqual(failed.map(([op, code]) => [op, code]), [['new-daemon', 'LVSD_IPVS_KERNEL']]);
  assert.equal(s.problem()?.op, 'new-daemon');
  assert.equal(s.problem()?.attempts, 1);
  const end = Date.now() + 5000;
  while (failed.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.problem()!.attempts >= 3, true);
  // timers fire late under load, never early: the waits are at least 40 then 80 ms
  assert.ok(failed[1]![2] - failed[0]![2] >= 39, 'first retry after retryMs');
  assert.ok(failed[2]![2] - failed[1]![2] >= 79, 'then twice as long');
  k.refuseNew = false;
  await s.converge('test');
  assert.equal(s.problem(), undefined, 'converged: no problem any more');
  assert.deepEqual(states(k), ['backup']);
  await s.stop();
});
