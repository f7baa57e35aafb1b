/**
 * A backup whose VRRP thread stands still (not scheduled on a loaded host, a GC pause, SIGSTOP, a paused
 * VM) while the master's adverts keep arriving must not take over when it runs again: the adverts sat in
 * its socket, received in time. Injected deterministically with SIGSTOP / SIGCONT of the backup's process
 * for several Master_Down intervals. Before the fix, libuv ran the expired Master_Down timer before it
 * polled the socket again, and the backup became master on every such stall (split brain until the
 * master's next advert demoted it).
 *
 * The other side of the same rule: when the master really went silent during the stall, the backup takes
 * over as soon as it runs, judging by when the kernel received the last advert, not by when it read it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { netnsSkipReason } from './netns.js';
import { startPair } from './fixtures/vrrp-pair.js';
import { sleep } from './fixtures/vrrp-lab.js';

const skip = netnsSkipReason();

describe('VRRP backup that stood still', { skip }, () => {
  test('a backup stopped for 5 Master_Down intervals while adverts arrive stays backup when it runs again', async (t) => {
    // 100 ms adverts, backup priority 100: Master_Down_Interval = 3 * 100 + 61 = 361 ms
    const p = await startPair({ vrid: 71 });
    t.after(() => p.vlab.cleanup());
    const l1 = p.l1!;
    const l2 = p.l2;
    const stalls = 3;
    for (let i = 0; i < stalls; i++) {
      const since = Date.now();
      l2.signal('SIGSTOP');
      await sleep(1800);
      l2.signal('SIGCONT');
      await sleep(1000);
      const took = l2.events('vrrp.transition').filter((e) => e.at >= since && e.to === 'master');
      assert.equal(took.length, 0, `stall ${i + 1}: the backup took over from a live master: ${JSON.stringify(took)}`);
    }
    assert.equal(l1.events('vrrp.transition').filter((e) => e.from === 'master').length, 0, 'the master never gave way');
    assert.equal(p.l2.vrrp('VI_1').state, 'backup');
    await Promise.all([l1.stop(), l2.stop()]);
  });

  test('a backup stopped while the master dies takes over as soon as it runs again', async (t) => {
    const p = await startPair({ vrid: 72 });
    t.after(() => p.vlab.cleanup());
    const l1 = p.l1!;
    const l2 = p.l2;
    l2.signal('SIGSTOP');
    await sleep(300);
    l1.signal('SIGKILL'); // no priority 0: the backup must notice the silence
    await sleep(1500);
    const resumed = Date.now();
    l2.signal('SIGCONT');
    const master = await l2.transition('VI_1', 'master', 10_000, resumed - 100);
    const timing = await l2.waitFor((m) => m.event === 'vrrp.takeover_timing', 10_000, resumed - 100);
    t.diagnostic(`master ${master.at - resumed} ms after SIGCONT; last advert heard ${Math.round(resumed - (timing.lastAdvertWall as number))} ms before it`);
    // the last advert the backup heard came before the master was killed, 1.5 s before the backup ran again
    assert.ok((timing.lastAdvertWall as number) < resumed - 1000, `the last advert's time is its arrival: ${String(timing.lastAdvertWall)} vs resumed ${resumed}`);
    await l2.stop();
  });
});
