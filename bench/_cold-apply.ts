/**
 * The userland CPU of a cold `lvsd apply`, natively, step by step (issue #11's cold-apply row): what the CLI's
 * apply does, in one process, against an empty kernel table, with the changes encoded and sent through a
 * real generic netlink socket as messages of type NLMSG_NOOP (the kernel skips them: no IPVS needed, no
 * kernel work; the barriers are acknowledged as usual). Each step's CPU (user + system, ms):
 *
 *   read       the file's bytes
 *   decode     UTF-8 to text
 *   parse      JSON.parse
 *   validate   the schema (ajv's standalone validator)
 *   build      merge + normalise (buildConfig)
 *   host       the host checks `lvsd check` adds (users, tools)
 *   desired    the desired table (desiredTable)
 *   plan       planReconcile against an empty table
 *   format     the printed plan (formatPlan) and the apply report
 *   send       execute: every change encoded into datagrams and sent, barriers acknowledged
 *   state      the state file (nextOwned + saveOwned)
 *
 *   node dist/bench/_cold-apply.js CONFIG [rounds=1] [--steps a,b]
 *
 * Each round is a fresh load (nothing cached); the first round is what a CLI process pays (JIT cold).
 * `--cpu-prof` on node's command line profiles it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeUtf8, parseJson } from '../src/config/documents.js';
import { readRegular } from '../src/config/files.js';
import { buildConfig, checkDocument } from '../src/config/parse.js';
import { unknownUsers, userMentions } from '../src/config/host-users.js';
import { missingTools } from '../src/config/host-tools.js';
import { desiredTable } from '../src/daemon/desired.js';
import { ipvsClientOver } from '../src/ipvs/client.js';
import { NLMSG_NOOP } from '../src/ipvs/constants.js';
import { GenlSocket } from '../src/ipvs/socket.js';
import type { IpvsClient, KernelEntry } from '../src/ipvs/types.js';
import { applyPlan, formatApplyReport, formatPlan, nextOwned, planReconcile, saveOwned } from '../src/reconcile/index.js';

const file = process.argv[2];
if (!file) throw new Error('usage: _cold-apply.js CONFIG [rounds]');
const rounds = Number(process.argv[3] ?? 1);
const dir = mkdtempSync(join(tmpdir(), 'lvsd-cold-apply-'));

/** The netlink client over a NOOP "family", whose table is empty. */
function emptyKernel(): IpvsClient {
  const socket = new GenlSocket();
  const inner = ipvsClientOver(socket, NLMSG_NOOP, { openSocket: () => socket });
  return Object.assign(Object.create(inner) as IpvsClient, {
    dump: async (): Promise<KernelEntry[]> => [],
    execute: inner.execute.bind(inner),
    close: inner.close.bind(inner),
  });
}

const cpu = (): number => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
const sys = (): number => process.cpuUsage().system / 1000;

async function round(): Promise<Record<string, number>> {
  const t: Record<string, number> = {};
  let at = cpu();
  let atSys = sys();
  const mark = (name: string): void => { const n = cpu(); t[name] = n - at; at = n; const s = sys(); t[`${name}Sys`] = s - atSys; atSys = s; };
  const bytes = await readRegular(file!);
  mark('read');
  const text = decodeUtf8(file!, bytes);
  mark('decode');
  const parsed = parseJson({ file: file!, text });
  mark('parse');
  const checked = checkDocument(parsed);
  mark('validate');
  const config = buildConfig([checked]);
  mark('build');
  await unknownUsers(userMentions([checked]));
  missingTools(config);
  mark('host');
  const desired = desiredTable(config);
  mark('desired');
  const plan = planReconcile({ desired, kernel: [], owned: new Set(), ownWholeTable: config.ipvs.ownWholeTable });
  mark('plan');
  const client = emptyKernel();
  const report = await applyPlan(client, plan, {});
  client.close();
  mark('send');
  const out = formatPlan(plan) + '\n' + formatApplyReport(report) + '\n';
  mark('format');
  await saveOwned(join(dir, 'state.json'), nextOwned(desired, new Set(), report));
  mark('state');
  if (!report.ok || report.sent !== plan.ops.length) throw new Error(`apply failed: ${JSON.stringify(report).slice(0, 300)}`);
  t['ops'] = plan.ops.length;
  t['outKiB'] = out.length / 1024;
  return t;
}

// LVSD_ALLOC_PROF=FILE: a sampling heap profile of everything allocated (collected objects included)
const allocProf = process.env.LVSD_ALLOC_PROF;
const { Session } = await import('node:inspector/promises');
const session = allocProf ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
}
const all: Array<Record<string, number>> = [];
for (let r = 0; r < rounds; r++) all.push(await round());
if (session) {
  const { profile } = await session.post('HeapProfiler.stopSampling') as { profile: unknown };
  (await import('node:fs')).writeFileSync(allocProf!, JSON.stringify(profile));
  session.disconnect();
}
rmSync(dir, { recursive: true, force: true });
for (const [r, t] of all.entries()) {
  const steps = Object.entries(t).filter(([k]) => k !== 'ops' && k !== 'outKiB' && !k.endsWith('Sys'));
  const total = steps.reduce((s, [, v]) => s + v, 0);
  process.stdout.write(`round ${r + 1}: ${t['ops']} ops, total ${total.toFixed(0)} ms CPU: ${steps.map(([k, v]) => `${k} ${v.toFixed(0)}${t[`${k}Sys`]! >= 5 ? ` (sys ${t[`${k}Sys`]!.toFixed(0)})` : ''}`).join(', ')}\n`);
}
process.stdout.write(`process CPU ${JSON.stringify(process.cpuUsage())}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
