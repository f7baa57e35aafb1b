/**
 * The reconciler's brain: desired state against the kernel's table gives the shortest ordered list of
 * IPVS commands that makes the kernel match, each with a reason a human can read. Pure: no I/O, no clock.
 *
 * Rules
 * - A service is identified by serviceId(key), a real server within its service by (address, port).
 * - An attribute change is an edit (set-service / set-dest), never delete + add, which would drop
 *   the connections the kernel tracks for the object.
 * - lvsd touches only services it declares now, or declared in the config it last applied (`owned`);
 *   any other kernel service belongs to another tool and is left alone, unless `ownWholeTable`.
 *   Inside a declared service lvsd owns every real server.
 * - Nothing is ever flushed.
 *
 * Order (additive first, subtractive last, so a half-applied plan errs on the side of more capacity):
 *   1. timeouts
 *   2. new services and service edits (all of them, so the applier learns which creations failed
 *      before it sends the real servers that depend on them)
 *   3. new real servers
 *   4. real server edits (weights before deletions: a drain to 0 lands before a removal elsewhere)
 *   5. real server removals (a service is given its new real servers before losing old ones)
 *   6. service removals
 */
import type { IpvsCommand } from '../ipvs/types.js';
import {
  SVC_F_HASHED,
  canonicalDestId,
  canonicalServiceId,
  type DesiredEntry,
  type DestSpec,
  type KernelService,
  type ServiceSpec,
  type Timeouts,
} from '../table/index.js';
import { describeNetmask, describeServiceFlags, describeTunnelFlags } from './describe.js';
import { serviceIdOf } from './service-id.js';

export type { DesiredEntry };
export { canonicalDestId, canonicalServiceId };

/**
 * A service of the kernel's table as the planner reads it: its real servers' counters and stats never
 * count, so they may be plain DestSpecs (the kept view hands out the objects it holds, no copy per plan).
 * A KernelEntry is one.
 */
export interface PlanKernelEntry {
  service: KernelService;
  dests: readonly DestSpec[];
}

export interface PlanInput {
  desired: readonly DesiredEntry[];
  kernel: readonly PlanKernelEntry[];
  /** serviceIds lvsd applied last time (from the state file). */
  owned: ReadonlySet<string>;
  /** Remove every kernel service that is not desired, whoever created it. */
  ownWholeTable: boolean;
  /** Desired timeouts (absent or 0 fields: leave as is) and the kernel's current ones, if read. */
  timeouts?: { desired?: Partial<Timeouts>; kernel?: Timeouts };
}

/** One attribute that differs: `weight 100 -> 50`. */
export interface FieldChange {
  field: string;
  from: string;
  to: string;
}

export type PlanAction = 'add' | 'change' | 'remove';
export type PlanTarget = 'timeouts' | 'service' | 'dest';

export interface PlannedOp {
  command: IpvsCommand;
  action: PlanAction;
  target: PlanTarget;
  /** The service concerned (absent for timeouts). */
  serviceId?: string;
  /** The real server concerned (dest ops only). */
  destId?: string;
  /** For `change`: every attribute that differs, kernel value -> desired value (add and remove: empty, shared, frozen). */
  changes: readonly FieldChange[];
  /** One line for humans: "weight 100 -> 50", "declared", "no longer declared". */
  reason: string;
}

export interface PlanSummary {
  timeoutsChanged: boolean;
  servicesAdded: number;
  servicesChanged: number;
  servicesRemoved: number;
  servicesUnchanged: number;
  destsAdded: number;
  destsChanged: number;
  destsRemoved: number;
  destsUnchanged: number;
  /** Kernel services left alone because lvsd neither declares nor owns them. */
  foreign: string[];
}

export interface Plan {
  ops: PlannedOp[];
  summary: PlanSummary;
  /** Problems in the input that the planner worked around (duplicate declarations). */
  warnings: string[];
}

export function planCommands(plan: Plan): IpvsCommand[] {
  return plan.ops.map((op) => op.command);
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.ops.length === 0;
}

export function serviceChanges(desired: ServiceSpec, kernel: ServiceSpec): FieldChange[] {
  const out: FieldChange[] = [];
  if (desired.scheduler !== kernel.scheduler) out.push({ field: 'scheduler', from: kernel.scheduler, to: desired.scheduler });
  // HASHED is kernel-internal (set in every dump, never sent): never a difference, even if a decoder keeps it.
  const dFlags = (desired.flags & ~SVC_F_HASHED) >>> 0;
  const kFlags = (kernel.flags & ~SVC_F_HASHED) >>> 0;
  if (dFlags !== kFlags) {
    out.push({ field: 'flags', from: describeServiceFlags(kFlags, kernel.scheduler), to: describeServiceFlags(dFlags, desired.scheduler) });
  }
  if (desired.timeout !== kernel.timeout) out.push({ field: 'timeout', from: `${kernel.timeout}s`, to: `${desired.timeout}s` });
  if ((desired.netmask >>> 0) !== (kernel.netmask >>> 0)) {
    const family = desired.key.family;
    out.push({ field: 'netmask', from: describeNetmask(family, kernel.netmask), to: describeNetmask(family, desired.netmask) });
  }
  if (desired.pe !== kernel.pe) out.push({ field: 'pe', from: kernel.pe || 'none', to: desired.pe || 'none' });
  return out;
}

/**
 * What differs between a declared real server and the kernel's. Counters and stats never count. A kernel
 * that reports `local` for a real server whose address is on the director (older kernels rewrite the
 * forwarding method so) matches any declared method, else the plan would never converge. Tunnel
 * parameters only matter for tunnel forwarding.
 */
export function destChanges(desired: DestSpec, kernel: DestSpec): FieldChange[] {
  const out: FieldChange[] = [];
  if (desired.forwarding !== kernel.forwarding && kernel.forwarding !== 'local') {
    out.push({ field: 'forwarding', from: kernel.forwarding, to: desired.forwarding });
  }
  if (desired.weight !== kernel.weight) out.push({ field: 'weight', from: `${kernel.weight}`, to: `${desired.weight}` });
  if (desired.upperThreshold !== kernel.upperThreshold) {
    out.push({ field: 'upper', from: `${kernel.upperThreshold}`, to: `${desired.upperThreshold}` });
  }
  if (desired.lowerThreshold !== kernel.lowerThreshold) {
    out.push({ field: 'lower', from: `${kernel.lowerThreshold}`, to: `${desired.lowerThreshold}` });
  }
  if (desired.forwarding === 'tunnel') {
    if (desired.tunnelType !== kernel.tunnelType) out.push({ field: 'tunnel', from: kernel.tunnelType, to: desired.tunnelType });
    if (desired.tunnelType !== 'ipip') {
      if (desired.tunnelPort !== kernel.tunnelPort) {
        out.push({ field: 'tunnel-port', from: `${kernel.tunnelPort}`, to: `${desired.tunnelPort}` });
      }
      if (desired.tunnelFlags !== kernel.tunnelFlags) {
        out.push({ field: 'tunnel-flags', from: describeTunnelFlags(kernel.tunnelFlags), to: describeTunnelFlags(desired.tunnelFlags) });
      }
    }
  }
  return out;
}

function reasonOf(changes: FieldChange[]): string {
  return changes.map((c) => `${c.field} ${c.from} -> ${c.to}`).join(', ');
}

function timeoutOps(input: PlanInput['timeouts']): PlannedOp[] {
  const desired = input?.desired;
  if (!desired) return [];
  const kernel = input?.kernel;
  const send: Timeouts = { tcp: 0, tcpFin: 0, udp: 0 };
  const changes: FieldChange[] = [];
  for (const field of ['tcp', 'tcpFin', 'udp'] as const) {
    const want = desired[field];
    if (!want) continue; // absent or 0: leave as the kernel has it
    if (kernel && kernel[field] === want) continue;
    send[field] = want;
    changes.push({ field: field === 'tcpFin' ? 'tcpfin' : field, from: kernel ? `${kernel[field]}s` : '?', to: `${want}s` });
  }
  if (changes.length === 0) return [];
  return [{ command: { cmd: 'set-timeouts', timeouts: send }, action: 'change', target: 'timeouts', changes, reason: reasonOf(changes) }];
}

/** A service's declared real servers, the first of each id kept: ids and specs side by side, and the ids as a set. */
interface DedupedDests {
  ids: string[];
  specs: DestSpec[];
  has: Set<string>;
}

function dedupeDests(sid: string, dests: readonly DestSpec[], warnings: string[]): DedupedDests {
  const out: DedupedDests = { ids: [], specs: [], has: new Set() };
  for (const d of dests) {
    const id = canonicalDestId(d);
    if (out.has.has(id)) {
      warnings.push(`service ${sid}: real server ${id} declared twice; the first declaration is used`);
      continue;
    }
    out.has.add(id);
    out.ids.push(id);
    out.specs.push(d);
  }
  return out;
}

/** The `changes` of an op that has none (add, remove): one shared empty list, not one per real server. */
const NO_CHANGES: readonly FieldChange[] = Object.freeze([]);

/**
 * Whether the kernel has exactly the wanted real servers in the same order (same address text and port at
 * each place): what a service the reconciler programmed looks like when a health change or a reload
 * replans it. The kernel's real servers are distinct, so the wanted ones are too (no duplicate to warn of).
 */
function aligned(want: readonly DestSpec[], have: readonly DestSpec[]): boolean {
  if (want.length !== have.length) return false;
  for (let i = 0; i < want.length; i++) if (want[i]!.address !== have[i]!.address || want[i]!.port !== have[i]!.port) return false;
  return true;
}

/** A declared service the kernel holds: a set-service when its attributes differ, counted either way. */
function planServiceEdit(sid: string, want: DesiredEntry, have: PlanKernelEntry, services: PlannedOp[], summary: PlanSummary): void {
  const sChanges = serviceChanges(want.service, have.service);
  if (sChanges.length > 0) {
    services.push({ command: { cmd: 'set-service', service: want.service }, action: 'change', target: 'service', serviceId: sid, changes: sChanges, reason: reasonOf(sChanges) });
    summary.servicesChanged++;
  } else {
    summary.servicesUnchanged++;
  }
}

/**
 * The plan of an aligned service: what the general path gives (the same ops in the same order: only
 * edits), without a map of id strings per side. At 100,000 real servers rising at start those maps were
 * most of the ~2 GB the planner allocated in 45 s (bench/_memory.ts).
 */
function planAligned(sid: string, want: DesiredEntry, have: PlanKernelEntry, services: PlannedOp[], setDests: PlannedOp[], summary: PlanSummary): void {
  planServiceEdit(sid, want, have, services, summary);
  const key = want.service.key;
  for (let i = 0; i < want.dests.length; i++) {
    const d = want.dests[i]!;
    const dChanges = destChanges(d, have.dests[i]!);
    if (dChanges.length === 0) {
      summary.destsUnchanged++;
      continue;
    }
    setDests.push({ command: { cmd: 'set-dest', service: key, dest: d }, action: 'change', target: 'dest', serviceId: sid, destId: canonicalDestId(d), changes: dChanges, reason: reasonOf(dChanges) });
    summary.destsChanged++;
  }
}

export function planReconcile(input: PlanInput): Plan {
  const warnings: string[] = [];
  const summary: PlanSummary = {
    timeoutsChanged: false,
    servicesAdded: 0, servicesChanged: 0, servicesRemoved: 0, servicesUnchanged: 0,
    destsAdded: 0, destsChanged: 0, destsRemoved: 0, destsUnchanged: 0,
    foreign: [],
  };

  const kernelById = new Map<string, PlanKernelEntry>();
  for (const entry of input.kernel) {
    const id = serviceIdOf(entry.service.key);
    if (!kernelById.has(id)) kernelById.set(id, entry);
  }

  const desiredById = new Map<string, DesiredEntry>();
  for (const entry of input.desired) {
    const id = serviceIdOf(entry.service.key);
    if (desiredById.has(id)) warnings.push(`service ${id} declared twice; the first declaration is used`);
    else desiredById.set(id, entry);
  }

  const timeouts = timeoutOps(input.timeouts);
  summary.timeoutsChanged = timeouts.length > 0;
  const services: PlannedOp[] = [];
  const newDests: PlannedOp[] = [];
  const setDests: PlannedOp[] = [];
  const delDests: PlannedOp[] = [];
  const delServices: PlannedOp[] = [];

  for (const [sid, want] of desiredById) {
    const have = kernelById.get(sid);
    const key = want.service.key;
    if (have && aligned(want.dests, have.dests)) {
      planAligned(sid, want, have, services, setDests, summary);
      continue;
    }
    const dests = dedupeDests(sid, want.dests, warnings);
    if (!have) {
      services.push({ command: { cmd: 'new-service', service: want.service }, action: 'add', target: 'service', serviceId: sid, changes: NO_CHANGES, reason: 'declared' });
      summary.servicesAdded++;
      for (let i = 0; i < dests.ids.length; i++) {
        newDests.push({ command: { cmd: 'new-dest', service: key, dest: dests.specs[i]! }, action: 'add', target: 'dest', serviceId: sid, destId: dests.ids[i]!, changes: NO_CHANGES, reason: 'declared' });
      }
      summary.destsAdded += dests.ids.length;
      continue;
    }
    planServiceEdit(sid, want, have, services, summary);
    const kernelDests = new Map<string, DestSpec>();
    for (const d of have.dests) {
      const did = canonicalDestId(d);
      if (!kernelDests.has(did)) kernelDests.set(did, d);
    }
    for (let i = 0; i < dests.ids.length; i++) {
      const did = dests.ids[i]!;
      const d = dests.specs[i]!;
      const k = kernelDests.get(did);
      if (!k) {
        newDests.push({ command: { cmd: 'new-dest', service: key, dest: d }, action: 'add', target: 'dest', serviceId: sid, destId: did, changes: NO_CHANGES, reason: 'declared' });
        summary.destsAdded++;
        continue;
      }
      const dChanges = destChanges(d, k);
      if (dChanges.length === 0) {
        summary.destsUnchanged++;
        continue;
      }
      setDests.push({ command: { cmd: 'set-dest', service: key, dest: d }, action: 'change', target: 'dest', serviceId: sid, destId: did, changes: dChanges, reason: reasonOf(dChanges) });
      summary.destsChanged++;
    }
    const gone = [...kernelDests].filter(([did]) => !dests.has.has(did)).sort(([a], [b]) => compare(a, b));
    for (const [did, k] of gone) {
      delDests.push({
        command: { cmd: 'del-dest', service: have.service.key, dest: { family: k.family, address: k.address, port: k.port } },
        action: 'remove', target: 'dest', serviceId: sid, destId: did, changes: NO_CHANGES, reason: 'not declared',
      });
      summary.destsRemoved++;
    }
  }

  const undeclared = [...kernelById].filter(([sid]) => !desiredById.has(sid)).sort(([a], [b]) => compare(a, b));
  for (const [sid, entry] of undeclared) {
    const owned = input.owned.has(sid);
    if (!owned && !input.ownWholeTable) {
      summary.foreign.push(sid);
      continue;
    }
    delServices.push({
      command: { cmd: 'del-service', key: entry.service.key },
      action: 'remove', target: 'service', serviceId: sid, changes: NO_CHANGES,
      reason: owned ? 'no longer declared' : 'not declared (lvsd owns the whole table)',
    });
    summary.servicesRemoved++;
  }

  return { ops: [...timeouts, ...services, ...newDests, ...setDests, ...delDests, ...delServices], summary, warnings };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
