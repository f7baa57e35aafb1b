/**
 * Which services lvsd applied last, remembered on disk, so that a service dropped from the config is
 * removed from the kernel while services other tools created are left alone.
 *
 * File format: `{ "version": 1, "services": ["tcp/192.0.2.10:80", ...] }`, written atomically
 * (src/atomic-file.ts). A missing or unreadable file reads as the empty set with a warning: the safe
 * direction, since an empty set only means lvsd removes less. OwnedSet keeps the set while lvsd runs.
 */
import { readText } from '../fs-async.js';
import { writeFileAtomic } from '../atomic-file.js';
import { silentLogger, type Logger } from '../log.js';
import type { ApplyReport } from './apply.js';
import { canonicalServiceId, type DesiredEntry } from './plan.js';
import type { TurnBudget } from '../turn-budget.js';

export const DEFAULT_STATE_FILE = '/var/lib/lvsd/state.json';
const VERSION = 1;

export async function loadOwned(path: string, log: Logger = silentLogger): Promise<Set<string>> {
  let text: string;
  try {
    text = await readText(path);
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

/** The owned set as the reconciler keeps it: settled after every table pass, written when it changed. */
export class OwnedSet {
  /** Service ids lvsd applied (the state file). */
  ids = new Set<string>();
  /** The set as last written to the state file (undefined: not written by this process, or since changed). */
  private saved: ReadonlySet<string> | undefined;
  /**
   * The set the last settle made, while the desired table has kept its ids since (only changes, which
   * keep them, were applied): settle() knows then without a look at each id whether it would change.
   */
  private settled: ReadonlySet<string> | undefined;

  constructor(private readonly stateFile: () => string, private readonly log: Logger) {}

  /** The desired table's ids may have changed: the next settle looks at each. */
  idsChanged(): void {
    this.settled = undefined;
  }

  /**
   * After a table pass: lvsd owns what it declares now (`desired`, by id) plus what it owned that the
   * kernel (as far as the view knows) still holds; the state file is written when that set differs from
   * the one last written. At 10,000 services building, comparing and writing the set held the event loop
   * ~15 ms natively (seconds under TCG) at the end of every drift pass, though it almost never changes: the
   * set is built a slice per turn and written only when it changed (always once per process).
   */
  async settle(desired: ReadonlyMap<string, unknown>, view: { has(id: string): boolean }, budget: TurnBudget): Promise<void> {
    // nothing can have changed: the owned set was settled and written, the desired ids are the same since,
    // and it holds them alone (so none owned beyond them that the kernel may have lost)
    const settled = this.settled;
    if (settled !== undefined && this.ids === settled && this.saved === settled && settled.size === desired.size) return;
    this.settled = undefined;
    const out = new Set<string>();
    for (const id of desired.keys()) {
      out.add(id);
      if (budget.spent) await budget.yield();
    }
    for (const id of this.ids) {
      if (view.has(id)) out.add(id);
      if (budget.spent) await budget.yield();
    }
    this.ids = out;
    const saved = this.saved;
    let same = saved !== undefined && saved.size === out.size;
    if (same) {
      for (const id of out) {
        if (!saved!.has(id)) {
          same = false;
          break;
        }
        if (budget.spent) await budget.yield();
      }
    }
    if (same) {
      this.saved = this.settled = out; // the same ids as written
      return;
    }
    this.saved = undefined;
    try {
      await saveOwned(this.stateFile(), out);
      this.saved = out;
      this.settled = out;
    } catch (e) {
      this.log.error({ event: 'state.save_failed', file: this.stateFile(), err: (e as Error).message }, 'cannot save the state file');
    }
  }

  /** A pass that ended without a report: own everything declared (and owned before) so a later pass can clean up (ownedAfterError). */
  async afterError(desired: readonly DesiredEntry[]): Promise<void> {
    this.ids = ownedAfterError(desired, this.ids);
    this.saved = undefined;
    await saveOwned(this.stateFile(), this.ids).catch(() => undefined);
  }
}
