/**
 * Durations as the config writes them: a number of seconds (2, 0.25) or a string with units ("250ms", "2s",
 * "5m", "1h", "1.5s", "1m30s"). Pure; the result is always seconds, fractional allowed.
 */
import { LvsdError } from '../errors.js';

export type DurationResult = { ok: true; seconds: number } | { ok: false; reason: string };

const UNIT_SECONDS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };
/** One `<number><unit>` part; a duration string is one or more of these, units from largest to smallest. */
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/y;
const UNIT_ORDER = ['h', 'm', 's', 'ms'];

/** The pattern the JSON Schema uses for duration strings (it accepts a superset; checkDuration decides). */
export const DURATION_PATTERN = '^\\s*((\\d+(\\.\\d+)?|\\.\\d+)(ms|s|m|h))+\\s*$';

/** Checks a duration and says why it is bad when it is. Never throws. */
export function checkDuration(value: unknown): DurationResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { ok: false, reason: 'must be a finite number of seconds' };
    if (value < 0) return { ok: false, reason: 'must not be negative' };
    return { ok: true, seconds: value };
  }
  if (typeof value !== 'string') {
    return { ok: false, reason: 'must be a number of seconds or a string such as "250ms", "2s", "5m", "1h"' };
  }
  const text = value.trim();
  if (text === '') return { ok: false, reason: 'is empty; write a duration such as "2s"' };
  if (/^-/.test(text)) return { ok: false, reason: `"${value}" is negative` };
  if (/^\d+(\.\d+)?$/.test(text)) {
    return { ok: false, reason: `"${value}" has no unit; write "${text}s" or the number ${text} for seconds` };
  }
  let total = 0;
  let pos = 0;
  let lastUnit = -1;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) {
      const rest = text.slice(pos);
      const unit = /^[\d.]+([a-zA-Zµ]*)/.exec(rest)?.[1];
      if (unit !== undefined && unit !== '' && !(unit in UNIT_SECONDS)) {
        return { ok: false, reason: `"${value}" has an unknown unit "${unit}" (use ms, s, m or h)` };
      }
      return { ok: false, reason: `"${value}" is not a duration (write e.g. "250ms", "2s", "1m30s")` };
    }
    const unit = m[2]!;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastUnit) {
      return { ok: false, reason: `"${value}" repeats or misorders units (write largest first, e.g. "1m30s")` };
    }
    lastUnit = rank;
    total += Number(m[1]) * UNIT_SECONDS[unit]!;
    pos += m[0].length;
  }
  if (!Number.isFinite(total)) return { ok: false, reason: `"${value}" is too long to count` };
  // Avoid float noise such as 0.30000000000000004 from "300ms".
  return { ok: true, seconds: small(Math.round(total * 1e6) / 1e6) };
}

/**
 * A whole number as V8's small integer, not the boxed double a division leaves (10 from "10s" is 10.0):
 * a health check's interval and timeout are fields of an object per real server, and one boxed double
 * makes the field a double for every object of its shape, a 16-byte box each (3 MiB at 100,000).
 */
function small(n: number): number {
  return Number.isInteger(n) && Math.abs(n) <= 0x3fffffff ? n | 0 : n;
}

/** Seconds of a duration; throws LvsdError('LVSD_CONFIG_INVALID') with the reason when it is bad. */
export function parseDuration(value: number | string): number {
  const r = checkDuration(value);
  if (!r.ok) throw new LvsdError('LVSD_CONFIG_INVALID', `bad duration: ${r.reason}`);
  return r.seconds;
}

/** Seconds of an already validated duration, or `fallback` when it is absent (or, defensively, bad). */
export function durationOr(value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const r = checkDuration(value);
  return r.ok ? r.seconds : fallback;
}

/** Text for a duration in seconds, e.g. 90 -> "1m30s", 1.5 -> "1.5s", 0.25 -> "250ms" (for messages). */
export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1e6) / 1e3}ms`;
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of [['h', 3600], ['m', 60]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  rest = Math.round(rest * 1e6) / 1e6;
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join('');
}
