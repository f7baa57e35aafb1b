/**
 * The VM runner: run a bash script as root on a kernel that has IPVS. Used by `lvsd lab`, `npm run bench`
 * and the kernel tests (test/kernel/vm.ts re-exports it).
 *
 * This host's kernel usually has no IPVS and cannot load modules, so `runInVm` boots a throwaway qemu
 * VM (TCG) on the host's own kernel image, with the host's root filesystem read-only under a tmpfs
 * overlay: node, ipvsadm, keepalived and this checkout (dist/, node_modules/) are all visible inside.
 * When the host kernel itself has IPVS, `runDirect` runs the script here; `runKernelSuite` chooses.
 *
 * Inside, the script runs from the repository root with LVSD_IN_VM=1 and, when `outDir` is given,
 * LVSD_VM_OUT=<outDir>: the same host path, mounted writable, for result files (JSON, TAP).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StringDecoder } from 'node:string_decoder';
import { buildInitramfs, cacheRoot } from './initramfs.js';
import { bootImage } from './kernel-image.js';
import { findBusybox, findKernel, findOnPath, type KernelChoice } from './modules.js';
import { MARKER } from './scripts.js';

export interface RunOptions {
  /** bash script text, run as root from the repository root */
  script: string;
  /** wall-clock limit for boot + script; the VM (or process) is killed when it passes */
  timeoutMs: number;
  memoryMb?: number;
  cpus?: number;
  /** host directory shared writable with the script, at the same path, exported as LVSD_VM_OUT */
  outDir?: string;
  /** extra environment for the script */
  env?: Record<string, string>;
  /** console log file (default: <outDir>/vm-console.log, else under the VM cache dir) */
  logFile?: string;
  /** called with each complete line the script prints (not the boot chatter) */
  onLine?: (line: string) => void;
  /** more kernel command-line words (tests inject faults with them) */
  kernelArgs?: string[];
  /** boots tried while the guest's clock runs fast (guestClockFast), default 3 */
  clockBoots?: number;
}

export interface RunResult {
  /** the script's exit status; 124 when the run timed out, 125 when the VM never ran the script */
  exitCode: number;
  /** everything the VM printed on its serial console (or, direct, the script's stdout+stderr) */
  console: string;
  /** only what the script printed, without boot chatter */
  output: string;
  durationMs: number;
  /** host milliseconds from qemu start to the script starting (undefined when direct / never started) */
  bootMs?: number;
  /** guest uptime (ms since the kernel started) when the script started: bootMs minus firmware/loading */
  guestBootMs?: number;
  /** boots thrown away because the guest's clock ran fast (guestClockFast), before the one reported */
  fastClockBoots?: number;
  timedOut: boolean;
  /** set when the VM failed before the script ran (module, mount, modprobe ip_vs ...) */
  bootFailure?: string;
  logFile?: string;
  mode: 'vm' | 'direct';
}

export type Support = { ok: true } | { ok: false; reason: string };

/** The repository this harness belongs to: the nearest ancestor of this module holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

function qemuBinary(): string | undefined {
  const forced = process.env.LVSD_VM_QEMU;
  if (forced) return existsSync(forced) ? forced : undefined;
  return findOnPath('qemu-system-x86_64');
}

/** Whether runInVm can work here: qemu, a kernel image with IPVS modules, a static busybox. */
export function vmSupport(): Support {
  if (process.arch !== 'x64') return { ok: false, reason: `the VM harness needs an x86-64 host (this is ${process.arch})` };
  if (!qemuBinary()) return { ok: false, reason: 'qemu-system-x86_64 not found (install qemu-system-x86)' };
  const k = findKernel();
  if ('error' in k) return { ok: false, reason: k.error };
  const bb = findBusybox();
  if (typeof bb !== 'string') return { ok: false, reason: bb.error };
  return { ok: true };
}

/**
 * Whether the host kernel itself has IPVS we may administer (loading ip_vs if we are root). A container
 * on a host with ip_vs loaded sees /proc/net/ip_vs without CAP_NET_ADMIN, so `ipvsadm -Ln` must work too.
 */
export function hostHasIpvs(): boolean {
  if (!existsSync('/proc/net/ip_vs') && process.getuid?.() === 0) {
    spawnSync('modprobe', ['ip_vs'], { stdio: 'ignore', timeout: 10_000 });
  }
  if (!existsSync('/proc/net/ip_vs')) return false;
  return spawnSync('ipvsadm', ['-Ln'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function envFile(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`);
      return `export ${k}=${shellQuote(v)}\n`;
    })
    .join('');
}

/** Splits a stream into lines, follows the marker protocol, hands script lines to onLine. */
class ConsoleTracker {
  text = '';
  output: string[] = [];
  began = false;
  ended = false;
  endCode?: number;
  bootFailure?: string;
  beganAt?: number;
  guestBootSeconds?: number;
  /** set once a boot is given up: its lines are kept in the log but no longer parsed or handed on */
  muted = false;
  private partial = '';

  constructor(
    private readonly onLine?: (line: string) => void,
    /** each guest uptime the markers carry (STAGE1, BEGIN), with the host's Date.now() when it arrived */
    private readonly onUptime?: (guestSeconds: number, hostNow: number) => void,
  ) {}

  push(chunk: string): void {
    const clean = chunk.replace(/\r/g, '');
    this.text += clean;
    this.partial += clean;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.line(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
  }

  flush(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
  }

  private line(line: string): void {
    if (this.muted) return;
    const at = line.indexOf(MARKER);
    if (at >= 0) {
      const [word, ...rest] = line.slice(at + MARKER.length).trim().split(/\s+/);
      if (word === 'BEGIN' && !this.began) {
        this.began = true;
        this.beganAt = Date.now();
        this.guestBootSeconds = Number(rest[0]);
        this.onUptime?.(this.guestBootSeconds, this.beganAt);
        return;
      }
      if (word === 'END' && this.began) {
        this.ended = true;
        this.endCode = Number(rest[0]);
        return;
      }
      if (word === 'BOOTFAIL') {
        this.bootFailure = rest.join(' ');
        return;
      }
      if (word === 'STAGE1') {
        this.onUptime?.(Number(rest[0]), Date.now());
        return;
      }
    }
    if (this.began && !this.ended) {
      this.output.push(line);
      this.onLine?.(line);
    }
  }
}

/**
 * The guest's clock runs fast when its uptime (counted from the kernel's start) is more than the host time
 * since qemu started, which includes the firmware and the kernel's loading: impossible with a right clock.
 * Seen under TCG on a loaded host: the kernel's early TSC calibration comes out several times too low
 * (guest uptime 9,541 s after 636 s of host time), `tsc=reliable` keeps it, and every time inside (test
 * timeouts, takeover and gap figures) is wrong. Returns how many times too fast, or undefined when plausible.
 */
export function guestClockFast(guestUptimeS: number, hostElapsedMs: number, slackMs = 2000): number | undefined {
  if (!Number.isFinite(guestUptimeS) || guestUptimeS * 1000 <= hostElapsedMs + slackMs) return undefined;
  return (guestUptimeS * 1000) / Math.max(hostElapsedMs, 1);
}

const live = new Set<ChildProcess>();
/** children started as the leader of their own process group (direct-mode scripts) */
const groupLeaders = new WeakSet<ChildProcess>();
let hooksInstalled = false;

/** SIGKILL a child; a direct-mode script was started as its own process group, so kill all of it. */
function kill(child: ChildProcess): void {
  try {
    if (groupLeaders.has(child) && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    // already gone
  }
}

/** Kills qemu (or the direct script) when this process exits or is told to stop, so no VM outlives a test. */
function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const c of live) kill(c);
  };
  process.once('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig); // then die of the signal as we would have
    };
    process.once(sig, onSignal);
  }
}

let logSeq = 0;

function qemuArgs(kernel: KernelChoice, initrd: string, ctlDir: string, opts: RunOptions): string[] {
  const cpus = opts.cpus ?? 2;
  const args = [
    '-nodefaults', '-no-user-config', '-no-reboot',
    // TCG: KVM hangs at boot on the sandbox host (LVSD_VM_ACCEL=kvm to try it elsewhere)
    '-machine', 'pc', '-accel', process.env.LVSD_VM_ACCEL ?? 'tcg,thread=multi', '-cpu', 'max',
    '-smp', String(cpus), '-m', String(opts.memoryMb ?? 2048),
    '-display', 'none', '-serial', 'stdio', '-nic', 'none',
    '-kernel', bootImage(kernel), '-initrd', initrd,
    '-append', [
      'console=ttyS0', 'quiet', 'loglevel=3', 'panic=-1', 'rdinit=/init', 'mitigations=off',
      'random.trust_cpu=on', 'tsc=reliable', 'no_timer_check', 'cryptomgr.notests', '8250.nr_uarts=1',
      ...(opts.kernelArgs ?? []),
    ].join(' '),
    '-fsdev', 'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device', 'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev', `local,id=lvsdctl,path=${ctlDir},security_model=none`,
    '-device', 'virtio-9p-pci,fsdev=lvsdctl,mount_tag=lvsdctl',
  ];
  const extra = process.env.LVSD_VM_QEMU_ARGS?.trim();
  if (extra) args.push(...extra.split(/\s+/));
  if (opts.outDir) {
    args.push('-fsdev', `local,id=lvsdout,path=${resolve(opts.outDir)},security_model=none`);
    args.push('-device', 'virtio-9p-pci,fsdev=lvsdout,mount_tag=lvsdout');
  }
  return args;
}

/** Boots a VM, runs the script as root inside, powers off. Rejects only when qemu cannot start. */
export async function runInVm(opts: RunOptions): Promise<RunResult> {
  const support = vmSupport();
  if (!support.ok) throw new Error(`cannot run the kernel-test VM: ${support.reason}`);
  const kernel = findKernel() as KernelChoice;
  const initrd = buildInitramfs(kernel, findBusybox() as string);
  const repo = repoRoot();
  const outDir = opts.outDir ? resolve(opts.outDir) : undefined;
  if (outDir?.includes(',')) throw new Error(`outDir must not contain a comma (qemu option syntax): ${outDir}`);
  if (outDir) mkdirSync(outDir, { recursive: true });

  const ctlDir = mkdtempSync(join(tmpdir(), 'lvsd-vm-ctl-'));
  writeFileSync(join(ctlDir, 'script.sh'), opts.script);
  writeFileSync(join(ctlDir, 'vm.env'), envFile({ LVSD_VM_OUT: outDir ?? '' }));
  writeFileSync(
    join(ctlDir, 'script.env'),
    envFile({
      LVSD_REPO: repo,
      LVSD_IN_VM: '1',
      ...(outDir ? { LVSD_VM_OUT: outDir } : {}),
      ...(process.env.CI ? { CI: process.env.CI } : {}),
      ...opts.env,
    }),
  );
  const logFile = opts.logFile ?? (outDir ? join(outDir, 'vm-console.log') : join(cacheRoot(), 'logs', `console-${process.pid}-${++logSeq}.log`));
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile);
  log.on('error', () => undefined); // a lost debug log must not fail the run

  const started = Date.now();
  let tracker!: ConsoleTracker;
  let attemptStarted = started;
  let timedOut = false;
  let qemuEnd = '';
  const clock: { fast?: number } = {};
  const fastBy = (): number | undefined => clock.fast; // read through a call: TypeScript narrows clock.fast to undefined after the reset
  let fastClockBoots = 0;
  for (let boot = 1; ; boot++) {
    attemptStarted = Date.now();
    delete clock.fast;
    const child = spawn(qemuBinary()!, qemuArgs(kernel, initrd, ctlDir, opts), { stdio: ['pipe', 'pipe', 'pipe'] });
    track(child);
    tracker = new ConsoleTracker(opts.onLine, (guestS, hostNow) => {
      const fast = guestClockFast(guestS, hostNow - attemptStarted);
      if (fast === undefined || clock.fast !== undefined) return;
      clock.fast = fast;
      tracker.muted = true; // nothing this boot printed reaches the caller
      child.kill('SIGKILL');
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, Math.max(0, started + opts.timeoutMs - Date.now()));
    // one decoder per stream: a chunk may end inside a multi-byte character
    const feed = (decoder: StringDecoder) => (buf: Buffer): void => {
      log.write(buf);
      tracker.push(decoder.write(buf));
    };
    child.stdout!.on('data', feed(new StringDecoder('utf8')));
    child.stderr!.on('data', feed(new StringDecoder('utf8')));

    try {
      await new Promise<void>((res, rej) => {
        child.once('error', rej);
        child.once('close', (code, signal) => {
          qemuEnd = signal ? `qemu killed by ${signal}` : `qemu exited with status ${code}`;
          res();
        });
      });
    } catch (e) {
      rmSync(ctlDir, { recursive: true, force: true });
      await new Promise<void>((res) => log.end(res));
      throw e;
    } finally {
      clearTimeout(timer);
      tracker.flush();
    }
    const fast = fastBy();
    if (fast === undefined || timedOut) break;
    fastClockBoots++;
    log.write(`\nvm: boot ${boot}: the guest clock ran ${fast.toFixed(1)} x fast (its TSC calibration at boot was wrong)` +
      `${boot < (opts.clockBoots ?? 3) ? ': booting again' : ''}\n`);
    rmSync(join(ctlDir, 'exitcode'), { force: true });
    if (boot >= (opts.clockBoots ?? 3)) break;
  }
  await new Promise<void>((res) => log.end(res));

  // the exit-code file on the control share is the primary channel, the END marker the fallback
  const codeFile = join(ctlDir, 'exitcode');
  const codeText = existsSync(codeFile) ? readFileSync(codeFile, 'utf8').trim() : '';
  rmSync(ctlDir, { recursive: true, force: true });
  let exitCode: number;
  if (/^\d+$/.test(codeText)) exitCode = Number(codeText);
  else if (tracker.ended && Number.isInteger(tracker.endCode)) exitCode = tracker.endCode!;
  else exitCode = timedOut ? 124 : 125;
  const fast = fastBy();
  if (fast !== undefined) exitCode = 125;
  const bootFailure =
    (fast !== undefined ? `the guest clock ran ${fast.toFixed(1)} x fast in each of ${fastClockBoots} boots (TSC calibration)` : undefined) ??
    tracker.bootFailure ??
    (!tracker.began ? (timedOut ? 'timed out before the script started' : `the VM stopped before the script started (${qemuEnd})`) : undefined);
  return {
    exitCode,
    console: tracker.text,
    output: tracker.output.join('\n'),
    durationMs: Date.now() - started,
    ...(tracker.beganAt !== undefined ? { bootMs: tracker.beganAt - attemptStarted } : {}),
    ...(fastClockBoots > 0 ? { fastClockBoots } : {}),
    ...(Number.isFinite(tracker.guestBootSeconds) ? { guestBootMs: Math.round(tracker.guestBootSeconds! * 1000) } : {}),
    timedOut,
    ...(bootFailure !== undefined ? { bootFailure } : {}),
    logFile,
    mode: 'vm',
  };
}

/** Runs the script on this host (which must have IPVS and be root), same contract as runInVm. */
export async function runDirect(opts: RunOptions): Promise<RunResult> {
  const outDir = opts.outDir ? resolve(opts.outDir) : undefined;
  if (outDir) mkdirSync(outDir, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-direct-'));
  const scriptFile = join(dir, 'script.sh');
  writeFileSync(scriptFile, opts.script);
  const started = Date.now();
  const tracker = new ConsoleTracker(opts.onLine);
  tracker.push(`${MARKER} BEGIN 0\n`);
  const child = spawn('bash', [scriptFile], {
    cwd: repoRoot(),
    detached: true, // own process group: a timeout kills the script's children too
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      LVSD_REPO: repoRoot(),
      LVSD_KERNEL_DIRECT: '1',
      ...(outDir ? { LVSD_VM_OUT: outDir } : {}),
      ...opts.env,
    },
  });
  groupLeaders.add(child);
  track(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill(child);
  }, opts.timeoutMs);
  const outDecoder = new StringDecoder('utf8');
  const errDecoder = new StringDecoder('utf8');
  child.stdout!.on('data', (b: Buffer) => tracker.push(outDecoder.write(b)));
  child.stderr!.on('data', (b: Buffer) => tracker.push(errDecoder.write(b)));
  const code = await new Promise<number>((res, rej) => {
    child.once('error', rej);
    child.once('close', (c) => res(c ?? 128));
  }).finally(() => clearTimeout(timer));
  tracker.flush();
  rmSync(dir, { recursive: true, force: true });
  return {
    exitCode: timedOut ? 124 : code,
    console: tracker.text.slice(tracker.text.indexOf('\n') + 1),
    output: tracker.output.join('\n'),
    durationMs: Date.now() - started,
    timedOut,
    mode: 'direct',
  };
}

/**
 * Which runner `runKernelSuite` will use: LVSD_KERNEL_MODE=vm|direct forces one; by default the host
 * is used directly when it is root and has IPVS, else the VM.
 */
export function kernelSupport(): { ok: true; mode: 'vm' | 'direct' } | { ok: false; reason: string } {
  const forced = process.env.LVSD_KERNEL_MODE;
  if (forced === 'direct') {
    return hostHasIpvs() ? { ok: true, mode: 'direct' } : { ok: false, reason: 'LVSD_KERNEL_MODE=direct but the host has no IPVS' };
  }
  if (forced !== 'vm' && process.getuid?.() === 0 && hostHasIpvs()) return { ok: true, mode: 'direct' };
  const vm = vmSupport();
  return vm.ok ? { ok: true, mode: 'vm' } : vm;
}

export async function runKernelSuite(opts: RunOptions): Promise<RunResult> {
  const s = kernelSupport();
  if (!s.ok) throw new Error(`no kernel with IPVS available: ${s.reason}`);
  return s.mode === 'direct' ? runDirect(opts) : runInVm(opts);
}
