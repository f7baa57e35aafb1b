#!/usr/bin/env node
/**
 * `lvsd lab` / `npm run lab`: a complete LVS cluster on one machine — a client, two directors running
 * `lvsd run` from examples/lab, three web servers — then a failover and a failback under load, with the
 * figures. On a kernel without IPVS it all runs inside a throwaway qemu VM, streamed live.
 *
 *   node dist/src/lab/main.js [--keep] [--vm | --direct] [--loop-ms 200] [--clean]
 *   node dist/src/lab/main.js --ecmp [--json] [--pool N] [--bfd MS] ...   (three directors behind a BGP router)
 */
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runScenario, StepFailure, summary, type Lab, type LabReport } from './scenario.js';
import { SWITCH_NS, VIP, destroy, hasExamples, labExists, nodes, statusPageUrl, type Forwarding } from './topology.js';
import { hostHasIpvs, runInVm, vmSupport } from './vm.js';
import { EcmpStepFailure, ecmpJson, ecmpSummary, runEcmpScenario, type EcmpLab, type EcmpReport } from './ecmp-scenario.js';
import { allNamespaces, ecmpDestroy, ecmpLabExists } from './ecmp-topology.js';

export interface LabArgs {
  keep: boolean;
  mode?: 'vm' | 'direct' | undefined;
  forwarding: Forwarding;
  loopMs: number;
  clean: boolean;
  /** three directors behind a BGP router (ECMP) instead of a VRRP pair */
  ecmp: boolean;
  /** ECMP: print the summary as one JSON object, the last line */
  json: boolean;
  /** ECMP: long-lived connections the client holds; the router's BFD interval */
  pool?: number | undefined;
  bfdMs?: number | undefined;
  /** internal: run the scenario on this kernel (inside the VM) */
  here: boolean;
  dir: string;
}

const USAGE = `usage: lvsd lab [--keep] [--nat | --ecmp [--json] [--pool N] [--bfd MS]] [--vm | --direct] [--loop-ms MS] [--clean]
  --keep      leave the lab running at the end and show how to explore it (Ctrl-C ends it)
  --nat       NAT instead of DR: the web servers behind the directors, their gateway a second VRRP address
  --vm        run in a qemu VM even if this kernel has IPVS
  --direct    run on this host (root, a kernel with IPVS)
  --ecmp      three directors that all serve, behind a router (BIRD: BGP + BFD, kernel ECMP); crash one, bring it back, drain one
  --json      (--ecmp) print the figures as one JSON object, the last line
  --pool N    (--ecmp) long-lived connections the client holds (default 100)
  --bfd MS    (--ecmp) the router's BFD interval (x 3; default 300, as the directors' in examples/lab/ecmp)
  --loop-ms   the client's request period during failover and failback (default 200)
  --clean     remove a lab left running (namespaces lvs-*) and exit`;

export function parseLabArgs(argv: readonly string[]): LabArgs | string {
  const a: LabArgs = { keep: false, forwarding: 'dr', loopMs: 200, clean: false, ecmp: false, json: false, here: false, dir: '/tmp/lvsd-lab' };
  const whole = (v: number, min: number, what: string) => (Number.isInteger(v) && v >= min ? undefined : `${what} needs a whole number, at least ${min}`);
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    switch (f) {
      case '--keep': a.keep = true; break;
      case '--nat': a.forwarding = 'nat'; break;
      case '--vm': a.mode = 'vm'; break;
      case '--direct': a.mode = 'direct'; break;
      case '--here': a.here = true; break;
      case '--clean': a.clean = true; break;
      case '--ecmp': a.ecmp = true; break;
      case '--json': a.json = true; break;
      case '--pool': case '--bfd': {
        const v = Number(argv[++i]);
        const bad = f === '--pool' ? whole(v, 1, '--pool') : whole(v, 10, '--bfd (milliseconds)');
        if (bad) return bad;
        if (f === '--pool') a.pool = v;
        else a.bfdMs = v;
        break;
      }
      case '--loop-ms': {
        const v = Number(argv[++i]);
        if (!Number.isInteger(v) || v < 20) return '--loop-ms needs a whole number of milliseconds, at least 20';
        a.loopMs = v;
        break;
      }
      case '--dir': a.dir = argv[++i] ?? a.dir; break;
      case '-h': case '--help': return USAGE;
      default: return `unknown option ${f}\n${USAGE}`;
    }
  }
  if (a.ecmp && a.forwarding === 'nat') return '--ecmp and --nat do not go together (the ECMP lab forwards by DR)';
  if (!a.ecmp && (a.json || a.pool !== undefined || a.bfdMs !== undefined)) return '--json, --pool and --bfd go with --ecmp';
  if (a.ecmp && a.dir === '/tmp/lvsd-lab') a.dir = '/tmp/lvsd-lab-ecmp';
  return a;
}

const say = (line: string) => process.stdout.write(line + '\n');

function exploreHelp(inVm: boolean, lab: Lab): string[] {
  const d = lab.files.dir;
  const lvsd = 'node dist/src/cli/main.js';
  const row = (cmd: string, what: string) => `  ${cmd.padEnd(70)} # ${what}`;
  const lines = [
    '',
    'the lab keeps running (d1 master, d2 backup). Try:',
    row(`ip netns exec lvs-client curl -s http://${VIP}/`, 'which web server answers'),
    row(`ip netns exec lvs-d1 ${lvsd} status --socket ${d}/d1/lvsd.sock`, "d1's view"),
    row('ip netns exec lvs-d2 ipvsadm -Lnc', 'the connections d2 learnt by sync'),
    row('ip netns exec lvs-d2 ipvsadm -L --daemon', "the kernel's sync daemon on d2"),
    row(`kill -9 ${lab.director[0]?.pid ?? '<pid>'}`, "crash d1's lvsd (then d2 takes over only if the link goes too)"),
    row('ip -n lvs-d1 link set eth0 down', "cut d1's link"),
    row(`tail ${d}/d1.log`, "d1's log (JSON lines)"),
    row(`${lvsd} reload --socket ${d}/d1/lvsd.sock`, `after editing ${d}/d1/config/*.json`),
  ];
  const pages = ([1, 2] as const).map((w) => [w, statusPageUrl(w, lab.files.mode)] as const).filter((p): p is readonly [1 | 2, string] => p[1] !== undefined);
  if (pages.length > 0) {
    lines.push('', 'status pages (reachable from the lab\'s network, e.g. its client namespace):');
    for (const [w, url] of pages) lines.push(`  d${w}: ${url}`);
    lines.push(row(`ip netns exec lvs-client curl -s ${pages[0]![1]}state.json`, "what d1's page shows, as JSON"));
    if (!inVm) lines.push(row(`ip netns exec lvs-client chromium --no-sandbox --user-data-dir=$(mktemp -d) ${pages[0]![1]}`, 'a browser in the lab (as root, on a desktop)'));
  }
  lines.push(inVm
    ? 'this runs inside the VM: type a command at the lab> prompt (bash, from the repository); exit or Ctrl-D ends the lab.'
    : 'Ctrl-C ends the lab and removes everything.');
  return lines;
}

/** Inside the VM with --keep: commands arrive as files on the shared directory, one per line typed on the host. */
async function serveCommands(channel: string): Promise<void> {
  const { spawn } = await import('node:child_process');
  say('@@lab-shell@@ ready');
  for (let seq = 1; ; ) {
    const file = join(channel, `cmd-${seq}`);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    rmSync(file, { force: true });
    seq++;
    if (text.trim() === 'exit') return;
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('bash', ['-c', text!], { stdio: ['ignore', 'pipe', 'pipe'] });
      const onLine = (l: string) => say(l);
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    say(`@@lab-shell@@ done ${code ?? 'killed'}`);
  }
}

function ecmpExploreHelp(inVm: boolean, lab: EcmpLab): string[] {
  const lvsd = 'node dist/src/cli/main.js';
  const row = (cmd: string, what: string) => `  ${cmd.padEnd(74)} # ${what}`;
  return [
    '',
    'the lab keeps running (d1, d2, d3 all serving; d2 drained if the drain step ran). Try:',
    row('ip netns exec lve-client curl -s http://10.90.100.100/', 'which web server answers'),
    row('ip -n lve-r route show 10.90.100.100', "the router's ECMP route: one next hop per announcing director"),
    row(`birdc -s ${lab.dir}/router/bird.ctl show protocols`, "the router's BGP sessions"),
    row(`birdc -s ${lab.dir}/router/bird.ctl show bfd sessions`, 'and BFD'),
    row(`ip netns exec lve-d1 ${lvsd} status --socket ${lab.socket(1)}`, "d1's view (ECMP block: BIRD, peers, VIPs)"),
    row(`ip netns exec lve-d2 ${lvsd} undrain --director --socket ${lab.socket(2)}`, 'announce d2 again'),
    row('ip netns exec lve-d3 ipvsadm -Lnc', 'the connections d3 forwards'),
    row(`tail ${lab.dir}/d1.log`, "d1's log (JSON lines)"),
    inVm
      ? 'this runs inside the VM: type a command at the lab> prompt (bash, from the repository); exit or Ctrl-D ends the lab.'
      : 'Ctrl-C ends the lab and removes everything.',
  ];
}

/** The ECMP lab on this kernel; with --json the figures as the last line. */
async function runEcmpHere(args: LabArgs): Promise<number> {
  const onSignal = () => {
    say('\ninterrupted: removing the lab');
    ecmpDestroy();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const inVm = Boolean(process.env.LVSD_IN_VM);
  let report: EcmpReport;
  try {
    report = await runEcmpScenario({ dir: args.dir, say, loopMs: args.loopMs, pool: args.pool, bfdIntervalMs: args.bfdMs }, args.keep ? async (lab, sofar) => {
      for (const l of ecmpSummary(sofar)) say(l);
      for (const l of ecmpExploreHelp(inVm, lab)) say(l);
      if (inVm && process.env.LVSD_VM_OUT) await serveCommands(process.env.LVSD_VM_OUT);
      else await new Promise<void>(() => undefined); // until Ctrl-C
    } : undefined);
  } catch (e) {
    if (!(e instanceof EcmpStepFailure)) throw e;
    for (const l of ecmpSummary(e.report)) say(l);
    if (args.json) say(JSON.stringify(ecmpJson(e.report)));
    return 1;
  }
  if (!args.keep) for (const l of ecmpSummary(report)) say(l);
  if (args.json) say(JSON.stringify(ecmpJson(report)));
  return report.ok ? 0 : 1;
}

/** Runs the scenario on this kernel. */
async function runHere(args: LabArgs): Promise<number> {
  if (process.getuid?.() !== 0) {
    say('lvsd lab: needs root (network namespaces, IPVS)');
    return 2;
  }
  if (!hasExamples()) {
    say('lvsd lab: examples/lab is missing next to this build');
    return 2;
  }
  if (args.ecmp) return runEcmpHere(args);
  let report: LabReport | undefined;
  const onSignal = () => {
    say('\ninterrupted: removing the lab');
    destroy();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const inVm = Boolean(process.env.LVSD_IN_VM);
  try {
    report = await runScenario({ dir: args.dir, say, loopMs: args.loopMs, mode: args.forwarding }, args.keep ? async (lab, sofar) => {
      for (const l of summary(sofar)) say(l);
      for (const l of exploreHelp(inVm, lab)) say(l);
      if (inVm && process.env.LVSD_VM_OUT) await serveCommands(process.env.LVSD_VM_OUT);
      else await new Promise<void>(() => undefined); // until Ctrl-C
    } : undefined);
  } catch (e) {
    if (e instanceof StepFailure) {
      if (e.report) for (const l of summary(e.report)) say(l);
      else say(`lab: FAILED at "${e.step}"`);
      return 1;
    }
    throw e;
  }
  if (!args.keep) for (const l of summary(report)) say(l);
  return report.ok ? 0 : 1;
}

/** Boots the VM and runs `--here` inside it, streaming its lines; with --keep, relays typed commands. */
async function runVm(args: LabArgs): Promise<number> {
  const support = vmSupport();
  if (!support.ok) {
    say(`lvsd lab: this kernel has no IPVS and the VM cannot run: ${support.reason}`);
    return 2;
  }
  say('lvsd lab: this kernel has no IPVS: booting a qemu VM with it (the host disk read-only, writes in RAM)...');
  const inner = ['--here', '--loop-ms', String(args.loopMs), ...(args.keep ? ['--keep'] : []), ...(args.forwarding === 'nat' ? ['--nat'] : []),
    ...(args.ecmp ? ['--ecmp'] : []), ...(args.json ? ['--json'] : []), ...(args.pool !== undefined ? ['--pool', String(args.pool)] : []),
    ...(args.bfdMs !== undefined ? ['--bfd', String(args.bfdMs)] : [])];
  const channel = args.keep ? mkdtempSync(join(tmpdir(), 'lvsd-lab-shell-')) : undefined;
  let seq = 0;
  let rl: ReturnType<typeof createInterface> | undefined;
  const prompt = () => process.stdout.write('lab> ');
  const started = Date.now();
  const r = await runInVm({
    script: `exec node dist/src/lab/main.js ${inner.join(' ')}\n`,
    timeoutMs: args.keep ? 4 * 3600_000 : 30 * 60_000,
    memoryMb: 2048,
    ...(channel ? { outDir: channel } : {}),
    onLine: (line) => {
      if (line.startsWith('@@lab-shell@@')) {
        if (line.includes('ready')) {
          say(`(VM booted and lab built in ${((Date.now() - started) / 1000).toFixed(0)} s)`);
          rl = createInterface({ input: process.stdin });
          rl.on('line', (cmd) => {
            if (!cmd.trim()) return prompt();
            writeFileSync(join(channel!, `cmd-${++seq}`), cmd);
          });
          rl.on('close', () => writeFileSync(join(channel!, `cmd-${++seq}`), 'exit'));
        }
        prompt();
        return;
      }
      say(line);
    },
  });
  rl?.close();
  if (channel) rmSync(channel, { recursive: true, force: true });
  if (r.bootFailure) say(`lvsd lab: the VM failed before the lab ran: ${r.bootFailure} (console log ${r.logFile ?? '-'})`);
  if (r.timedOut) say('lvsd lab: timed out, VM killed');
  return r.exitCode;
}

export async function lab(argv: readonly string[]): Promise<number> {
  const args = parseLabArgs(argv);
  if (typeof args === 'string') {
    say(args);
    return args === USAGE ? 0 : 2;
  }
  if (args.clean && args.ecmp) {
    const had = ecmpLabExists();
    ecmpDestroy();
    say(had ? `removed the ECMP lab's namespaces (${allNamespaces().join(' ')})` : 'no ECMP lab running here');
    return 0;
  }
  if (args.clean) {
    const had = labExists();
    destroy();
    say(had ? `removed the lab's namespaces (${nodes().map((n) => n.ns).join(' ')} ${SWITCH_NS})` : 'no lab running here');
    return 0;
  }
  if (args.here) return runHere(args);
  const direct = args.mode === 'direct' || (args.mode !== 'vm' && process.getuid?.() === 0 && hostHasIpvs());
  return direct ? runHere(args) : runVm(args);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  lab(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
    say(`lvsd lab: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    destroy();
    process.exit(1);
  });
}
