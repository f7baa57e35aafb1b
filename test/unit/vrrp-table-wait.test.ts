/**
 * The wait for the daemon's table (issue #11): an instance started with `waitForTable` does not become
 * master, by Master_Down, preemption, its sync group or as the address owner, until `table_ready`; then a
 * claim it would have made is made at once, and one a master's adverts cancelled is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Advert } from '../../src/vrrp/packet.js';
import { createMachine, step, type MachineConfig, type VrrpAction, type VrrpEvent, type VrrpState } from '../../src/vrrp/state-machine.js';

const base: MachineConfig = {
  version: 3, priority: 100, advertInterval: 1000, preempt: true, preemptDelay: 0,
  addresses: ['192.0.2.100'], localAddress: '192.0.2.1', trackInterfaces: [],
};

function advert(priority: number, source = '192.0.2.2'): { type: 'advert'; advert: Advert } {
  return { type: 'advert', advert: { version: 3, family: 'ipv4', vrid: 1, priority, maxAdvertInterval: 100, addresses: ['192.0.2.100'], source, destination: '224.0.0.18' } };
}

function run(config: Partial<MachineConfig>, events: Array<[number, VrrpEvent]>, waitForTable = true): { state: VrrpState; all: VrrpAction[]; actions: VrrpAction[] } {
  let state = createMachine({ ...base, ...config }, { waitForTable });
  let actions: VrrpAction[] = [];
  const all: VrrpAction[] = [];
  for (const [now, e] of events) {
    ({ state, actions } = step(state, e, now));
    all.push(...actions);
  }
  return { state, all, actions };
}
const transitions = (a: VrrpAction[]) => a.filter((x) => x.type === 'transition');
const MDI = 3609.375;

test('Master_Down while waiting for the table: stays backup, says so once, takes over at table_ready', () => {
  const waiting = run({}, [[0, { type: 'start' }], [MDI, { type: 'timer', timer: 'master_down' }]]);
  assert.equal(waiting.state.current, 'backup');
  assert.equal(waiting.state.deferredClaim, 'master_down');
  assert.equal(waiting.state.timers.master_down, undefined, 'no timer left to fire again');
  assert.ok(!waiting.all.some((a) => a.type === 'add_vips'), 'no VIP while waiting');
  assert.deepEqual(waiting.actions, [{ type: 'claim_deferred', reason: 'master_down' }]);
  const ready = run({}, [[0, { type: 'start' }], [MDI, { type: 'timer', timer: 'master_down' }], [5000, { type: 'table_ready' }]]);
  assert.equal(ready.state.current, 'master');
  assert.equal(ready.state.waitingForTable, false);
  assert.deepEqual(transitions(ready.actions), [{ type: 'transition', from: 'backup', to: 'master', reason: 'master_down' }]);
  assert.ok(ready.actions.some((a) => a.type === 'add_vips'));
});

test('table_ready before Master_Down changes nothing: the timer runs out as usual', () => {
  const r = run({}, [[0, { type: 'start' }], [1000, { type: 'table_ready' }]]);
  assert.equal(r.state.current, 'backup');
  assert.deepEqual(r.actions, []);
  assert.equal(r.state.timers.master_down, MDI);
  assert.equal(run({}, [[0, { type: 'start' }], [1000, { type: 'table_ready' }], [MDI, { type: 'timer', timer: 'master_down' }]]).state.current, 'master');
});

test('preempting a lower-priority master waits for the table; the adverts keep coming and are still discarded', () => {
  const events: Array<[number, VrrpEvent]> = [[0, { type: 'start' }]];
  for (let t = 500; t < 8000; t += 1000) events.push([t, advert(50)]);
  events.push([MDI, { type: 'timer', timer: 'master_down' }]);
  events.sort((a, b) => a[0] - b[0]);
  const waiting = run({}, events);
  assert.equal(waiting.state.current, 'backup');
  assert.equal(waiting.state.deferredClaim, 'master_down');
  const ready = run({}, [...events, [8000, { type: 'table_ready' }]]);
  assert.equal(ready.state.current, 'master', 'preempts at once when the table is in');
});

test('a master heard while waiting cancels the deferred claim; without it there is nothing to claim at table_ready', () => {
  const r = run({ priority: 100 }, [
    [0, { type: 'start' }], [MDI, { type: 'timer', timer: 'master_down' }], [4000, advert(200)], [4500, { type: 'table_ready' }],
  ]);
  assert.equal(r.state.current, 'backup');
  assert.equal(r.state.deferredClaim, undefined);
  assert.deepEqual(r.actions, []);
  assert.ok((r.state.timers.master_down ?? 0) > 4000, 'the master is watched again');
});

test('the address owner and a sync group order wait for the table too', () => {
  const owner = run({ priority: 255 }, [[0, { type: 'start' }]]);
  assert.equal(owner.state.current, 'backup');
  assert.ok(!owner.all.some((a) => a.type === 'add_vips'));
  assert.equal(run({ priority: 255 }, [[0, { type: 'start' }], [200, { type: 'table_ready' }]]).state.current, 'master');
  const group = run({}, [[0, { type: 'start' }], [100, { type: 'sync', command: 'master' }]]);
  assert.equal(group.state.current, 'backup');
  assert.equal(run({}, [[0, { type: 'start' }], [100, { type: 'sync', command: 'master' }], [200, { type: 'table_ready' }]]).state.current, 'master');
});

test('without waitForTable (VRRP-only configs, reloads) nothing waits; table_ready is a no-op', () => {
  const r = run({}, [[0, { type: 'start' }], [MDI, { type: 'timer', timer: 'master_down' }]], false);
  assert.equal(r.state.current, 'master');
  const again = step(r.state, { type: 'table_ready' }, 5000);
  assert.deepEqual(again.actions, []);
  assert.equal(again.state.current, 'master');
});

test('a fault while waiting drops the deferred claim; the instance starts again as backup, still waiting', () => {
  const r = run({}, [
    [0, { type: 'start' }], [MDI, { type: 'timer', timer: 'master_down' }], [4000, { type: 'interface', up: false }], [4100, { type: 'interface', up: true }],
  ]);
  assert.equal(r.state.current, 'backup');
  assert.equal(r.state.deferredClaim, undefined);
  assert.equal(r.state.waitingForTable, true);
  assert.equal(r.state.timers.master_down, 4100 + MDI);
});
