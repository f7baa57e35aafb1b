/** Single steps of the VRRP state machine: what one event does to one instance. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { VrrpInstanceConfig } from '../../src/config/types.js';
import type { Advert } from '../../src/vrrp/packet.js';
import {
  compareAddresses, createMachine, effectivePriority, machineConfigFrom, step, type MachineConfig, type VrrpAction, type VrrpEvent, type VrrpState,
} from '../../src/vrrp/state-machine.js';

const base: MachineConfig = {
  version: 3, priority: 100, advertInterval: 1000, preempt: true, preemptDelay: 0,
  addresses: ['192.0.2.100'], localAddress: '192.0.2.1', trackInterfaces: [],
};

function advert(priority: number, source = '192.0.2.2', addresses = ['192.0.2.100'], cs = 100): { type: 'advert'; advert: Advert } {
  return { type: 'advert', advert: { version: 3, family: 'ipv4', vrid: 1, priority, maxAdvertInterval: cs, addresses, source, destination: '224.0.0.18' } };
}

/** Run events in order at the given times; returns the final state and the last step's actions. */
function run(config: Partial<MachineConfig>, events: Array<[number, VrrpEvent]>): { state: VrrpState; actions: VrrpAction[] } {
  let state = createMachine({ ...base, ...config });
  let actions: VrrpAction[] = [];
  for (const [now, e] of events) ({ state, actions } = step(state, e, now));
  return { state, actions };
}
const types = (a: VrrpAction[]) => a.map((x) => x.type);
const master: Array<[number, VrrpEvent]> = [[0, { type: 'start' }], [3609.375, { type: 'timer', timer: 'master_down' }]];

test('start: a backup arms Master_Down_Timer; the owner is master at once with VIPs, advert and GARP', () => {
  const b = run({}, [[0, { type: 'start' }]]);
  assert.equal(b.state.current, 'backup');
  assert.deepEqual(b.actions[0], { type: 'set_timer', timer: 'master_down', at: 3609.375 });
  const o = run({ priority: 255 }, [[0, { type: 'start' }]]);
  assert.equal(o.state.current, 'master');
  assert.deepEqual(types(o.actions), ['add_vips', 'send_advert', 'send_garp', 'set_timer', 'transition', 'notify']);
  assert.deepEqual(o.actions[4], { type: 'transition', from: 'initialize', to: 'master', reason: 'start' });
});

test('master meeting a lower-priority master answers at once and re-announces its VIPs (stays master)', () => {
  const r = run({}, [...master, [4000, advert(50)]]);
  assert.equal(r.state.current, 'master');
  assert.deepEqual(r.actions, [
    { type: 'send_advert', priority: 100 },
    { type: 'send_garp' },
    { type: 'set_timer', timer: 'advert', at: 5000 },
  ]);
});

test('master meeting an equal priority: the higher address wins, compared as numbers', () => {
  assert.equal(run({}, [...master, [4000, advert(100, '192.0.2.10')]]).state.current, 'backup');
  assert.equal(run({ localAddress: '192.0.2.10' }, [...master, [4000, advert(100, '192.0.2.9')]]).state.current, 'master');
  assert.ok(compareAddresses('fe80::1:0', 'fe80::ffff') > 0);
  assert.ok(compareAddresses('192.0.2.10', '192.0.2.9') > 0);
  assert.equal(compareAddresses('2001:db8::1', '2001:db8:0::1'), 0);
});

test('master stepping down removes its VIPs and learns the winner interval', () => {
  const r = run({}, [...master, [4000, advert(200, '192.0.2.2', ['192.0.2.100'], 300)]]);
  assert.equal(r.state.current, 'backup');
  assert.equal(r.state.masterAdverInterval, 3000);
  assert.deepEqual(types(r.actions), ['cancel_timer', 'remove_vips', 'set_timer', 'transition', 'notify']);
  assert.deepEqual(r.actions[2], { type: 'set_timer', timer: 'master_down', at: 4000 + 9000 + (156 * 3000) / 256 });
});

test('master receiving priority 0 sends an advert at once', () => {
  const r = run({}, [...master, [4000, advert(0)]]);
  assert.deepEqual(types(r.actions), ['send_advert', 'set_timer']);
});

test('the owner never yields, and ignores another owner rather than answering it', () => {
  assert.equal(run({ priority: 255 }, [[0, { type: 'start' }], [10, advert(255, '192.0.2.200')]]).actions.length, 0);
  assert.equal(run({ priority: 255 }, [[0, { type: 'start' }], [10, advert(255, '192.0.2.200')]]).state.current, 'master');
});

test('a preempting backup one priority point above the master discards its adverts', () => {
  const r = run({ priority: 101 }, [[0, { type: 'start' }], [100, advert(100)]]);
  assert.deepEqual(r.actions, []); // Master_Down_Timer keeps its deadline: it will run out
  const np = run({ priority: 101, preempt: false }, [[0, { type: 'start' }], [100, advert(100)]]);
  assert.deepEqual(np.actions, [{ type: 'set_timer', timer: 'master_down', at: 100 + 3000 + (155 * 1000) / 256 }]);
});

test('an address-list mismatch is reported once per sender and list, counted, and changes nothing else', () => {
  const other = ['192.0.2.100', '192.0.2.101'];
  const r1 = run({}, [[0, { type: 'start' }], [100, advert(200, '192.0.2.2', other)]]);
  assert.equal(r1.state.current, 'backup');
  assert.deepEqual(r1.actions[0], { type: 'address_mismatch', source: '192.0.2.2', advertised: other, configured: ['192.0.2.100'] });
  assert.equal(r1.actions[1]?.type, 'set_timer'); // the advert still counts
  const r2 = run({}, [[0, { type: 'start' }], [100, advert(200, '192.0.2.2', other)], [1100, advert(200, '192.0.2.2', other)]]);
  assert.equal(r2.state.addressMismatches, 2);
  assert.deepEqual(types(r2.actions), ['set_timer']);
  // Same list in another order is no mismatch.
  const r3 = run({ addresses: other }, [[0, { type: 'start' }], [100, advert(200, '192.0.2.2', [...other].reverse())]]);
  assert.equal(r3.state.addressMismatches, 0);
});

test('a timer event for a timer that is not armed does nothing', () => {
  const r = run({}, [[0, { type: 'start' }], [10, { type: 'timer', timer: 'advert' }]]);
  assert.deepEqual(r.actions, []);
  assert.equal(r.state.current, 'backup');
});

test('effective priority: down tracked weights add, clamped to 1..254; the owner stays 255', () => {
  const t = (priority: number, weight: number) =>
    effectivePriority({ config: { ...base, priority, trackInterfaces: [{ name: 'x', weight }] }, trackDown: ['x'] });
  assert.equal(t(100, -30), 70);
  assert.equal(t(100, -300), 1);
  assert.equal(t(200, 100), 254);
  assert.equal(t(255, -100), 255);
  assert.equal(effectivePriority({ config: { ...base, trackInterfaces: [{ name: 'x', weight: -30 }] }, trackDown: [] }), 100);
});

test('shutdown: a master sends priority 0 and releases its VIPs; a backup just stops; start works again', () => {
  const m = run({}, [...master, [5000, { type: 'shutdown' }]]);
  assert.equal(m.state.current, 'stopped');
  assert.deepEqual(types(m.actions), ['send_advert', 'remove_vips', 'cancel_timer', 'transition', 'notify']);
  assert.deepEqual(m.actions[0], { type: 'send_advert', priority: 0 });
  assert.deepEqual(m.actions.at(-1), { type: 'notify', kind: 'stop' });
  const b = run({}, [[0, { type: 'start' }], [5, { type: 'shutdown' }], [10, { type: 'start' }]]);
  assert.equal(b.state.current, 'backup');
});

test('fault: an instance starting with its interface down waits in fault and starts when it comes up', () => {
  let state = createMachine(base, { interfaceUp: false });
  ({ state } = step(state, { type: 'start' }, 0));
  assert.equal(state.current, 'fault');
  const r = step(state, { type: 'interface', up: true }, 50);
  assert.equal(r.state.current, 'backup');
  assert.deepEqual(r.actions.find((a) => a.type === 'transition'), { type: 'transition', from: 'fault', to: 'backup', reason: 'fault_cleared' });
});

test('sync commands: master forces a backup up; backup forces a master down with priority 0 and holds it', () => {
  const up = run({}, [[0, { type: 'start' }], [10, { type: 'sync', command: 'master' }]]);
  assert.equal(up.state.current, 'master');
  const down = run({ priority: 200 }, [[0, { type: 'start' }], [3218.75, { type: 'timer', timer: 'master_down' }], [4000, { type: 'sync', command: 'backup' }]]);
  assert.equal(down.state.current, 'backup');
  assert.deepEqual(down.actions[0], { type: 'send_advert', priority: 0 });
  // Held: a lower-priority master's advert is accepted (Master_Down_Timer reset), not discarded.
  const held = step(down.state, advert(100), 5000);
  assert.equal(held.actions.at(-1)?.type, 'set_timer');
});

test('sync fault holds a member in fault until release; a member faulty on its own is not held', () => {
  const f = run({}, [[0, { type: 'start' }], [10, { type: 'sync', command: 'fault' }]]);
  assert.equal(f.state.current, 'fault');
  assert.equal(step(f.state, { type: 'interface', up: true }, 20).state.current, 'fault');
  assert.equal(step(f.state, { type: 'sync', command: 'release' }, 20).state.current, 'backup');
  const own = run({}, [[0, { type: 'start' }], [10, { type: 'interface', up: false }], [20, { type: 'sync', command: 'fault' }], [30, { type: 'interface', up: true }]]);
  assert.equal(own.state.current, 'backup');
});

test('machineConfigFrom converts seconds to the wire resolution and milliseconds', () => {
  const cfg = {
    name: 'vi', origin: { file: 'x', pointer: '' }, interface: 'eth0', vrid: 1, priority: 150, version: 3, family: 'ipv4',
    advertInterval: 0.333, preempt: true, preemptDelay: 2.5, acceptMode: true, v2Compat: false, addresses: [{ family: 'ipv4', address: '192.0.2.100', prefixLength: 24 }],
    trackInterfaces: [{ name: 'eth1', weight: -20 }], trackScripts: [], trackFiles: [], trackProcesses: [], garp: { count: 5, interval: 0.01, refresh: 0 }, notify: {},
  } satisfies VrrpInstanceConfig;
  const m = machineConfigFrom(cfg, '192.0.2.1');
  assert.equal(m.advertInterval, 330);
  assert.equal(m.preemptDelay, 2500);
  assert.equal(machineConfigFrom({ ...cfg, version: 2, advertInterval: 0.3 }, '192.0.2.1').advertInterval, 1000);
});

test('100 ms takeover: Master_Down_Timer runs from the last advert (its arrival time), and the VIPs come first', () => {
  // The runner passes an advert's arrival time as `now` and performs the actions in order: a takeover must
  // be due exactly Master_Down_Interval after the last advert (3 * 100 + 156 * 100 / 256 = 360.9375 ms)
  // and add its VIPs before anything else it does (the transition the main thread reacts to comes last).
  const events: Array<[number, VrrpEvent]> = [[0, { type: 'start' }]];
  for (let t = 50; t <= 1050; t += 100) events.push([t, advert(150, '192.0.2.2', ['192.0.2.100'], 10)]);
  const b = run({ advertInterval: 100 }, events);
  assert.equal(b.state.current, 'backup');
  assert.equal(b.state.masterAdverInterval, 100);
  assert.deepEqual(b.state.timers, { master_down: 1050 + 360.9375 });
  const m = step(b.state, { type: 'timer', timer: 'master_down' }, 1050 + 360.9375);
  assert.equal(m.state.current, 'master');
  assert.deepEqual(types(m.actions), ['add_vips', 'send_advert', 'send_garp', 'set_timer', 'transition', 'notify']);
});
