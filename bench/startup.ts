/**
 * Start-up bench (issue #11, "fast start"): the cost of a CLI process against a bare `node -e 0`.
 *
 * Rows: `node -e 0` (the floor), `lvsd --version`, `lvsd check` and `lvsd apply` of a config with one
 * service, and `lvsd status` against a running daemon with that service. The daemon is lvsd run over the
 * in-memory IPVS model (test/netns/fixtures/model-daemon.js), so the row is the status client's cost and
 * runs on any host. `lvsd apply` needs root and IPVS: without them it stops at "IPVS is not available"
 * (exit 3) after loading everything it would use, and the row says so. After its first run apply finds the
 * kernel table as declared: the row is a re-apply (dump, diff, nothing to send).
 *
 * The commands run in rounds, one of each per round, so a change in the host's load hits every row alike.
 * CPU time (user + sys of the child, from bash's `times`) is the figure to compare on a shared machine;
 * wall time (of bash and the command) is printed beside it. Medians over LVSD_BENCH_STARTUP_RUNS rounds (default 15).
 *
 * The build measured is first copied to a temporary directory (package.json, schemas, dist/src, native/build,
 * node_modules without the dev-only compilers), as the issue's figures were taken: in the test VM the
 * checkout is a 9p share, and reading modules from it would be most of what is timed.
 * LVSD_BENCH_STARTUP_COPY=0 runs the build where it is.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** LVSD_BENCH_STARTUP_CLI: another build's dist/src/cli/main.js (an older commit, for before/after). */
const CLI = process.env.LVSD_BENCH_STARTUP_CLI ?? fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MODEL_DAEMON = fileURLToPath(new URL('../test/netns/fixtures/model-daemon.js', import.meta.url));
const RUNS = Number(process.env.LVSD_BENCH_STARTUP_RUNS ?? 15);

interface Row {
  name: string;
  argv: string[];
  goal?: number;
  cpu: number[];
  wall: number[];
  exit?: number;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs argv once; CPU ms of the child (bash `times`, children's line), wall ms and exit status. */
function once(argv: string[]): { cpu: number; wall: number; exit: number } {
  const script = `${argv.map(shellQuote).join(' ')} >/dev/null 2>&1; rc=$?; times; exit $rc`;
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  const wall = performance.now() - t0;
  // `times` prints the shell's own user/sys, then its children's: "0m0.052s 0m0.012s"
  const lines = r.stdout.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (!m) throw new Error(`cannot read the CPU time of ${argv.join(' ')}: ${r.stdout} ${r.stderr}`);
  const cpu = (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
  return { cpu, wall, exit: r.status ?? -1 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function startDaemon(config: string, socket: string, stateFile: string): Promise<() => void> {
  const child = spawn(process.execPath, [MODEL_DAEMON, config, socket, stateFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.resume();
  for (let i = 0; i < 600; i++) {
    const r = spawnSync(process.execPath, [CLI, 'status', '--socket', socket, '--json'], { encoding: 'utf8' });
    if (r.status === 0) return () => child.kill('SIGTERM');
    if (child.exitCode !== null) throw new Error(`the model daemon exited (${child.exitCode})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('the model daemon did not answer within 60 s');
}

/** Dev-only packages left out of the copy (large, never loaded by lvsd). */
const DEV_ONLY = new Set(['typescript', 'playwright-core', '@types', 'fast-check']);

/** Copies the build whose main.js is `cli` into `to`; returns the copy's main.js. */
function copyBuild(cli: string, to: string): string {
  const root = join(dirname(cli), '..', '..', '..');
  for (const part of ['package.json', 'schemas', join('dist', 'src'), join('native', 'build'), 'node_modules']) {
    cpSync(join(root, part), join(to, part), {
      recursive: true,
      dereference: true,
      filter: (src) => !src.endsWith('.map') && !DEV_ONLY.has(relative(join(root, 'node_modules'), src).split('/')[0]!),
    });
  }
  return join(to, relative(root, cli));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-bench-startup-'));
  const cli = process.env.LVSD_BENCH_STARTUP_COPY === '0' ? CLI : copyBuild(CLI, join(dir, 'build'));
  const config = join(dir, 'services.json');
  const socket = join(dir, 'lvsd.sock');
  writeFileSync(config, JSON.stringify({
    services: [{ name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, realServers: [{ address: '10.0.1.11', port: 8080 }] }],
  }));
  const stop = await startDaemon(config, socket, join(dir, 'daemon-state.json'));
  const node = process.execPath;
  const rows: Row[] = [
    { name: 'node -e 0', argv: [node, '-e', '0'], cpu: [], wall: [] },
    { name: 'lvsd --version', argv: [node, cli, '--version'], goal: 2.5, cpu: [], wall: [] },
    { name: 'lvsd check, one service', argv: [node, cli, 'check', '-c', config], goal: 2.5, cpu: [], wall: [] },
    { name: 'lvsd apply, one service', argv: [node, cli, 'apply', '-c', config, '--state-file', join(dir, 'apply-state.json')], goal: 2.5, cpu: [], wall: [] },
    { name: 'lvsd status, daemon with one service', argv: [node, cli, 'status', '--socket', socket], goal: 2.5, cpu: [], wall: [] },
  ];
  try {
    const before = loadavg().map((l) => l.toFixed(2)).join(' ');
    for (const row of rows) once(row.argv); // warm the page cache
    for (let round = 0; round < RUNS; round++) {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[(i + round) % rows.length]!;
        const r = once(row.argv);
        row.cpu.push(r.cpu);
        row.wall.push(r.wall);
        row.exit = r.exit;
      }
    }
    const floor = rows[0]!;
    const cpu0 = median(floor.cpu);
    const wall0 = median(floor.wall);
    const out: string[] = [
      `start-up of ${CLI}${CLI === cli ? '' : ' (copied to a temporary directory)'}, ${RUNS} rounds, medians (host load ${process.env.LVSD_BENCH_HOST_LOAD ?? before}; node ${process.version})`,
      '| command | CPU ms | CPU ratio | wall ms | wall ratio | goal | exit |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    for (const row of rows) {
      const cpu = median(row.cpu);
      const wall = median(row.wall);
      const note = row.exit === 3 ? ' (no IPVS here: stopped before the kernel)' : '';
      out.push(`| ${row.name} | ${cpu.toFixed(0)} | ${(cpu / cpu0).toFixed(2)} | ${wall.toFixed(0)} | ${(wall / wall0).toFixed(2)} | ${row.goal !== undefined ? `<= ${row.goal}` : ''} | ${row.exit}${note} |`);
    }
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
