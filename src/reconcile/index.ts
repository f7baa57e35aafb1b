/**
 * Desired state vs the kernel's IPVS table: the reconciler that owns the table (reconciler.ts), the pure
 * planner, applying, what lvsd owns, repair of failures, rendering for humans.
 */
export {
  planReconcile,
  planCommands,
  isEmptyPlan,
  serviceChanges,
  destChanges,
  canonicalServiceId,
  canonicalDestId,
  type DesiredEntry,
  type PlanInput,
  type Plan,
  type PlannedOp,
  type PlanAction,
  type PlanTarget,
  type PlanSummary,
  type FieldChange,
} from './plan.js';
export {
  applyPlan,
  reconcile,
  type ApplyOptions,
  type ApplyReport,
  type OpFailure,
  type PhaseDurations,
  type ReconcileOptions,
  type ReconcileResult,
} from './apply.js';
export { loadOwned, saveOwned, nextOwned, ownedAfterError, DEFAULT_STATE_FILE } from './ownership.js';
export { formatPlan, formatApplyReport, formatSummary } from './format.js';
export { describeService, describeDest, describeTimeouts, describeNetmask, describeServiceFlags } from './describe.js';
export { Reconciler } from './reconciler.js';
export {
  sameEntry,
  firstError,
  type DesiredChanges,
  type DesiredTable,
  type IpvsApplyStatus,
  type IpvsFailureStatus,
  type PassKind,
  type PassOutcome,
  type PassResult,
  type ReconcilerEvents,
  type ReconcilerOptions,
} from './reconciler-types.js';
export {
  DEFAULT_BACKOFF, RepairState, backoffMs, passFailure, reasonOf, recordsOf,
  type BackoffOptions, type FailureReason, type FailureRecord,
} from './repair.js';
export { KeptView } from './view.js';
export { planSliced } from './sliced.js';
