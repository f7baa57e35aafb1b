/**
 * The lab's story, step by step, on a kernel with IPVS (this host, or inside the VM): build the network,
 * start the web servers and both directors, show their status, send requests through the VIP, kill the
 * master (kill -9 and link down) while a client keeps asking, bring it back (preemption), sum up.
 *
 * Each step prints what it does as it does it and either succeeds or throws a StepFailure naming itself;
 * `runScenario` stops at the first failure. The figures (failed requests, longest gap, takeover time,
 * whether the long-lived connection survived) come back in `LabReport` for the summary and for the
 * failover tests, which drive the same code.
 */
import { stepRunner } from './steps.js';
import {
  Lab, StepFailure, figures, ipvsConns, longVerdict, sleep, waitSteady, waitSync, waitSynced, type LabReport, type PhaseFigures,
} from './running-lab.js';
import { GATEWAY, SWITCH_NS, VIP, buildScript, execIn, labExists, lvsdIn, nodes, runScript, startWebServer, webPort, type Forwarding } from './topology.js';

export {
  Lab, StepFailure, figures, waitSynced, type ClientEvent, type LabReport, type PhaseFigures,
} from './running-lab.js';
export { failoverWithoutSync, realServerFailureDuringFailover, reloadUnderLoad, type RealServerFailureFigures } from './disruptions.js';

export interface ScenarioOptions {
  dir: string;
  /** print a line (the lab streams it) */
  say: (line: string) => void;
  /** client request period during the failover, ms */
  loopMs?: number;
  /** how long the client must see success after a takeover before the step ends, ms */
  steadyMs?: number;
  /** DR (default) or NAT with a gateway VRRP instance in a sync group (examples/lab/nat) */
  mode?: Forwarding;
}

function indent(text: string): string {
  return text.replace(/\s+$/, '').split('\n').map((l) => `      ${l}`).join('\n');
}

export async function runScenario(opts: ScenarioOptions, keep?: (lab: Lab, report: LabReport) => Promise<void>): Promise<LabReport> {
  const say = opts.say;
  const loopMs = opts.loopMs ?? 200;
  const steadyMs = opts.steadyMs ?? 4000;
  const report: LabReport = { steps: [], advertIntervalS: 1, ok: false };
  if (labExists()) {
    throw new StepFailure('build the network', `a lab is already running here (namespace ${SWITCH_NS}); ` +
      `end it, or remove it with: lvsd lab --clean`);
  }
  const mode = opts.mode ?? 'dr';
  const lab = new Lab(opts.dir, mode);
  const total = 7;
  const step = stepRunner(say, total, report.steps, (name, error) => new StepFailure(name, error, report));

  try {
    await step(`build the network: client, 2 directors, 3 web servers ${mode === 'nat' ? 'behind them on a second bridge' : 'on one bridge'} (namespaces lvs-*)`, async () => {
      const r = runScript(buildScript(mode));
      if (!r.ok) throw new Error(r.output);
      for (const x of nodes(mode)) say(`      ${x.ns.padEnd(11)} ${x.address}${x.inner ? ` + ${x.inner.address}` : ''}`);
      return mode === 'nat'
        ? `VIP ${VIP}, NAT forwarding, the web servers' gateway ${GATEWAY} (VRRP VI_GW, synced with VI_WEB)`
        : `VIP ${VIP}, DR forwarding`;
    });

    await step('start the web servers (node HTTP servers answering with their name)', async () => {
      for (const x of nodes(mode).filter((y) => y.name.startsWith('rs'))) {
        const p = startWebServer(lab.files, x);
        lab.web.push(p);
      }
      await Promise.all(lab.web.map((p) => p.waitFor((j) => j.event === 'listening', 60_000, `${p.name} listening`)));
      return `rs1, rs2, rs3 listening on :${webPort(mode)}`;
    });

    await step('start both directors: lvsd run (same services file, priorities 150 and 100)', async () => {
      // both at once, as two machines booting: the higher priority wins whichever is quicker
      lab.startDirector(1);
      lab.startDirector(2);
      const deadline0 = Date.now() + 120_000;
      while (lab.state(1) !== 'master' || lab.state(2) !== 'backup') {
        for (const d of lab.director) {
          if (d && d.child.exitCode !== null) {
            throw new Error(`lvsd on ${d.name} exited with status ${d.child.exitCode}: ${d.lines.at(-1) ?? ''} (log: ${lab.files.log(d.name)})`);
          }
        }
        if (Date.now() > deadline0) throw new Error(`no election after 120 s: d1 ${lab.state(1) ?? 'starting'}, d2 ${lab.state(2) ?? 'starting'}`);
        await sleep(200);
      }
      say('      d1: VI_WEB master, d2: VI_WEB backup');
      // the web servers come up after `rise` good probes; lvsd logs them (health.first_up, health.change; connsync.change)
      const deadline = Date.now() + 90_000;
      for (const which of [1, 2] as const) {
        const want = which === 1 ? 'master' : 'backup';
        while (lab.up[which - 1].size < 3 || lab.sync[which - 1] !== want) {
          if (Date.now() > deadline) {
            throw new Error(`d${which}: ${lab.up[which - 1].size}/3 web servers up, sync daemon "${lab.sync[which - 1]}" (want ${want})`);
          }
          await sleep(200);
        }
        say(`      d${which}: 3 web servers up (health checks), ${want} sync daemon running`);
      }
    });

    await step('lvsd status on both directors', async () => {
      const both = await Promise.all([lvsdIn(lab.files, 1, ['status']), lvsdIn(lab.files, 2, ['status'])]);
      for (const which of [1, 2] as const) {
        const r = both[which - 1]!;
        say(`    lvs-d${which}# lvsd status`);
        say(indent(r.output));
        if (r.code !== 0) throw new Error(`lvsd status on d${which} exited ${r.code}`);
      }
    });

    const client = lab.startClient();
    await step(`requests through the VIP: 12 from the client (curl http://${VIP}/ would do the same)`, async () => {
      await client.waitFor((j) => j.kind === 'ready', 60_000, 'client ready');
      client.send('burst 12');
      const b = await client.waitFor((j) => j.kind === 'burst', 120_000, 'burst done');
      const counts = b.counts as Record<string, number>;
      report.distribution = counts;
      for (const [name, c] of Object.entries(counts).sort()) say(`      ${name.padEnd(4)} ${'#'.repeat(c)} ${c}`);
      if (Number(b.failed) > 0) throw new Error(`${String(b.failed)} of 12 requests failed`);
      if (Object.keys(counts).length !== 3) throw new Error(`only ${Object.keys(counts).join(', ')} answered (round robin should reach all 3)`);
      return 'every web server answered (rr)';
    });

    await step('failover: kill -9 the master\'s lvsd and take its link down while the client keeps asking', async () => {
      client.send(`loop ${loopMs}`);
      client.send('open');
      say(`      the client sends a request every ${loopMs} ms (a new connection each) and one a second on a long-lived connection`);
      const syncedMs = await waitSynced(lab, 2, 20_000);
      await sleep(2000); // a steady state before the kill
      const learnt = ipvsConns(2);
      say(`      d2 learnt the long-lived connection from d1's sync daemon ${(syncedMs / 1000).toFixed(1)} s after it opened; ` +
        `it knows ${learnt.length} connection(s) to the VIP (ipvsadm -Lnc in lvs-d2)`);
      const from = Date.now() - 2000;
      const t0 = Date.now();
      lab.director[0]!.kill('SIGKILL');
      lab.setLinks(1, 'down');
      // IPVS forwards in the kernel without lvsd: the traffic stops only with the link
      say(`      d1: lvsd killed (SIGKILL); ${lab.links().join(', ')} down ${((Date.now() - t0) / 1000).toFixed(2)} s later`);
      const took = await lab.waitState(2, 'master', 30_000, t0);
      say(`      d2: VI_WEB master after ${((took.at - t0) / 1000).toFixed(2)} s`);
      await waitSteady(lab, took.at, steadyMs, 60_000);
      const end = Date.now();
      const f = figures(lab.events, from, end, t0, took.at);
      const lv = longVerdict(lab, t0, took.at);
      report.failover = { ...f, longConnection: lv.verdict, longServer: lv.server };
      await waitSync(lab, 2, 'master', 20_000);
      say('      d2 now runs the master sync daemon (lvsd follows VRRP)');
      say(`      requests: ${f.requests}, failed: ${f.failed}, longest gap between answers: ${(f.longestGapMs / 1000).toFixed(2)} s`);
      say(`      long-lived connection: ${lv.verdict} (${lv.detail})`);
      if (lv.verdict !== 'survived') throw new Error(`the long-lived connection did not survive the failover: ${lv.detail}`);
    });

    await step('the old master returns: lvsd restarted on d1, link up; it preempts (priority 150 > 100)', async () => {
      const from = Date.now() - 2000;
      const since = Date.now();
      lab.startDirector(1);
      await lab.waitState(1, 'fault', 90_000, since).catch(() => undefined); // link still down: fault
      lab.setLinks(1, 'up');
      const t0 = Date.now();
      say(`      d1: lvsd started, ${lab.links().join(', ')} up`);
      const back = await lab.waitState(1, 'master', 60_000, t0);
      await lab.waitState(2, 'backup', 30_000, t0);
      say(`      d1: VI_WEB master again ${((back.at - t0) / 1000).toFixed(2)} s after link up, d2 backup`);
      const upAt = lab.allUpAt[0];
      const upWhen = upAt === undefined ? 'NOT' : upAt < t0 ? 'already (adopted from the kernel at restart, no probe failed)' : `${((upAt - t0) / 1000).toFixed(2)} s after link up`;
      say(`      d1's health checks had all 3 web servers up: ${upWhen} (preemptDelay 8s keeps it backup meanwhile)`);
      await waitSteady(lab, back.at, steadyMs, 60_000);
      const f = figures(lab.events, from, Date.now(), t0, back.at);
      const lv = longVerdict(lab, t0, back.at);
      report.failback = { ...f, longConnection: lv.verdict, longServer: lv.server, healthUpMs: upAt === undefined ? undefined : upAt - t0 };
      await waitSync(lab, 1, 'master', 20_000);
      await waitSync(lab, 2, 'backup', 20_000);
      say('      d1 runs the master sync daemon again, d2 the backup one');
      say(`      requests: ${f.requests}, failed: ${f.failed}, longest gap between answers: ${(f.longestGapMs / 1000).toFixed(2)} s`);
      say(`      long-lived connection: ${lv.verdict} (${lv.detail})`);
      client.send('stop');
      client.send('close');
    });
    report.ok = true;
    if (keep) await keep(lab, report);
  } finally {
    lab.stop();
  }
  return report;
}

/** The closing lines. */
export function summary(r: LabReport): string[] {
  const lines = ['', 'summary'];
  for (const s of r.steps) lines.push(`  ${s.ok ? 'ok    ' : 'FAILED'} ${s.name}${s.error ? `: ${s.error}` : ''}`);
  const phase = (label: string, f: PhaseFigures | undefined) => {
    if (!f) return;
    lines.push(`  ${label}: new master after ${(f.takeoverMs / 1000).toFixed(2)} s; ${f.failed} of ${f.requests} requests failed; ` +
      `longest gap ${(f.longestGapMs / 1000).toFixed(2)} s; long-lived connection ${f.longConnection}`);
  };
  phase('failover (kill -9 + link down)', r.failover);
  phase('failback (preemption)        ', r.failback);
  if (r.failover) {
    lines.push(`  VRRP bound: Master_Down_Interval = 3 x ${r.advertIntervalS} s + skew (${((256 - 100) / 256 * r.advertIntervalS).toFixed(2)} s) = ` +
      `${(3 * r.advertIntervalS + (256 - 100) / 256 * r.advertIntervalS).toFixed(2)} s`);
  }
  lines.push(r.ok ? 'lab: every step worked' : `lab: FAILED at "${r.steps.find((s) => !s.ok)?.name ?? '?'}"`);
  return lines;
}

export { execIn };
