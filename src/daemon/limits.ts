/**
 * The descriptor limit the daemon runs with, for the start-up log. Node raises the soft RLIMIT_NOFILE to
 * the hard limit when it starts (node.cc, PlatformInit), so lvsd need not: it reports what it got, and
 * warns when that is low for a daemon that opens a descriptor per probe in flight.
 */
import { readFileSync } from 'node:fs';

export interface NoFileLimit {
  soft: number | 'unlimited';
  hard: number | 'unlimited';
}

/** Below this many descriptors lvsd warns (maxConcurrent probes, the sockets, the addon, some slack). */
export const LOW_NOFILE = 1024;

/** "Max open files  1024  4096  files" from /proc/<pid>/limits. Pure. */
export function parseNoFile(text: string): NoFileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  if (!m) return undefined;
  const v = (s: string) => (s === 'unlimited' ? 'unlimited' as const : Number(s));
  return { soft: v(m[1]!), hard: v(m[2]!) };
}

export function noFileLimit(): NoFileLimit | undefined {
  try {
    return parseNoFile(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}
