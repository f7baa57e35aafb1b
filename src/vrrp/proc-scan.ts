/**
 * A scan of /proc for tracked processes: every process's comm, and the argv of those whose comm could
 * match a tracked name (only they need it). One scan serves every tracker that asks within `maxAgeMs`.
 * Measured with ~500 processes: docs/vrrp.md "Tracking".
 */
import { readdir, readFile } from 'node:fs/promises';
import type { ProcessInfo } from './track.js';

export interface ScanResult {
  at: number;
  /** Processes whose comm is one of the wanted prefixes, with their argv. */
  processes: ProcessInfo[];
}

async function readComm(pid: string): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).replace(/\n$/, '');
  } catch {
    return undefined; // gone between readdir and read
  }
}

async function readArgv(pid: string): Promise<string[]> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (raw === '') return [];
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return [];
  }
}

/** Processes whose comm equals one of `names` cut to 15 characters (the kernel's comm length), with argv. */
export async function scanProcesses(names: ReadonlySet<string>): Promise<ProcessInfo[]> {
  const prefixes = new Set([...names].map((n) => n.slice(0, 15)));
  const bases = new Set([...names].map((n) => n.slice(n.lastIndexOf('/') + 1).slice(0, 15)));
  const pids = (await readdir('/proc')).filter((e) => e.charCodeAt(0) >= 48 && e.charCodeAt(0) <= 57);
  const found: ProcessInfo[] = [];
  await Promise.all(pids.map(async (pid) => {
    const comm = await readComm(pid);
    if (comm === undefined || (!prefixes.has(comm) && !bases.has(comm))) return;
    found.push({ comm, argv: await readArgv(pid) });
  }));
  return found;
}

let last: { key: string; at: number; result: Promise<ProcessInfo[]> } | undefined;

/** scanProcesses, shared: a scan for the same names started less than `maxAgeMs` ago is reused. */
export function sharedScan(names: ReadonlySet<string>, now: number, maxAgeMs = 200): Promise<ProcessInfo[]> {
  const key = [...names].sort().join('\0');
  if (last && last.key === key && now - last.at < maxAgeMs) return last.result;
  const result = scanProcesses(names);
  last = { key, at: now, result };
  return result;
}
