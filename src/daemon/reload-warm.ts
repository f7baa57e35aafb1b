/**
 * The first reload after the start runs code the start did not: the load of an edited file (the edit found
 * in the kept bytes, the changed item spliced in, schema-checked and normalised, servicesChanged), the
 * service delta, and the control socket's request path (node's HTTP server reading a request, the route,
 * the answer). Run for the first time, that code is compiled then, and in the test VM (qemu TCG, where
 * compiling is 30-100x slower) that made the first `lvsd reload` of a one-weight edit cost 3x a later one
 * (docs/benchmarks.md). Under a code cache the start's collections also flush the bytecode of what has not
 * run. `warmLoadPath` runs the load's edit path once (watched as a reload is: loop-delay.ts watchingLoop) on a scratch config of its own (a temporary file of a
 * few services, read whole, then again with one weight edited, through its own ConfigCache): the running
 * config, its cache and the kernel are not touched, and nothing is switched. The control path is warmed by
 * one POST /v1/ping over the daemon's own socket (control-server.ts pingControl).
 *
 * The warm waits until the start's ramp is over (`afterStartRamp`): every real server has its first health
 * verdict and the daemon has been quiet WARM_QUIET_MS, or WARM_LATEST_MS after the start at the latest. Run
 * at once after the start it took 2-13 s of the main thread in the TCG VM inside the ramp, where the main
 * thread reads the first verdicts of every real server (docs/benchmarks.md, 2026-12-06). A reload asked
 * before it simply runs its paths for the first time itself, as it would without the warm.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ConfigCache, loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { pingControl } from './control-server.js';
import { watchingLoop } from '../loop-delay.js';
import { servicesDelta, type ServicesDelta } from './service-delta.js';

/** The warm waits for the daemon to be this quiet (no health change, VRRP transition or reload) after the ramp. */
export const WARM_QUIET_MS = 1000;
/**
 * ... and runs this long after the start at the latest (a real server whose verdict never comes: one that
 * flaps, never `rise` nor `fall` in a row). In the TCG VM at a loaded host a start's ramp took 125 s.
 */
export const WARM_LATEST_MS = 300_000;
/** How often the wait looks. */
export const WARM_POLL_MS = 500;

/** What afterStartRamp() reads of the daemon, and its clock. */
export interface RampWatch {
  /** real servers without a health verdict yet (no time limit: Daemon.awaitingFirstVerdicts) */
  unsettled(): number;
  /** when the daemon was last busy, on `now`'s clock */
  busyAtMs(): number;
  stopped(): boolean;
  now(): number;
  sleep(ms: number): Promise<void>;
}

/**
 * Resolves when the start's ramp is over: no real server waits for its first verdict and the daemon has
 * been quiet `quietMs` ('settled'), or `latestMs` after the call ('latest'), or the daemon is stopping
 * ('stopped'). The unsettled count (a walk of every real server's state) is read only once quiet.
 */
export async function afterStartRamp(w: RampWatch, quietMs = WARM_QUIET_MS, latestMs = WARM_LATEST_MS, everyMs = WARM_POLL_MS): Promise<'settled' | 'latest' | 'stopped'> {
  const started = w.now();
  for (;;) {
    if (w.stopped()) return 'stopped';
    const now = w.now();
    if (now - w.busyAtMs() >= quietMs && w.unsettled() === 0) return 'settled';
    if (now - started >= latestMs) return 'latest';
    await w.sleep(everyMs);
  }
}

/** Services in the scratch config: enough that one edited is a delta (service-delta.ts MAX_SHARE). */
export const WARM_SERVICES = 8;

/** The scratch config's text; `weight` is its first service's first real server's. */
export function warmConfigText(weight: number): string {
  const services = Array.from({ length: WARM_SERVICES }, (_, i) => ({
    name: `warm-${i}`, protocol: 'tcp', address: `192.0.2.${i + 1}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
    realServers: [1, 2].map((j) => ({ address: `198.51.100.${10 * i + j}`, port: 8080, weight: i === 0 && j === 1 ? weight : 100 })),
  }));
  return JSON.stringify({ services }, null, 2);
}

/** What the warm did: the edited load's delta (one service) and how it read the file the second time. */
export interface LoadWarmed {
  delta: ServicesDelta | undefined;
  filesPatched: number;
  itemsBuilt: number;
}

/**
 * Loads the scratch config whole, then with one weight edited, as a reload of an edited file loads it.
 * `dir`: where the scratch file goes (default a new directory under the temporary directory, removed after).
 * Rejects when the scratch file cannot be written or read (the caller goes on without the warm).
 */
export async function warmLoadPath(dir?: string): Promise<LoadWarmed> {
  const own = dir === undefined ? mkdtempSync(join(tmpdir(), 'lvsd-warm-')) : undefined;
  const file = join(own ?? dir!, 'warm.json');
  try {
    const cache = new ConfigCache();
    writeFileSync(file, warmConfigText(100));
    const first: Config = await loadConfig(file, { hostChecks: true, cache });
    // where a reload finds the items of a file it kept: scanned in the background after a whole parse
    await cache.scanned;
    writeFileSync(file, warmConfigText(101));
    const next = await loadConfig(file, { hostChecks: true, cache });
    const delta = servicesDelta(first, next, cache.servicesChanged(first, next));
    return { delta, filesPatched: cache.stats.filesPatched, itemsBuilt: cache.stats.itemsBuilt };
  } finally {
    if (own !== undefined) rmSync(own, { recursive: true, force: true });
    else rmSync(file, { force: true });
  }
}

/**
 * After the start's ramp (`waited`: how the wait ended and how long it took, logged): the daemon's own
 * warm (its config read once more, in the reload chain: Daemon.warm), then the load's edit path on the scratch config and one ping over the control socket at `socket`.
 * Logged as reload.warmed with each step's ms; a step that fails is named there (`failed`) and the rest
 * still run: the warm only makes the first reload faster, it decides nothing. Never rejects.
 */
export async function warmReloadPaths(
  daemonWarm: () => Promise<void>, socket: string, log: Logger, waited?: { after: 'settled' | 'latest'; ms: number },
): Promise<void> {
  const started = performance.now();
  const failed: string[] = [];
  await daemonWarm().catch(() => failed.push('config'));
  const t1 = performance.now();
  // watched as a reload's load is (its event loop delay histogram: made for the first time otherwise by the first reload)
  await watchingLoop(() => warmLoadPath()).catch((e: unknown) => failed.push(`load: ${(e as Error)?.message ?? String(e)}`));
  const t2 = performance.now();
  await pingControl(socket).then((status) => { if (status !== 200) failed.push(`control: HTTP ${status}`); },
    (e: unknown) => failed.push(`control: ${(e as Error)?.message ?? String(e)}`));
  const t3 = performance.now();
  const ms = (a: number, b: number) => Math.round(b - a);
  log.info({
    event: 'reload.warmed', ms: ms(started, t3), ...(waited && { after: waited.after, waitedMs: waited.ms }), configMs: ms(started, t1), loadPathMs: ms(t1, t2), controlMs: ms(t2, t3),
    ...(failed.length > 0 && { failed }),
  }, failed.length > 0 ? `reload path warmed, but not all of it: ${failed.join('; ')}` : 'reload path warmed');
}
