/**
 * What starting a program costs the daemon, by how it is started (src/spawn-child.ts): node's spawn (a fork
 * of the whole process, raised to SCHED_RR 1 as lvsd runs it) against the addon's clone that shares the
 * memory until execve. The process holds MIB of touched memory (the daemon's size); a worker thread ticks
 * every 10 ms and records how late each tick is (the VRRP thread's view of the spawns). Natively, not run by
 * run.js (its name starts with _); docs/benchmarks.md has the figures it gave.
 *
 *   node dist/bench/_spawn.js [MIB=256] [SPAWNS=100]
 */
import { Worker } from 'node:worker_threads';
import { loadSpawn, setSpawnKind } from '../src/spawn-child.js';

const MIB = Number(process.argv[2] ?? 256);
const SPAWNS = Number(process.argv[3] ?? 100);
const held: Buffer[] = [];
for (let i = 0; i < MIB; i++) held.push(Buffer.alloc(1 << 20, i & 255));

const ticker = new Worker(`
const { parentPort } = require('node:worker_threads');
let late = [], next = performance.now() + 10;
const tick = () => { const now = performance.now(); late.push(now - next); next += 10; setTimeout(tick, Math.max(0, next - performance.now())); };
setTimeout(tick, 10);
parentPort.on('message', (m) => { if (m === 'take') { parentPort.postMessage(late); late = []; } });
`, { eval: true });
const take = (): Promise<number[]> => new Promise((r) => { ticker.once('message', r); ticker.postMessage('take'); });
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;

for (const kind of ['node', 'native', 'node', 'native'] as const) {
  setSpawnKind(kind);
  const spawn = await loadSpawn();
  await take();
  const calls: number[] = [];
  for (let i = 0; i < SPAWNS; i++) {
    const t0 = performance.now();
    const child = spawn('/bin/true', [], { env: { PATH: '/usr/bin:/bin' } });
    calls.push(performance.now() - t0);
    await new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, 20));
  }
  const late = await take();
  console.log(JSON.stringify({
    kind, heldMiB: MIB, spawns: SPAWNS,
    callMs: { p50: +pct(calls, 0.5).toFixed(2), p99: +pct(calls, 0.99).toFixed(2), max: +Math.max(...calls).toFixed(2) },
    tickerLateMs: { p50: +pct(late, 0.5).toFixed(2), p99: +pct(late, 0.99).toFixed(2), max: +Math.max(...late).toFixed(2) },
  }));
}
await ticker.terminate();
