/**
 * Kernel operations that failed and are not repaired yet, and when to try again. Pure: the reconciler feeds it
 * the outcome of every apply and performs the retries (a full pass: read, plan, apply) on its timer.
 *
 * A full pass is authoritative (it read the whole table and planned everything): its failures replace the
 * list. A targeted pass (a health change, a drain) only adds to it. The list empties when a full pass
 * applies everything; until then `lvsd status` shows it and retries back off exponentially.
 */
import { isErrorCode } from '../errors.js';
import type { OpFailure } from './apply.js';
import type { PlannedOp } from './plan.js';

/** Why an operation failed, as a metric label: a small fixed set. */
export type FailureReason = 'overrun' | 'refused' | 'skipped' | 'unavailable' | 'protocol' | 'error';

export interface FailureRecord {
  /** Canonical service id ("tcp/192.0.2.10:80"), or null for a pass that failed as a whole. */
  serviceId: string | null;
  /** The service's name in the config, when it is declared. */
  service: string | null;
  realServer: string | null;
  /** The command ('set-dest', ...) or the step that failed ('dump', 'apply', 'connect'). */
  op: string;
  reason: FailureReason;
  code: string | null;
  message: string;
  atMs: number;
}

export function reasonOf(code: string | undefined, skipped = false): FailureReason {
  if (skipped) return 'skipped';
  switch (code) {
    case 'LVSD_NETLINK_OVERRUN': return 'overrun';
    case 'LVSD_IPVS_KERNEL': return 'refused';
    case 'LVSD_IPVS_UNAVAILABLE': return 'unavailable';
    case 'LVSD_IPVS_PROTOCOL': return 'protocol';
    default: return 'error';
  }
}

/** One record per failed or skipped op of a report. `nameOf` maps a service id to its config name. */
export function recordsOf(
  report: { failed: readonly OpFailure[]; skipped: readonly OpFailure[] }, nameOf: (id: string) => string | undefined, atMs: number,
): FailureRecord[] {
  const one = (f: OpFailure, skipped: boolean): FailureRecord => ({
    serviceId: f.op.serviceId ?? null,
    service: (f.op.serviceId !== undefined ? nameOf(f.op.serviceId) : undefined) ?? null,
    realServer: f.op.destId ?? null,
    op: f.op.command.cmd,
    reason: reasonOf(f.code, skipped),
    code: f.code ?? null,
    message: f.reason,
    atMs,
  });
  return [...report.failed.map((f) => one(f, false)), ...report.skipped.map((f) => one(f, true))];
}

/** A failure of a whole step (the client threw: nobody knows which ops landed). */
export function passFailure(step: string, e: unknown, atMs: number, service?: { id: string; name: string }): FailureRecord {
  const code = (e as { code?: unknown })?.code;
  return {
    serviceId: service?.id ?? null,
    service: service?.name ?? null,
    realServer: null,
    op: step,
    reason: reasonOf(typeof code === 'string' ? code : undefined),
    code: isErrorCode(code) ? code : null,
    message: e instanceof Error ? e.message : String(e),
    atMs,
  };
}

/**
 * The client failed while sending `ops`: nobody knows which of them landed, so each is a failure of the
 * step (what the client threw). `nameOf` maps a service id to its config name.
 */
export function sendFailures(ops: readonly PlannedOp[], e: unknown, atMs: number, nameOf: (id: string) => string | undefined): FailureRecord[] {
  return ops.map((op) => ({
    ...passFailure(op.command.cmd, e, atMs),
    serviceId: op.serviceId ?? null, service: (op.serviceId !== undefined ? nameOf(op.serviceId) : undefined) ?? null,
    realServer: op.destId ?? null,
  }));
}

export interface BackoffOptions {
  /** First retry after this many ms. */
  baseMs: number;
  /** Retries never wait longer than this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000 };

/** The wait before retry number `attempt` (0-based): base, 2 base, 4 base, ... up to max. */
export function backoffMs(attempt: number, o: BackoffOptions): number {
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt, 30));
}

/**
 * What is outstanding. The records are keyed by (service, real server, op), so they are bounded by the
 * table lvsd manages, not by how often things fail; status shows the first few (statusOf).
 */
export class RepairState {
  private readonly records = new Map<string, FailureRecord>();
  /** Retries done since the first failure (0 when nothing is outstanding). */
  attempts = 0;
  /** When the oldest outstanding failure happened. */
  sinceMs: number | undefined;
  nextAttemptAtMs: number | undefined;

  get pending(): boolean {
    return this.records.size > 0;
  }

  /** Failed operations outstanding. */
  get count(): number {
    return this.records.size;
  }

  list(limit = Infinity): FailureRecord[] {
    const out: FailureRecord[] = [];
    for (const r of this.records.values()) {
      if (out.length >= limit) break;
      out.push(r);
    }
    return out;
  }

  /** The services (canonical ids) with an outstanding failure. */
  serviceIds(): Set<string> {
    const out = new Set<string>();
    for (const r of this.records.values()) if (r.serviceId !== null) out.add(r.serviceId);
    return out;
  }

  /** Whether a failure outstanding is not about one service (timeouts, a whole pass). */
  get hasGlobal(): boolean {
    for (const r of this.records.values()) if (r.serviceId === null) return true;
    return false;
  }

  /** A targeted pass's failures: added to what is outstanding. */
  add(records: readonly FailureRecord[]): void {
    for (const r of records) {
      this.records.set(`${r.serviceId ?? ''}|${r.realServer ?? ''}|${r.op}`, r);
      this.sinceMs ??= r.atMs;
    }
  }

  /** A full pass's failures: they are all that is outstanding now. Returns true when this repaired what was outstanding. */
  replace(records: readonly FailureRecord[]): boolean {
    const was = this.pending;
    const since = this.sinceMs;
    this.records.clear();
    if (records.length === 0) {
      this.sinceMs = undefined;
      this.attempts = 0;
      this.nextAttemptAtMs = undefined;
      return was;
    }
    this.add(records);
    if (since !== undefined) this.sinceMs = since;
    return false;
  }
}
