/**
 * The start ramp's main-thread CPU natively, without probes or a kernel: `Daemon.start` of a build (ROOT's
 * dist/src) over the in-memory IPVS model (test/unit/reconcile-model.ts) with a fake addon
 * (test/unit/fake-tcp-watcher.ts) at 100 services x 100 real servers, TCP checks rise 1, every real server
 * down until its first verdict; then every watch told up, CHUNK outcomes per batch every EVERY ms (as the
 * addon delivers a start's first verdicts, spread over its interval), until every real server is weighted in
 * the model. Prints the process's CPU (user + system, s) and the wall time from the first batch, and the
 * log lines written (the daemon's logger, JSON to a file, as under systemd). One start per process: run it
 * alternated between builds for an A/B. Not run by run.js.
 *
 *   node dist/bench/_rise-native.js ROOT [--chunk 100] [--every 10]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = process.argv[2] ?? process.cwd();
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
};
const CHUNK = Number(arg('chunk', '100'));
/** --prof FILE: a CPU profile of the ramp alone (node:inspector, from the first batch until every real server is weighted) */
const PROF = arg('prof', '');
const EVERY = Number(arg('every', '10'));
const SERVICES = 100, PER = 100;
const load = async <T>(rel: string): Promise<T> => (await import(pathToFileURL(join(root, 'dist', rel)).href)) as T;

type Watch = { o: { rise: number }; cb: (errno: number, latencyMs: number, run: number, id: number) => void };
const { Daemon } = await load<{ Daemon: { start(o: Record<string, unknown>): Promise<{ stop(): Promise<void> }> } }>('src/daemon/daemon.js');
const { FakeWatcher } = await load<{ FakeWatcher: new () => { watches: Map<number, Watch> } }>('test/unit/fake-tcp-watcher.js');
const { ModelClient } = await load<{ ModelClient: new () => { table: Array<{ dests: Array<{ weight: number }> }> } }>('test/unit/reconcile-model.js');
const { createLogger } = await load<{ createLogger(o: Record<string, unknown>): unknown }>('src/log.js');

const dir = mkdtempSync(join(tmpdir(), 'lvsd-rise-native-'));
try {
  const configPath = join(dir, 'lvsd.json');
  writeFileSync(configPath, JSON.stringify({
    services: Array.from({ length: SERVICES }, (_, s) => ({
      name: `s${s}`, protocol: 'tcp', address: `192.0.${s >> 8}.${s & 255}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
      healthCheck: { type: 'tcp', interval: '10s', timeout: '1s', rise: 1, fall: 2 },
      realServers: Array.from({ length: PER }, (_, r) => ({ address: `10.${s >> 8}.${s & 255}.${r + 1}`, port: 8080, weight: 5 })),
    })),
  }));
  const logFile = join(dir, 'lvsd.log');
  const log = createLogger({ destination: logFile, level: 'info', sync: true });
  const watcher = new FakeWatcher();
  const kernel = new ModelClient();
  const d = await Daemon.start({ configPath, stateFile: join(dir, 'state.json'), log, ipvs: async () => kernel, healthWatcher: watcher });
  const weighted = () => kernel.table.reduce((k, e) => k + e.dests.filter((x) => x.weight === 5).length, 0);
  await new Promise((r) => setTimeout(r, 500));
  const linesBefore = readFileSync(logFile, 'utf8').split('\n').length;
  const session = PROF ? new (await import('node:inspector')).Session() : undefined;
  const post = (m: string, p?: object) => new Promise<unknown>((res, rej) => session!.post(m, p ?? {}, (e, r) => (e ? rej(e) : res(r))));
  if (session) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
  }
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const all = [...watcher.watches];
  let next = 0;
  const timer = setInterval(() => {
    for (const end = Math.min(all.length, next + CHUNK); next < end; next++) {
      const [id, { o, cb }] = all[next]!;
      cb(0, 1, o.rise, id);
    }
    if (next >= all.length) clearInterval(timer);
  }, EVERY);
  while (weighted() < SERVICES * PER) await new Promise((r) => setTimeout(r, 5));
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  const lines = readFileSync(logFile, 'utf8').split('\n').length - linesBefore;
  if (session) writeFileSync(PROF, JSON.stringify(((await post('Profiler.stop')) as { profile: unknown }).profile));
  await d.stop();
  process.stdout.write(`${JSON.stringify({ root, cpuS: (c.user + c.system) / 1e6, wallS: wall / 1000, lines, deliveryS: (SERVICES * PER / CHUNK) * EVERY / 1000 })}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
