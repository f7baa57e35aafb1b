/** VRRP tracking beyond interfaces: weights, rise/fall, file numbers, process matching, and what the machine does with them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMachine, effectivePriority, step, type MachineConfig, type VrrpState } from '../../src/vrrp/state-machine.js';
import {
  fileEffect, initialRiseFall, parseTrackFile, processMatches, quorumUp, riseFall, upDownEffect, type RiseFall,
} from '../../src/vrrp/track.js';
import { assertProblem, parse, problemsOf } from './config-fixtures.js';

test('scripts and processes weigh as keepalived: > 0 added while up, < 0 added while down, 0 faults while down', () => {
  assert.equal(upDownEffect(true, 20, false), 20);
  assert.equal(upDownEffect(false, 20, false), 0);
  assert.equal(upDownEffect(true, -20, false), 0);
  assert.equal(upDownEffect(false, -20, false), -20);
  assert.equal(upDownEffect(true, 0, false), 0);
  assert.equal(upDownEffect(false, 0, false), 'fault');
});

test('reverse negates the weight, and with weight 0 faults while up', () => {
  assert.equal(upDownEffect(true, 20, true), -20);
  assert.equal(upDownEffect(false, -20, true), 20);
  assert.equal(upDownEffect(true, 0, true), 'fault');
  assert.equal(upDownEffect(false, 0, true), 0);
});

test('a tracked file: number * weight added; weight 0 faults on non-zero; below -253 is fault; unreadable reads 0', () => {
  assert.equal(fileEffect(3, -10, false), -30);
  assert.equal(fileEffect(3, -10, true), 30);
  assert.equal(fileEffect(-5, 1, false), -5);
  assert.equal(fileEffect(0, 0, false), 0);
  assert.equal(fileEffect(7, 0, false), 'fault');
  assert.equal(fileEffect(-254, 1, false), 'fault');
  assert.equal(fileEffect(-253, 1, false), -253);
  assert.equal(fileEffect(undefined, 5, false), 0);
  assert.equal(parseTrackFile(' 42\n'), 42);
  assert.equal(parseTrackFile('-7 extra'), -7);
  assert.equal(parseTrackFile('+3'), 3);
  assert.equal(parseTrackFile('abc'), undefined);
  assert.equal(parseTrackFile(''), undefined);
});

test('rise/fall: fall failures in a row make an up script down, rise successes a down one up; a lone result resets the streak', () => {
  const feed = (s: RiseFall, results: boolean[], rise: number, fall: number) => results.reduce((x, ok) => riseFall(x, ok, rise, fall), s);
  const up = initialRiseFall(false);
  assert.equal(up.up, true);
  assert.equal(feed(up, [false, false], 2, 3).up, true);
  assert.equal(feed(up, [false, false, false], 2, 3).up, false);
  assert.equal(feed(up, [false, false, true, false, false], 2, 3).up, true, 'a success in between starts the count again');
  const down = feed(up, [false, false, false], 2, 3);
  assert.equal(feed(down, [true], 2, 3).up, false);
  assert.equal(feed(down, [true, true], 2, 3).up, true);
  assert.equal(initialRiseFall(true).up, false, 'initFail starts down');
  assert.equal(feed(up, [false], 1, 1).up, false, 'rise 1 / fall 1: every result counts at once');
});

test('process matching: comm, argv[0] or its base name; args must match exactly; quorum bounds', () => {
  const nginx = { comm: 'nginx', argv: ['/usr/sbin/nginx', '-g', 'daemon off;'] };
  assert.ok(processMatches(nginx, 'nginx'));
  assert.ok(processMatches(nginx, '/usr/sbin/nginx'));
  assert.ok(processMatches(nginx, 'nginx', ['-g', 'daemon off;']));
  assert.ok(!processMatches(nginx, 'nginx', ['-g']));
  assert.ok(!processMatches(nginx, 'ngin'));
  const long = { comm: 'a-very-long-pro', argv: ['/opt/a-very-long-process-name'] };
  assert.ok(processMatches(long, 'a-very-long-process-name'), 'a name past the 15 characters of comm matches by argv[0]');
  assert.ok(quorumUp(1, 1));
  assert.ok(!quorumUp(0, 1));
  assert.ok(!quorumUp(3, 1, 2));
  assert.ok(quorumUp(0, 0, 0), 'quorum 0 / quorumMax 0: up while none runs');
});

const base: MachineConfig = {
  version: 3, priority: 100, advertInterval: 1000, preempt: true, preemptDelay: 0,
  addresses: ['192.0.2.100'], localAddress: '192.0.2.1', trackInterfaces: [{ name: 'eth1', weight: -10 }],
};

test('effective priority adds every tracked delta (interfaces too) and clamps to 1..254; the owner stays 255', () => {
  const s = createMachine(base, { trackDown: ['eth1'], trackEffects: { 'script:a': -30, 'file:/f': 5 } });
  assert.equal(effectivePriority(s), 65);
  assert.equal(effectivePriority(createMachine(base, { trackEffects: { 'file:/f': 200 } })), 254);
  assert.equal(effectivePriority(createMachine(base, { trackEffects: { 'file:/f': -200 } })), 1);
  assert.equal(effectivePriority(createMachine({ ...base, priority: 255 }, { trackEffects: { 'script:a': -50 } })), 255);
});

test('a master whose tracked script faults goes to Fault and gives up its VIPs; when it clears it starts again as backup', () => {
  let s: VrrpState = createMachine(base);
  s = step(s, { type: 'start' }, 0).state;
  s = step(s, { type: 'timer', timer: 'master_down' }, 4000).state;
  assert.equal(s.current, 'master');
  const f = step(s, { type: 'track_effect', key: 'script:chk', effect: 'fault' }, 5000);
  assert.equal(f.state.current, 'fault');
  assert.ok(f.actions.some((a) => a.type === 'send_advert' && a.priority === 0), 'priority 0: the backup takes over at once');
  assert.ok(f.actions.some((a) => a.type === 'remove_vips'));
  assert.ok(f.actions.some((a) => a.type === 'transition' && a.reason === 'track_down'));
  const back = step(f.state, { type: 'track_effect', key: 'script:chk', effect: 0 }, 6000);
  assert.equal(back.state.current, 'backup');
});

test('a master whose tracked delta drops it below the peer advertises the lower priority and yields to the higher advert', () => {
  let s: VrrpState = createMachine(base);
  s = step(s, { type: 'start' }, 0).state;
  s = step(s, { type: 'timer', timer: 'master_down' }, 4000).state;
  s = step(s, { type: 'track_effect', key: 'file:/run/w', effect: -30 }, 4500).state;
  assert.equal(s.current, 'master');
  const adv = step(s, { type: 'timer', timer: 'advert' }, 5000);
  assert.ok(adv.actions.some((a) => a.type === 'send_advert' && a.priority === 70));
  const peer = { version: 3 as const, family: 'ipv4' as const, vrid: 1, priority: 90, maxAdvertInterval: 100, addresses: ['192.0.2.100'], source: '192.0.2.2', destination: '224.0.0.18' };
  assert.equal(step(adv.state, { type: 'advert', advert: peer }, 5100).state.current, 'backup');
  // removing the tracked object (a reload) restores the priority
  assert.equal(effectivePriority(step(s, { type: 'track_effect', key: 'file:/run/w', effect: null }, 5200).state), 100);
});

const vi = (extra: Record<string, unknown>) => ({ vrrp: [{ name: 'V', interface: 'eth0', vrid: 1, addresses: ['192.0.2.1'], ...extra }] });

test('config: track defaults (script weight 0, interval 1 s, timeout = interval, user = health.execUser; file weight 1; process weight 0, quorum 1)', () => {
  const c = parse({
    health: { execUser: 'daemon' },
    ...vi({ trackScripts: [{ name: 'chk', command: ['/bin/true'], interval: '3s' }], trackFiles: [{ path: '/run/w' }], trackProcesses: [{ name: 'nginx' }] }),
  });
  const v = c.vrrp[0]!;
  assert.deepEqual(v.trackScripts, [{ name: 'chk', command: ['/bin/true'], interval: 3, timeout: 3, weight: 0, reverse: false, rise: 1, fall: 1, user: 'daemon', initFail: false }]);
  assert.deepEqual(v.trackFiles, [{ path: '/run/w', weight: 1, reverse: false }]);
  assert.deepEqual(v.trackProcesses, [{ name: 'nginx', weight: 0, reverse: false, quorum: 1, delay: 0, interval: 1 }]);
});

test('config: bad track entries are named by their place', () => {
  const p = problemsOf(vi({
    trackScripts: [{ name: 'a', command: ['/bin/true'] }, { name: 'a', command: ['/bin/false'] }],
    trackFiles: [{ path: 'relative' }],
    trackProcesses: [{ name: 'x', quorum: 2, quorumMax: 1 }],
  }));
  assertProblem(p, '/vrrp/0/trackScripts/1', /tracks "a" twice \(also \/trackScripts\/0\)/);
  assertProblem(p, '/vrrp/0/trackFiles/0/path', /not an absolute path/);
  assertProblem(p, '/vrrp/0/trackProcesses/0/quorumMax', /less than quorum/);
});

test('config: a script weight past 253 is a schema error at its place', () => {
  assertProblem(problemsOf(vi({ trackScripts: [{ name: 'a', command: ['/bin/true'], weight: 300 }] })), '/vrrp/0/trackScripts/0/weight', /-253 to 253/);
});
