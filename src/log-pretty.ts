/**
 * Human log lines for a terminal: the same pino JSON record, one readable line each.
 *   11:58:14.737 INFO  vrrp.transition  VI_1: backup -> master (master_down)  instance=VI_1 priority=150
 * Pure; the logger uses it only when its output is a TTY (or LVSD_LOG_FORMAT=pretty). Files and journald
 * get the JSON lines, whose field names are the stable contract.
 */
const LEVEL_COLOUR: Record<string, string> = {
  trace: '\x1b[2m', debug: '\x1b[2m', info: '\x1b[32m', warn: '\x1b[33m', error: '\x1b[1;31m', fatal: '\x1b[1;31m',
};
const RESET = '\x1b[0m';
/** Fields every line has, or that the line shows in its own place. */
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'event']);

function value(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

/** One JSON log line (as pino writes it) to one human line with a trailing newline; non-JSON passes through. */
export function formatLogLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : line + '\n';
  }
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : '';
  const level = String(rec.level ?? '');
  const lvl = level.toUpperCase().padEnd(5);
  const event = typeof rec.event === 'string' ? rec.event : '';
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const fields = Object.entries(rec)
    .filter(([k, v]) => !SHOWN.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  const paint = (code: string | undefined, s: string) => (color && code ? `${code}${s}${RESET}` : s);
  const parts = [
    paint('\x1b[2m', time),
    paint(LEVEL_COLOUR[level], lvl),
    event ? paint('\x1b[1m', event) : '',
    msg,
    fields ? paint('\x1b[2m', fields) : '',
  ].filter((p) => p !== '');
  return parts.join('  ') + '\n';
}
