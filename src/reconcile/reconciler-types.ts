/** The reconciler's vocabulary (reconciler.ts): passes, their outcomes, the desired table, status. */
import type { IpvsClient } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import type { DesiredEntry, Timeouts } from '../table/index.js';
import type { BackoffOptions, FailureRecord } from './repair.js';

export type PassKind = 'start' | 'reload' | 'drift' | 'repair' | 'adopted' | 'health' | 'drain';
export type PassResult = 'ok' | 'partial' | 'failed';

export interface PassOutcome {
  result: PassResult;
  ops: number;
  failures: FailureRecord[];
  /** The first failure's code and message, when not ok. */
  error?: { code: string | undefined; message: string };
}

/** What the reconciler reports (src/daemon/metrics.ts provides it). */
export interface ReconcilerEvents {
  reconcile?(durationSeconds: number, errors: number): void;
  /** One pass over the kernel: kind and result. */
  reconcilePass?(kind: PassKind, result: PassResult): void;
  /** Failed kernel operations by command and reason (repair.ts FailureReason). */
  ipvsOpFailed?(op: string, reason: string, count?: number): void;
  ipvsFailuresPending?(count: number): void;
}

/** The table lvsd wants and how to treat the rest of the kernel's. */
export interface DesiredTable {
  entries: readonly DesiredEntry[];
  /** The config's name of each service, by canonical id (for logs and status). */
  names: ReadonlyMap<string, string>;
  /** Remove every kernel service that is not desired, whoever created it. */
  ownWholeTable: boolean;
  /** Desired connection timeouts (absent or 0: leave as is). */
  timeouts?: Partial<Timeouts> | undefined;
}

/**
 * The desired table in force with some services' entries replaced, each under a canonical id the table
 * has (Reconciler.applyChangesNow): `names`, `ownWholeTable` and `timeouts` as in DesiredTable, whole.
 */
export interface DesiredChanges extends Omit<DesiredTable, 'entries'> {
  entries: readonly DesiredEntry[];
}

export interface ReconcilerOptions {
  log: Logger;
  events?: ReconcilerEvents | undefined;
  backoff?: BackoffOptions | undefined;
  /** Where the owned set is kept. */
  stateFile(): string;
  /** The client, created when first needed; undefined when nothing needs one. Throws when IPVS cannot be reached. */
  client(): Promise<IpvsClient | undefined>;
  internalError(where: string, e: unknown): void;
  /** Objects planned in one planReconcile call of a pass (sliced.ts); turns are yielded by time (turn-budget.ts). */
  sliceObjects?: number;
  /** A full pass sends its additive operations a chunk of this many at a time as it plans them (sliced.ts sink; default 16,384). */
  sinkOps?: number;
}

export interface IpvsApplyStatus {
  /** 'ok': nothing outstanding; 'repairing': operations failed and lvsd retries them (full reconciles, backing off). */
  state: 'ok' | 'repairing';
  /** Failed operations outstanding. */
  failedOps: number;
  /** The first of them (at most 20). */
  failures: IpvsFailureStatus[];
  /** null when nothing is outstanding. */
  repair: { since: string; attempts: number; nextAttemptAt: string | null } | null;
  /** The last pass that planned the desired table (start, reload, drift, repair, adopted); null before the first. */
  lastReconcile: { at: string; reason: string; result: 'ok' | 'partial' | 'failed'; ops: number; failed: number; error: string | null } | null;
}

export interface IpvsFailureStatus {
  /** The service's name in the config, else its key; null when a whole pass failed (the table could not be read). */
  service: string | null;
  realServer: string | null;
  /** The command ('set-dest', ...) or the step ('dump', 'apply', 'connect'). */
  op: string;
  /** overrun, refused, skipped, unavailable, protocol or error (the lvsd_ipvs_op_failures_total reason). */
  reason: string;
  code: string | null;
  message: string;
  at: string;
}

export const NOTHING_TO_DO: PassOutcome = { result: 'ok', ops: 0, failures: [] };

/** Refusals leave the kernel as it was; any other failure may have landed. */
export const KNOWN_OUTCOME = new Set(['LVSD_IPVS_KERNEL', 'LVSD_IPVS_ENCODE']);

export function hasTimeouts(t: Partial<Timeouts> | undefined): t is Partial<Timeouts> {
  return !!t && !!(t.tcp || t.tcpFin || t.udp);
}

export function sameTimeouts(a: Partial<Timeouts> | undefined, b: Partial<Timeouts> | undefined): boolean {
  return (a?.tcp ?? 0) === (b?.tcp ?? 0) && (a?.tcpFin ?? 0) === (b?.tcpFin ?? 0) && (a?.udp ?? 0) === (b?.udp ?? 0);
}

/** Whether two desired entries ask for the same kernel state (order of real servers included: cheap and safe). */
export function sameEntry(a: DesiredEntry | undefined, b: DesiredEntry | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const s = a.service;
  const t = b.service;
  if (s.scheduler !== t.scheduler || s.flags !== t.flags || s.timeout !== t.timeout || s.netmask !== t.netmask || s.pe !== t.pe) return false;
  if (a.dests.length !== b.dests.length) return false;
  for (let i = 0; i < a.dests.length; i++) {
    const d = a.dests[i]!;
    const e = b.dests[i]!;
    if (d.address !== e.address || d.port !== e.port || d.weight !== e.weight || d.forwarding !== e.forwarding
      || d.upperThreshold !== e.upperThreshold || d.lowerThreshold !== e.lowerThreshold || d.tunnelType !== e.tunnelType
      || d.tunnelPort !== e.tunnelPort || d.tunnelFlags !== e.tunnelFlags || d.family !== e.family) return false;
  }
  return true;
}

export function firstError(failures: readonly FailureRecord[]): Pick<PassOutcome, 'error'> {
  const f = failures[0];
  return f ? { error: { code: f.code ?? undefined, message: `${f.op}${f.service ?? f.serviceId ? ` ${f.service ?? f.serviceId}` : ''}${f.realServer ? ` ${f.realServer}` : ''}: ${f.message}` } } : {};
}
