/**
 * Health checks: the shape rules the schema cannot express (which keys belong to which check type,
 * timeout within interval, a regex that compiles) and the build of a HealthCheckConfig for one real server
 * with every default filled. Pure.
 */
import { canonicalAddress, familyOf, type Family } from '../net/address.js';
import type { HealthCheckConfig, HealthCheckType, HealthGlobalConfig } from './types.js';
import { durationOr as seconds, formatDuration } from './duration.js';
import { MAX_TIMER_SECONDS, TIMER_WHY, escapeControl, hostAddress, overMax } from './limits.js';
import { pointerJoin, type Problems } from './problems.js';
import type { RawHealthCheck } from './raw.js';
import { PatternError, compilePattern } from '../regex/index.js';

export const HEALTH_DEFAULTS = { interval: 5, timeout: 2, rise: 2, fall: 3 } as const;

const COMMON_KEYS = ['type', 'address', 'port', 'interval', 'timeout', 'rise', 'fall'];
const HTTP_KEYS = ['method', 'path', 'host', 'expectStatus', 'expectBody', 'expectDigest'];
const TYPE_KEYS: Readonly<Record<HealthCheckType, readonly string[]>> = {
  tcp: ['close'],
  http: HTTP_KEYS,
  https: [...HTTP_KEYS, 'serverName', 'verify'],
  dns: ['query', 'queryType', 'expectRcode', 'transport'],
  exec: ['command', 'shell', 'user', 'dynamicWeight'],
  agent: ['send'],
  smtp: ['heloName'],
  udp: ['payload', 'requireReply', 'expectReply', 'minReplyLength', 'maxReplyLength'],
  ping: [],
  none: [],
};
/** Check types that open a connection and so need a port. */
const NEEDS_PORT: ReadonlySet<HealthCheckType> = new Set(['tcp', 'http', 'https', 'dns', 'agent', 'smtp', 'udp']);

function timing(raw: RawHealthCheck): { interval: number; timeout: number } {
  const interval = seconds(raw.interval, HEALTH_DEFAULTS.interval);
  const timeout = seconds(raw.timeout, Math.min(HEALTH_DEFAULTS.timeout, interval));
  return { interval, timeout };
}

/** Reports what is wrong with a declared check, at its own pointer. Call once per declaration. */
export function checkHealthShape(raw: RawHealthCheck, file: string, pointer: string, problems: Problems): void {
  const allowed = new Set([...COMMON_KEYS, ...TYPE_KEYS[raw.type]]);
  for (const key of Object.keys(raw)) {
    if (allowed.has(key)) continue;
    const owners = (Object.keys(TYPE_KEYS) as HealthCheckType[]).filter((t) => TYPE_KEYS[t].includes(key));
    problems.add(file, pointerJoin(pointer, key), `"${key}" applies to ${owners.join('/')} checks, not ${raw.type}`);
  }
  const { interval, timeout } = timing(raw);
  if (raw.interval !== undefined && interval <= 0) problems.add(file, `${pointer}/interval`, 'must be longer than 0s');
  if (raw.timeout !== undefined && timeout <= 0) problems.add(file, `${pointer}/timeout`, 'must be longer than 0s');
  if (raw.timeout !== undefined && timeout > interval) {
    problems.add(file, `${pointer}/timeout`,
      `must not be longer than the interval (${formatDuration(timeout)} > ${formatDuration(interval)})`);
  }
  for (const k of ['interval', 'timeout'] as const) {
    const tooLong = raw[k] !== undefined ? overMax(k === 'interval' ? interval : timeout, MAX_TIMER_SECONDS, TIMER_WHY) : undefined;
    if (tooLong !== undefined) problems.add(file, `${pointer}/${k}`, tooLong);
  }
  if (raw.address !== undefined) {
    const a = hostAddress(raw.address);
    if ('error' in a) problems.add(file, `${pointer}/address`, a.error);
  }
  checkRequestText(raw, file, pointer, problems);
  if (raw.expectBody !== undefined) {
    const why = bodyPatternProblem(raw.expectBody);
    if (why !== undefined) problems.add(file, `${pointer}/expectBody`, why);
  }
  if (raw.expectBody !== undefined && raw.expectDigest !== undefined) {
    problems.add(file, `${pointer}/expectDigest`, 'give expectBody or expectDigest, not both');
  }
  if (raw.type === 'dns' && raw.query === undefined) problems.add(file, pointer, 'a dns check needs "query" (the name to ask for)');
  if (raw.type === 'exec' && raw.command === undefined) problems.add(file, pointer, 'an exec check needs "command" (an argv list)');
  if (raw.requireReply === false && raw.expectReply !== undefined) {
    problems.add(file, `${pointer}/requireReply`, 'is false but expectReply needs a reply: remove one of them');
  }
  if (raw.minReplyLength !== undefined && raw.maxReplyLength !== undefined && raw.minReplyLength > raw.maxReplyLength) {
    problems.add(file, `${pointer}/minReplyLength`, `is more than maxReplyLength (${raw.minReplyLength} > ${raw.maxReplyLength}): every probe would fail`);
  }
}

/** Hex digit pairs with any spacing ('0a 1B', '0a1b') -> canonical lower-case pairs without spaces. */
function hexText(text: string | undefined): string {
  return (text ?? '').replace(/\s+/g, '').toLowerCase();
}

/**
 * The parts of an HTTP request lvsd writes from the config: a CR or LF would end the request line or a
 * header (every probe then fails, or smuggles a header); other control characters and spaces are refused
 * by Node at run time. Refuse them at check, where the operator is.
 */
function checkRequestText(raw: RawHealthCheck, file: string, pointer: string, problems: Problems): void {
  const printable = /^[\x21-\x7e]*$/;
  if (raw.path !== undefined && !printable.test(raw.path)) {
    problems.add(file, `${pointer}/path`,
      `"${escapeControl(raw.path)}" has a space, control or non-ASCII character: percent-encode it (%20, %0D, ...)`);
  }
  for (const k of ['host', 'serverName'] as const) {
    const v = raw[k];
    if (v !== undefined && !printable.test(v)) {
      problems.add(file, `${pointer}/${k}`, `"${escapeControl(v)}" has a space, control or non-ASCII character; write a host name or address (punycode for IDNs)`);
    }
  }
}

/**
 * Why a body pattern cannot be used: it must be a JavaScript regular expression (no flags) and lvsd's
 * linear-time matcher must be able to run it (no backreferences or lookaround; see docs/health.md).
 */
export function bodyPatternProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch (e) {
    return `is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')}`;
  }
  try {
    compilePattern(pattern);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    return `is not a pattern lvsd can match in linear time: ${e.message} (at character ${e.index + 1}; see docs/health.md)`;
  }
  return undefined;
}

/** The probe target: the real server's address and port. */
export interface CheckTarget {
  address: string;
  port: number;
  family: Family;
}

/**
 * buildHealthCheck of a real server that declares no check (nor does its service): type none, every default
 * (the same object, field for field and in the same order). Most real servers of a large table take this.
 */
export function noHealthCheck(target: CheckTarget): HealthCheckConfig {
  const { interval, timeout, rise, fall } = HEALTH_DEFAULTS;
  return { interval, timeout, rise, fall, address: target.address, port: target.port, type: 'none' };
}

/**
 * The effective check for one real server. Reports (at `rsPointer`) a connecting check that has no port
 * to use. The shape must have been checked with checkHealthShape.
 */
export function buildHealthCheck(
  raw: RawHealthCheck | undefined,
  target: CheckTarget,
  global: HealthGlobalConfig,
  report: (message: string) => void,
): HealthCheckConfig {
  const r: RawHealthCheck = raw ?? { type: 'none' };
  const { interval, timeout } = timing(r);
  const address = r.address !== undefined ? canonicalAddress(r.address) ?? r.address : target.address;
  const port = r.port ?? target.port;
  if (NEEDS_PORT.has(r.type) && port === 0) {
    report(`the ${r.type} health check has no port to probe (the real server has port 0); set "port" in healthCheck`);
  }
  if (r.address !== undefined && familyOf(address) === undefined) report(`health check address "${r.address}" is not an IP address`);
  const base = {
    interval,
    timeout,
    rise: r.rise ?? HEALTH_DEFAULTS.rise,
    fall: r.fall ?? HEALTH_DEFAULTS.fall,
    address,
    port,
  };
  // the checks every real server of a large table has are literals, not `{ ...base, type }`: a spread copy
  // with fields added gets a hidden class of its own in V8 (~300 bytes each; src/table/dest.ts)
  const { rise, fall } = base;
  switch (r.type) {
    case 'tcp':
      return r.close === 'reset'
        ? { interval, timeout, rise, fall, address, port, type: 'tcp', close: 'reset' }
        : { interval, timeout, rise, fall, address, port, type: 'tcp' };
    case 'ping':
    case 'none':
      return { interval, timeout, rise, fall, address, port, type: r.type };
    case 'smtp':
      return { ...base, type: 'smtp', ...(r.heloName !== undefined && { heloName: r.heloName }) };
    case 'udp':
      return {
        ...base,
        type: 'udp',
        payload: hexText(r.payload),
        requireReply: r.requireReply ?? r.expectReply !== undefined,
        ...(r.expectReply !== undefined && { expectReply: hexText(r.expectReply) }),
        minReplyLength: r.minReplyLength ?? 0,
        maxReplyLength: r.maxReplyLength ?? 65535,
      };
    case 'http':
    case 'https':
      return {
        ...base,
        type: r.type,
        method: r.method ?? 'GET',
        path: r.path ?? '/',
        ...(r.host !== undefined && { host: r.host }),
        expectStatus: r.expectStatus ?? [200],
        ...(r.expectBody !== undefined && { expectBody: r.expectBody }),
        ...(r.expectDigest !== undefined && { expectDigest: r.expectDigest.toLowerCase() }),
        ...(r.serverName !== undefined && { serverName: r.serverName }),
        verify: r.verify ?? false,
      };
    case 'dns':
      return {
        ...base,
        type: 'dns',
        query: r.query ?? '',
        queryType: r.queryType ?? 'A',
        expectRcode: r.expectRcode ?? [0],
        transport: r.transport ?? 'udp',
      };
    case 'exec':
      return {
        ...base,
        type: 'exec',
        command: r.command ?? [],
        shell: r.shell ?? false,
        user: r.user ?? global.execUser,
        dynamicWeight: r.dynamicWeight ?? false,
      };
    case 'agent':
      return { ...base, type: 'agent', ...(r.send !== undefined && { send: r.send }) };
  }
}
