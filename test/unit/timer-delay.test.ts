/**
 * The clamp where timers are armed (issue #10 item 3): a delay beyond 2^31-1 ms, derived or slipped past
 * validation, waits the longest Node allows instead of firing after 1 ms again and again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, timerDelay } from '../../src/timer-delay.js';
import { systemClock } from '../../src/health/types.js';
import { deadline } from '../../src/health/checkers/deadline.js';

test('timerDelay clamps to [0, 2^31-1] and turns NaN and Infinity into the maximum', () => {
  assert.equal(MAX_TIMER_MS, 2147483647);
  assert.deepEqual([1e300, Infinity, NaN, 2 ** 31, -5, 0, 1500].map(timerDelay), [MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, MAX_TIMER_MS, 0, 0, 1500]);
});

test('an over-long delay on the health clock or a probe deadline neither fires early nor warns', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  let fired = 0;
  const h = systemClock.setTimeout(() => fired++, 1e300);
  const d = deadline(1e300);
  await new Promise((r) => setTimeout(r, 100));
  systemClock.clearTimeout(h);
  const aborted = d.signal.aborted;
  d.done();
  process.off('warning', onWarning);
  assert.equal(fired, 0, 'the timer did not fire');
  assert.equal(aborted, false, 'the probe deadline did not expire');
  assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
});

test('the IPVS repair timer backs off through the clamp: an unbounded backoff waits, it does not retry every millisecond', async (t) => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Reconciler } = await import('../../src/reconcile/index.js');
  const { LvsdError } = await import('../../src/errors.js');
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-repair-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines: Array<Record<string, unknown>> = [];
  const log = { info: () => undefined, warn: (o: Record<string, unknown>) => lines.push(o), error: () => undefined, debug: () => undefined,
    child() { return this; } } as unknown as import('../../src/log.js').Logger;
  let attempts = 0;
  const sync = new Reconciler({
    log, backoff: { baseMs: 1e300, maxMs: Infinity },
    client: async () => { attempts++; throw new LvsdError('LVSD_IPVS_UNAVAILABLE', 'IPVS is not there'); },
    stateFile: () => join(dir, 'state.json'),
    internalError: (where, e) => { throw e; },
  });
  sync.owned = new Set(['tcp/192.0.2.10:80']); // something to manage (with nothing, a pass reads nothing)
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  await sync.repairDrift('start', 'start');
  await new Promise((r) => setTimeout(r, 300));
  process.off('warning', onWarning);
  await sync.stop();
  assert.equal(attempts, 1, 'one pass, no retry storm');
  assert.deepEqual(lines.filter((l) => l.event === 'daemon.repair_scheduled').map((l) => l.inMs), [MAX_TIMER_MS]);
  assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
});

test('the connection-sync retry goes through the clamp: a retry base that is not a number does not retry every millisecond', async () => {
  const { ConnSync } = await import('../../src/daemon/conn-sync.js');
  const { silentLogger } = await import('../../src/log.js');
  let asked = 0;
  const client = {
    async getDaemons() { asked++; return []; },
    async execute(commands: readonly unknown[]) { return commands.map(() => ({ ok: false, error: Object.assign(new Error('ENODEV'), { code: 'LVSD_IPVS_KERNEL' }) })); },
  } as unknown as import('../../src/ipvs/types.js').IpvsClient;
  const s = await ConnSync.start({ client, config: { instance: 'VI_1', interface: 'eth0', syncId: 7 }, state: 'backup', log: silentLogger, retryMs: NaN });
  await new Promise((r) => setTimeout(r, 300));
  const seen = asked;
  await s.stop();
  assert.equal(seen, 1, 'refused once, then waiting');
});
