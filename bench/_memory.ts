/**
 * The daemon's memory at N TCP checks, natively on a host (no IPVS, no VRRP, no keepalived): `lvsd run` in
 * this process over the in-memory IPVS model, N distinct TCP targets on 127.1.0.0/16 answered by
 * bench/tcp-sink.c, and process.memoryUsage() sampled every second (issue #11 item 3). Not run by run.js
 * (its name starts with _); docs/benchmarks.md has the figures it gave.
 *
 *   cc -O2 -o /tmp/sink bench/tcp-sink.c
 *   ip netns add mem && ip -n mem link set lo up
 *   ip netns exec mem sysctl -qw net.core.somaxconn=4096 net.ipv4.ip_local_port_range="1024 65000"
 *   sleep 1e6 | ip netns exec mem /tmp/sink 8000 8004 >/dev/null &
 *   ip netns exec mem node --max-semi-space-size=1 --expose-gc dist/bench/_memory.js ROOT N INTERVAL_S SECONDS [snapshot]
 *
 * ROOT is the checkout whose dist/ is measured (an older build can be compared). Prints one JSON line per
 * 5 s (rss, heapTotal, heapUsed, external, arrayBuffers in MiB, real servers up in the model), then the
 * same after a full GC at the end (with --expose-gc), and the model's own table's heap (measured by
 * dropping it: the model stands in for the kernel, whose table is not in a real director's RSS).
 * `snapshot`: writes a heap snapshot at the end (bench/_heap-top.js summarises one). Each line's `hwm` is the
 * kernel's peak RSS (VmHWM), which the samples miss while the start holds the event loop.
 * LVSD_MEM_PER=10: 10 real servers per service (10,000 services x 10 at N = 100,000; default 100).
 * LVSD_MEM_SNAP_AT=S[,S...]: heap snapshots S seconds after start too (what is live during the start).
 * Two runs side by side need a namespace (and a sink) each: lvsd claims its namespace.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const [root, nArg, intervalArg, secondsArg, snap] = process.argv.slice(2);
const ALLOC_S = Number(process.env.LVSD_MEM_ALLOC_S ?? 0);
if (!root || !nArg) {
  process.stderr.write('usage: _memory.js ROOT N INTERVAL_S SECONDS [snapshot]\n');
  process.exit(2);
}
const N = Number(nArg), INTERVAL = Number(intervalArg ?? 10), SECONDS = Number(secondsArg ?? 60);
const PER = Number(process.env.LVSD_MEM_PER ?? 100); // real servers per service (10: 10,000 services x 10 at N = 100,000)
const dir = mkdtempSync(join(tmpdir(), 'lvsd-mem-'));
const conf = join(dir, 'lvsd.json');
writeFileSync(conf, JSON.stringify({
  ipvs: { driftInterval: '1h' },
  services: Array.from({ length: Math.ceil(N / PER) }, (_, s) => ({
    name: `s${s}`, protocol: 'tcp', address: `10.92.${s >> 8}.${s & 255}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
    healthCheck: { type: 'tcp', interval: `${INTERVAL}s`, timeout: '1s', rise: 1, fall: 2 },
    realServers: Array.from({ length: Math.min(PER, N - s * PER) }, (_, r) => ({ address: target(s, r).address, port: target(s, r).port, weight: 1 })),
  })),
  control: { socket: join(dir, 'lvsd.sock') },
}));

/** Distinct targets on 127.1.0.0/16 and ports 8000-8004 (what the sink answers), whatever PER is. */
function target(s: number, r: number): { address: string; port: number } {
  const i = s * PER + r; // 0 .. N-1
  const host = i % 62500, port = 8000 + Math.floor(i / 62500);
  return { address: `127.1.${Math.floor(host / 250)}.${(host % 250) + 1}`, port };
}
const { runCommand } = (await import(`${root}/dist/src/cli/commands/run.js`)) as typeof import('../src/cli/commands/run.js');
const { ModelClient } = (await import(`${root}/dist/test/unit/reconcile-model.js`)) as typeof import('../test/unit/reconcile-model.js');
const kernel = new ModelClient();
const mib = (n: number) => +(n / 1048576).toFixed(1);
const t0 = Date.now();
let peakRss = 0;
function sample(tag: string): void {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  const table = (kernel as unknown as { table: Array<{ dests: Array<{ weight: number }> }> }).table ?? [];
  let up = 0;
  for (const e of table) for (const d of e.dests) if (d.weight > 0) up++;
  process.stdout.write(`${JSON.stringify({
    tag, t: +((Date.now() - t0) / 1000).toFixed(1), rss: mib(m.rss), peakRss: mib(peakRss), hwm: hwm(), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed),
    external: mib(m.external), arrayBuffers: mib(m.arrayBuffers), up,
  })}\n`);
}
/** VmHWM: the kernel's own peak RSS, which a blocked event loop's 100 ms samples can miss. */
function hwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? mib(Number(m[1]) * 1024) : 0;
}
const timer = setInterval(() => {
  kernel.batches.length = 0; // the model keeps every batch it executed, for tests: not the daemon's memory
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);
const every = setInterval(() => sample('run'), 5000);
if (ALLOC_S > 0) await allocations(ALLOC_S);
// LVSD_MEM_SNAP_AT=S[,S...]: heap snapshots S seconds after start too (what is live during the start's peak)
for (const at of (process.env.LVSD_MEM_SNAP_AT ?? '').split(',').filter(Boolean).map(Number)) {
  setTimeout(() => {
    sample(`before snapshot at ${at} s`);
    process.stderr.write(`heap snapshot: ${writeHeapSnapshot(join(dir, `at-${at}.heapsnapshot`))}\n`);
  }, at * 1000);
}
void runCommand({ config: conf, socket: join(dir, 'lvsd.sock'), stateFile: join(dir, 'lvsd.state'), logLevel: 'warn', ipvs: async () => kernel });
await new Promise((r) => setTimeout(r, SECONDS * 1000));
clearInterval(every);
clearInterval(timer);
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
sample('end, after GC');
process.stdout.write(`${JSON.stringify({ tag: 'smaps', ...smaps() })}\n`);
if (process.env.LVSD_MEM_MAPS) process.stdout.write(readFileSync('/proc/self/smaps', 'utf8').split('\n').filter((l) => /^[0-9a-f]+-|^Rss:/.test(l)).join('\n'));
if (process.env.LVSD_MEM_LAST_RESORT) {
  (gc as unknown as (o: object) => void)?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  sample('end, after a last-resort GC');
}
if (snap) process.stderr.write(`heap snapshot: ${writeHeapSnapshot(join(dir, 'end.heapsnapshot'))}\n`);
// the model's table is the kernel's, not the daemon's: its heap, measured by dropping it
if (gc) {
  const before = process.memoryUsage().heapUsed;
  (kernel as unknown as { table: unknown[] }).table.length = 0;
  gc();
  process.stdout.write(`${JSON.stringify({ tag: 'model table heap', mib: mib(before - process.memoryUsage().heapUsed) })}\n`);
}
process.exit(0);

/**
 * LVSD_MEM_ALLOC_S=S: V8's sampling heap profiler over the first S seconds, counting what was allocated
 * whether or not it was collected since (the start's transient peak is garbage); the top allocating
 * functions are printed.
 */
async function allocations(seconds: number): Promise<void> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<any>((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r))));
  await post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  setTimeout(() => {
    void post('HeapProfiler.stopSampling').then(({ profile }) => {
      const by = new Map<string, number>();
      const walk = (n: any, stack: string[]): void => {
        const f = n.callFrame;
        const here = `${f.functionName || '(anon)'} ${String(f.url).split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
        const self = (n.selfSize as number);
        if (self > 0) by.set(here, (by.get(here) ?? 0) + self);
        for (const c of n.children) walk(c, [...stack, here]);
      };
      walk(profile.head, []);
      let total = 0;
      for (const v of by.values()) total += v;
      process.stdout.write(`allocated in ${seconds} s: ${mib(total)} MiB (sampled)\n`);
      for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) process.stdout.write(`${String(mib(v)).padStart(8)} MiB  ${k}\n`);
    });
  }, seconds * 1000);
}

/**
 * Where the RSS is, from /proc/self/smaps (MiB): file-backed pages by file (node's binary and libraries:
 * clean, shared with other node processes), brk heap (malloc's main arena), and anonymous mappings by
 * size (V8's heap pages and code space, thread arenas and stacks), with RssAnon and RssFile.
 */
function smaps(): Record<string, number | Record<string, number>> {
  const text = readFileSync('/proc/self/smaps', 'utf8');
  const files: Record<string, number> = {};
  const anon: Record<string, number> = {};
  let name = '', size = 0, anonRss = 0, fileRss = 0, total = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1]!;
      const [a, b] = line.split(' ')[0]!.split('-').map((h) => parseInt(h, 16));
      size = (b! - a!) / 1024;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    total += kb;
    if (name.startsWith('/')) {
      fileRss += kb;
      const base = name.split('/').pop()!;
      files[base] = (files[base] ?? 0) + kb;
    } else {
      anonRss += kb;
      const key = name || (size >= 65536 ? 'anon >= 64 MiB (malloc arenas)' : size >= 1024 ? 'anon 1-64 MiB' : size > 256 ? 'anon 256 KiB-1 MiB' : 'anon <= 256 KiB (V8 pages)');
      anon[key] = (anon[key] ?? 0) + kb;
    }
  }
  const m = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v >= 512).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, mib(v * 1024)]));
  return { total: mib(total * 1024), anon: mib(anonRss * 1024), file: mib(fileRss * 1024), anonBy: m(anon), fileBy: m(files) };
}
