/**
 * The VRRP sockets `lvsd run` opens at exec (issue #11, fast start). A backup's Master_Down timer may run
 * from the moment its socket listens: every advert that arrives after that is queued by the kernel until
 * something reads it. So the bundle's launcher (src/cli/launch.ts) reads the instances' interfaces from the
 * config file itself (a peek: JSON.parse, no validation), opens their sockets before it loads the daemon's
 * code, and the VRRP worker adopts them once it runs; the instances' Master_Down timers run from the open,
 * not from the worker's start (node's bootstrap of a thread, 0.5-1.2 s under the test VM's emulation).
 *
 * Nothing is decided from the peek: a socket is handed to an instance of the validated config only when
 * its name, family, interface and multicast are the same (matchListeners); any other is closed. The worker
 * reads everything queued on an adopted socket before its machine starts (instance.ts, run()), and
 * starts the timer from now instead when the kernel dropped anything meanwhile.
 *
 * The launcher and the daemon are two files of the bundle, each with its own copy of this module: the
 * sockets wait in a global slot (Symbol.for) between them.
 */
import { closeSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { VrrpInstanceConfig } from '../config/types.js';
import { monotonicMs } from '../monotonic.js';
import { listenVrrp } from '../net/vrrp-socket.js';

const SLOT = Symbol.for('lvsd.vrrp.earlyListeners');

/** One instance's socket as the peek saw it. */
export interface ListenSpec {
  instance: string;
  family: 'ipv4' | 'ipv6';
  interface: string;
  multicast: boolean;
}

/**
 * A socket opened at exec: its descriptor, and when it began to listen, in monotonicMs (process.hrtime:
 * CLOCK_MONOTONIC, the same in every thread, so the VRRP thread reads it against its own clock).
 */
export interface EarlyListener extends ListenSpec {
  fd: number;
  since: number;
}

type Slots = { [SLOT]?: EarlyListener[] };

/**
 * Above this many bytes of config the peek is not worth its parse: with hundreds of services the table's
 * programming, not Master_Down, sets when a director can be master (it waits for its table), and the
 * parse would delay the daemon's own load.
 */
export const PEEK_MAX_BYTES = 512 << 10;

/**
 * The sockets the instances of these parsed config documents will open (pure). Anything unexpected is
 * skipped: the daemon's own load reports it; an instance named twice is left to it too.
 */
export function listenSpecs(docs: readonly unknown[]): ListenSpec[] {
  const specs = new Map<string, ListenSpec | undefined>();
  for (const doc of docs) {
    const list = typeof doc === 'object' && doc !== null ? (doc as { vrrp?: unknown }).vrrp : undefined;
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (typeof item !== 'object' || item === null) continue;
      const { name, interface: ifname, addresses, unicast } = item as Record<string, unknown>;
      if (typeof name !== 'string' || typeof ifname !== 'string' || ifname === '' || !Array.isArray(addresses)) continue;
      const first: unknown = addresses[0];
      if (typeof first !== 'string') continue;
      if (specs.has(name)) {
        specs.set(name, undefined);
        continue;
      }
      specs.set(name, { instance: name, family: first.includes(':') ? 'ipv6' : 'ipv4', interface: ifname, multicast: unicast === undefined });
    }
  }
  return [...specs.values()].filter((s): s is ListenSpec => s !== undefined);
}

/** The config documents at `path` (a file, or a directory's *.json files as src/config/files.ts takes them), or none. */
export function readConfigDocs(path: string): unknown[] {
  try {
    const files = statSync(path).isDirectory()
      ? readdirSync(path).filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort().map((n) => join(path, n))
      : [path];
    let bytes = 0;
    for (const file of files) {
      const info = statSync(file);
      if (!info.isFile()) return [];
      bytes += info.size;
    }
    if (bytes > PEEK_MAX_BYTES) return [];
    return files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as unknown);
  } catch {
    return [];
  }
}

/**
 * Opens the sockets of the instances in the config at `configPath` and keeps them for takeEarlyListeners.
 * Never throws: an instance whose socket cannot be opened here (no such interface yet, no addon) opens its
 * own in the worker, as without this.
 */
export function listenEarly(configPath: string, listen: (spec: ListenSpec) => number = listenVrrp): void {
  const listeners: EarlyListener[] = [];
  for (const spec of listenSpecs(readConfigDocs(configPath))) {
    try {
      const fd = listen(spec);
      listeners.push({ ...spec, fd, since: monotonicMs() });
    } catch {
      // the worker opens it, and reports why it cannot
    }
  }
  if (listeners.length > 0) (globalThis as Slots)[SLOT] = listeners;
}

/** The sockets listenEarly opened (once; the caller owns them from now on). */
export function takeEarlyListeners(): EarlyListener[] {
  const listeners = (globalThis as Slots)[SLOT] ?? [];
  delete (globalThis as Slots)[SLOT];
  return listeners;
}

/** Whether `listener` is the socket `instance` would open. */
export function listenerFits(listener: ListenSpec, instance: Pick<VrrpInstanceConfig, 'name' | 'family' | 'interface' | 'unicast'>): boolean {
  return listener.instance === instance.name && listener.family === instance.family && listener.interface === instance.interface
    && listener.multicast === (instance.unicast === undefined);
}

/** The sockets to hand to the VRRP thread for these (validated) instances; the others are closed here. */
export function handListeners(listeners: readonly EarlyListener[], instances: readonly VrrpInstanceConfig[]): EarlyListener[] {
  const handed: EarlyListener[] = [];
  for (const l of listeners) {
    const instance = instances.find((i) => i.name === l.instance);
    if (instance && listenerFits(l, instance)) handed.push(l);
    else closeListeners([l]);
  }
  return handed;
}

/**
 * When a listener began to listen on another clock: `now` of that clock minus how long ago it was
 * (`since` is monotonicMs). The VRRP runner's clock is performance.now(), whose origin is the thread's start.
 */
export function sinceOn(clockNow: number, since: number, monoNow = monotonicMs()): number {
  return clockNow - Math.max(0, monoNow - since);
}

/** Closes sockets nobody will adopt. */
export function closeListeners(listeners: ReadonlyArray<{ fd: number }>): void {
  for (const l of listeners) {
    try {
      closeSync(l.fd);
    } catch {
      // already closed
    }
  }
}
