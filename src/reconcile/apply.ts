/**
 * Applying a plan to the kernel, and the full reconcile cycle: dump, plan, apply, re-dump to verify.
 *
 * A plan goes out in two pipelined batches: first the timeouts and service-level commands, then everything
 * else. Between the two the applier learns which new services the kernel refused, and does not send their
 * real servers (reported as skipped, with the reason). Every other refusal is collected and the rest of
 * the plan still goes out: one bad real server does not keep the others from being programmed.
 */
import { monotonicMs } from '../monotonic.js';
import { LvsdError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { IpvsClient, IpvsResult, KernelEntry, Timeouts } from '../ipvs/types.js';
import { canonicalServiceId, planReconcile, type DesiredEntry, type Plan, type PlannedOp } from './plan.js';

export interface OpFailure {
  op: PlannedOp;
  /** The kernel's refusal (LvsdError message), or why the op was not sent. */
  reason: string;
  /** LvsdError code when the op was refused ('LVSD_IPVS_KERNEL', ...). */
  code?: string;
  /** errno from the LvsdError's details, when the kernel gave one. */
  errno?: number;
}

export interface PhaseDurations {
  /** Milliseconds; dump/plan/verify only for a full reconcile. */
  dumpMs?: number;
  planMs?: number;
  applyMs: number;
  verifyMs?: number;
}

export interface ApplyReport {
  /** Every op sent was accepted and none was skipped. */
  ok: boolean;
  /** Ops sent to the kernel. */
  sent: number;
  succeeded: number;
  failed: OpFailure[];
  /** Ops not sent because one they depend on failed. */
  skipped: OpFailure[];
  durations: PhaseDurations;
}

export interface ApplyOptions {
  log?: Logger;
  /** Monotonic milliseconds; injectable for tests. Default monotonicMs (monotonic.ts). */
  now?: () => number;
}

function isFirstBatch(op: PlannedOp): boolean {
  return op.target !== 'dest' && op.command.cmd !== 'del-service';
}

function failureOf(op: PlannedOp, result: Extract<IpvsResult, { ok: false }>): OpFailure {
  const error = result.error as Error & { code?: string; details?: unknown };
  const failure: OpFailure = { op, reason: error.message };
  if (error.code !== undefined) failure.code = error.code;
  const details = error.details as { errno?: unknown } | undefined;
  if (details && typeof details.errno === 'number') failure.errno = details.errno;
  return failure;
}

async function send(client: IpvsClient, ops: PlannedOp[]): Promise<IpvsResult[]> {
  if (ops.length === 0) return [];
  const results = await client.execute(ops.map((op) => op.command));
  if (results.length !== ops.length) {
    throw new LvsdError('LVSD_IPVS_PROTOCOL', `the IPVS client returned ${results.length} results for ${ops.length} commands`);
  }
  return results;
}

function logFailure(log: Logger, f: OpFailure, skipped: boolean): void {
  log.warn(
    {
      event: 'ipvs.op_failed',
      op: f.op.command.cmd,
      service: f.op.serviceId,
      dest: f.op.destId,
      reason: f.reason,
      code: f.code,
      errno: f.errno,
      skipped,
    },
    `${skipped ? 'skipped' : 'failed'}: ${f.op.command.cmd} ${f.op.serviceId ?? ''}${f.op.destId ? ` ${f.op.destId}` : ''}: ${f.reason}`,
  );
}

/**
 * Sends the plan's commands in order and reports what the kernel refused; logs one `ipvs.apply` line.
 * Never throws for a refusal; throws when the client itself fails (socket error, ENOBUFS), since then
 * nobody knows what landed: re-read the table and plan again.
 */
export async function applyPlan(client: IpvsClient, plan: Plan, options: ApplyOptions = {}): Promise<ApplyReport> {
  const report = await sendPlan(client, plan, options);
  logApply(options.log ?? silentLogger, plan.ops.length, plan.summary, report);
  return report;
}

/**
 * A plan sent in chunks (sliced.ts's sink): each chunk sent as applyPlan sends a plan, without its log
 * line; `logApplied` then logs the one line of the whole plan, its reports merged.
 */
export async function sendChunk(client: IpvsClient, ops: PlannedOp[], options: ApplyOptions = {}): Promise<ApplyReport> {
  return sendPlan(client, { ops, summary: EMPTY_SUMMARY, warnings: [] }, options);
}

/** The reports of a plan's chunks as one (durations added). */
export function mergeReports(reports: readonly ApplyReport[]): ApplyReport {
  const out: ApplyReport = { ok: true, sent: 0, succeeded: 0, failed: [], skipped: [], durations: { applyMs: 0 } };
  for (const r of reports) {
    out.ok &&= r.ok;
    out.sent += r.sent;
    out.succeeded += r.succeeded;
    for (const f of r.failed) out.failed.push(f);
    for (const f of r.skipped) out.skipped.push(f);
    out.durations.applyMs += r.durations.applyMs;
  }
  return out;
}

/** The one `ipvs.apply` line of a plan sent in chunks: `ops` of them in all, the whole plan's summary, the merged report. */
export function logApplied(log: Logger, ops: number, summary: Plan['summary'], report: ApplyReport): void {
  logApply(log, ops, summary, report);
}

const EMPTY_SUMMARY: Plan['summary'] = {
  timeoutsChanged: false, servicesAdded: 0, servicesChanged: 0, servicesRemoved: 0, servicesUnchanged: 0,
  destsAdded: 0, destsChanged: 0, destsRemoved: 0, destsUnchanged: 0, foreign: [],
};

async function sendPlan(client: IpvsClient, plan: Plan, options: ApplyOptions): Promise<ApplyReport> {
  const log = options.log ?? silentLogger;
  const now = options.now ?? monotonicMs;
  const start = now();
  const failed: OpFailure[] = [];
  const skipped: OpFailure[] = [];
  let succeeded = 0;
  let sent = 0;

  const first = plan.ops.filter(isFirstBatch);
  const rest = plan.ops.filter((op) => !isFirstBatch(op));
  const notCreated = new Map<string, string>(); // serviceId -> why its creation failed

  const firstResults = await send(client, first);
  first.forEach((op, i) => {
    const r = firstResults[i]!;
    sent++;
    if (r.ok) return void succeeded++;
    const f = failureOf(op, r);
    failed.push(f);
    if (op.command.cmd === 'new-service' && op.serviceId) notCreated.set(op.serviceId, f.reason);
  });

  const toSend: PlannedOp[] = [];
  for (const op of rest) {
    const why = op.serviceId !== undefined ? notCreated.get(op.serviceId) : undefined;
    if (why !== undefined) skipped.push({ op, reason: `service ${op.serviceId} was not created: ${why}` });
    else toSend.push(op);
  }
  const restResults = await send(client, toSend);
  toSend.forEach((op, i) => {
    const r = restResults[i]!;
    sent++;
    if (r.ok) succeeded++;
    else failed.push(failureOf(op, r));
  });

  const report: ApplyReport = {
    ok: failed.length === 0 && skipped.length === 0,
    sent,
    succeeded,
    failed,
    skipped,
    durations: { applyMs: now() - start },
  };
  for (const f of failed) logFailure(log, f, false);
  for (const f of skipped) logFailure(log, f, true);
  return report;
}

export interface ReconcileOptions {
  owned: ReadonlySet<string>;
  ownWholeTable: boolean;
  /** Desired timeouts; when given, the kernel's are read and only differing fields are set. */
  timeouts?: Partial<Timeouts>;
  /** Plan only, send nothing. */
  dryRun?: boolean;
  /** The table as the caller read it a moment ago: planned against instead of dumping again. */
  kernel?: readonly KernelEntry[];
  /** Re-read the table after applying and plan again: `converged` says whether nothing is left to do. */
  verify?: boolean;
  log?: Logger;
  now?: () => number;
}

export interface ReconcileResult {
  plan: Plan;
  report: ApplyReport;
  /** With `verify`: what a second plan would still do (empty when the kernel converged). */
  remaining?: Plan;
  converged?: boolean;
}

function hasTimeouts(t: Partial<Timeouts> | undefined): t is Partial<Timeouts> {
  return !!t && !!(t.tcp || t.tcpFin || t.udp);
}

/** dump + plan + apply (+ verify). Logs one `ipvs.apply` line with counts and phase durations. */
export async function reconcile(client: IpvsClient, desired: readonly DesiredEntry[], options: ReconcileOptions): Promise<ReconcileResult> {
  const log = options.log ?? silentLogger;
  const now = options.now ?? monotonicMs;
  const wantTimeouts = hasTimeouts(options.timeouts);

  /** Reads the kernel and plans; `only`: just these services (by canonical id), and timeouts only if asked. */
  const readAndPlan = async (only?: { services: ReadonlySet<string>; timeouts: boolean }): Promise<{ plan: Plan; dumpMs: number; planMs: number }> => {
    const t0 = now();
    const withTimeouts = wantTimeouts && (only?.timeouts ?? true);
    const inScope = (e: DesiredEntry) => !only || only.services.has(canonicalServiceId(e.service.key));
    const [kernel, kernelTimeouts] = await Promise.all([
      only ? (only.services.size > 0 ? client.dump(only.services) : Promise.resolve([]))
        : options.kernel ? Promise.resolve(options.kernel) : client.dump(),
      withTimeouts ? client.getTimeouts() : Promise.resolve(undefined),
    ]);
    const t1 = now();
    const plan = planReconcile({
      desired: only ? desired.filter(inScope) : desired,
      kernel: only ? kernel.filter(inScope) : kernel,
      owned: options.owned,
      ownWholeTable: options.ownWholeTable,
      ...(withTimeouts ? { timeouts: { desired: options.timeouts, ...(kernelTimeouts ? { kernel: kernelTimeouts } : {}) } } : {}),
    });
    return { plan, dumpMs: t1 - t0, planMs: now() - t1 };
  };

  const { plan, dumpMs, planMs } = await readAndPlan();
  const report: ApplyReport = options.dryRun
    ? { ok: true, sent: 0, succeeded: 0, failed: [], skipped: [], durations: { applyMs: 0 } }
    : await sendPlan(client, plan, { log, now });
  report.durations.dumpMs = dumpMs;
  report.durations.planMs = planMs;

  const result: ReconcileResult = { plan, report };
  if (options.verify && !options.dryRun) {
    // Only what the plan touched is read again: the rest matched in the dump a moment ago (drift after
    // that is the next reconcile's business). An empty plan reads nothing; a one-change apply reads one service.
    const touched = new Set<string>();
    for (const op of plan.ops) if (op.serviceId !== undefined) touched.add(op.serviceId);
    const again = await readAndPlan({ services: touched, timeouts: plan.ops.some((op) => op.target === 'timeouts') });
    result.remaining = again.plan;
    report.durations.verifyMs = again.dumpMs + again.planMs;
    result.converged = result.remaining.ops.length === 0;
  }

  if (options.dryRun) log.debug({ event: 'ipvs.plan', ops: plan.ops.length, durations: report.durations }, 'ipvs plan (dry run)');
  else logApply(log, plan.ops.length, plan.summary, report, result.converged);
  return result;
}

/**
 * The one `ipvs.apply` line per apply: counts and phase durations. Info when something was sent or
 * failed; debug for an empty plan, so a quiet drift loop does not fill the log.
 */
function logApply(log: Logger, ops: number, s: Plan['summary'], report: ApplyReport, converged?: boolean): void {
  const quiet = ops === 0 && report.ok;
  log[quiet ? 'debug' : 'info'](
    {
      event: 'ipvs.apply',
      ops,
      sent: report.sent,
      succeeded: report.succeeded,
      failed: report.failed.length,
      skipped: report.skipped.length,
      services: { added: s.servicesAdded, changed: s.servicesChanged, removed: s.servicesRemoved, unchanged: s.servicesUnchanged, foreign: s.foreign.length },
      dests: { added: s.destsAdded, changed: s.destsChanged, removed: s.destsRemoved, unchanged: s.destsUnchanged },
      timeoutsChanged: s.timeoutsChanged,
      ...(converged !== undefined ? { converged } : {}),
      durations: report.durations,
    },
    `ipvs apply: ${ops} ops, ${report.failed.length} failed, ${report.skipped.length} skipped`,
  );
}
