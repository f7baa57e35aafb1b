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
  /**
   * What to plan, in order. Read as the planning goes: a live view of the desired table (the full pass's)
   * plans each service as it is desired when its slice is planned, so a health change that lands between
   * two slices is planned, not undone by the old entry until its own pass runs.
   */
  desired: Iterable<DesiredEntry>;
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
  /**
   * Where the additive operations (timeouts, services, new real servers, edits) go as soon as at least
   * `sinkOps` of them are planned, in plan order, instead of into the plan returned: a start of 110,000
   * objects then holds one chunk of operations at a time, not all of them (and their batches and replies)
   * at once. Removals stay in the plan returned (they go last, after every additive operation). The
   * summary and warnings returned are the whole pass's.
   */
  sink?: (ops: PlannedOp[]) => Promise<void>;
  sinkOps?: number;
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
  // the additive phases (0-3) planned and not yet sunk
  let additive = 0;
  const take = (plan: Plan) => {
    for (const op of plan.ops) {
      const p = phase(op);
      byPhase[p]!.push(op);
      if (p < 4) additive++;
    }
    addSummary(summary, plan.summary);
    warnings.push(...plan.warnings);
  };

  const sink = input.sink;
  const sinkOps = input.sinkOps ?? 16_384;
  const drain = async (): Promise<void> => {
    if (sink === undefined || additive === 0) return;
    const ops = [...byPhase[0]!, ...byPhase[1]!, ...byPhase[2]!, ...byPhase[3]!];
    for (let p = 0; p < 4; p++) byPhase[p] = [];
    additive = 0;
    await sink(ops);
  };

  // the timeouts first: with a sink, the first chunk carries them, as a whole plan has them first
  if (input.timeouts) take(planReconcile({ desired: [], kernel: [], owned: new Set(), ownWholeTable: false, timeouts: input.timeouts }));

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
    if (additive >= sinkOps) await drain();
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

  // what is in the kernel and no longer (or never) declared: one small plan
  const gone: PlanKernelEntry[] = [];
  for (const id of input.candidates) {
    if (seen.has(id)) continue;
    const k = input.view.plannable(id);
    if (k) gone.push(k);
  }
  take(planReconcile({ desired: [], kernel: gone, owned: input.owned, ownWholeTable: input.ownWholeTable }));
  return { ops: byPhase.flat(), summary, warnings };
}
