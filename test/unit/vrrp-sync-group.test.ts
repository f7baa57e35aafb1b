/** Sync-group orders from member states (the two-director scenarios run in vrrp-election.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMachine, step, type MachineConfig, type VrrpEvent, type VrrpState } from '../../src/vrrp/state-machine.js';
import { syncGroupOrders } from '../../src/vrrp/sync-group.js';

const cfg: MachineConfig = {
  version: 3, priority: 100, advertInterval: 1000, preempt: true, preemptDelay: 0,
  addresses: ['192.0.2.100'], localAddress: '192.0.2.1', trackInterfaces: [],
};
function machine(...events: VrrpEvent[]): VrrpState {
  let s = createMachine(cfg);
  for (const e of [{ type: 'start' } as VrrpEvent, ...events]) s = step(s, e, 0).state;
  return s;
}
const toMaster: VrrpEvent = { type: 'timer', timer: 'master_down' };

test('a member going master by itself pulls the backups up', () => {
  const members = new Map([['out', machine(toMaster)], ['in', machine()]]);
  assert.deepEqual(syncGroupOrders(members, { member: 'out', from: 'backup', to: 'master', reason: 'master_down' }),
    [{ member: 'in', command: 'master' }]);
});

test('a member losing to a peer pulls the masters down; start-up as backup does not', () => {
  const members = new Map([['out', machine()], ['in', machine(toMaster)]]);
  assert.deepEqual(syncGroupOrders(members, { member: 'out', from: 'master', to: 'backup', reason: 'higher_priority' }),
    [{ member: 'in', command: 'backup' }]);
  assert.deepEqual(syncGroupOrders(members, { member: 'out', from: 'initialize', to: 'backup', reason: 'start' }), []);
});

test('transitions the group caused do not propagate again', () => {
  const members = new Map([['out', machine(toMaster)], ['in', machine()]]);
  assert.deepEqual(syncGroupOrders(members, { member: 'out', from: 'backup', to: 'master', reason: 'sync_group_master' }), []);
});

test('one member faulty on its own faults the others, and they are released only when no member is faulty', () => {
  const down: VrrpEvent = { type: 'interface', up: false };
  let members = new Map([['out', machine(toMaster)], ['in', machine(down)], ['dmz', machine(down)]]);
  assert.deepEqual(syncGroupOrders(members, { member: 'in', from: 'backup', to: 'fault', reason: 'interface_down' }),
    [{ member: 'out', command: 'fault' }]);
  members.set('out', step(members.get('out')!, { type: 'sync', command: 'fault' }, 1).state);
  // 'in' recovers but 'dmz' is still down: nobody is released.
  members.set('in', step(members.get('in')!, { type: 'interface', up: true }, 2).state);
  assert.deepEqual(syncGroupOrders(members, { member: 'in', from: 'fault', to: 'backup', reason: 'fault_cleared' }),
    [{ member: 'in', command: 'fault' }]);
  members.set('in', step(members.get('in')!, { type: 'sync', command: 'fault' }, 3).state);
  // 'dmz' recovers: every held member is released (dmz itself made no transition order-worthy).
  members.set('dmz', step(members.get('dmz')!, { type: 'interface', up: true }, 4).state);
  members = new Map(members);
  assert.deepEqual(syncGroupOrders(members, { member: 'dmz', from: 'fault', to: 'backup', reason: 'fault_cleared' }),
    [{ member: 'out', command: 'release' }, { member: 'in', command: 'release' }]);
});
