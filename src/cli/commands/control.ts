import type { DrainResult, ReloadResult } from '../../daemon/control-server.js';
import { escapeControl } from '../../escape.js';
import { LvsdError, isErrorCode, isLvsdError } from '../../errors.js';
import { requestDaemon, type ControlErrorDetails } from '../control-client.js';
import { EXIT } from '../exit.js';
import { resolveSocket } from '../socket-path.js';
import { writeErr, writeOut } from '../out.js';

/**
 * The daemon's answer to POST /v1/reload when it is a ReloadResult (a boolean `ok`; `applied` a boolean,
 * `code` and `error` strings, `problems` a list of {file, pointer, message} strings, each where present),
 * else undefined. Pure. A daemon sends nothing else; anything else is not read as a refused config. The
 * native front (native/front/reload.c) holds answers to the same shape.
 */
export function reloadAnswer(json: unknown): ReloadResult | undefined {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const r = json as Record<string, unknown>;
  const absentOr = (value: unknown, type: 'boolean' | 'string') => value === undefined || typeof value === type;
  if (typeof r.ok !== 'boolean' || !absentOr(r.applied, 'boolean') || !absentOr(r.code, 'string') || !absentOr(r.error, 'string')) return undefined;
  if (r.problems !== undefined) {
    if (!Array.isArray(r.problems)) return undefined;
    for (const p of r.problems as unknown[]) {
      if (p === null || typeof p !== 'object' || Array.isArray(p)) return undefined;
      const { file, pointer, message } = p as Record<string, unknown>;
      if (typeof file !== 'string' || typeof pointer !== 'string' || typeof message !== 'string') return undefined;
    }
  }
  return r as unknown as ReloadResult;
}

/**
 * `lvsd reload`: the daemon validates and applies; a refused config is reported with every problem. The
 * native front (native/front) answers `lvsd reload` itself, with these very sentences and
 * exit statuses (test/unit/cli-front.test.ts compares the two).
 */
export async function reload(opts: { socket?: string | undefined; config?: string | undefined }): Promise<number> {
  const socket = await resolveSocket(opts);
  const result = reloadAnswer(await requestDaemon<unknown>(socket, 'POST', '/v1/reload', {}, { timeoutMs: 120_000 }));
  if (!result) {
    throw new LvsdError('LVSD_CONTROL', `lvsd's answer to POST /v1/reload on ${socket} cannot be read: it is not a reload result`,
      { details: { socket } satisfies ControlErrorDetails });
  }
  if (result.ok) {
    writeOut('reloaded\n');
    return EXIT.ok;
  }
  // the daemon's code says why (an older daemon sends none: its refusals were config problems)
  const code = isErrorCode(result.code) ? result.code : result.code === undefined ? 'LVSD_CONFIG_INVALID' : 'LVSD_INTERNAL';
  if (result.applied) {
    throw new LvsdError(code, `reload incomplete: ${result.error ?? 'unknown reason'} (lvsd status shows what is outstanding)`);
  }
  throw new LvsdError(code, `reload refused, the running config stays: ${result.error ?? 'unknown reason'}`,
    { details: result.problems ?? [] });
}

/** `lvsd drain` / `lvsd undrain`. */
export async function drain(
  on: boolean,
  opts: { socket?: string | undefined; config?: string | undefined; service: string; realServer: string },
): Promise<number> {
  const socket = await resolveSocket(opts);
  let result: DrainResult;
  try {
    result = await requestDaemon<DrainResult>(socket, 'POST', on ? '/v1/drain' : '/v1/undrain',
      { service: opts.service, realServer: opts.realServer });
  } catch (e) {
    // The daemon answers 404 for a service or real server it does not know: the operator's mistake, not a
    // daemon failure. Say what the daemon said, with the usage exit status.
    if (isLvsdError(e, 'LVSD_CONTROL') && (e.details as ControlErrorDetails | undefined)?.status === 404) {
      throw new LvsdError('LVSD_USAGE', `${e.message} (see lvsd status for the names)`, { cause: e });
    }
    throw e;
  }
  if (!result.ok) throw new LvsdError('LVSD_USAGE', result.message);
  const verb = on ? 'drained' : 'undrained';
  const what = escapeControl(`${opts.service} ${opts.realServer}`);
  if (result.kernel && !result.kernel.applied) {
    writeErr(`lvsd: ${verb} ${what} is recorded, but the kernel has not taken it yet (${escapeControl(result.kernel.error)}); lvsd retries: see lvsd status\n`);
    return EXIT.failed;
  }
  writeOut(result.changed ? `${verb} ${what}\n` : `${what} was already ${verb}\n`);
  return EXIT.ok;
}

/** `lvsd drain --director` / `lvsd undrain --director` (ecmp): withdraw every address and wait for the routers, or announce again. */
export async function drainDirector(on: boolean, opts: { socket?: string | undefined; config?: string | undefined }): Promise<number> {
  const socket = await resolveSocket(opts);
  const result = await requestDaemon<{ ok: boolean; changed: boolean }>(socket, 'POST', on ? '/v1/drain-director' : '/v1/undrain-director', {},
    { timeoutMs: 120_000 });
  const verb = on ? 'drained: nothing is announced; what still arrives is served' : 'undrained: addresses are announced again as health allows';
  writeOut(result.changed ? `director ${verb}\n` : `the director was already ${on ? 'drained' : 'undrained'}\n`);
  return EXIT.ok;
}
