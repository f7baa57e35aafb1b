import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { DestinationStream, Logger, LoggerOptions } from 'pino';
import { formatLogLine } from './log-pretty.js';

export type { Logger };

type Pino = typeof import('pino');

/** node:tty's isatty, loaded when first asked (node:tty loads node:net: a CLI command that logs nothing needs neither). */
function isatty(fd: number): boolean {
  return (createRequire(import.meta.url)('node:tty') as typeof import('node:tty')).isatty(fd);
}
let pinoModule: Pino | undefined;

/**
 * pino, loaded on first use (it is CommonJS, so synchronously): a CLI command that logs nothing never loads
 * it. `lvsd run` has it loaded before (preloadPino).
 */
function pinoLib(): Pino {
  return (pinoModule ??= createRequire(import.meta.url)('pino') as Pino);
}

/**
 * Loads pino by import() before the first line is logged (`lvsd run`): the bundle carries pino in a chunk
 * of its own, one file, where the require of pinoLib reads ~30 files from node_modules, seconds of the
 * daemon's start-up under the test VM's emulation (docs/benchmarks.md, the start-up bench).
 */
export async function preloadPino(): Promise<void> {
  if (pinoModule) return;
  const mod = (await import('pino')) as unknown as { default: Pino };
  pinoModule ??= mod.default;
}

/**
 * The root logger (`sync: false` for the daemon: see below). Log lines are JSON with stable field names: `event` names what happened
 * (`ipvs.apply`, `vrrp.transition`, ...), `component` is bound per module with child loggers.
 */
export function createLogger(options: { level?: string; destination?: number | string; pretty?: boolean; sync?: boolean } = {}): Logger {
  const pino = pinoLib().pino;
  const opts: LoggerOptions = {
    level: options.level ?? process.env.LVSD_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const dest = options.destination ?? 1;
  if (typeof dest === 'number' && (options.pretty ?? wantsPretty(dest))) {
    const colour = isatty(dest) && !process.env.NO_COLOR;
    const stream: DestinationStream = { write: (line: string) => void writeSync(dest, formatLogLine(line, colour)) };
    return pino(opts, stream);
  }
  // sync: false (the daemon's main thread): a line is appended to a buffer and written by libuv's thread pool
  // while the next ones collect, one write for a burst instead of a write(2) per line on the event loop (at
  // 10,000 health changes at start, 83 % of the main thread's time in the TCG VM); pino flushes it at exit.
  return pino(opts, pino.destination({ dest, sync: options.sync ?? true }));
}

/** Human lines on a terminal, JSON lines otherwise; LVSD_LOG_FORMAT=json|pretty decides when set. */
function wantsPretty(fd: number): boolean {
  const format = process.env.LVSD_LOG_FORMAT;
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return isatty(fd);
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const noop = (): void => {};

/**
 * A logger that becomes `make()` only when something is logged at `level` or above (or anything but a
 * level method, `level`, `isLevelEnabled` or `child` is asked of it); until then calls below `level` cost
 * nothing and pino is not loaded. For short CLI commands (`lvsd apply` logs warnings only).
 */
export function lazyLogger(level: string, make: () => Logger): Logger {
  let real: Logger | undefined;
  const threshold = level === 'silent' ? Infinity : LEVELS[level] ?? LEVELS.info!;
  return new Proxy({} as Logger, {
    get(_target, key) {
      if (real === undefined) {
        if (typeof key === 'string' && LEVELS[key] !== undefined && LEVELS[key] < threshold) return noop;
        if (key === 'level') return level;
        if (key === 'isLevelEnabled') return (l: string) => (LEVELS[l] ?? Infinity) >= threshold;
        if (key === 'child') {
          return (bindings: Record<string, unknown>, opts?: { level?: string }) =>
            lazyLogger(opts?.level ?? level, () => (real ??= make()).child(bindings, opts));
        }
      }
      const r = (real ??= make());
      const v = (r as unknown as Record<PropertyKey, unknown>)[key];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
    },
    set(_target, key, value) {
      (real ??= make());
      (real as unknown as Record<PropertyKey, unknown>)[key] = value;
      return true;
    },
  });
}

/** A logger that drops everything; for library use and tests that do not look at logs. */
export const silentLogger: Logger = lazyLogger('silent', () => pinoLib().pino({ level: 'silent' }));
