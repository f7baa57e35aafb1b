/**
 * Human renderings of a plan (`lvsd apply --dry-run`) and of an apply report. Pure: strings out.
 *
 *   ~ timeouts tcp 900s -> 120s
 *   + service tcp/192.0.2.10:80 wrr persistent 300s
 *       + dest 10.0.1.11:8080 nat weight 100
 *   ~ service tcp/192.0.2.11:80 scheduler wlc -> wrr
 *       ~ dest 10.0.1.11:8080 weight 100 -> 50
 *       - dest 10.0.1.12:8080 (not declared)
 *   - service udp/192.0.2.53:53 (no longer declared)
 *
 * Lines are grouped by service for reading; the kernel receives them in the plan's order.
 * Every line has its control characters escaped (escapeControl, as `lvsd status` does): scheduler and
 * persistence-engine names, warnings and error messages come from the kernel's replies, and an ESC or a
 * newline there must not drive the terminal or forge a line.
 */
import { escapeControl } from '../escape.js';
import type { ApplyReport, OpFailure } from './apply.js';
import { describeDest, describeService } from './describe.js';
import type { Plan, PlannedOp, PlanSummary } from './plan.js';

const MARK = { add: '+', change: '~', remove: '-' } as const;

function opLine(op: PlannedOp): string {
  const c = op.command;
  const mark = MARK[op.action];
  switch (c.cmd) {
    case 'set-timeouts':
      return `${mark} timeouts ${op.reason}`;
    case 'new-service':
      return `${mark} service ${op.serviceId} ${describeService(c.service)}`;
    case 'set-service':
      return `${mark} service ${op.serviceId} ${op.reason}`;
    case 'del-service':
      return `${mark} service ${op.serviceId} (${op.reason})`;
    case 'new-dest':
      return `${mark} dest ${op.destId} ${describeDest(c.dest)}`;
    case 'set-dest':
      return `${mark} dest ${op.destId} ${op.reason}`;
    case 'del-dest':
      return `${mark} dest ${op.destId} (${op.reason})`;
    default:
      return `${mark} ${c.cmd}`;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function formatSummary(s: PlanSummary): string {
  const services = `services: ${s.servicesAdded} added, ${s.servicesChanged} changed, ${s.servicesRemoved} removed, ${s.servicesUnchanged} unchanged`;
  const dests = `real servers: ${s.destsAdded} added, ${s.destsChanged} changed, ${s.destsRemoved} removed, ${s.destsUnchanged} unchanged`;
  return `${services}; ${dests}${s.timeoutsChanged ? '; timeouts changed' : ''}`;
}

/** The plan as indented lines, one per operation, then a summary. */
export function formatPlan(plan: Plan): string {
  // each line escaped as it is made, and joined once: a cold plan of 110,000 operations is as many lines
  const lines: string[] = [];
  for (const w of plan.warnings) lines.push(escapeControl(`! ${w}`));
  for (const op of plan.ops) if (op.target === 'timeouts') lines.push(escapeControl(opLine(op)));

  // Group by service, in order of first appearance in the plan.
  const groups = new Map<string, { service?: PlannedOp; dests: PlannedOp[] }>();
  for (const op of plan.ops) {
    if (op.serviceId === undefined) continue;
    let g = groups.get(op.serviceId);
    if (!g) groups.set(op.serviceId, (g = { dests: [] }));
    if (op.target === 'service') g.service = op;
    else g.dests.push(op);
  }
  for (const [sid, g] of groups) {
    lines.push(escapeControl(g.service ? opLine(g.service) : `  service ${sid}`));
    for (const d of g.dests) lines.push(escapeControl(`    ${opLine(d)}`));
  }

  if (plan.ops.length === 0) lines.push('nothing to do: the kernel table matches the configuration');
  if (plan.summary.foreign.length > 0) {
    lines.push(escapeControl(`left alone (not declared, not applied by lvsd): ${plan.summary.foreign.join(', ')}`));
  }
  lines.push(escapeControl(`${plural(plan.ops.length, 'operation')}; ${formatSummary(plan.summary)}`));
  return lines.join('\n');
}

function ms(n: number | undefined): string {
  return `${(n ?? 0).toFixed(1)} ms`;
}

function failureLine(f: OpFailure): string {
  const where = f.op.target === 'dest' ? `dest ${f.op.destId} in service ${f.op.serviceId}` : f.op.target === 'service' ? `service ${f.op.serviceId}` : 'timeouts';
  return `${f.op.command.cmd} ${where}: ${f.reason}`;
}

/** "applied 12 of 13 operations in 2.1 ms (dump 0.8 ms, plan 0.1 ms)" and a line per failure. */
export function formatApplyReport(report: ApplyReport): string {
  const d = report.durations;
  const phases = [d.dumpMs !== undefined ? `dump ${ms(d.dumpMs)}` : '', d.planMs !== undefined ? `plan ${ms(d.planMs)}` : '', d.verifyMs !== undefined ? `verify ${ms(d.verifyMs)}` : '']
    .filter((p) => p !== '')
    .join(', ');
  const total = report.sent + report.skipped.length;
  const lines = [`applied ${report.succeeded} of ${plural(total, 'operation')} in ${ms(d.applyMs)}${phases ? ` (${phases})` : ''}`];
  for (const f of report.failed) lines.push(`failed: ${failureLine(f)}`);
  for (const f of report.skipped) lines.push(`skipped: ${failureLine(f)}`);
  return lines.map(escapeControl).join('\n');
}
