/**
 * SIGTERM to a VRRP master -> its VIP released, lvsd against keepalived, natively in network namespaces
 * (test/netns/fixtures/vrrp-lab.ts): a master (priority 150, 1 s adverts) on d1 and a backup on d2; the
 * master gets SIGTERM at t0; measured on d1's `ip -ts monitor address` (the kernel's time of the VIP's
 * delete) and at a passive listener on d2 (the priority-0 advert's arrival), both from t0.
 *
 *   node dist/bench/_stop-release.js [--runs N] [--main A.js,B.js] [--busy] [--no-keepalived | --no-lvsd] [--json]   (root)
 *
 * `--busy`: lvsd's main thread spins 150 ms of every 200 (test/netns/fixtures' busy daemon), as a daemon
 * reconciling or probing at scale would be.
 *
 * `--main`: lvsd entries to compare (an older build's dist/src/cli/main.js against this one), run
 * alternately with keepalived in each round, so host load falls on all alike.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Router } from '../test/netns/fixtures/vrrp-peers.js';
import { LVSD_MAIN, keepalivedSkipReason, percentile, sleep, VrrpLab } from '../test/netns/fixtures/vrrp-lab.js';
import { netnsSkipReason } from '../test/netns/netns.js';

const args = process.argv.slice(2);
const opt = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(opt('--runs') ?? 5);
const mains = (opt('--main') ?? LVSD_MAIN).split(',');
const busy = args.includes('--busy');
const VIP = '10.61.0.100';
const VRID = 93;

interface Trial { vipGoneMs: number; advertMs: number | undefined }

async function trial(kind: 'lvsd' | 'keepalived', main: string): Promise<Trial> {
  const vlab = new VrrpLab();
  try {
    const d1 = vlab.node('d1');
    const d2 = vlab.node('d2');
    let stop: () => void;
    if (kind === 'lvsd') {
      const l = vlab.lvsd(d1, {
        vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: VRID, priority: 150, version: 3, advertInterval: '1s', addresses: [`${VIP}/24`],
          garp: { count: 3, interval: '50ms', refresh: '0s' } }],
      }, 'm', busy ? { busy: { busyMs: 150, periodMs: 200 } } : { main });
      await l.transition('VI_1', 'master', 60_000);
      stop = () => l.signal('SIGTERM');
    } else {
      const r = Router.start(vlab, d1, { kind, priority: 150 }, { version: 3, family: 'ipv4', intervalMs: 1000, vip: VIP, prefix: 24, vrid: VRID }, 'm');
      await r.entered('master', 60_000);
      stop = () => r.keepalived!.child.kill('SIGTERM');
    }
    await vlab.until(() => vlab.holds(d1, VIP), 'the VIP on d1', 10_000);
    const listener = await vlab.listen(d2);
    const addrs = vlab.watchAddresses(d1);
    await addrs.ready();
    await sleep(1500); // past the GARPs and an advert or two: a steady master
    const t0 = Date.now();
    stop();
    const gone = await addrs.waitFor((e) => !e.added && e.address === VIP, 10_000, 0, 'the VIP deleted');
    const p0 = await listener.waitFor((m) => m.event === 'advert' && m.priority === 0 && m.vrid === VRID, 3000, t0 - 5, 'a priority-0 advert').catch(() => undefined);
    return { vipGoneMs: gone.at - t0, advertMs: p0 ? p0.at - t0 : undefined };
  } finally {
    vlab.cleanup();
  }
}

async function main(): Promise<void> {
  const skip = netnsSkipReason();
  if (skip) throw new Error(skip);
  const kinds: Array<['lvsd' | 'keepalived', string, string]> = args.includes('--no-lvsd') ? [] : mains.map((m, i) => ['lvsd', m, mains.length > 1 ? `lvsd ${String.fromCharCode(65 + i)}` : 'lvsd'] as ['lvsd', string, string]);
  if (!args.includes('--no-keepalived') && !keepalivedSkipReason() && existsSync('/usr/sbin/keepalived')) kinds.push(['keepalived', '', 'keepalived']);
  const results = new Map<string, Trial[]>(kinds.map(([, , label]) => [label, []]));
  const loads: number[] = [];
  for (let r = 0; r < runs; r++) {
    for (const [kind, m, label] of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      loads.push(loadavg()[0]!);
      const t = await trial(kind, m);
      results.get(label)!.push(t);
      if (!args.includes('--json')) console.log(`# ${label} run ${r + 1}: VIP gone ${t.vipGoneMs.toFixed(1)} ms, priority 0 at d2 ${t.advertMs?.toFixed(1) ?? '-'} ms (load ${loadavg()[0]!.toFixed(1)})`);
    }
  }
  const summary = [...results].map(([label, ts]) => {
    const gone = ts.map((t) => t.vipGoneMs).sort((a, b) => a - b);
    const adv = ts.flatMap((t) => (t.advertMs === undefined ? [] : [t.advertMs])).sort((a, b) => a - b);
    return { label, vipGone: { median: percentile(gone, 50), min: gone[0], max: gone.at(-1) }, priority0: { median: adv.length ? percentile(adv, 50) : null, min: adv[0], max: adv.at(-1) }, runs: ts.length };
  });
  const load = { min: Math.min(...loads), max: Math.max(...loads) };
  if (args.includes('--json')) console.log(JSON.stringify({ summary, load }));
  else {
    for (const s of summary) {
      console.log(`${s.label}: VIP gone median ${s.vipGone.median.toFixed(1)} ms (${s.vipGone.min!.toFixed(1)}-${s.vipGone.max!.toFixed(1)}), priority 0 median ${s.priority0.median?.toFixed(1) ?? '-'} ms (${s.priority0.min?.toFixed(1) ?? '-'}-${s.priority0.max?.toFixed(1) ?? '-'}), ${s.runs} runs`);
    }
    console.log(`host load (1 min) ${load.min.toFixed(1)}-${load.max.toFixed(1)}`);
  }
}

await main();
