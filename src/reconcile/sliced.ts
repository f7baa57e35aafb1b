/**
 * Planning a large table without holding the event loop: the desired table is planned a chunk of services
 * at a time against the kept view, and a turn of the event loop is yielded whenever a slice has used its
 * time (turn-budget.ts), so health probes and timers run during a 110,000-object pass. The chunks' plans
 * merge into the one plan a single planReconcile call would give (the same ops, in the same phase order).
 */
import type { Plan, PlanKernelEntry, PlannedOp, PlanSummary } from './plan.js';
import { planReconcile } from './plan.js';
import type { KeptView } from './view.js';
import { TurnBudget } from '../turn-budget.js';
import type { DesiredEntry, Timeouts } from '../table/index.js';
import { serviceIdOf } from './service-id.js';

export interface SlicedInput {
  desired: readonly DesiredEntry[];
  view: KeptView;
  /** Kernel services in scope that may have to go (not desired): owned ones, or all with ownWholeTable. */
  candidates: Iterable<string>;
  owned: ReadonlySet<string>;
  ownWholeTable: boolean;
  timeouts?: { desired?: Partial<Timeouts>; kernel?: Timeouts };
  /** Objects (services + real servers, desired and kernel) planned in one planReconcile call. Default 256. */
  sliceObjects?: number;
  /** When to yield a turn of the event loop (default: a new TurnBudget). */
  budget?: TurnBudget;
}

/** The order planReconcile emits: timeouts, services, new dests, dest edits, dest removals, service removals. */
function phase(op: PlannedOp): number {
  switch (op.command.cmd) {
    case 'set-timeouts': return 0;
    case 'new-service':
    case 'set-service': return 1;
    case 'new-dest': return 2;
    case 'set-dest': return 3;
    case 'del-dest': return 4;
    default: return 5;
  }
}

function emptySummary(): PlanSummary {
  return {
    timeoutsChanged: false, servicesAdded: 0, servicesChanged: 0, servicesRemoved: 0, servicesUnchanged: 0,
    destsAdded: 0, destsChanged: 0, destsRemoved: 0, destsUnchanged: 0, foreign: [],
  };
}

function addSummary(into: PlanSummary, s: PlanSummary): void {
  into.timeoutsChanged ||= s.timeoutsChanged;
  into.servicesAdded += s.servicesAdded;
  into.servicesChanged += s.servicesChanged;
  into.servicesRemoved += s.servicesRemoved;
  into.servicesUnchanged += s.servicesUnchanged;
  into.destsAdded += s.destsAdded;
  into.destsChanged += s.destsChanged;
  into.destsRemoved += s.destsRemoved;
  into.destsUnchanged += s.destsUnchanged;
  into.foreign.push(...s.foreign);
}

export async function planSliced(input: SlicedInput): Promise<Plan> {
  const limit = input.sliceObjects ?? 256;
  const budget = input.budget ?? new TurnBudget();
  const summary = emptySummary();
  const warnings: string[] = [];
  const byPhase: PlannedOp[][] = [[], [], [], [], [], []];
  const take = (plan: Plan) => {
    for (const op of plan.ops) byPhase[phase(op)]!.push(op);
    addSummary(summary, plan.summary);
    warnings.push(...plan.warnings);
  };

  const seen = new Set<string>();
  let slice: DesiredEntry[] = [];
  let kernel: PlanKernelEntry[] = [];
  let objects = 0;
  const flush = async () => {
    if (slice.length === 0) return;
    take(planReconcile({ desired: slice, kernel, owned: new Set(), ownWholeTable: false }));
    slice = [];
    kernel = [];
    objects = 0;
    if (budget.spent) await budget.yield();
  };
  for (const e of input.desired) {
    const id = serviceIdOf(e.service.key);
    if (seen.has(id)) {
      warnings.push(`service ${id} declared twice; the first declaration is used`);
      continue;
    }
    seen.add(id);
    slice.push(e);
    const k = input.view.plannable(id);
    if (k) kernel.push(k);
    objects += 1 + e.dests.length + (k?.dests.length ?? 0);
    if (objects >= limit) await flush();
  }
  await flush();

  // what is in the kernel and no longer (or never) declared, and the timeouts: one small plan
  const gone: PlanKernelEntry[] = [];
  for (const id of input.candidates) {
    if (seen.has(id)) continue;
    const k = input.view.plannable(id);
    if (k) gone.push(k);
  }
  take(planReconcile({
    desired: [], kernel: gone, owned: input.owned, ownWholeTable: input.ownWholeTable,
    ...(input.timeouts ? { timeouts: input.timeouts } : {}),
  }));
  return { ops: byPhase.flat(), summary, warnings };
}
