/**
 * Which services lvsd applied last, remembered on disk, so that a service dropped from the config is
 * removed from the kernel while services other tools created are left alone.
 *
 * File format: `{ "version": 1, "services": ["tcp/192.0.2.10:80", ...] }`, written atomically
 * (src/atomic-file.ts). A missing or unreadable file reads as the empty set with a warning: the safe
 * direction, since an empty set only means lvsd removes less.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-file.js';
import { silentLogger, type Logger } from '../log.js';
import type { ApplyReport } from './apply.js';
import { canonicalServiceId, type DesiredEntry } from './plan.js';

export const DEFAULT_STATE_FILE = '/var/lib/lvsd/state.json';
const VERSION = 1;

export async function loadOwned(path: string, log: Logger = silentLogger): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    log.warn(
      { event: 'reconcile.state_unreadable', path, reason: code === 'ENOENT' ? 'missing' : String((e as Error).message) },
      code === 'ENOENT'
        ? `state file ${path} does not exist: no service counts as applied by lvsd before`
        : `cannot read state file ${path}: no service counts as applied by lvsd before`,
    );
    return new Set();
  }
  const services = parseState(text);
  if (!services) {
    log.warn(
      { event: 'reconcile.state_unreadable', path, reason: 'corrupt' },
      `state file ${path} is not valid lvsd state: no service counts as applied by lvsd before`,
    );
    return new Set();
  }
  return new Set(services);
}

function parseState(text: string): string[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null) return undefined;
  const services = (doc as { services?: unknown }).services;
  if (!Array.isArray(services) || !services.every((s) => typeof s === 'string')) return undefined;
  return services as string[];
}

/** Writes the set atomically (src/atomic-file.ts), creating the directory. Throws on I/O failure (the caller logs it). */
export async function saveOwned(path: string, owned: Iterable<string>): Promise<void> {
  const body = JSON.stringify({ version: VERSION, services: [...new Set(owned)].sort() }, null, 2) + '\n';
  await writeFileAtomic(path, body);
}

/**
 * What lvsd owns after an apply: every service declared now, plus the services it owned before whose
 * removal the kernel refused (so the next apply tries again). Pure.
 */
export function nextOwned(desired: readonly DesiredEntry[], previous: ReadonlySet<string>, report: Pick<ApplyReport, 'failed'>): Set<string> {
  const out = new Set(desired.map((d) => canonicalServiceId(d.service.key)));
  for (const f of report.failed) {
    if (f.op.command.cmd === 'del-service' && f.op.serviceId !== undefined && previous.has(f.op.serviceId)) {
      out.add(f.op.serviceId);
    }
  }
  return out;
}

/**
 * What lvsd owns after an apply that ended without a report (the client threw: nobody knows what landed):
 * everything it owned before and everything it declares now. Pure.
 */
export function ownedAfterError(desired: readonly DesiredEntry[], previous: ReadonlySet<string>): Set<string> {
  const out = new Set(previous);
  for (const d of desired) out.add(canonicalServiceId(d.service.key));
  return out;
}
