/**
 * What a machine and one lvsd did during a start, every PERIOD ms, one JSON line each (for the page-out's A/B,
 * bench/_pageout-ab.ts; not a bench itself):
 *
 *   node dist/bench/_pageout-record.js OUT.jsonl [NETNS=hb-lvsd] [PERIOD_MS=2000]
 *
 * Each line: t (epoch ms); the machine's /proc/vmstat counters that show reclaim and refaults (pgmajfault,
 * workingset_refault_file, pgscan_*, pgsteal_*, ...), MemAvailable and the file LRU of /proc/meminfo, its load
 * average and, in the VM, the host's ($LVSD_VM_OUT/host-load); and of the lvsd in NETNS (the `lvsd run` node
 * process there): minor and major faults, RssFile / RssAnon, per thread (by name) minor and major faults.
 * Runs until SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [out, ns = 'hb-lvsd', periodArg = '2000'] = process.argv.slice(2);
if (!out) {
  process.stderr.write('usage: _pageout-record.js OUT.jsonl [NETNS] [PERIOD_MS]\n');
  process.exit(2);
}
const PERIOD = Number(periodArg);
const VMSTAT = ['pgmajfault', 'pgfault', 'pgpgin', 'workingset_refault_file', 'workingset_activate_file', 'workingset_restore_file',
  'pgscan_kswapd', 'pgscan_direct', 'pgsteal_kswapd', 'pgsteal_direct', 'nr_mapped', 'nr_file_pages', 'allocstall_normal', 'allocstall_movable'];
const MEMINFO = ['MemTotal', 'MemFree', 'MemAvailable', 'Cached', 'Active(file)', 'Inactive(file)', 'Shmem', 'Mapped'];

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function vmstat(): Record<string, number> {
  const o: Record<string, number> = {};
  for (const line of (read('/proc/vmstat') ?? '').split('\n')) {
    const [k, v] = line.split(' ');
    if (k && VMSTAT.includes(k)) o[k] = Number(v);
  }
  return o;
}

function meminfo(): Record<string, number> {
  const o: Record<string, number> = {};
  for (const line of (read('/proc/meminfo') ?? '').split('\n')) {
    const m = /^(\S+):\s+(\d+)/.exec(line);
    if (m && MEMINFO.includes(m[1]!)) o[m[1]!] = Number(m[2]);
  }
  return o;
}

/** minflt, majflt (fields 10 and 12) and the name of a /proc/.../stat */
function faults(path: string): { name: string; min: number; maj: number } | undefined {
  const s = read(path);
  if (!s) return undefined;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { name: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), min: Number(f[7]), maj: Number(f[9]) };
}

let pid: number | undefined;
function lvsdPid(): number | undefined {
  if (pid !== undefined && read(`/proc/${pid}/stat`) !== undefined) return pid;
  pid = undefined;
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  for (const p of (r.stdout ?? '').split('\n').filter(Boolean).map(Number)) {
    const cmd = (read(`/proc/${p}/cmdline`) ?? '').split('\0');
    if (cmd.some((a) => a.endsWith('lvsd.cjs') || a.endsWith('main.js')) && cmd.includes('run')) return (pid = p);
  }
  return undefined;
}

function lvsd(): Record<string, unknown> | undefined {
  const p = lvsdPid();
  if (p === undefined) return undefined;
  const f = faults(`/proc/${p}/stat`);
  const status = read(`/proc/${p}/status`) ?? '';
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const threads: Record<string, [number, number]> = {};
  try {
    for (const tid of readdirSync(`/proc/${p}/task`)) {
      const t = faults(`/proc/${p}/task/${tid}/stat`);
      if (!t) continue;
      const had = threads[t.name] ?? [0, 0];
      threads[t.name] = [had[0] + t.min, had[1] + t.maj];
    }
  } catch {
    /* gone */
  }
  return { pid: p, minflt: f?.min, majflt: f?.maj, rssFileKb: kb('RssFile'), rssAnonKb: kb('RssAnon'), threads };
}

function sampleOnce(): void {
  const hostLoad = process.env.LVSD_VM_OUT ? read(join(process.env.LVSD_VM_OUT, 'host-load'))?.trim() : undefined;
  const line = {
    t: Date.now(), vm: vmstat(), mem: meminfo(), load: (read('/proc/loadavg') ?? '').split(' ').slice(0, 3).join(' '),
    ...(hostLoad !== undefined && { hostLoad }), lvsd: lvsd(),
  };
  appendFileSync(out!, JSON.stringify(line) + '\n');
}

const timer = setInterval(sampleOnce, PERIOD);
sampleOnce();
process.on('SIGTERM', () => {
  clearInterval(timer);
  sampleOnce();
  process.exit(0);
});
