/**
 * Takeover A/B of where lvsd runs VRRP (LVSD_VRRP_THREAD=worker against main), natively on a host (no
 * IPVS needed), in the same run, trials alternated. Not run by run.js (its name starts with _);
 * docs/benchmarks.md has the figures it gave.
 *
 *   node dist/bench/_takeover-threads.js [--runs N] [--busy MS/PERIOD] [--json]     (root)
 *
 * Each trial: a fresh lab (test/netns/fixtures/vrrp-pair.ts), two lvsd at 100 ms adverts (Master_Down_Interval
 * 361 ms at the backup's priority 100), both in the trial's mode; the backup's main thread spins BUSY ms of
 * every PERIOD (default 150/200: a daemon whose main thread probes and reconciles; 0/0 for idle). The master
 * gets SIGKILL; the figure is the VIP's add on the backup (`ip -ts monitor address`) after the kill, and that
 * minus Master_Down_Interval (the last advert came at most one interval before the kill). Medians and max
 * per mode, with the host's load.
 */
import { loadavg } from 'node:os';
import { startPair } from '../test/netns/fixtures/vrrp-pair.js';
import { sleep } from '../test/netns/fixtures/vrrp-lab.js';
import { netnsSkipReason } from '../test/netns/netns.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const RUNS = Number(arg('runs', '5'));
const [BUSY, PERIOD] = arg('busy', '150/200').split('/').map(Number) as [number, number];
const json = args.includes('--json');
const MDI = 3 * 100 + ((256 - 100) * 100) / 256;
type Mode = 'worker' | 'main';

async function trial(mode: Mode, vrid: number): Promise<number> {
  const env = { LVSD_VRRP_THREAD: mode };
  const p = await startPair({ vrid, run: [{ env }, { env, ...(PERIOD > 0 ? { busy: { busyMs: BUSY, periodMs: PERIOD } } : {}) }] });
  try {
    const addrs = p.vlab.watchAddresses(p.d2);
    await addrs.ready();
    await sleep(2000);
    const t0 = Date.now();
    p.l1!.signal('SIGKILL');
    const added = await addrs.waitFor((e) => e.added && e.address === p.vips[0], 20_000, t0);
    return added.at - t0;
  } finally {
    await p.l2.stop().catch(() => undefined);
    p.vlab.cleanup();
  }
}

const skip = netnsSkipReason();
if (skip) {
  process.stdout.write(`skipped: ${skip}\n`);
  process.exit(0);
}
const results: Record<Mode, number[]> = { worker: [], main: [] };
const load0 = loadavg()[0]!;
for (let i = 0; i < RUNS; i++) {
  for (const mode of (i % 2 ? ['main', 'worker'] : ['worker', 'main']) as Mode[]) {
    const ms = await trial(mode, 60 + (i % 20));
    results[mode].push(ms);
    if (!json) process.stdout.write(`trial ${i + 1} ${mode}: VIP ${ms.toFixed(0)} ms after the kill (MDI ${MDI.toFixed(0)}), load ${loadavg()[0]!.toFixed(1)}\n`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out = Object.fromEntries((['worker', 'main'] as Mode[]).map((m) => [m, {
  medianMs: +med(results[m]).toFixed(0), maxMs: +Math.max(...results[m]).toFixed(0), overMdiMedianMs: +(med(results[m]) - MDI).toFixed(0), all: results[m].map((x) => +x.toFixed(0)),
}]));
const summary = { busyMs: BUSY, periodMs: PERIOD, runs: RUNS, mdiMs: +MDI.toFixed(0), load: `${load0.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)}`, ...out };
process.stdout.write(json ? `${JSON.stringify(summary)}\n` : `${JSON.stringify(summary, null, 1)}\n`);
