/**
 * A logger that writes the lines log.ts's pino logger writes (`{"level":"info","time":ISO,"pid":N,
 * ...bindings, ...fields,"msg":...}`, `err` as `{type, message, stack}`, printf-style `%s %d %j %o` in the
 * message), without pino: for the VRRP worker thread, which logs a few lines an hour. pino and its
 * dependencies cost that thread's isolate ~5 MiB of RSS and part of its start (docs/benchmarks.md, "the
 * daemon's fixed cost"). Only the Logger methods lvsd calls are real: the level methods, `child`, `level`,
 * `isLevelEnabled`, `flush`.
 */
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { format } from 'node:util';
import type { Logger } from './log.js';
import { formatLogLine } from './log-pretty.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;

/** Attempts at a write that meets a full pipe (EAGAIN) before the line is dropped: a log line never holds VRRP long. */
const EAGAIN_TRIES = 20;
const EAGAIN_WAIT_MS = 5;
const pause = new Int32Array(new SharedArrayBuffer(4));

function errValue(v: unknown): unknown {
  if (!(v instanceof Error)) return v;
  return { type: v.name, message: v.message, stack: v.stack, ...((v as { code?: unknown }).code !== undefined ? { code: (v as { code?: unknown }).code } : {}) };
}

export interface LineLoggerOptions {
  level?: string;
  destination?: number;
  pretty?: boolean;
}

/** node:tty's isatty, loaded when a logger is made (node:tty loads node:net: `lvsd apply` imports this module and mostly logs nothing). */
function isatty(fd: number): boolean {
  return (createRequire(import.meta.url)('node:tty') as typeof import('node:tty')).isatty(fd);
}

export function lineLogger(options: LineLoggerOptions = {}): Logger {
  const fd = options.destination ?? 1;
  const pretty = options.pretty ?? (process.env.LVSD_LOG_FORMAT === 'pretty' || (process.env.LVSD_LOG_FORMAT !== 'json' && isatty(fd)));
  const colour = pretty && isatty(fd) && !process.env.NO_COLOR;
  const write = (line: string): void => {
    const text = pretty ? formatLogLine(line, colour) : `${line}\n`;
    for (let i = 0; i < EAGAIN_TRIES; i++) {
      try {
        writeSync(fd, text);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
        Atomics.wait(pause, 0, 0, EAGAIN_WAIT_MS);
      }
    }
  };
  return make(options.level ?? process.env.LVSD_LOG_LEVEL ?? 'info', '', write);
}

function make(levelName: string, bindings: string, write: (line: string) => void): Logger {
  let threshold = levelName === 'silent' ? Infinity : LEVELS[levelName as Level] ?? LEVELS.info;
  let name = levelName;
  const emit = (level: Level, args: unknown[]): void => {
    if (LEVELS[level] < threshold) return;
    let fields = '';
    let rest = args;
    if (args[0] !== null && typeof args[0] === 'object') {
      const obj = args[0] instanceof Error ? { err: args[0] } : (args[0] as Record<string, unknown>);
      rest = args.slice(1);
      if (args[0] instanceof Error && rest.length === 0) rest = [args[0].message];
      const body = JSON.stringify(obj, (k, v: unknown) => (k === 'err' ? errValue(v) : v));
      if (body.length > 2) fields = `,${body.slice(1, -1)}`;
    }
    const msg = rest.length === 0 ? '' : `,"msg":${JSON.stringify(format(...(rest as [unknown, ...unknown[]])))}`;
    write(`{"level":"${level}","time":"${new Date().toISOString()}","pid":${process.pid}${bindings}${fields}${msg}}`);
  };
  const logger = {
    get level() { return name; },
    set level(l: string) { name = l; threshold = l === 'silent' ? Infinity : LEVELS[l as Level] ?? LEVELS.info; },
    isLevelEnabled: (l: string) => (LEVELS[l as Level] ?? Infinity) >= threshold,
    child: (b: Record<string, unknown>, opts?: { level?: string }) => {
      const more = JSON.stringify(b);
      return make(opts?.level ?? name, more.length > 2 ? `${bindings},${more.slice(1, -1)}` : bindings, write);
    },
    flush: () => undefined,
    silent: () => undefined,
    trace: (...a: unknown[]) => emit('trace', a),
    debug: (...a: unknown[]) => emit('debug', a),
    info: (...a: unknown[]) => emit('info', a),
    warn: (...a: unknown[]) => emit('warn', a),
    error: (...a: unknown[]) => emit('error', a),
    fatal: (...a: unknown[]) => emit('fatal', a),
  };
  return logger as unknown as Logger;
}
