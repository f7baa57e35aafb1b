/**
 * `lvsd status` as text: a status snapshot rendered for a person at a terminal, readable at a glance.
 * Pure: no I/O, no clock (relative times are measured from the snapshot's generatedAt). Colour (ANSI)
 * only when asked; the CLI passes process.stdout.isTTY. Every text that came from the config, a peer or the
 * kernel is printed with its control characters escaped (esc), so a name cannot forge a line or drive the
 * terminal. Cells, tables and human numbers are terminal-text.ts's.
 */
// the leaf, not the config module's index: status never loads the config loader (issue #11, fast start)
import { escapeControl as esc } from '../escape.js';
import { LvsdError } from '../errors.js';
import { destId, serviceId, type KernelEntry } from '../table/index.js';
import type {
  RealServerStatus, ServiceStatus, StatusSnapshot, StatsStatus, VrrpInstanceStatus,
} from '../daemon/status.js';
import { serviceFlagNames, statsToStatus } from '../daemon/status.js';
import { ago, cell, humanByteRate, humanCount, humanDuration, latency, paint, table, type Cell, type Tone } from './terminal-text.js';

export interface RenderOptions {
  color: boolean;
  /** Terminal width: the last column of a table is cut to fit. */
  width?: number;
  /** Show only this service (by name or key); the VRRP table is left out unless `instance` is also given. */
  service?: string;
  /** Show only this VRRP instance; services are left out unless `service` is also given. */
  instance?: string;
}

// ---- sections -----------------------------------------------------------------------------------------

function header(s: StatusSnapshot, now: number, opts: RenderOptions): string[] {
  const c = opts.color;
  const lines = [
    `${paint('lvsd', 'head', c)} ${esc(s.version)} on ${paint(esc(s.node), 'head', c)}  up ${humanDuration(s.uptimeSeconds)}` +
      `  pid ${s.pid}  config ${esc(s.configPath)}`,
  ];
  const l = s.lastLoad;
  if (!l) {
    lines.push(`last ${'load'}: ${paint('none yet', 'warn', c)}`);
  } else if (l.ok) {
    lines.push(`last ${esc(l.kind)}: ${paint('ok', 'good', c)} ${ago(l.at, now)} ago (${esc(l.at)})`);
  } else {
    // partial: the config is in force but IPVS did not take all of it; refused/failed: the old one stays
    const word = l.result === 'partial' ? 'INCOMPLETE' : l.result === 'failed' ? 'FAILED' : 'REFUSED';
    lines.push(`last ${esc(l.kind)}: ${paint(word, 'bad', c)} ${ago(l.at, now)} ago (${esc(l.at)}): ${esc(l.error ?? 'no reason given')}`);
    if (l.result === 'partial') lines.push('  this config is in force; lvsd retries what the kernel did not take (see IPVS below)');
    else if (l.kind === 'reload') lines.push('  the previous config is still in force');
    for (const p of l.problems ?? []) {
      lines.push(`  ${esc(`${p.file}${p.pointer === '' ? '' : ` ${p.pointer}`}: ${p.message}`)}`);
    }
  }
  return lines;
}

/** Nothing when the kernel took everything; else what is outstanding and when lvsd tries again. */
function ipvsLines(s: StatusSnapshot, now: number, opts: RenderOptions): string[] {
  const i = s.ipvs;
  if (!i || i.state === 'ok') return [];
  const c = opts.color;
  const next = i.repair?.nextAttemptAt ? `, next try in ${humanDuration(Math.max(0, Math.round((Date.parse(i.repair.nextAttemptAt) - now) / 1000)))}` : '';
  const lines = [
    `IPVS: ${paint('REPAIRING', 'bad', c)} ${i.failedOps} operation${i.failedOps === 1 ? '' : 's'} failed` +
      `${i.repair ? ` since ${ago(i.repair.since, now)} ago, ${i.repair.attempts} retr${i.repair.attempts === 1 ? 'y' : 'ies'}${next}` : ''}`,
  ];
  for (const f of i.failures.slice(0, 5)) {
    lines.push(`  ${esc(`${f.op} ${f.service ?? '(whole table)'}${f.realServer ? ` ${f.realServer}` : ''}: ${f.reason}: ${f.message}`)}`);
  }
  if (i.failedOps > 5) lines.push(`  ... and ${i.failedOps - 5} more (lvsd status --json)`);
  return lines;
}

const STATE_TONE: Record<VrrpInstanceStatus['state'], Tone> = {
  master: 'good', backup: 'warn', fault: 'bad', init: 'dim', stopped: 'dim',
};

/** A tracked script, file or process that matters now: "script chk DOWN (fault)", "file /run/w=3 (-30)". */
function trackCell(t: NonNullable<VrrpInstanceStatus['tracks']>[number]): string {
  const what = t.kind === 'file' ? `file ${t.name}=${t.up ? (t.value ?? 'NaN') : 'unreadable'}` : `${t.kind} ${t.name} ${t.up ? 'UP' : 'DOWN'}`;
  return `${what} (${t.effect === 'fault' ? 'fault' : t.effect > 0 ? `+${t.effect}` : t.effect})`;
}

function vrrpSection(list: VrrpInstanceStatus[], now: number, opts: RenderOptions): string[] {
  if (list.length === 0) return ['VRRP: no instances'];
  const rows = list.map((v) => {
    const prio = `${v.priority.effective}/${v.priority.configured}`;
    const down = [
      ...v.trackInterfaces.filter((t) => !t.up).map((t) => `${t.name} DOWN`),
      ...(v.tracks ?? []).filter((t) => t.effect !== 0 || !t.up).map(trackCell),
    ];
    const master = v.state === 'master' ? 'this node' : v.master ? `${v.master.address} (${v.master.priority})` : '-';
    return [
      cell(v.name),
      cell(`${v.interface}/${v.vrid}`),
      cell(v.waitingForTable ? `${v.state.toUpperCase()} (waiting for its IPVS table)` : v.state.toUpperCase(), v.waitingForTable ? 'warn' : STATE_TONE[v.state]),
      cell(prio, v.priority.effective < v.priority.configured ? 'warn' : undefined),
      cell(master),
      cell(ago(v.since, now)),
      cell(down.length ? down.join(', ') : '-', down.length ? 'bad' : undefined),
      cell(v.vips.join(' ') || '-'),
    ];
  });
  return [
    paint('VRRP', 'head', opts.color),
    ...table(['INSTANCE', 'IF/VRID', 'STATE', 'PRIO eff/conf', 'MASTER', 'FOR', 'TRACK', 'VIPS'], rows, opts),
    ...list.filter((v) => (v.tracks ?? []).length > 0).map((v) => `  ${esc(v.name)} tracks: ${(v.tracks ?? []).map(trackState).join(', ')}`),
  ];
}

/** Every tracked object of an instance, below the table: "script chk up (0, exit 0)", "process nginx x2 up (0)". */
function trackState(t: NonNullable<VrrpInstanceStatus['tracks']>[number]): string {
  const effect = t.effect === 'fault' ? 'fault' : t.effect > 0 ? `+${t.effect}` : String(t.effect);
  if (t.kind === 'file') return esc(`file ${t.name}=${t.up ? (t.value ?? 'NaN') : 'unreadable'} (${effect})`);
  const count = t.kind === 'process' && t.value !== undefined ? ` x${t.value}` : '';
  return esc(`${t.kind} ${t.name}${count} ${t.up ? 'up' : 'DOWN'} (${effect}${t.detail ? `, ${t.detail}` : ''})`);
}

const BGP_TONE = (state: string): Tone => (state === 'Established' || state === 'Up' || state === 'off' ? 'good' : 'bad');

/** BIRD, the director drain, the sessions and what is announced (docs/ecmp.md). */
function ecmpSection(e: NonNullable<StatusSnapshot['ecmp']>, now: number, opts: RenderOptions): string[] {
  const c = opts.color;
  const d = e.daemon;
  const bird = d.running
    ? `${paint('running', 'good', c)} pid ${d.pid}${d.startedAt ? ` for ${ago(d.startedAt, now)}` : ''}`
    : `${paint('NOT RUNNING', 'bad', c)}${d.nextStartAt ? `, next start in ${humanDuration(Math.max(0, Math.round((Date.parse(d.nextStartAt) - now) / 1000)))}` : ''}`;
  const mode = e.stopping ? paint('STOPPING', 'warn', c)
    : e.drained ? `${paint('DRAINED', 'warn', c)}${e.drainedSince ? ` ${ago(e.drainedSince, now)} ago` : ''} (lvsd undrain --director)`
    : e.problems.length > 0 ? paint('NOT SERVING', 'bad', c) : paint('serving', 'good', c);
  const lines = [
    `${paint('ECMP', 'head', c)} ${mode}  BIRD ${bird}, ${d.restarts} restart${d.restarts === 1 ? '' : 's'}`,
  ];
  if (d.lastError) lines.push(`  BIRD: ${paint(esc(d.lastError), 'bad', c)}`);
  for (const p of e.problems) lines.push(`  ${paint(esc(p), 'bad', c)}`);
  lines.push(...table(['PEER', 'AS', 'BGP', 'BFD', 'FOR', 'DETAIL'], e.peers.map((p) => [
    cell(esc(p.address)), cell(String(p.as)), cell(esc(p.bgp), BGP_TONE(p.bgp)), cell(esc(p.bfd), BGP_TONE(p.bfd)),
    cell(ago(p.since, now)), cell(esc(p.detail) || '-'),
  ]), opts));
  lines.push(...table(['VIP', 'ANNOUNCED', 'WHY NOT'], e.vips.map((v) => [
    cell(esc(v.prefix)), cell(v.announced ? 'yes' : 'NO', v.announced ? 'good' : 'bad'), cell(esc(v.reason ?? '') || '-'),
  ]), opts));
  return lines;
}

function healthLine(s: StatusSnapshot, opts: RenderOptions): string {
  const h = s.health;
  const lag = h.lagMs === null ? 'no tick yet'
    : `last tick ${h.lagMs < 10_000 ? `${(h.lagMs / 1000).toFixed(1)}s` : humanDuration(h.lagMs / 1000)} ago`;
  const state = h.alive ? paint('running', 'good', opts.color) : paint('STALLED', 'bad', opts.color);
  return `health checks: ${state}, ${lag}, ${h.probesInFlight} probe${h.probesInFlight === 1 ? '' : 's'} in flight`;
}

const HEALTH_TONE: Record<RealServerStatus['health']['state'], Tone> = { up: 'good', down: 'bad', unknown: 'dim' };

function rates(st: StatsStatus): string {
  return `conns ${humanCount(st.conns)} (${humanCount(st.cps)}/s)  in ${humanByteRate(st.inbps)}  out ${humanByteRate(st.outbps)}`;
}

/** Scheduler, flags, persistence timeout and forwarding, as a service's heading shows them. */
function serviceMeta(svc: ServiceStatus): string {
  const meta = [svc.scheduler, ...svc.flags];
  if (svc.persistence) meta.push(`timeout ${svc.persistence.timeout}s`);
  if (svc.forwarding) meta.push(`fwd ${svc.forwarding}`);
  return meta.join(' ');
}

function serviceBlock(svc: ServiceStatus, now: number, opts: RenderOptions): string[] {
  const c = opts.color;
  const lines = [`${paint(esc(svc.name), 'head', c)}  ${esc(svc.key)}  ${esc(serviceMeta(svc))}`];
  if (svc.kernel === 'missing') lines.push(`  ${paint('NOT IN KERNEL', 'bad', c)}`);
  else if (svc.stats) lines.push(`  ${rates(svc.stats)}`);
  if (svc.sorryServerActive) lines.push(`  ${paint('SORRY SERVER ACTIVE', 'bad', c)}`);
  if (svc.realServers.length === 0) {
    lines.push('  no real servers');
    return lines;
  }
  const count = (n: number | null) => (n === null ? '-' : humanCount(n));
  const rows = svc.realServers.map((r) => realServerRow(r, now, {
    id: r.id, kernelWeight: String(r.weight.kernel ?? '-'), weightDiffers: r.weight.kernel !== r.weight.effective,
    active: count(r.activeConns), inactive: count(r.inactiveConns),
  }));
  lines.push(...table(REAL_SERVER_HEADER, rows, opts));
  return lines;
}

const REAL_SERVER_HEADER = ['REAL SERVER', 'FWD', 'WEIGHT c/e/k', 'HEALTH', 'FOR', 'LATENCY', 'ACTIVE', 'INACT', 'DRAIN', 'LAST CHECK'];

/** One real server's line of a service's (or a group's) table; what differs between the two comes in `o`. */
function realServerRow(r: RealServerStatus, now: number,
  o: { id: string; kernelWeight: string; weightDiffers: boolean; active: string; inactive: string }): Cell[] {
  return [
    cell(o.id),
    cell(r.forwarding),
    cell(`${r.weight.configured}/${r.weight.effective}/${o.kernelWeight}`, o.weightDiffers ? 'warn' : undefined),
    cell(r.health.state.toUpperCase(), HEALTH_TONE[r.health.state]),
    cell(ago(r.health.since, now)),
    cell(latency(r.health.latencyMs)),
    cell(o.active),
    cell(o.inactive),
    cell(r.drained ? 'DRAINED' : '', 'mark'),
    cell(`${r.health.check}: ${r.health.lastResult ?? '-'}`),
  ];
}

/**
 * A group: one heading, a line per member (its kernel key, presence and traffic), and one table of the
 * shared real servers: weight c/e/k gives every member's kernel weight when they differ, connections summed.
 */
function groupBlock(members: ServiceStatus[], now: number, opts: RenderOptions): string[] {
  const c = opts.color;
  const first = members[0]!;
  const name = first.group?.name ?? first.name;
  const lines = [`${paint(esc(name), 'head', c)}  group of ${members.length}  ${esc(serviceMeta(first))}`];
  for (const m of members) {
    const state = m.kernel === 'missing' ? paint('NOT IN KERNEL', 'bad', c) : m.stats ? rates(m.stats) : '';
    const sorry = m.sorryServerActive ? `  ${paint('SORRY SERVER ACTIVE', 'bad', c)}` : '';
    lines.push(`  ${esc(m.key)}  ${state}${sorry}`);
  }
  if (first.realServers.length === 0) {
    lines.push('  no real servers');
    return lines;
  }
  const rows = first.realServers.map((r, i) => {
    const all = members.map((m) => m.realServers[i]).filter((x): x is RealServerStatus => x !== undefined);
    const kernel = [...new Set(all.map((x) => x.weight.kernel ?? '-'))].join(',');
    const differs = all.some((x) => x.weight.kernel !== r.weight.effective);
    const sum = (f: (x: RealServerStatus) => number | null) => (all.every((x) => f(x) === null) ? '-' : humanCount(all.reduce((n, x) => n + (f(x) ?? 0), 0)));
    return realServerRow(r, now, {
      id: r.sharedId ?? r.id, kernelWeight: kernel, weightDiffers: differs,
      active: sum((x) => x.activeConns), inactive: sum((x) => x.inactiveConns),
    });
  });
  lines.push(...table(REAL_SERVER_HEADER, rows, opts));
  return lines;
}

/** Services in order, a group's members gathered at its first member. */
function blocks(services: ServiceStatus[]): ServiceStatus[][] {
  const out: ServiceStatus[][] = [];
  const groups = new Map<string, ServiceStatus[]>();
  for (const s of services) {
    if (!s.group) {
      out.push([s]);
      continue;
    }
    const g = groups.get(s.group.name);
    if (g) g.push(s);
    else {
      const list = [s];
      groups.set(s.group.name, list);
      out.push(list);
    }
  }
  return out;
}

function pick<T>(list: T[], want: string | undefined, match: (t: T) => boolean, what: string, names: string[]): T[] {
  if (want === undefined) return list;
  const found = list.filter(match);
  if (found.length === 0) {
    throw new LvsdError('LVSD_USAGE', `no ${what} ${esc(JSON.stringify(want))} (known: ${esc(names.join(', ')) || 'none'})`);
  }
  return found;
}

/** The whole status for a terminal. Throws LvsdError LVSD_USAGE when a filter matches nothing. */
export function renderStatus(snapshot: StatusSnapshot, opts: RenderOptions): string {
  const now = Date.parse(snapshot.generatedAt);
  const services = pick(snapshot.services, opts.service, (s) => s.name === opts.service || s.key === opts.service || s.group?.name === opts.service,
    'service', [...new Set(snapshot.services.map((s) => s.group?.name ?? s.name))]);
  const instances = pick(snapshot.vrrp, opts.instance, (v) => v.name === opts.instance,
    'VRRP instance', snapshot.vrrp.map((v) => v.name));
  const filtered = opts.service !== undefined || opts.instance !== undefined;
  const showVrrp = !filtered || opts.instance !== undefined;
  const showServices = !filtered || opts.service !== undefined;

  const out: string[] = [...header(snapshot, now, opts), ''];
  if (showVrrp) out.push(...vrrpSection(instances, now, opts), '');
  if (snapshot.ecmp && !filtered) out.push(...ecmpSection(snapshot.ecmp, now, opts), '');
  out.push(healthLine(snapshot, opts));
  out.push(...ipvsLines(snapshot, now, opts));
  const sp = snapshot.connectionSyncProblem;
  if (sp) {
    out.push(`connection sync: ${paint('FAILING', 'bad', opts.color)} since ${ago(sp.since, now)} ago, ${sp.attempts} attempt${sp.attempts === 1 ? '' : 's'}: ${esc(`${sp.op}: ${sp.message}`)}`);
  }
  if (snapshot.connectionSync.length > 0) {
    out.push(`connection sync: ${esc(snapshot.connectionSync.map((d) => `${d.state} on ${d.interface} id ${d.syncId}`).join(', '))}`);
  }
  if (showServices) {
    if (snapshot.drains.length > 0) {
      out.push(`drained: ${esc(snapshot.drains.map((d) => `${d.realServer} in ${d.service}`).join(', '))}`);
    }
    out.push('');
    if (services.length === 0) out.push('no services');
    blocks(services).forEach((list, i) => {
      if (i > 0) out.push('');
      out.push(...(list[0]!.group ? groupBlock(list, now, opts) : serviceBlock(list[0]!, now, opts)));
    });
  }
  return out.join('\n') + '\n';
}

/** The kernel's IPVS table as lvsd sees it, for when the daemon is not running. */
export function renderKernelTable(entries: KernelEntry[], opts: Pick<RenderOptions, 'color' | 'width'> = { color: false }): string {
  const o: RenderOptions = { ...opts };
  if (entries.length === 0) return 'the kernel has no IPVS services\n';
  const out: string[] = [];
  entries.forEach((e, i) => {
    if (i > 0) out.push('');
    const svc = e.service;
    const meta = [svc.scheduler, ...serviceFlagNames(svc)];
    if (svc.flags & 1) meta.push(`timeout ${svc.timeout}s`);
    out.push(`${paint(esc(serviceId(svc.key)), 'head', o.color)}  ${esc(meta.join(' '))}`);
    const st = statsToStatus(svc.stats);
    if (st) out.push(`  ${rates(st)}`);
    if (e.dests.length === 0) { out.push('  no real servers'); return; }
    const rows = e.dests.map((d) => [
      cell(destId(d)), cell(d.forwarding), cell(String(d.weight), d.weight === 0 ? 'warn' : undefined),
      cell(humanCount(d.activeConns)), cell(humanCount(d.inactiveConns)), cell(humanCount(d.persistentConns)),
    ]);
    out.push(...table(['REAL SERVER', 'FWD', 'WEIGHT', 'ACTIVE', 'INACT', 'PERSIST'], rows, o));
  });
  return out.join('\n') + '\n';
}
