/**
 * Summarises a page-out A/B run (bench/_pageout-ab.ts's result directory), one block per start: its page-outs
 * and guards (lvsd's log), real servers down and the probes' latency (lvsd's log), the VM's reclaim and
 * refaults and lvsd's faults over the start and after the page-outs (bench/_pageout-record.ts), MemAvailable,
 * RSS, the health bench's window, the host's load. Not a bench itself.
 *
 *   node dist/bench/_pageout-summary.js DIR
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Rec = { t: number; vm: Record<string, number>; mem: Record<string, number>; load: string; hostLoad?: string;
  lvsd?: { pid: number; minflt: number; majflt: number; rssFileKb: number; rssAnonKb: number; threads: Record<string, [number, number]> } };
type Line = { time: number; event?: string; [k: string]: unknown };

const dir = process.argv[2]!;
const jsonl = <T>(f: string): T[] => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).flatMap((l) => { try { return [JSON.parse(l) as T]; } catch { return []; } }) : []);
const f1 = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

/** the deltas of the VM's counters between two samples */
function delta(a: Rec, b: Rec): Record<string, number> {
  const o: Record<string, number> = {};
  for (const k of Object.keys(b.vm)) if (!k.startsWith('nr_')) o[k] = b.vm[k]! - (a.vm[k] ?? 0);
  return o;
}
const at = (recs: Rec[], t: number): Rec | undefined => recs.find((r) => r.t >= t) ?? recs[recs.length - 1];

const tags = readdirSync(dir).filter((f) => /^rec-.*\.jsonl$/.test(f)).map((f) => f.slice(4, -6)).sort((a, b) => parseInt(a) - parseInt(b));
for (const tag of tags) {
  const recs = jsonl<Rec>(join(dir, `rec-${tag}.jsonl`));
  const logDir = join(dir, `h-${tag}`);
  const logFile = existsSync(logDir) ? readdirSync(logDir).find((f) => f.startsWith('lvsd-full') && f.endsWith('.log')) : undefined;
  // pino's time: ISO text in lvsd's log (epoch ms in some)
  const log = (logFile ? jsonl<Line>(join(logDir, logFile)) : []).map((l): Line => ({ ...l, time: typeof l.time === 'string' ? Date.parse(l.time) : l.time }));
  const bench = jsonl<{ lvsd?: Array<Record<string, any>> }>(join(dir, `health-${tag}.json`))[0];
  const w = bench?.lvsd?.[0];
  // the full start's lvsd (the idle one before it is another process)
  const lastPid = [...recs].reverse().find((r) => r.lvsd)?.lvsd?.pid;
  for (const r of recs) if (r.lvsd && r.lvsd.pid !== lastPid) delete r.lvsd;
  const withL = recs.filter((r) => r.lvsd);
  const t0 = log[0]?.time ?? withL[0]?.t ?? recs[0]?.t ?? 0;
  const rel = (t: number) => `${((t - t0) / 1000).toFixed(0)} s`;
  process.stdout.write(`\n=== ${tag} (lvsd's first line ${new Date(t0).toISOString().slice(11, 19)}) ===\n`);
  const hl = recs.map((r) => Number(r.hostLoad?.split(' ')[0])).filter(Number.isFinite);
  process.stdout.write(`host load (1 min) ${f1(Math.min(...hl))}-${f1(Math.max(...hl))}; VM load ${recs[0]?.load} -> ${recs[recs.length - 1]?.load}\n`);
  if (w) process.stdout.write(`bench: ready ${f1(w.readyS)} s, window ${f1(w.probes?.rate, 0)} probes/s, late intervals ${w.probes?.late}, deviation p50/p99 ${f1(w.probes?.intervalDeviationMs?.p50, 0)}/${f1(w.probes?.intervalDeviationMs?.p99, 0)} ms, CPU ${f1(w.cpuMsPerProbe, 3)} ms/probe, RSS ${f1(w.rssMiB)} (files ${f1(w.fileMiB)} / anon ${f1(w.anonMiB)}; PSS ${f1(w.pssMiB)}), VM busy ${f1(w.vmBusyPct, 0)} %, window from ${w.at}\n`);
  else process.stdout.write(`bench: no window (${existsSync(join(dir, `health-${tag}.err`)) ? readFileSync(join(dir, `health-${tag}.err`), 'utf8').trim().split('\n').slice(-1)[0] : '?'})\n`);
  const started = log.find((l) => l.event === 'daemon.started');
  if (started) process.stdout.write(`daemon.started at ${rel(started.time)}\n`);
  const pos = log.filter((l) => typeof l.event === 'string' && l.event.startsWith('daemon.page') || l.event === 'daemon.paged_out');
  for (const l of pos) process.stdout.write(`  ${rel(l.time)} ${l.event} ${JSON.stringify(Object.fromEntries(Object.entries(l).filter(([k]) => !['time', 'event', 'level', 'pid', 'hostname', 'msg', 'v'].includes(k))))}\n`);
  const changes = log.filter((l) => l.event === 'health.change');
  const downs = changes.filter((l) => l.to === 'down');
  // a start's first ups are counted in health.first_up lines (one a second at most), later ups in health.change
  const upsAfterStart = [...changes.filter((l) => l.to === 'up'), ...log.filter((l) => l.event === 'health.first_up')];
  const lastUp = upsAfterStart.length ? upsAfterStart.reduce((m, l) => (l.time > m ? l.time : m), 0) : undefined;
  const reasons: Record<string, number> = {};
  for (const d of downs) reasons[String(d.reason).replace(/\d+ms/, 'Nms')] = (reasons[String(d.reason).replace(/\d+ms/, 'Nms')] ?? 0) + 1;
  process.stdout.write(`health: ${changes.length} changes, ${downs.length} downs${downs.length ? ` (first ${rel(downs[0]!.time)}, last ${rel(downs[downs.length - 1]!.time)}; ${Object.entries(reasons).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}; last up at ${lastUp ? rel(lastUp) : '-'}\n`);
  // the probes' latency the checks reported, per minute of the start
  const lat = changes.map((l) => [l.time, Number(l.latencyMs)] as const).filter(([, v]) => Number.isFinite(v));
  if (lat.length) {
    const byMin = new Map<number, number[]>();
    for (const [t, v] of lat) { const m = Math.floor((t - t0) / 60_000); (byMin.get(m) ?? byMin.set(m, []).get(m)!).push(v); }
    process.stdout.write(`  latencyMs of the changes by minute (n, max): ${[...byMin].map(([m, v]) => `${m}:${v.length}/${Math.max(...v).toFixed(0)}`).join(' ')}\n`);
  }
  if (recs.length < 2) continue;
  const first = withL[0] ?? recs[0]!, last = withL[withL.length - 1] ?? recs[recs.length - 1]!;
  const d = delta(first, last);
  const show = (o: Record<string, number>) => ['pgmajfault', 'workingset_refault_file', 'workingset_activate_file', 'pgscan_kswapd', 'pgscan_direct', 'pgsteal_kswapd', 'pgsteal_direct', 'allocstall_normal', 'pgpgin'].map((k) => `${k} ${o[k] ?? '-'}`).join(', ');
  process.stdout.write(`VM over lvsd's life (${((last.t - first.t) / 1000).toFixed(0)} s): ${show(d)}\n`);
  const lastPo = [...log].reverse().find((l) => l.event === 'daemon.paged_out');
  if (lastPo) {
    const a = at(recs, lastPo.time)!;
    process.stdout.write(`VM after the last page-out (${rel(lastPo.time)} -> end): ${show(delta(a, last))}\n`);
    if (a.lvsd && last.lvsd) process.stdout.write(`lvsd after it: majflt ${last.lvsd.majflt - a.lvsd.majflt}, minflt ${last.lvsd.minflt - a.lvsd.minflt}; by thread majflt ${Object.entries(last.lvsd.threads).map(([k, v]) => `${k} ${v[1] - (a.lvsd!.threads[k]?.[1] ?? 0)}`).filter((s) => !s.endsWith(' 0')).join(', ') || 'none'}\n`);
  }
  if (first.lvsd && last.lvsd) process.stdout.write(`lvsd over its life: majflt ${last.lvsd.majflt}, minflt ${last.lvsd.minflt}; RssFile ${f1(last.lvsd.rssFileKb / 1024)} / RssAnon ${f1(last.lvsd.rssAnonKb / 1024)} MiB at the end\n`);
  const avail = recs.map((r) => r.mem.MemAvailable! / 1024);
  process.stdout.write(`MemAvailable MiB: start ${f1(avail[0])}, min ${f1(Math.min(...avail))}, end ${f1(avail[avail.length - 1])}; file LRU at the min ${f1(((recs[avail.indexOf(Math.min(...avail))]!.mem['Active(file)'] ?? 0) + (recs[avail.indexOf(Math.min(...avail))]!.mem['Inactive(file)'] ?? 0)) / 1024)} MiB\n`);
  // per minute: lvsd's major faults, the VM's refaults and scans, MemAvailable
  const mins: string[] = [];
  for (let t = first.t; t < last.t; t += 60_000) {
    const a = at(recs, t)!, b = at(recs, t + 60_000)!;
    const dd = delta(a, b);
    mins.push(`${Math.round((t - t0) / 60_000)}: maj ${dd.pgmajfault} lvsd ${a.lvsd && b.lvsd ? b.lvsd.majflt - a.lvsd.majflt : '-'} refault ${dd.workingset_refault_file} scan ${(dd.pgscan_kswapd ?? 0) + (dd.pgscan_direct ?? 0)} avail ${f1(b.mem.MemAvailable! / 1024, 0)}`);
  }
  process.stdout.write(`per minute from lvsd's start:\n  ${mins.join('\n  ')}\n`);
}
