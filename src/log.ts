import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { formatLogLine } from './log-pretty.js';

export type { Logger };

/**
 * The root logger. Log lines are JSON with stable field names: `event` names what happened
 * (`ipvs.apply`, `vrrp.transition`, ...), `component` is bound per module with child loggers.
 */
export function createLogger(options: { level?: string; destination?: number | string; pretty?: boolean } = {}): Logger {
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
  return pino(opts, pino.destination({ dest, sync: true }));
}

/** Human lines on a terminal, JSON lines otherwise; LVSD_LOG_FORMAT=json|pretty decides when set. */
function wantsPretty(fd: number): boolean {
  const format = process.env.LVSD_LOG_FORMAT;
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return isatty(fd);
}

/** A logger that drops everything; for library use and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
