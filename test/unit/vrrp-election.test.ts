/**
 * VRRP elections on a virtual link with a virtual clock: each node is our pure state machine, adverts go
 * through the real codec (encode -> bytes -> decode), timers sit in one priority queue. Times are exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeAdvert, encodeAdvert, VRRP_MULTICAST_IPV4, type Advert } from '../../src/vrrp/packet.js';
import { syncGroupOrders, type MemberTransition } from '../../src/vrrp/sync-group.js';
import {
  createMachine, effectivePriority, masterDownInterval, skewTime, step, type MachineConfig, type TimerName, type VrrpAction,
  type VrrpEvent, type VrrpState, type VrrpStateName,
} from '../../src/vrrp/state-machine.js';

interface NodeSpec {
  name: string;
  address: string;
  priority: number;
  version?: 2 | 3;
  advertInterval?: number; // ms
  preempt?: boolean;
  preemptDelay?: number;
  addresses?: string[];
  trackInterfaces?: Array<{ name: string; weight: number }>;
  /** Virtual router id; nodes only hear adverts of their own. Default 1. */
  vrid?: number;
}

interface SimNode {
  spec: NodeSpec;
  config: MachineConfig;
  state: VrrpState;
  alive: boolean;
  timerTokens: Partial<Record<TimerName, number>>;
  sent: number[]; // priorities sent
}

type Job =
  | { kind: 'timer'; node: string; timer: TimerName; token: number }
  | { kind: 'deliver'; node: string; bytes: Buffer; source: string; version: 2 | 3 }
  | { kind: 'do'; run: () => void };

class Sim {
  now = 0;
  private seq = 0;
  private queue: Array<{ at: number; seq: number; job: Job }> = [];
  readonly nodes = new Map<string, SimNode>();
  readonly transitions: Array<{ at: number; node: string; from: VrrpStateName; to: VrrpStateName; reason: string }> = [];
  readonly actions: Array<{ at: number; node: string; action: VrrpAction }> = [];
  /** Longest time two live nodes were master at once. */
  maxDualMaster = 0;
  private dualSince: number | undefined;

  constructor(private readonly linkDelay = 0) {}

  add(spec: NodeSpec): void {
    const version = spec.version ?? 3;
    const config: MachineConfig = {
      version,
      priority: spec.priority,
      advertInterval: spec.advertInterval ?? 1000,
      preempt: spec.preempt ?? true,
      preemptDelay: spec.preemptDelay ?? 0,
      addresses: spec.addresses ?? ['192.0.2.100'],
      localAddress: spec.address,
      trackInterfaces: spec.trackInterfaces ?? [],
    };
    this.nodes.set(spec.name, { spec, config, state: createMachine(config), alive: false, timerTokens: {}, sent: [] });
  }

  at(time: number, run: () => void): void { this.push(time, { kind: 'do', run }); }
  start(name: string, time = this.now): void {
    this.at(time, () => {
      const n = this.node(name);
      n.alive = true;
      if (n.state.current === 'initialize' || n.state.current === 'stopped') this.feed(name, { type: 'start' });
      else { n.state = createMachine(n.config); this.feed(name, { type: 'start' }); } // restart after crash
    });
  }
  /** Power loss: no goodbye, timers gone. */
  crash(name: string, time = this.now): void {
    this.at(time, () => {
      const n = this.node(name);
      n.alive = false;
      n.timerTokens = {};
      this.checkMasters();
    });
  }
  event(name: string, event: VrrpEvent, time = this.now): void { this.at(time, () => this.feed(name, event)); }

  node(name: string): SimNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }
  masters(names?: string[]): string[] {
    return [...this.nodes.values()]
      .filter((n) => n.alive && n.state.current === 'master' && (!names || names.includes(n.spec.name)))
      .map((n) => n.spec.name);
  }
  stateOf(name: string): VrrpStateName { return this.node(name).state.current; }
  /** When `name` last entered `to` (undefined if never). */
  lastEntered(name: string, to: VrrpStateName): number | undefined {
    return this.transitions.filter((t) => t.node === name && t.to === to).at(-1)?.at;
  }

  run(until: number): void {
    let sameInstant = 0;
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.queue[0];
      if (!next || next.at > until) break;
      this.queue.shift();
      sameInstant = next.at === this.now ? sameInstant + 1 : 0;
      if (sameInstant > 10_000) throw new Error(`packet storm at ${this.now} ms`);
      this.now = next.at;
      this.exec(next.job);
    }
    this.now = until;
  }

  private push(at: number, job: Job): void { this.queue.push({ at, seq: this.seq++, job }); }

  private exec(job: Job): void {
    if (job.kind === 'do') return job.run();
    const n = this.node(job.node);
    if (!n.alive) return;
    if (job.kind === 'timer') {
      if (n.timerTokens[job.timer] !== job.token) return; // replaced or cancelled
      delete n.timerTokens[job.timer];
      return this.feed(job.node, { type: 'timer', timer: job.timer });
    }
    if (job.bytes[1] !== (n.spec.vrid ?? 1)) return; // another virtual router on the link
    const r = decodeAdvert(job.bytes, {
      family: 'ipv4', source: job.source, destination: VRRP_MULTICAST_IPV4, ttl: 255,
      expect: { version: job.version, vrid: n.spec.vrid ?? 1, ...(job.version === 2 ? { advertInterval: n.config.advertInterval / 1000 } : {}) },
    });
    assert.ok(r.ok, `node ${job.node} dropped an advert: ${!r.ok && r.reason}`);
    this.feed(job.node, { type: 'advert', advert: r.advert });
  }

  /** Sync groups: node names of one director's instances that move together. */
  readonly groups: string[][] = [];

  private feed(name: string, event: VrrpEvent): void {
    const n = this.node(name);
    const { state, actions } = step(n.state, event, this.now);
    n.state = state;
    let transition: MemberTransition | undefined;
    for (const action of actions) {
      this.actions.push({ at: this.now, node: name, action });
      this.perform(n, action);
      if (action.type === 'transition') transition = { member: name, from: action.from, to: action.to, reason: action.reason };
    }
    this.checkMasters();
    const group = this.groups.find((g) => g.includes(name));
    if (group) {
      const members = new Map(group.filter((m) => this.node(m).alive).map((m) => [m, this.node(m).state] as const));
      for (const order of syncGroupOrders(members, transition)) this.feed(order.member, { type: 'sync', command: order.command });
    }
  }

  private perform(n: SimNode, a: VrrpAction): void {
    switch (a.type) {
      case 'set_timer': {
        const token = this.seq + 1;
        n.timerTokens[a.timer] = token;
        this.push(a.at, { kind: 'timer', node: n.spec.name, timer: a.timer, token });
        break;
      }
      case 'cancel_timer':
        delete n.timerTokens[a.timer];
        break;
      case 'send_advert': {
        if (!n.state.interfaceUp) throw new Error(`${n.spec.name} sent with its interface down`);
        n.sent.push(a.priority);
        const version = n.config.version;
        const advert: Advert = version === 3
          ? { version, family: 'ipv4', vrid: n.spec.vrid ?? 1, priority: a.priority, maxAdvertInterval: n.config.advertInterval / 10,
              addresses: [...n.config.addresses], source: n.spec.address, destination: VRRP_MULTICAST_IPV4 }
          : { version, family: 'ipv4', vrid: n.spec.vrid ?? 1, priority: a.priority, advertInterval: n.config.advertInterval / 1000,
              addresses: [...n.config.addresses], source: n.spec.address, destination: VRRP_MULTICAST_IPV4 };
        const bytes = encodeAdvert(advert);
        for (const peer of this.nodes.values()) {
          if (peer !== n && peer.state.interfaceUp) {
            this.push(this.now + this.linkDelay, { kind: 'deliver', node: peer.spec.name, bytes, source: n.spec.address, version });
          }
        }
        break;
      }
      case 'transition':
        this.transitions.push({ at: this.now, node: n.spec.name, from: a.from, to: a.to, reason: a.reason });
        break;
      default:
        break;
    }
  }

  private checkMasters(): void {
    const count = this.masters().length;
    if (count >= 2 && this.dualSince === undefined) this.dualSince = this.now;
    if (count < 2 && this.dualSince !== undefined) {
      this.maxDualMaster = Math.max(this.maxDualMaster, this.now - this.dualSince);
      this.dualSince = undefined;
    }
  }
}

const MDI = (p: number, interval = 1000, version: 2 | 3 = 3) => masterDownInterval(version, p, interval);

test('a lone node becomes master after exactly Master_Down_Interval', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 100 });
  sim.start('a', 0);
  sim.run(3609);
  assert.equal(sim.stateOf('a'), 'backup');
  sim.run(10_000);
  assert.equal(MDI(100), 3609.375); // 3 * 1 s + (256 - 100) / 256 s
  assert.equal(sim.lastEntered('a', 'master'), 3609.375);
  const atMaster = sim.actions.filter((x) => x.at === 3609.375 && x.node === 'a').map((x) => x.action.type);
  assert.deepEqual(atMaster.slice(0, 3), ['add_vips', 'send_advert', 'send_garp']);
});

test('two nodes elect the higher priority; the other stays backup', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200 });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.run(60_000);
  assert.deepEqual(sim.masters(), ['a']);
  assert.equal(sim.lastEntered('a', 'master'), MDI(200));
  assert.equal(sim.lastEntered('b', 'master'), undefined);
});

test('equal priorities: the higher primary address wins, at once', () => {
  const sim = new Sim();
  sim.add({ name: 'low', address: '192.0.2.9', priority: 100 });
  sim.add({ name: 'high', address: '192.0.2.10', priority: 100 }); // 10 > 9 as integers, not as text
  sim.start('low', 0);
  sim.start('high', 0);
  sim.run(60_000);
  assert.deepEqual(sim.masters(), ['high']);
  const lowBack = sim.transitions.find((t) => t.node === 'low' && t.from === 'master');
  assert.deepEqual(lowBack && [lowBack.at, lowBack.reason], [MDI(100), 'higher_priority']);
  assert.equal(sim.maxDualMaster, 0);
});

test('the master dies: the backup is master exactly Master_Down_Interval after the last advert', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200 });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.crash('a', 10_000);
  sim.run(30_000);
  // a's adverts: 3218.75 + k s; the last before the crash at 9218.75.
  assert.equal(sim.lastEntered('b', 'master'), 9218.75 + MDI(100));
  assert.deepEqual(sim.masters(), ['b']);
});

test('a clean stop sends priority 0 and the backup takes over after Skew_Time', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200 });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.event('a', { type: 'shutdown' }, 10_000);
  sim.run(30_000);
  assert.equal(sim.node('a').sent.at(-1), 0);
  assert.equal(sim.stateOf('a'), 'stopped');
  assert.equal(sim.lastEntered('b', 'master'), 10_000 + skewTime(3, 100, 1000));
  assert.ok(sim.actions.some((x) => x.node === 'a' && x.at === 10_000 && x.action.type === 'remove_vips'));
});

test('preemption: a higher-priority node joining later takes over; with preempt off it does not', () => {
  for (const preempt of [true, false]) {
    const sim = new Sim();
    sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
    sim.add({ name: 'a', address: '192.0.2.1', priority: 200, preempt });
    sim.start('b', 0);
    sim.start('a', 10_000);
    sim.run(60_000);
    if (preempt) {
      assert.deepEqual(sim.masters(), ['a']);
      assert.equal(sim.lastEntered('a', 'master'), 10_000 + MDI(200)); // it discards b's adverts
      assert.equal(sim.lastEntered('b', 'backup'), 10_000 + MDI(200)); // b steps down on a's first advert
    } else {
      assert.deepEqual(sim.masters(), ['b']);
    }
  }
});

test('preempt delay: the higher-priority backup waits the delay, then Master_Down_Interval', () => {
  const sim = new Sim();
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200, preemptDelay: 4500 });
  sim.start('b', 0);
  sim.start('a', 10_000);
  sim.run(60_000);
  // b advertises at 3609.375 + k s. a sees the first at 10609.375 and arms the delay to 15109.375;
  // it accepts b's adverts until then (the last at 14609.375), and its Master_Down_Timer runs out after.
  assert.equal(sim.lastEntered('a', 'master'), 14_609.375 + MDI(200));
  assert.deepEqual(sim.masters(), ['a']);
});

test('the address owner (255) takes over the moment it starts', () => {
  const sim = new Sim();
  sim.add({ name: 'b', address: '192.0.2.2', priority: 254 });
  sim.add({ name: 'owner', address: '192.0.2.1', priority: 255 });
  sim.start('b', 0);
  sim.start('owner', 10_000);
  sim.run(60_000);
  assert.equal(sim.lastEntered('owner', 'master'), 10_000);
  assert.equal(sim.lastEntered('b', 'backup'), 10_000);
  assert.deepEqual(sim.masters(), ['owner']);
});

test('a backup learns the master advert interval (v3) and times out on it', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200, advertInterval: 2000 });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100, advertInterval: 500 });
  sim.start('a', 0);
  sim.run(1000);
  sim.start('b', 1000); // b (500 ms) is master at first, until a (higher) appears at 6437.5
  sim.run(8000);
  assert.deepEqual(sim.masters(), ['a']);
  assert.equal(sim.node('b').state.masterAdverInterval, 2000);
  sim.crash('a', 20_000);
  sim.run(40_000);
  // a: master at MDI(200, 2 s) = 6437.5, adverts every 2 s, the last before 20000 at 18437.5.
  assert.equal(sim.lastEntered('b', 'master'), 18_437.5 + MDI(100, 2000));
});

test('VRRPv2: Skew_Time is (256 - priority) / 256 seconds whatever the interval', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200, version: 2, advertInterval: 2000 });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100, version: 2, advertInterval: 2000 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.event('a', { type: 'shutdown' }, 20_000);
  sim.run(40_000);
  assert.equal(sim.lastEntered('a', 'master'), 6000 + 218.75);
  assert.equal(sim.lastEntered('b', 'master'), 20_000 + 609.375);
});

test('a tracked interface going down lowers the master priority and the backup takes over; back up, it returns', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200, trackInterfaces: [{ name: 'uplink', weight: -150 }] });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.event('a', { type: 'track', name: 'uplink', up: false }, 10_000);
  sim.run(30_000);
  assert.deepEqual(sim.masters(), ['b']);
  assert.ok(sim.node('a').sent.includes(50));
  // a's adverts at 200 until 9218.75, at 50 from 10218.75 (b discards them): b is master MDI after 9218.75.
  assert.equal(sim.lastEntered('b', 'master'), 9218.75 + MDI(100));
  sim.event('a', { type: 'track', name: 'uplink', up: true }, 30_000);
  sim.run(60_000);
  assert.deepEqual(sim.masters(), ['a']);
});

test('interface down: the master goes to fault without sending, the backup takes over; recovery rejoins', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200 });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.event('a', { type: 'interface', up: false }, 10_000);
  sim.run(30_000);
  assert.equal(sim.stateOf('a'), 'fault');
  assert.equal(sim.lastEntered('b', 'master'), 9218.75 + MDI(100));
  sim.event('a', { type: 'interface', up: true }, 30_000);
  sim.run(60_000);
  assert.equal(sim.lastEntered('a', 'backup'), 30_000);
  assert.equal(sim.lastEntered('a', 'master'), 30_000 + MDI(200));
  assert.deepEqual(sim.masters(), ['a']);
});

test('a weight-0 tracked interface down is a fault: the master says priority 0 so the backup takes over in Skew_Time', () => {
  const sim = new Sim();
  sim.add({ name: 'a', address: '192.0.2.1', priority: 200, trackInterfaces: [{ name: 'inside', weight: 0 }] });
  sim.add({ name: 'b', address: '192.0.2.2', priority: 100 });
  sim.start('a', 0);
  sim.start('b', 0);
  sim.event('a', { type: 'track', name: 'inside', up: false }, 10_000);
  sim.run(30_000);
  assert.equal(sim.stateOf('a'), 'fault');
  assert.equal(sim.transitions.find((t) => t.node === 'a' && t.to === 'fault')?.reason, 'track_down');
  assert.equal(sim.lastEntered('b', 'master'), 10_000 + skewTime(3, 100, 1000));
});

// ---- sync groups: two directors, an outside and an inside instance each ------------------------------------

function twoDirectors(linkDelay = 0, aOutTrack: NodeSpec['trackInterfaces'] = []): Sim {
  const sim = new Sim(linkDelay);
  sim.add({ name: 'a-out', address: '198.51.100.1', priority: 200, vrid: 1, trackInterfaces: aOutTrack });
  sim.add({ name: 'a-in', address: '10.0.0.1', priority: 200, vrid: 2 });
  sim.add({ name: 'b-out', address: '198.51.100.2', priority: 100, vrid: 1 });
  sim.add({ name: 'b-in', address: '10.0.0.2', priority: 100, vrid: 2 });
  sim.groups.push(['a-out', 'a-in'], ['b-out', 'b-in']);
  for (const n of ['a-out', 'a-in', 'b-out', 'b-in']) sim.start(n, 0);
  return sim;
}

test('sync group: one member faulty moves the whole group to the other director', () => {
  const sim = twoDirectors();
  sim.run(9000);
  assert.deepEqual(sim.masters(), ['a-out', 'a-in']);
  // a's inside link fails: a-in cannot send, a-out is pulled into fault and says priority 0.
  sim.event('a-in', { type: 'interface', up: false }, 10_000);
  sim.run(10_000);
  assert.equal(sim.stateOf('a-out'), 'fault');
  assert.equal(sim.transitions.find((t) => t.node === 'a-out' && t.to === 'fault')?.reason, 'sync_group_fault');
  sim.run(20_000);
  // b-out takes over after Skew_Time, and drags b-in along at that same instant.
  const takeover = 10_000 + skewTime(3, 100, 1000);
  assert.equal(sim.lastEntered('b-out', 'master'), takeover);
  assert.equal(sim.lastEntered('b-in', 'master'), takeover);
  assert.deepEqual(sim.masters(), ['b-out', 'b-in']);
  // The link comes back: both of a's instances restart as backup and preempt together.
  sim.event('a-in', { type: 'interface', up: true }, 20_000);
  sim.run(40_000);
  assert.equal(sim.lastEntered('a-out', 'backup'), 20_000);
  assert.deepEqual(sim.masters(), ['a-out', 'a-in']);
  assert.equal(sim.stateOf('b-out'), 'backup');
  assert.equal(sim.stateOf('b-in'), 'backup');
});

test('sync group: a member losing the election takes its group along, and the held member does not take back its VIP', () => {
  const sim = twoDirectors(1, [{ name: 'uplink', weight: -150 }]);
  sim.run(9000);
  assert.deepEqual(sim.masters(), ['a-out', 'a-in']);
  // a's uplink fails: a-out drops to 50 and b-out (100) preempts it; a-in (200 > b-in's 100) must follow anyway.
  sim.event('a-out', { type: 'track', name: 'uplink', up: false }, 10_000);
  sim.run(30_000);
  assert.deepEqual(sim.masters(), ['b-out', 'b-in']);
  assert.equal(sim.stateOf('a-in'), 'backup');
  assert.equal(sim.node('a-in').state.holdBackup, true);
  const aIn = sim.transitions.filter((t) => t.node === 'a-in' && t.at > 10_000).map((t) => t.reason);
  assert.deepEqual(aIn, ['sync_group_backup'], 'a-in stepped down once, for the group, and stayed down');
  // If director b dies, a's instances take everything back (the held one through its Master_Down_Timer).
  sim.crash('b-out', 30_000);
  sim.crash('b-in', 30_000);
  sim.run(50_000);
  assert.deepEqual(sim.masters(), ['a-out', 'a-in']);
});

// ---- property: random clusters always converge ------------------------------------------------------------

const clusterEvent = fc.record({
  at: fc.integer({ min: 0, max: 60_000 }),
  node: fc.nat(2),
  kind: fc.constantFrom('crash', 'restart', 'shutdown', 'start', 'iface_down', 'iface_up', 'track_down', 'track_up'),
});

test('property: 2-3 nodes with random priorities, tracking, starts, crashes and stops converge to one master, the best', () => {
  fc.assert(fc.property(
    fc.array(fc.record({
      priority: fc.integer({ min: 1, max: 255 }),
      start: fc.integer({ min: 0, max: 5000 }),
      weight: fc.integer({ min: -120, max: 0 }),
    }), { minLength: 2, maxLength: 3 }),
    fc.array(clusterEvent, { maxLength: 10 }),
    fc.constantFrom(0, 1, 3),
    fc.constantFrom(2 as const, 3 as const),
    fc.boolean(),
    (nodes, events, linkDelay, version, preempt) => {
      const sim = new Sim(linkDelay);
      nodes.forEach((n, i) => {
        // At most one address owner (two owners never yield; RFC 5798 forbids that configuration).
        const priority = n.priority === 255 && nodes.findIndex((m) => m.priority === 255) !== i ? 254 : n.priority;
        sim.add({ name: `n${i}`, address: `192.0.2.${i + 1}`, priority, version, preempt, trackInterfaces: [{ name: 'up', weight: n.weight }] });
        sim.start(`n${i}`, n.start);
      });
      let last = Math.max(...nodes.map((n) => n.start));
      for (const e of events) {
        if (e.node >= nodes.length) continue;
        const name = `n${e.node}`;
        last = Math.max(last, e.at);
        if (e.kind === 'crash') sim.crash(name, e.at);
        else if (e.kind === 'restart' || e.kind === 'start') sim.start(name, e.at);
        else if (e.kind === 'shutdown') sim.event(name, { type: 'shutdown' }, e.at);
        else if (e.kind.startsWith('iface')) sim.event(name, { type: 'interface', up: e.kind === 'iface_up' }, e.at);
        else sim.event(name, { type: 'track', name: 'up', up: e.kind === 'track_up' }, e.at);
      }
      // Every interface up and every node running at `settle` (tracked links may stay down).
      const settle = last + 1;
      nodes.forEach((_, i) => sim.event(`n${i}`, { type: 'interface', up: true }, settle));
      nodes.forEach((_, i) => sim.at(settle, () => {
        const n = sim.node(`n${i}`);
        if (!n.alive || n.state.current === 'stopped') sim.start(`n${i}`);
      }));
      const bound = 2 * MDI(1) + 1000 + linkDelay * 4;
      sim.run(settle + bound);
      const eligible = [...sim.nodes.values()].filter((n) => n.state.current !== 'fault');
      const masters = sim.masters();
      if (eligible.length === 0) {
        assert.deepEqual(masters, []);
      } else {
        assert.equal(masters.length, 1, `masters at ${sim.now}: ${masters.join(',')}`);
        if (preempt) {
          const best = Math.max(...eligible.map((n) => effectivePriority(n.state)));
          assert.equal(effectivePriority(sim.node(masters[0]!).state), best, 'the highest effective priority wins');
        }
      }
      const settled = sim.transitions.length;
      sim.run(settle + bound + 20_000);
      assert.deepEqual(sim.masters(), masters, 'the master stays');
      assert.equal(sim.transitions.length, settled, 'no transitions once settled');
      // Two masters never last longer than one advert interval plus the largest Skew_Time.
      assert.ok(sim.maxDualMaster <= 1000 + skewTime(3, 1, 1000), `dual master for ${sim.maxDualMaster} ms`);
    },
  ), { numRuns: 300 });
});
