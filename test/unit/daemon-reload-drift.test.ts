/**
 * A reload that comes while a drift pass reads the whole table goes ahead of the pass: the daemon
 * answers it once the kernel has the new config, before the read ends (it used to wait for the whole
 * pass in the reconciler's queue: 7-14 s at 22,000 objects in the VM), logs `aheadOfDrift`, and the
 * pass keeps what it did. A refused config during the read sends nothing and the pass goes on.
 * Over the in-memory IPVS model, its whole read held until the test lets it go.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelEntry } from '../../src/ipvs/types.js';
import { ModelClient } from './reconcile-model.js';
import { WEB, daemonLab, until, weights } from './daemon-lab.js';

test('a reload during a drift pass\'s read is applied and answered before the read ends, says aheadOfDrift, and the pass does not undo it; a refused one meanwhile sends nothing', async (t) => {
  const lab = daemonLab(t);
  const d = await lab.start({ repairBackoff: { baseMs: 50, maxMs: 200 } });
  await until('all up', 5000, () => weights(lab.kernel)['10.0.1.13:8080'] === 100);
  const marks: string[] = [];
  // the next whole read (the drift pass's) waits until released, or a second at most (where the reload
  // waits for the pass, the read then goes on and the order shows it)
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let reading = false;
  lab.kernel.dump = async function (only?: ReadonlySet<string>): Promise<KernelEntry[]> {
    const read = await ModelClient.prototype.dump.call(this, only);
    if (only === undefined) {
      reading = true;
      await Promise.race([released, new Promise((r) => setTimeout(r, 1000).unref())]);
      marks.push('read-end');
    }
    return read;
  };
  // drift behind lvsd's back, for the pass to repair
  lab.kernel.table[0]!.dests.find((x) => x.address === '10.0.1.12')!.weight = 7;
  const drift = d.fullReconcile('drift', 'drift').then((o) => {
    marks.push('pass');
    return o;
  });
  await until('the drift pass reads', 5000, () => reading);
  const batches = lab.kernel.batches.length;
  lab.write({ services: [{ ...WEB, scheduler: 'nosuch' }] });
  const refused = await d.reload('control');
  assert.equal(refused.code, 'LVSD_CONFIG_INVALID');
  assert.equal(lab.kernel.batches.length, batches, 'a refused reload sent something');
  lab.write({ services: [{ ...WEB, realServers: WEB.realServers.map((r) => (r.address === '10.0.1.11' ? { ...r, weight: 40 } : r)) }] });
  const reloaded = await d.reload('control');
  marks.push('reload');
  assert.deepEqual(reloaded, { ok: true, applied: true });
  assert.equal(weights(lab.kernel)['10.0.1.11:8080'], 40, 'answered before the kernel had it');
  release();
  const outcome = await drift;
  assert.deepEqual(marks, ['reload', 'read-end', 'pass'], 'the reload waited for the drift pass');
  assert.equal(outcome.result, 'ok');
  assert.deepEqual(weights(lab.kernel), { '10.0.1.11:8080': 40, '10.0.1.12:8080': 100, '10.0.1.13:8080': 100 });
  const line = lab.logs.find((l) => l.event === 'config.reloaded');
  assert.equal(line?.aheadOfDrift, true);
  const pass = lab.logs.find((l) => l.event === 'daemon.reconcile' && l.reason === 'drift');
  assert.ok(Number(pass?.passesAhead) >= 1, `passesAhead ${String(pass?.passesAhead)}`);
  // the service the reload touched was read again after the read, still outside the queue, not in it
  assert.equal(pass?.againOutside, 1);
  assert.equal(pass?.readAgain, 0);
});
