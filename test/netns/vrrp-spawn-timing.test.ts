/**
 * A master's adverts keep time while its track script runs every 200 ms. A process started from the VRRP
 * thread blocked it until the child had exec'd, and the child runs ordinary scheduling (reset-on-fork):
 * on a loaded host the SCHED_RR thread waited for an ordinary task, and adverts went out late, the thread
 * 'blocked' (measured 2026-12-05: 31 and 89 ms late at load ~8). The main thread starts them now
 * (src/vrrp/spawn-relay.ts). The test loads the host's two cores with two ordinary busy loops for the
 * measurement, so the children wait for a CPU as they would on a busy director; a passive receiver dates
 * every advert by the kernel's receive time. Bound: p99 of |inter-arrival - 100 ms| under 10 ms (as
 * vrrp-timing; unless every advert late was held by another real-time task), and no advert the master
 * itself logs late because its thread was blocked. Before the relay it failed 2 runs of 2 (97 ms late,
 * 'blocked'; p99 18 ms); with the relay alone, 1 of 3 (the main thread's fork, preempted: 20-47 ms,
 * 'blocked'), hence src/fork-priority.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { jitter, percentile, sleep, VrrpLab } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();

/**
 * A master (VRRP only, 100 ms adverts) whose track script appends a line to `runs` every 200 ms, an advert
 * listener beside it; resolves once it is master and has run a second.
 */
async function scriptMaster(t: TestContext, vrid: number, options?: Parameters<VrrpLab['lvsd']>[3]) {
  const vlab = new VrrpLab();
  t.after(() => vlab.cleanup());
  const d1 = vlab.node('d1');
  const client = vlab.node('c');
  const runs = vlab.file('runs', '');
  // the script runs as nobody (lvsd is root): it may append here
  chmodSync(vlab.dir, 0o711);
  chmodSync(runs, 0o666);
  const listener = await vlab.listen(client);
  const l1 = vlab.lvsd(d1, {
    vrrp: [{
      name: 'VI_1', interface: 'eth0', vrid, priority: 150, version: 3, advertInterval: '100ms', addresses: ['10.61.0.100/24'],
      trackScripts: [{ name: 'chk', command: ['/bin/sh', '-c', `echo run >> ${runs}`], interval: '200ms', weight: -10 }],
    }],
  }, 'd1', options);
  await l1.transition('VI_1', 'master', 30_000);
  await sleep(1000);
  return { d1, runs, listener, l1 };
}

describe('VRRP adverts with frequent track scripts', { skip }, () => {
  test('a track script every 200 ms on a loaded host does not delay the master\'s adverts', async (t) => {
    const { d1, runs, listener, l1 } = await scriptMaster(t, 82);
    // two ordinary busy loops, one per core of the test host, for the measurement only
    const hogs = [0, 1].map(() => spawn('/bin/sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    t.after(() => { for (const h of hogs) h.kill('SIGKILL'); });
    const runsBefore = readFileSync(runs, 'utf8').split('\n').length;
    const from = Date.now();
    await sleep(10_000);
    const to = Date.now();
    for (const h of hogs) h.kill('SIGKILL');
    await sleep(500); // the receiver reads late on a loaded host: the window's last adverts reach it
    const scriptRuns = readFileSync(runs, 'utf8').split('\n').length - runsBefore;
    const arrivals = listener.arrivals(d1.ipv4, 82, from, to);
    const j = jitter(arrivals, 100);
    const p99 = percentile(j, 99);
    const late = l1.events('vrrp.advert_late').filter((e) => e.at >= from);
    const said = late.map((e) => `${String(e.lateMs)} ms late: ${String(e.cause)} (wait ${String(e.waitMs)} ms, cpu ${String(e.cpuMs)} ms)`);
    t.diagnostic(`${scriptRuns} script runs, ${arrivals.length} adverts in ${to - from} ms; jitter p50 ${percentile(j, 50).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${Math.max(...j).toFixed(2)} ms; late: ${said.join('; ') || 'none'}`);
    assert.equal(l1.realtimeAdverts(), undefined, 'the adverts are sent in real time (the VRRP thread, or on the main thread the advert clock)');
    assert.ok(scriptRuns >= 20, `the script ran ${scriptRuns} times in ${to - from} ms`);
    assert.ok(arrivals.length >= ((to - from) / 100) * 0.95, `${arrivals.length} adverts in ${to - from} ms`);
    assert.deepEqual(late.filter((e) => e.cause === 'blocked').map((e) => e.lateMs), [], `adverts late with the thread blocked: ${said.join('; ')}`);
    // a late advert the master explains by run-queue wait (cpu_contention) was held by another task of equal
    // or higher real-time priority, another lab's VRRP thread on this shared host: not a spawn's doing
    const others = late.length > 0 && late.every((e) => e.cause === 'cpu_contention');
    assert.ok(p99 < 10 || others, `p99 jitter ${p99.toFixed(2)} ms; the master logged: ${said.join('; ') || 'no late advert'}`);
    listener.stop();
    await l1.stop();
  });

  test('a main thread busy 150 ms of every 200 ms delays the script\'s runs, not the adverts', async (t) => {
    const { d1, runs, listener, l1 } = await scriptMaster(t, 83, { busy: { busyMs: 150, periodMs: 200 } });
    const runsBefore = readFileSync(runs, 'utf8').split('\n').length;
    const from = Date.now();
    await sleep(8000);
    const to = Date.now();
    await sleep(500);
    const scriptRuns = readFileSync(runs, 'utf8').split('\n').length - runsBefore;
    const j = jitter(listener.arrivals(d1.ipv4, 83, from, to), 100);
    const p99 = percentile(j, 99);
    const late = l1.events('vrrp.advert_late').filter((e) => e.at >= from);
    const said = late.map((e) => `${String(e.lateMs)} ms late: ${String(e.cause)}`);
    t.diagnostic(`${scriptRuns} script runs in ${to - from} ms; jitter p99 ${p99.toFixed(2)} ms, max ${Math.max(...j).toFixed(2)} ms; late: ${said.join('; ') || 'none'}`);
    assert.ok(scriptRuns >= 5, `the script still ran (${scriptRuns} times)`);
    assert.deepEqual(late.filter((e) => e.cause !== 'cpu_contention').map((e) => e.lateMs), [], said.join('; '));
    const others = late.length > 0;
    assert.ok(p99 < 10 || others, `p99 jitter ${p99.toFixed(2)} ms`);
    listener.stop();
    await l1.stop();
  });
});
