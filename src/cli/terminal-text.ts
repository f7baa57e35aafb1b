/**
 * Text for a terminal, pure: cells with a tone (ANSI colour only when asked), tables padded to their widest
 * cell, and numbers, rates, durations and latencies as a person reads them. Every cell's text has its
 * control characters escaped (esc).
 */
import { escapeControl as esc } from '../escape.js';

/** How a table is shown: in colour or not, and the terminal's width (the last column is cut to fit). */
export interface TableOptions {
  color: boolean;
  width?: number;
}

// ---- colour -------------------------------------------------------------------------------------------

export type Tone = 'good' | 'warn' | 'bad' | 'dim' | 'head' | 'mark';
const ANSI: Record<Tone, string> = {
  good: '\x1b[32m', warn: '\x1b[33m', bad: '\x1b[1;31m', dim: '\x1b[2m', head: '\x1b[1m', mark: '\x1b[1;35m',
};
const RESET = '\x1b[0m';

export interface Cell { text: string; tone?: Tone }
export const cell = (text: string, tone?: Tone): Cell => (tone ? { text: esc(text), tone } : { text: esc(text) });

export function paint(text: string, tone: Tone | undefined, color: boolean): string {
  return color && tone && text !== '' ? `${ANSI[tone]}${text}${RESET}` : text;
}

// ---- numbers and times --------------------------------------------------------------------------------

function scaled(n: number, units: readonly string[], base: number): string {
  let i = 0;
  let v = n;
  while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; }
  if (i === 0) return `${Math.round(v)}${units[0]}`;
  return `${Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v).toString()}${units[i]}`;
}

/** 999, 1.2k, 34k, 5.6M, 7.8G. */
export function humanCount(n: number): string {
  return scaled(n, ['', 'k', 'M', 'G', 'T', 'P'], 1000);
}

/** "0 B/s", "950 B/s", "3.4 MB/s" (SI units, bytes). */
export function humanByteRate(bytesPerSecond: number): string {
  return `${scaled(bytesPerSecond, [' B', ' kB', ' MB', ' GB', ' TB'], 1000)}/s`;
}

/** "45s", "5m12s", "2h03m", "3d04h". */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => n.toString().padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor((s % 86400) / 3600))}h`;
}

export function ago(iso: string | null, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  return Number.isNaN(t) || Number.isNaN(now) ? '-' : humanDuration((now - t) / 1000);
}

export function latency(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

// ---- tables -------------------------------------------------------------------------------------------

/** Columns padded to their widest cell; the last column is not padded and is cut to `width` if given. */
export function table(header: string[], rows: Cell[][], opts: TableOptions, indent = '  '): string[] {
  const all: Cell[][] = [header.map((h) => cell(h, 'head')), ...rows];
  const cols = header.length;
  const widths = new Array<number>(cols).fill(0);
  for (const row of all) row.forEach((c, i) => { widths[i] = Math.max(widths[i]!, c.text.length); });
  return all.map((row) => {
    let used = indent.length;
    const parts: string[] = [];
    row.forEach((c, i) => {
      const last = i === cols - 1;
      let shown = c.text;
      if (last && opts.width !== undefined && used + shown.length > opts.width) {
        const room = Math.max(1, opts.width - used);
        shown = `${shown.slice(0, room - 1)}…`;
      }
      const pad = last ? 0 : widths[i]! - shown.length;
      used += shown.length + pad + 2;
      // colour only the visible text, so padding stays outside the escape codes
      parts.push(paint(shown, c.tone, opts.color) + ' '.repeat(pad));
    });
    return (indent + parts.join('  ')).trimEnd();
  });
}
