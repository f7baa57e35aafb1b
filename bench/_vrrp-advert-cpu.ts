/**
 * What a master's adverts cost lvsd: CPU per minute of `lvsd run` with one VRRP instance at 100 ms adverts,
 * master alone on its link, no services, sent by the advert clock (native/src/vrrp_clock.c) or by the VRRP
 * thread's JavaScript timer (LVSD_VRRP_ADVERT_CLOCK=0), alternated in the same run (A B, B A, ...).
 *
 *   node dist/bench/_vrrp-advert-cpu.js [rounds=3] [windowS=60]      (root; run natively, not in the VM)
 *
 * Each start: a fresh namespace with a veth (its peer in a second namespace, where a count of the adverts
 * is read from the peer's interface counters), lvsd as installed (the bundle, the unit's environment and
 * node flags), then 5 s for the start to settle, then utime + stime of the process (all its threads) over
 * the window from /proc/PID/stat, and the adverts the peer received meanwhile.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unitEnvironment } from './_unit-env.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const BUNDLE = join(root, 'dist', 'bundle', 'lvsd.cjs');
const MAIN = join(root, 'dist', 'src', 'cli', 'main.js');
const CLI = existsSync(BUNDLE) ? BUNDLE : MAIN;
const FLAGS = (/^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(readFileSync(MAIN, 'utf8').split('\n')[0]!)?.[1]?.trim() ?? '').split(' ').filter(Boolean);
const ROUNDS = Number(process.argv[2] ?? 3);
const WINDOW_S = Number(process.argv[3] ?? 60);
const SETTLE_MS = 5000;
const CLK_TCK = 100;
const dir = mkdtempSync(join(tmpdir(), 'lvsd-advert-cpu-'));
const NS = `lvsd-acpu-${process.pid}`;
const PEER = `${NS}-p`;

const sh = (cmd: string) => {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(): void {
  sh(`ip netns add ${NS} && ip netns add ${PEER}`);
  sh(`ip -n ${NS} link set lo up && ip -n ${PEER} link set lo up`);
  sh(`ip -n ${NS} link add eth0 type veth peer name eth0 netns ${PEER}`);
  sh(`ip -n ${NS} addr add 10.97.0.1/24 dev eth0 && ip -n ${PEER} addr add 10.97.0.2/24 dev eth0`);
  sh(`ip -n ${NS} link set eth0 up && ip -n ${PEER} link set eth0 up`);
}

function cleanup(): void {
  spawnSync('ip', ['netns', 'del', NS]);
  spawnSync('ip', ['netns', 'del', PEER]);
}

function ticks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

const rxPackets = () => Number(sh(`ip netns exec ${PEER} cat /sys/class/net/eth0/statistics/rx_packets`).trim());

function start(clock: boolean, tag: string): ChildProcess {
  const conf = join(dir, `${tag}.json`);
  writeFileSync(conf, JSON.stringify({
    vrrp: [{ name: 'VI_1', interface: 'eth0', vrid: 51, priority: 150, version: 3, advertInterval: '100ms', addresses: ['10.97.0.100/24'] }],
    control: { socket: join(dir, `${tag}.sock`) },
  }));
  const log = openSync(join(dir, `${tag}.log`), 'a');
  const env = { ...process.env, ...unitEnvironment(root), ...(clock ? {} : { LVSD_VRRP_ADVERT_CLOCK: '0' }) };
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, ...FLAGS, CLI, 'run', '--config', conf, '--socket', join(dir, `${tag}.sock`),
    '--state-file', join(dir, `${tag}.state`), '--log-level', 'info'], { stdio: ['ignore', log, log], env });
  closeSync(log);
  return child;
}

/** The lvsd process in the namespace (ip netns exec execs it: the child's pid is lvsd's). */
async function measure(clock: boolean, tag: string): Promise<{ cpuSPerMin: number; adverts: number; load: number }> {
  const child = start(clock, tag);
  await sleep(SETTLE_MS);
  const pid = child.pid!;
  const load = loadavg()[0]!;
  const t0 = ticks(pid), r0 = rxPackets(), w0 = Date.now();
  await sleep(WINDOW_S * 1000);
  const t1 = ticks(pid), r1 = rxPackets(), w1 = Date.now();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  const minutes = (w1 - w0) / 60_000;
  return { cpuSPerMin: (t1 - t0) / CLK_TCK / minutes, adverts: (r1 - r0) / minutes, load };
}

async function main(): Promise<void> {
  setup();
  try {
    const res: Record<'js' | 'clock', number[]> = { js: [], clock: [] };
    for (let i = 0; i < ROUNDS; i++) {
      const order: Array<'js' | 'clock'> = i % 2 === 0 ? ['js', 'clock'] : ['clock', 'js'];
      for (const kind of order) {
        const r = await measure(kind === 'clock', `${kind}-${i}`);
        res[kind].push(r.cpuSPerMin);
        const log = readFileSync(join(dir, `${kind}-${i}.log`), 'utf8');
        const clockLine = /"event":"vrrp\.advert_clock(_unavailable)?"/.exec(log)?.[0] ?? 'no advert-clock line';
        console.log(`round ${i + 1} ${kind.padEnd(5)} CPU ${r.cpuSPerMin.toFixed(3)} s/min, ${r.adverts.toFixed(0)} packets/min at the peer, load ${r.load.toFixed(1)} (${clockLine})`);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    console.log(`median CPU s/min: JavaScript timer ${med(res.js).toFixed(3)}, advert clock ${med(res.clock).toFixed(3)} (${WINDOW_S} s windows, ${ROUNDS} rounds, logs in ${dir})`);
  } finally {
    cleanup();
  }
}

await main();
