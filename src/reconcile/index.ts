/** Desired state vs the kernel's IPVS table: plan, apply, remember what lvsd owns, render for humans. */
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
