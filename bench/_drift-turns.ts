/**
 * The drift pass's turns of the event loop, natively: a Reconciler over the in-memory kernel model
 * (test/unit/reconcile-model.ts) at N services x 10 real servers, started once, then drift passes with
 * nothing drifted. Per pass: its time, the event loop's delay (monitorEventLoopDelay, 1 ms resolution: max
 * and p99) and the longest turn seen by a setImmediate chain (the gap between two of its callbacks: what a
 * timer or a VRRP advert waited at worst; with, as the host is shared, the most CPU time the process used
 * during one such gap, which a preemption does not inflate), and the garbage collections' longest pause. Not run by run.js
 * (its name starts with _); docs/benchmarks.md has the figures it gave.
 *
 *   node --max-semi-space-size=1 --expose-gc dist/bench/_drift-turns.js [SERVICES=10000] [PASSES=5]
 *   LVSD_DRIFT_WHOLE=1    the read whole (dump()), as before IpvsClient.dumpEach
 *   LVSD_DRIFT_MODEL=1    the model's own dump (structuredClone, reversed: a fixture's cost, not lvsd's)
 *   LVSD_DRIFT_ALLOC=1    then one pass under the sampling heap profiler: what it allocates, by function
 *                         (LVSD_DRIFT_LIVE=1: only what is still in the heap at its end)
 *   LVSD_DRIFT_PARTS=1    then what the read alone leaves in the heap after a full collection, both ways
 *   LVSD_DRIFT_SOCKETS=N  dump sockets (default the client's 16)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { pino } from 'pino';
import { Reconciler } from '../src/reconcile/index.js';
import type { DesiredEntry, DestSpec, ServiceSpec } from '../src/table/index.js';
import type { DumpOptions, IpvsClient, KernelEntry } from '../src/ipvs/types.js';
import { ipvsClientOver } from '../src/ipvs/client.js';
import { commandMessage, dumpDestsMessage, dumpServicesMessage } from '../src/ipvs/messages.js';
import type { NlMsg } from '../src/ipvs/nlattr-read.js';
import type { GenlSocket } from '../src/ipvs/socket.js';
import { ModelClient } from '../test/unit/reconcile-model.js';

const SERVICES = Number(process.argv[2] ?? 10_000);
const PASSES = Number(process.argv[3] ?? 5);

function svc(s: number): ServiceSpec {
  return { key: { kind: 'addr', family: 'ipv4', protocol: 'tcp', address: `172.${16 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}`, port: 80 }, scheduler: 'wrr', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '' };
}
function dest(s: number, d: number): DestSpec {
  return { family: 'ipv4', address: `10.${1 + d}.${(s >> 8) & 255}.${s & 255}`, port: 8080, forwarding: 'nat', weight: 1 + ((s + d) % 100), upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0 };
}
const entries: DesiredEntry[] = Array.from({ length: SERVICES }, (_, s) => ({ service: svc(s), dests: Array.from({ length: 10 }, (_, d) => dest(s, d)) }));

const dir = mkdtempSync(join(tmpdir(), 'lvsd-drift-turns-'));
const kernel = new ModelClient();
/**
 * After the start, the drift passes read the table through the netlink client itself (src/ipvs/client.ts)
 * over sockets that answer from the kernel's messages built once here (in the kernel's stable order: the
 * kernel's cost is not lvsd's), each reply a turn after its request, every message a view of one buffer
 * (as parseNlmsgs makes them of a datagram). LVSD_DRIFT_WHOLE=1: the client without dumpEach, so the pass
 * reads the table whole and then builds the view (as before dumpEach). LVSD_DRIFT_MODEL=1: the model's dump.
 */
let bytes = Buffer.alloc(0);
const replies = new Map<string, Array<[number, number]>>();
const reqKey = (b: Buffer) => b.subarray(8, 12).fill(0) && b.toString('latin1'); // the request without its sequence number
const memSocket = {
  isClosed: false, ackWindow: 1024, inFlight: 0, recvBufferSize: () => 8 << 20, close: () => undefined,
  async dump(build: (seq: number) => Buffer): Promise<NlMsg[]> {
    const at = replies.get(reqKey(build(0)));
    await new Promise((res) => setImmediate(res));
    if (!at) throw new Error('the bench socket has no reply to this request');
    return at.map(([from, to]) => ({ type: 1, flags: 2, seq: 0, port: 0, payload: bytes.subarray(from, to) }));
  },
} as unknown as GenlSocket;
const netlink = ipvsClientOver(memSocket, 1, { openSocket: () => memSocket, ...(process.env.LVSD_DRIFT_SOCKETS ? { dumpSockets: Number(process.env.LVSD_DRIFT_SOCKETS) } : {}) });
const wireClient: IpvsClient = {
  info: () => kernel.info(), getTimeouts: () => kernel.getTimeouts(), getDaemons: () => kernel.getDaemons(),
  execute: (c) => kernel.execute(c), close: () => undefined,
  dump: (only, opts) => (replies.size > 0 && !only && process.env.LVSD_DRIFT_MODEL !== '1' ? netlink.dump(only, opts) : kernel.dump(only)),
  ...(process.env.LVSD_DRIFT_WHOLE === '1' || process.env.LVSD_DRIFT_MODEL === '1' ? {} : {
    dumpEach: async (each: (e: KernelEntry) => void, opts?: DumpOptions) => {
      if (replies.size > 0) return netlink.dumpEach!(each, opts);
      const table = await kernel.dump(); // the start's read
      table.forEach(each);
      return table.length;
    },
  }),
};
const r = new Reconciler({
  log: pino({ level: 'warn' }), client: async () => wireClient, stateFile: () => join(dir, 'state.json'),
  internalError: (where, e) => { throw new Error(`${where}: ${String(e)}`); },
});
await r.applyDesired({ entries, names: new Map(), ownWholeTable: false }, 'start', 'start');
{
  const parts: Buffer[] = [];
  let off = 0;
  const put = (b: Buffer): [number, number] => {
    parts.push(b.subarray(16));
    off += b.length - 16;
    return [off - (b.length - 16), off];
  };
  const services: Array<[number, number]> = [];
  for (const e of kernel.table) {
    services.push(put(commandMessage(1, 0, { cmd: 'new-service', service: e.service })));
    replies.set(reqKey(dumpDestsMessage(1, 0, e.service.key)), e.dests.map((d) => put(commandMessage(1, 0, { cmd: 'new-dest', service: e.service.key, dest: d }))));
  }
  replies.set(reqKey(dumpServicesMessage(1, 0)), services);
  bytes = Buffer.concat(parts);
}

let gcMax = 0;
let gcSum = 0;
let gcMajor = 0;
let gcMinor = 0;
const gcObs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMax = Math.max(gcMax, e.duration);
    gcSum += e.duration;
    const kind = ((e as unknown as { detail?: { kind?: number } }).detail)?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcMajor++;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcMinor++;
  }
});
gcObs.observe({ entryTypes: ['gc'] });

/** Bytes used in the old generation (what scavenges promoted since the last mark-compact). */
const oldSpace = (): number => getHeapSpaceStatistics().find((x) => x.space_name === 'old_space')?.space_used_size ?? 0;

/** The longest gap between two callbacks of a setImmediate chain while `work` runs. */
async function measure(work: () => Promise<unknown>): Promise<{ ms: number; maxTurn: number; maxCpu: number; loopMax: number; loopP99: number; gcMax: number; gcSum: number; gcMajor: number; gcMinor: number; turns: number; over10: number; cpuOver10: number; promoted: number }> {
  (globalThis as { gc?: () => void }).gc?.(); // each pass from the same heap: what it promotes is its own
  await new Promise((res) => setTimeout(res, 20)); // the observer reports that collection before the pass
  const oldBefore = oldSpace();
  gcMax = gcSum = gcMajor = gcMinor = 0;
  const h = monitorEventLoopDelay({ resolution: 1 });
  let running = true;
  let last = performance.now();
  let maxTurn = 0;
  let maxCpu = 0;
  let lastCpu = process.cpuUsage();
  let turns = 0;
  let over10 = 0;
  let cpuOver10 = 0;
  const tick = () => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    maxTurn = Math.max(maxTurn, now - last);
    const used = Math.min(now - last, (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000);
    maxCpu = Math.max(maxCpu, used);
    if (now - last > 10) over10++;
    if (used > 10) cpuOver10++;
    lastCpu = cpu;
    last = now;
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  h.enable();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  const promoted = gcMajor === 0 ? (oldSpace() - oldBefore) / 1048576 : NaN;
  running = false;
  h.disable();
  await new Promise((res) => setImmediate(res));
  return { ms, maxTurn, maxCpu, loopMax: h.max / 1e6, loopP99: h.percentile(99) / 1e6, gcMax, gcSum, gcMajor, gcMinor, turns, over10, cpuOver10, promoted };
}

const f = (x: number) => x.toFixed(1);
process.stdout.write(`drift pass, ${SERVICES} x 10, read ${process.env.LVSD_DRIFT_MODEL === '1' ? "from the model" : process.env.LVSD_DRIFT_WHOLE === '1' ? 'whole (dump)' : 'a service at a time (dumpEach)'}, node ${process.version}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
process.stdout.write('pass | ms | longest turn (its CPU at most) | loop delay max / p99 | gc max / all (scavenges, mark-compacts) | turns (over 10 ms / CPU over 10 ms) | promoted MiB\n');
for (let i = 0; i < PASSES; i++) {
  const m = await measure(() => r.repairDrift());
  process.stdout.write(`${i + 1} | ${f(m.ms)} | ${f(m.maxTurn)} (${f(m.maxCpu)}) | ${f(m.loopMax)} / ${f(m.loopP99)} | ${f(m.gcMax)} / ${f(m.gcSum)} (${m.gcMinor}, ${m.gcMajor}) | ${m.turns} (${m.over10} / ${m.cpuOver10}) | ${f(m.promoted)}\n`);
}
if (process.env.LVSD_DRIFT_PARTS === '1') {
  // what the read alone promotes, handed over and dropped, or held whole
  for (const [name, read] of [['dumpEach, dropped', () => netlink.dumpEach!(() => undefined, { stats: false })], ['dump, whole', () => netlink.dump(undefined, { stats: false })]] as const) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((res) => setTimeout(res, 20));
    const before = oldSpace();
    gcMajor = 0;
    const held = await read();
    const spaces = getHeapSpaceStatistics().map((x) => `${x.space_name} ${(x.space_used_size / 1048576).toFixed(1)}`).join(', ');
    (globalThis as { gc?: () => void }).gc?.();
    process.stdout.write(`${name}: held after a full collection ${((oldSpace() - before) / 1048576).toFixed(1)} MiB (${typeof held === 'number' ? held : held.length} services); before it: ${spaces}\n`);
  }
}
if (process.env.LVSD_DRIFT_ALLOC === '1') {
  // what one pass allocates, by function (sampled, collected objects included)
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: process.env.LVSD_DRIFT_LIVE !== '1', includeObjectsCollectedByMinorGC: process.env.LVSD_DRIFT_LIVE !== '1' });
  await r.repairDrift();
  const { profile } = await session.post('HeapProfiler.stopSampling') as { profile: { head: AllocNode } };
  interface AllocNode { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: AllocNode[] }
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: AllocNode) => {
    const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
    by.set(k, (by.get(k) ?? 0) + n.selfSize);
    total += n.selfSize;
    n.children.forEach(walk);
  };
  walk(profile.head);
  process.stdout.write(`allocated in one pass: ${(total / 1048576).toFixed(1)} MiB\n`);
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 20)) process.stdout.write(`  ${(v / 1048576).toFixed(1)} MiB ${k}\n`);
  session.disconnect();
}
gcObs.disconnect();
await r.stop();
rmSync(dir, { recursive: true, force: true });
