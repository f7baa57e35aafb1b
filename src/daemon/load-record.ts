/**
 * What status says about the last load or reload (LoadResult), the error of a load IPVS did not fully take,
 * and the config's warnings logged once it is in force.
 */
import type { Config } from '../config/types.js';
import { LvsdError, isErrorCode, isLvsdError, type LvsdErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { PassOutcome } from '../reconcile/index.js';
import type { LoadOutcome, LoadResult } from './status.js';

/** The record of one load or reload as status shows it. Pure. */
export function loadRecord(kind: 'load' | 'reload', result: LoadOutcome, error: unknown, at: Date): LoadResult {
  const when = at.toISOString();
  if (result === 'ok' || error === undefined) return { kind, at: when, ok: result === 'ok', result };
  const problems = isLvsdError(error, 'LVSD_CONFIG_INVALID') && Array.isArray(error.details)
    ? (error.details as LoadResult['problems'])
    : undefined;
  const code = (error as { code?: unknown }).code;
  return {
    kind, at: when, ok: false, result,
    ...(isErrorCode(code) ? { code } : {}),
    error: error instanceof Error ? error.message : String(error),
    ...(problems ? { problems } : {}),
  };
}

/** The error a load or reload reports when IPVS did not take all of the config. */
export function ipvsError(outcome: PassOutcome): LvsdError {
  const n = outcome.failures.length;
  const code = (outcome.error?.code as LvsdErrorCode | undefined) ?? 'LVSD_IPVS_KERNEL';
  return new LvsdError(code, outcome.result === 'failed'
    ? `the new config is in force but IPVS could not be reached: ${outcome.error?.message ?? 'unknown error'}; lvsd retries`
    : `the new config is in force but ${n} IPVS operation${n === 1 ? '' : 's'} failed (first: ${outcome.error?.message ?? '?'}); lvsd retries`);
}

/** The config's warnings (config.warning), logged when it comes into force. */
export function logConfigWarnings(log: Logger, config: Config): void {
  for (const w of config.warnings ?? []) {
    log.warn({ event: 'config.warning', file: w.file, pointer: w.pointer, message: w.message }, `${w.file}: ${w.pointer}: ${w.message}`);
  }
}
