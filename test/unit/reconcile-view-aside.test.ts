/**
 * KeptView.readAside, the drift pass's read made outside the reconciler's queue: whatever other passes
 * do to the kernel and the view while it reads (their operations accepted, refused, or of unknown
 * outcome; services added, removed, edited; before or after the read reached them), once it commits
 * every service the view does not mark stale is exactly what the kernel holds, and every service the
 * kernel holds is in the view or marked stale. Drift made behind lvsd's back before the read is in it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { IpvsCommand } from '../../src/ipvs/types.js';
import { KeptView } from '../../src/reconcile/view.js';
import { canonicalServiceId, type DestSpec, type KernelEntry, type ServiceSpec } from '../../src/table/index.js';

const SERVICES = 5;
const DESTS = 3;

function svc(s: number, scheduler = 'wrr'): ServiceSpec {
  return { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `172.16.9.${s}`, port: 80 }, scheduler, flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
}
function dest(s: number, d: number, weight: number): DestSpec {
  return { family: 'ipv4', address: `10.9.${s}.${d + 1}`, port: 8080, forwarding: 'nat', weight, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}
const id = (s: number) => canonicalServiceId(svc(s).key);

/** The kernel: service -> (scheduler, real server -> weight). */
type Kernel = Map<number, { scheduler: string; dests: Map<number, number> }>;

function entryOf(s: number, k: { scheduler: string; dests: Map<number, number> }): KernelEntry {
  return {
    service: svc(s, k.scheduler),
    dests: [...k.dests].map(([d, w]) => ({ ...dest(s, d, w), activeConns: 0, inactiveConns: 0, persistentConns: 0 })),
  } as KernelEntry;
}

/** Applies a command to the kernel as IPVS does; false when it refuses it (the kernel unchanged). */
function apply(kernel: Kernel, s: number, c: IpvsCommand, d: number, w: number): boolean {
  const k = kernel.get(s);
  switch (c.cmd) {
    case 'new-service':
      if (k) return false;
      kernel.set(s, { scheduler: c.service.scheduler, dests: new Map() });
      return true;
    case 'set-service':
      if (!k) return false;
      k.scheduler = c.service.scheduler;
      return true;
    case 'del-service':
      return kernel.delete(s);
    case 'new-dest':
      if (!k || k.dests.has(d)) return false;
      k.dests.set(d, w);
      return true;
    case 'set-dest':
      if (!k || !k.dests.has(d)) return false;
      k.dests.set(d, w);
      return true;
    case 'del-dest':
      return !!k && k.dests.delete(d);
    default:
      return false;
  }
}

const CMDS = ['new-service', 'set-service', 'del-service', 'new-dest', 'set-dest', 'del-dest'] as const;
function command(kind: (typeof CMDS)[number], s: number, d: number, w: number, scheduler: string): IpvsCommand {
  switch (kind) {
    case 'new-service': return { cmd: 'new-service', service: svc(s, scheduler) };
    case 'set-service': return { cmd: 'set-service', service: svc(s, scheduler) };
    case 'del-service': return { cmd: 'del-service', key: svc(s).key };
    case 'new-dest': return { cmd: 'new-dest', service: svc(s).key, dest: dest(s, d, w) };
    case 'set-dest': return { cmd: 'set-dest', service: svc(s).key, dest: dest(s, d, w) };
    case 'del-dest': return { cmd: 'del-dest', service: svc(s).key, dest: dest(s, d, w) };
  }
}

const arbKernel = fc.array(fc.tuple(fc.integer({ min: 0, max: SERVICES - 1 }), fc.uniqueArray(fc.integer({ min: 0, max: DESTS - 1 })), fc.integer({ min: 0, max: 9 })))
  .map((list) => {
    const k: Kernel = new Map();
    for (const [s, ds, w] of list) k.set(s, { scheduler: 'wrr', dests: new Map(ds.map((d) => [d, w])) });
    return k;
  });

const arbOp = fc.record({
  kind: fc.constantFrom(...CMDS),
  s: fc.integer({ min: 0, max: SERVICES - 1 }),
  d: fc.integer({ min: 0, max: DESTS - 1 }),
  w: fc.integer({ min: 0, max: 9 }),
  scheduler: fc.constantFrom('wrr', 'rr'),
  // what the pass learns: accepted (the view follows), a lost reply (the op may or may not have landed: stale)
  outcome: fc.constantFrom('answered', 'answered', 'answered', 'lost-landed', 'lost-not-landed'),
});

/** A step while the read runs: hand over the next service listed, or another pass's operation. */
const arbStep = fc.oneof(fc.constant({ read: true } as const), arbOp.map((op) => ({ read: false, op } as const)));

function assertViewIsKernel(view: KeptView, kernel: Kernel): void {
  const stale = new Set(view.stale());
  for (let s = 0; s < SERVICES; s++) {
    if (stale.has(id(s))) continue;
    const k = kernel.get(s);
    const v = view.entry(id(s));
    if (!k) {
      assert.equal(v, undefined, `service ${s} is gone from the kernel, not from the view`);
      continue;
    }
    assert.ok(v, `service ${s} is in the kernel, not in the view, and not stale`);
    assert.equal(v.service.scheduler, k.scheduler, `service ${s}'s scheduler`);
    const dests = new Map(v.dests.map((x) => [Number(x.address.split('.')[3]) - 1, x.weight]));
    assert.deepEqual([...dests].sort(), [...k.dests].sort(), `service ${s}'s real servers`);
  }
}

/** Another pass's operation: the kernel applies it (or not), and the view follows what the pass learns. */
function runOp(view: KeptView, kernel: Kernel, op: { kind: (typeof CMDS)[number]; s: number; d: number; w: number; scheduler: string; outcome: string }): void {
  const c = command(op.kind, op.s, op.d, op.w, op.scheduler);
  if (op.outcome === 'answered') {
    if (apply(kernel, op.s, c, op.d, op.w)) view.applied(c);
  } else {
    if (op.outcome === 'lost-landed') apply(kernel, op.s, c, op.d, op.w);
    view.markStale(id(op.s));
  }
}

test('after a read made aside commits, every service not marked stale is the kernel\'s, and every kernel service is in the view or stale', () => {
  fc.assert(fc.property(arbKernel, arbKernel, fc.array(arbStep, { maxLength: 30 }), (before, drifted, steps) => {
    // the view knew `before`; behind lvsd's back the kernel became `drifted`
    const view = new KeptView();
    view.replaceAll([...before].map(([s, k]) => entryOf(s, k)));
    const kernel: Kernel = new Map([...drifted].map(([s, k]) => [s, { scheduler: k.scheduler, dests: new Map(k.dests) }]));
    const read = view.readAside();
    // the kernel's read: the service list as the read begins, each one's real servers when its turn comes
    const listed = [...kernel].map(([s, k]) => ({ s, scheduler: k.scheduler }));
    const handOver = () => {
      const next = listed.shift();
      if (!next) return;
      const now = kernel.get(next.s);
      read.add({ ...entryOf(next.s, { scheduler: next.scheduler, dests: now ? now.dests : new Map() }) });
    };
    for (const step of steps) {
      if (step.read) {
        handOver();
        continue;
      }
      runOp(view, kernel, step.op);
    }
    while (listed.length > 0) handOver();
    read.commit();
    assert.equal(view.readingAside, false);
    assertViewIsKernel(view, kernel);
  }), { numRuns: 2000 });
});

/**
 * The kernel's read as the client makes it: the service list first (its state then), then each service's
 * real servers asked for (`began`) and handed over later, what is handed over part from when it was asked
 * for (even real servers) and part from when it is handed over (odd: a dump that spans other passes'
 * operations). Other passes' operations come between any two of those steps.
 */
function readProcess(kernel: Kernel, into: { began(id: string): void; add(e: KernelEntry): void }, only: ReadonlySet<string> | undefined) {
  const listed = [...kernel].filter(([s]) => !only || only.has(id(s))).map(([s, k]) => ({ s, scheduler: k.scheduler }));
  const begun: Array<{ s: number; scheduler: string; early: Map<number, number> | undefined }> = [];
  return {
    get done() {
      return listed.length === 0 && begun.length === 0;
    },
    step(which: number) {
      if (listed.length > 0 && (which % 2 === 0 || begun.length === 0)) {
        const n = listed.shift()!;
        into.began(id(n.s));
        const early = kernel.get(n.s)?.dests;
        begun.push({ ...n, early: early && new Map(early) });
        return;
      }
      const n = begun.shift();
      if (!n) return;
      const late = kernel.get(n.s)?.dests ?? new Map<number, number>();
      const early = n.early ?? new Map<number, number>();
      const dests = new Map<number, number>();
      for (let d = 0; d < DESTS; d++) {
        const from = d % 2 === 0 ? early : late;
        if (from.has(d)) dests.set(d, from.get(d)!);
      }
      into.add(entryOf(n.s, { scheduler: n.scheduler, dests }));
    },
  };
}


const arbReadStep = fc.oneof(fc.nat({ max: 1 }).map((which) => ({ read: true, which } as const)), arbOp.map((op) => ({ read: false, op } as const)));

test('with each service\'s own mark (began) and rounds read again: every service not stale at commit is the kernel\'s, however reads and other passes interleave', () => {
  let readAgainClean = 0;
  fc.assert(fc.property(arbKernel, arbKernel, fc.array(arbReadStep, { maxLength: 60 }), fc.nat({ max: 3 }), (before, drifted, steps, rounds) => {
    const view = new KeptView();
    view.replaceAll([...before].map(([s, k]) => entryOf(s, k)));
    const kernel: Kernel = new Map([...drifted].map(([s, k]) => [s, { scheduler: k.scheduler, dests: new Map(k.dests) }]));
    const read = view.readAside();
    const run = (proc: ReturnType<typeof readProcess>) => {
      while (!proc.done) {
        const step = steps.shift();
        if (!step) {
          proc.step(0);
          continue;
        }
        if (step.read) {
          proc.step(step.which);
          continue;
        }
        runOp(view, kernel, step.op);
      }
    };
    run(readProcess(kernel, read, undefined));
    for (let r = 0; r < rounds; r++) {
      const round = read.again();
      if (!round) break;
      const was = round.ids.size;
      assert.equal(read.again(), undefined, 'one round at a time');
      run(readProcess(kernel, round, round.ids));
      const left = round.end();
      assert.equal(left, read.pending);
      if (left < was) readAgainClean++;
    }
    const stale = read.commit();
    assert.equal(stale, view.stale().length);
    assertViewIsKernel(view, kernel);
  }), { numRuns: 3000 });
  // the rounds did read services cleanly (the property is not met by leaving everything stale)
  assert.ok(readAgainClean > 100, `rounds that read some service cleanly: ${readAgainClean}`);
});

test('a service changed before its own real servers were asked for is read, not stale; one changed after is stale until a round reads it again', () => {
  const view = new KeptView();
  view.replaceAll([entryOf(0, { scheduler: 'wrr', dests: new Map([[0, 1]]) }), entryOf(1, { scheduler: 'wrr', dests: new Map([[0, 1]]) })]);
  const kernel: Kernel = new Map([[0, { scheduler: 'wrr', dests: new Map([[0, 1]]) }], [1, { scheduler: 'wrr', dests: new Map([[0, 1]]) }]]);
  const read = view.readAside();
  // a health pass sets service 0's weight to 5 after the list was read, before its real servers were asked for
  const set0 = command('set-dest', 0, 0, 5, 'wrr');
  apply(kernel, 0, set0, 0, 5);
  view.applied(set0);
  read.began(id(0));
  read.add(entryOf(0, { scheduler: 'wrr', dests: new Map(kernel.get(0)!.dests) }));
  read.began(id(1));
  read.add(entryOf(1, { scheduler: 'wrr', dests: new Map(kernel.get(1)!.dests) }));
  // then service 1's weight to 7, after it was read
  const set1 = command('set-dest', 1, 0, 7, 'wrr');
  apply(kernel, 1, set1, 0, 7);
  view.applied(set1);
  assert.equal(read.pending, 1);
  const round = read.again()!;
  assert.deepEqual([...round.ids], [id(1)]);
  round.began(id(1));
  // changed again while its real servers are read: still pending after the round
  const set1b = command('set-dest', 1, 0, 8, 'wrr');
  apply(kernel, 1, set1b, 0, 8);
  view.applied(set1b);
  round.add(entryOf(1, { scheduler: 'wrr', dests: new Map([[0, 7]]) }));
  assert.equal(round.end(), 1);
  const second = read.again()!;
  second.began(id(1));
  second.add(entryOf(1, { scheduler: 'wrr', dests: new Map(kernel.get(1)!.dests) }));
  assert.equal(second.end(), 0);
  assert.equal(read.again(), undefined);
  assert.equal(read.commit(), 0);
  assert.deepEqual(view.stale(), []);
  assert.equal(view.entry(id(0))!.dests[0]!.weight, 5);
  assert.equal(view.entry(id(1))!.dests[0]!.weight, 8);
});

test('a round: a service the kernel no longer lists is gone unless it was changed after the round\'s list', () => {
  const view = new KeptView();
  view.replaceAll([entryOf(0, { scheduler: 'wrr', dests: new Map() }), entryOf(1, { scheduler: 'wrr', dests: new Map() })]);
  const read = view.readAside();
  read.add(entryOf(0, { scheduler: 'wrr', dests: new Map() }));
  read.add(entryOf(1, { scheduler: 'wrr', dests: new Map() }));
  view.applied(command('del-service', 0, 0, 0, 'wrr'));
  view.applied(command('del-service', 1, 0, 0, 'wrr'));
  const round = read.again()!;
  // service 1 added back after the round's list was read: the round's "not listed" says nothing of it
  view.applied(command('new-service', 1, 0, 0, 'wrr'));
  assert.equal(round.end(), 1);
  read.commit();
  assert.deepEqual(view.stale(), [id(1)]);
  assert.equal(view.entry(id(0)), undefined);
  assert.ok(view.entry(id(1)));
});

test('a read aside is dropped when the view is replaced whole meanwhile (a newer read); and one at a time', () => {
  const view = new KeptView();
  view.replaceAll([entryOf(0, { scheduler: 'wrr', dests: new Map([[0, 1]]) })]);
  const read = view.readAside();
  assert.throws(() => view.readAside(), /already running/);
  read.add(entryOf(1, { scheduler: 'wrr', dests: new Map() }));
  view.replaceAll([entryOf(2, { scheduler: 'wrr', dests: new Map() })]);
  assert.equal(read.commit(), -1);
  assert.deepEqual([...view.ids()], [id(2)]);
  // an abandoned read changes nothing, and another may begin
  const again = view.readAside();
  again.add(entryOf(3, { scheduler: 'wrr', dests: new Map() }));
  again.abandon();
  assert.equal(view.readingAside, false);
  assert.deepEqual([...view.ids()], [id(2)]);
  assert.throws(() => again.commit(), /after abandon/);
  view.readAside().commit();
  assert.deepEqual([...view.ids()], []);
});

test('timeouts: those read are taken unless another pass set them while the read ran', () => {
  const view = new KeptView();
  view.replaceAll([]);
  view.timeouts = { tcp: 1, tcpFin: 2, udp: 3 };
  const read = view.readAside();
  read.commit({ tcp: 4, tcpFin: 5, udp: 6 });
  assert.deepEqual(view.timeouts, { tcp: 4, tcpFin: 5, udp: 6 });
  const second = view.readAside();
  view.applied({ cmd: 'set-timeouts', timeouts: { tcp: 9, tcpFin: 0, udp: 0 } });
  second.commit({ tcp: 4, tcpFin: 5, udp: 6 });
  assert.deepEqual(view.timeouts, { tcp: 9, tcpFin: 5, udp: 6 });
});
