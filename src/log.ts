import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The root logger. Log lines are JSON with stable field names: `event` names what happened
 * (`ipvs.apply`, `vrrp.transition`, ...), `component` is bound per module with child loggers.
 */
export function createLogger(options: { level?: string; destination?: number | string } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? process.env.LVSD_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return pino(opts, pino.destination({ dest: options.destination ?? 1, sync: true }));
}

/** A logger that drops everything; for library use and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
