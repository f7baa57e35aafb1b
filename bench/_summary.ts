/**
 * The summary `npm run bench` ends with: every row of issue #11's table, lvsd against its reference,
 * measured in the one run, from the result files the benches leave in the run's result directory
 * (bench-ipvs.json, bench-startup.json, bench-health.json). A row whose bench did not run or did not
 * finish says so. Pure apart from reading the files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SummaryRow {
  what: string;
  lvsd: string;
  reference: string;
  ratio: string;
  goal: string;
  /** 'yes', 'no', or '-' when not measured. */
  met: string;
}

/** What bench/ipvs.ts writes per size (the fields the summary reads). */
interface IpvsSize {
  services: number;
  realServers: number;
  ipvsadmRestoreMs: number;
  lvsdColdMs: number;
  daemons?: Array<{
    layout: string; reloadCliMs: number; reloadFirstMs?: number; reloadTrials?: Array<{ ms: number }>; drift?: { ms: number; readMs: number; loopDelayMaxMs: number; loopDelayP99Ms: number };
    /** bench/ipvs.ts DaemonResult.paths: the reload paths besides `lvsd reload` after an edit */
    paths?: { same?: { cliMs: number }; sighup?: { ms: number }; watcher?: { ms: number }; harnessMs?: number; direct?: { ms: number } };
  }>;
}

interface StartupDoc {
  cli?: Array<{ name: string; cpuMs: number; wallMs: number; cpuRatio: number; wallRatio: number; exit?: number }>;
  master?: { withTable: boolean; lvsdMs: number; keepalivedMs: number; ratio: number };
}

interface HealthDoc {
  servers: number;
  windowS: number;
  probesPerS: number;
  /** medians over the rounds (one round before 2026-12-05 15:00) */
  /**
   * rssMiB: the sum of VmRSS over the tool's processes (the goal's figure); pssMiB (since 2026-12-06): the sum
   * of Pss, where a page N processes map counts 1/N in each (keepalived's 3 processes share most of theirs)
   */
  lvsd: { cpuS: number; rssMiB: number; pssMiB?: number };
  keepalived: { cpuS: number; rssMiB: number; pssMiB?: number };
  /** lvsd's CPU per probe over keepalived's: the median of the rounds' ratios (each from two back-to-back windows), its range */
  ratio?: { median: number; min: number; max: number; rounds: number };
  /** seconds from a fresh start until every real server (each starting down) is weighted in the kernel, medians (since 2026-12-06) */
  readyS?: { lvsd: number; keepalived: number };
}

export interface SummaryInput {
  ipvs?: IpvsSize[];
  startup?: StartupDoc;
  health?: HealthDoc;
}

function readJson<T>(dir: string, file: string): T | undefined {
  const path = join(dir, file);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export function readResults(dir: string): SummaryInput {
  const ipvs = readJson<IpvsSize[]>(dir, 'bench-ipvs.json');
  const startup = readJson<StartupDoc>(dir, 'bench-startup.json');
  const health = readJson<HealthDoc>(dir, 'bench-health.json');
  return { ...(ipvs ? { ipvs } : {}), ...(startup ? { startup } : {}), ...(health ? { health } : {}) };
}

const sec = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const int = (n: number) => n.toLocaleString('en-US');
const yes = (ok: boolean) => (ok ? 'yes' : 'no');
const missing = (what: string, goal: string, why: string): SummaryRow => ({ what, lvsd: why, reference: '', ratio: '', goal, met: '-' });

/** The table sizes the issue names: 2,000 x 10 (22k objects) and 10,000 x 10 (110k). */
const TABLE_SIZES = [2000, 10_000];

export function summaryRows(r: SummaryInput): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const sizes = [...new Set([...TABLE_SIZES, ...(r.ipvs ?? []).map((x) => x.services)])].sort((a, b) => a - b);
  for (const n of sizes) {
    const x = r.ipvs?.find((s) => s.services === n);
    const what = `cold apply, ${int(n)} services x 10 (${int(x ? x.services + x.realServers : n * 11)} objects)`;
    if (!x) {
      if (TABLE_SIZES.includes(n)) rows.push(missing(what, '<= 0.8', 'not measured (LVSD_BENCH_SERVICES, or the ipvs bench did not finish)'));
      continue;
    }
    const ratio = x.lvsdColdMs / x.ipvsadmRestoreMs;
    rows.push({ what, lvsd: sec(x.lvsdColdMs), reference: `ipvsadm -R ${sec(x.ipvsadmRestoreMs)}`, ratio: ratio.toFixed(2), goal: '<= 0.8', met: yes(ratio <= 0.8) });
  }
  for (const n of sizes) {
    const x = r.ipvs?.find((s) => s.services === n);
    const d = x?.daemons?.[0];
    const what = `one weight edited + \`lvsd reload\`, daemon running at ${int(x ? x.services + x.realServers : n * 11)} objects, until the kernel has it`;
    if (!x || !d) {
      if (TABLE_SIZES.includes(n)) rows.push(missing(what, '<= 2 %', 'not measured'));
      continue;
    }
    const pct = (d.reloadCliMs / x.ipvsadmRestoreMs) * 100;
    // several trials (bench/ipvs.ts LVSD_BENCH_RELOADS): the median, its spread and the first after the start
    const trials = d.reloadTrials ?? [];
    const spread = trials.length > 1
      ? ` (median of ${trials.length}: ${sec(Math.min(...trials.map((t) => t.ms)))}-${sec(Math.max(...trials.map((t) => t.ms)))}${d.reloadFirstMs !== undefined ? `, first after the start ${sec(d.reloadFirstMs)}` : ''})`
      : '';
    rows.push({ what, lvsd: `${sec(d.reloadCliMs)}${spread}`, reference: `ipvsadm -R cold ${sec(x.ipvsadmRestoreMs)}`, ratio: `${pct.toFixed(1)} %`, goal: '<= 2 %', met: yes(pct <= 2) });
  }
  const cli = r.startup?.cli;
  const floor = cli?.find((c) => c.name === 'node -e 0');
  for (const [name, what] of [
    ['lvsd --version', '`lvsd --version`'],
    ['lvsd check, one service', '`lvsd check`, one service'],
    ['lvsd apply, one service', '`lvsd apply`, one service'],
    ['lvsd status, daemon with one service', '`lvsd status`, daemon running one service'],
  ] as const) {
    const c = cli?.find((x) => x.name === name);
    if (!c || !floor) {
      rows.push(missing(what, '<= 2.5', 'not measured (the startup bench did not run or finish)'));
      continue;
    }
    const note = c.exit === 3 ? ', stopped before the kernel: no IPVS' : '';
    rows.push({
      what, lvsd: `${sec(c.wallMs)} (CPU ${sec(c.cpuMs)}, ratio ${c.cpuRatio.toFixed(2)}${note})`,
      reference: `\`node -e 0\` ${sec(floor.wallMs)} (CPU ${sec(floor.cpuMs)})`,
      ratio: c.wallRatio.toFixed(2), goal: '<= 2.5', met: yes(c.wallRatio <= 2.5),
    });
  }
  const m = r.startup?.master;
  const masterWhat = '`lvsd run` exec -> VRRP master with its table, 1 s adverts';
  if (!m || !Number.isFinite(m.ratio)) rows.push(missing(masterWhat, '<= 1.2', 'not measured'));
  else {
    rows.push({
      what: m.withTable ? masterWhat : `${masterWhat} (VRRP only: no IPVS where it ran)`,
      lvsd: sec(m.lvsdMs), reference: `keepalived ${sec(m.keepalivedMs)}`, ratio: m.ratio.toFixed(2), goal: '<= 1.2', met: yes(m.ratio <= 1.2),
    });
  }
  const h = r.health;
  const cpuWhat = h ? `${int(Math.round(h.probesPerS))} distinct TCP checks/s (${int(h.servers)} real servers) for ${h.windowS} s: CPU of the whole process tree` : '1,000 distinct TCP checks/s for 30 s: CPU of the whole process tree';
  if (!h) {
    rows.push(missing(cpuWhat, '<= 1.0', 'not measured (the health bench did not run or finish)'));
    rows.push(missing('same: RSS', '<= 64 MiB', 'not measured'));
  } else {
    const cpuRatio = h.ratio?.median ?? h.lvsd.cpuS / h.keepalived.cpuS;
    const spread = h.ratio && h.ratio.rounds > 1 ? ` (${h.ratio.min.toFixed(2)}-${h.ratio.max.toFixed(2)}, per probe, median of ${h.ratio.rounds} alternated rounds)` : '';
    rows.push({
      what: cpuWhat, lvsd: `${h.lvsd.cpuS.toFixed(1)} s`, reference: `keepalived ${h.keepalived.cpuS.toFixed(1)} s`,
      ratio: `${cpuRatio.toFixed(2)}${spread}`, goal: '<= 1.0', met: yes(cpuRatio <= 1),
    });
    // the goal compares VmRSS (the figure the issue set it on); PSS beside it, shared pages counted once
    const pss = (x: { pssMiB?: number }) => (x.pssMiB !== undefined ? ` (PSS ${x.pssMiB.toFixed(0)})` : '');
    rows.push({
      what: 'same: RSS', lvsd: `${h.lvsd.rssMiB.toFixed(0)} MiB${pss(h.lvsd)}`, reference: `keepalived ${h.keepalived.rssMiB.toFixed(0)} MiB${pss(h.keepalived)}`,
      ratio: (h.lvsd.rssMiB / h.keepalived.rssMiB).toFixed(1), goal: '<= 64 MiB', met: yes(h.lvsd.rssMiB <= 64),
    });
  }
  return rows;
}

/** The summary as markdown: the table, then the drift pass at each size (item 1: not a ratio). */
export function formatSummary(r: SummaryInput): string {
  const rows = summaryRows(r);
  const out = [
    '| what | lvsd | reference | ratio | goal | met |',
    '|---|---:|---:|---:|---:|---|',
    ...rows.map((x) => `| ${x.what} | ${x.lvsd} | ${x.reference} | ${x.ratio} | ${x.goal} | ${x.met} |`),
  ];
  const drifts = (r.ipvs ?? []).flatMap((x) => (x.daemons?.[0]?.drift ? [{ x, d: x.daemons[0].drift }] : []));
  if (drifts.length > 0) {
    out.push('');
    for (const { x, d } of drifts) {
      out.push(`drift pass (the one periodic full read) at ${int(x.services + x.realServers)} objects: ${sec(d.ms)} (read ${sec(d.readMs)}), ` +
        `event loop worst ${d.loopDelayMaxMs} ms, p99 ${d.loopDelayP99Ms} ms`);
    }
  }
  const ready = r.health?.readyS;
  if (ready && ready.lvsd > 0 && ready.keepalived > 0) {
    out.push('', `health: start until every one of ${int(r.health!.servers)} real servers (each down until its first check) is weighted in the kernel: ` +
      `lvsd ${ready.lvsd.toFixed(1)} s, keepalived ${ready.keepalived.toFixed(1)} s, ratio ${(ready.lvsd / ready.keepalived).toFixed(2)}`);
  }
  // the other ways a reload comes, beside the issue's row (which times `lvsd reload` after the edit)
  const paths = (r.ipvs ?? []).flatMap((x) => (x.daemons ?? []).flatMap((d) => (d.paths ? [{ x, d, p: d.paths }] : [])));
  if (paths.length > 0) {
    out.push('');
    const pct = (ms: number, x: { ipvsadmRestoreMs: number }) => `${sec(ms)} (${((ms / x.ipvsadmRestoreMs) * 100).toFixed(1)} %)`;
    for (const { x, d, p } of paths) {
      const parts = [
        ...(p.sighup ? [`SIGHUP after the edit ${pct(p.sighup.ms, x)}`] : []),
        ...(p.watcher ? [`the edit left to the file watcher ${pct(p.watcher.ms, x)}`] : []),
        ...(p.same ? [`\`lvsd reload\` with nothing changed ${pct(p.same.cliMs, x)}`] : []),
        // the issue's row is timed through the bench's wrappers (time, ip netns exec), whose own cost is shown
        ...(p.direct ? [`\`lvsd reload\` (the native front) spawned bare after an edit ${pct(p.direct.ms, x)}`] : []),
        ...(p.harnessMs !== undefined ? [`the bench's wrappers around each CLI figure alone ${sec(p.harnessMs)}`] : []),
      ];
      out.push(`one weight edited, daemon at ${int(x.services + x.realServers)} objects (${d.layout === 'file' ? 'one file' : 'a directory'}), until the kernel has it: ${parts.join('; ')}`);
    }
  }
  const met = rows.filter((x) => x.met === 'yes').length;
  const measured = rows.filter((x) => x.met !== '-').length;
  out.push('', `${met} of ${measured} measured rows meet their goal; ${rows.length - measured} not measured.`);
  return out.join('\n');
}
