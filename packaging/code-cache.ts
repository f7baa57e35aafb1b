/**
 * Writes V8's code cache for the bundle (src/cli/code-cache.ts reads it): `npm run build` runs it after
 * bundle.js, `node dist/packaging/code-cache.js [--node PATH] [--dir BUNDLE_DIR]`; the Debian package runs
 * it again with the node it ships when that is another one (build-deb.ts).
 *
 * A cache holds what V8 compiled, so it is made by running what it is for, with the node and the V8 flags
 * that will use it (V8 rejects it otherwise): each command's file is trained by running that command once
 * with LVSD_CODE_CACHE=write, with no flags (`node dist/bundle/lvsd.cjs`) and with the flags of main.ts's
 * first line (what /usr/bin/lvsd and the shebang give). The commands run harmlessly anywhere: check of
 * examples/services.json, status and reload against a socket nobody listens on, and apply of
 * examples/services.json through everything a real apply runs (planning, encoding, sending, the sysctls, the
 * state file, printing), twice in one process (a cold apply to an empty table, then a re-apply to the table
 * as declared), against the training kernel of src/cli/code-cache-training.ts: the changes go through a real
 * generic netlink socket as NLMSG_NOOP, which the kernel skips (no IPVS needed, the host's table is never
 * touched), and this file answers the reads. Were netlink unusable here, apply fails and its cache holds
 * what ran before the failure (as `apply --dry-run`'s did). `lvsd run` and the VRRP
 * worker cannot be run here: their files are compiled whole (V8's --no-lazy while compiling, the default
 * again before the cache is written, so the cache's flags are the running process's).
 *
 * `node [FLAGS] dist/packaging/code-cache.js --train-apply BUNDLE_DIR CONFIG` is that apply on its own: with
 * LVSD_CODE_CACHE=use (or off) it times the bundle's apply of CONFIG against the training kernel without IPVS
 * (LVSD_TRAIN_ONCE=1: the cold apply only), as docs/benchmarks.md's 2026-12-06 03:05 section did.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';
import { CODE_CACHED_FILES } from '../src/cli/command-files.js';
import { cacheFile, codeCacheMode, installCodeCache, writeCache } from '../src/cli/code-cache.js';
import { setTrainingKernel, type TrainingKernel } from '../src/cli/code-cache-training.js';
import * as C from '../src/ipvs/constants.js';
import { commandMessage } from '../src/ipvs/messages.js';
import type { NlMsg } from '../src/ipvs/nlattr-read.js';
import type { IpvsCommand, Timeouts } from '../src/ipvs/types.js';
import type { DesiredEntry } from '../src/table/index.js';

const dist = fileURLToPath(new URL('..', import.meta.url));
const repo = join(dist, '..');

/** Files compiled whole instead of trained (they cannot run at build time). */
export const EAGER_FILES = ['run.cjs', 'worker.cjs'];

/** The node flags of the first line of main.js (#!/usr/bin/env -S node FLAGS). */
export function shebangFlags(): string[] {
  const first = readFileSync(join(dist, 'src', 'cli', 'main.js'), 'utf8').split('\n')[0]!;
  return (/^#!.*\bnode((?: -[^\s]+)*)\s*$/.exec(first)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
}

/** In a child with the flags to cache for: compiles `file` whole and writes its cache. */
function eager(dir: string, file: string): void {
  const path = join(dir, file);
  setFlagsFromString('--no-lazy');
  const script = new Script(Module.wrap(readFileSync(path, 'utf8')), { filename: path });
  setFlagsFromString('--lazy');
  writeCache(cacheFile(dir, path), script.createCachedData());
}

/** A kernel reply carrying what `command` would set (the kernel dumps a table in the attributes it is set with). */
function reply(command: IpvsCommand): NlMsg {
  const payload = commandMessage(C.NLMSG_NOOP, 0, command).subarray(C.NLMSG_HDRLEN);
  return { type: C.NLMSG_NOOP, flags: 0, seq: 0, port: 0, payload };
}

/**
 * The training kernel's reads: the table is `table` (services dumped, then each one's destinations in the
 * same order, as the client asks for them) and the timeouts `timeouts`.
 */
export function trainingKernelOf(table: () => readonly DesiredEntry[], timeouts: () => Timeouts, sysctlDir: string): TrainingKernel {
  let dests = 0;
  return {
    family: C.NLMSG_NOOP,
    sysctlDir,
    answer(request) {
      const cmd = request[C.NLMSG_HDRLEN];
      const t = table();
      if (cmd === C.IPVS_CMD_GET_SERVICE) {
        dests = 0;
        return t.map((e) => reply({ cmd: 'new-service', service: e.service }));
      }
      if (cmd === C.IPVS_CMD_GET_DEST) {
        const e = t[dests++];
        return e ? e.dests.map((dest) => reply({ cmd: 'new-dest', service: e.service.key, dest })) : [];
      }
      if (cmd === C.IPVS_CMD_GET_CONFIG) return [reply({ cmd: 'set-timeouts', timeouts: timeouts() })];
      throw new Error(`the training kernel has no answer to generic netlink command ${cmd}`);
    },
  };
}

/**
 * In a child with the flags to cache for: apply.cjs (code cache written at exit) applies `config` to an empty
 * table, then again to the table as declared. Exit status: apply's (1 = it failed to run through).
 */
async function trainApply(dir: string, config: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'lvsd-code-cache-apply-'));
  try {
    const sysctlDir = join(tmp, 'vs');
    mkdirSync(sysctlDir);
    for (const name of ['expire_nodest_conn', 'expire_quiescent_template']) writeFileSync(join(sysctlDir, name), '0\n');
    // first an empty table with other timeouts than the config's (every change is sent), then as declared
    let table: readonly DesiredEntry[] = [];
    let timeouts: Timeouts = { tcp: 7200, tcpFin: 7200, udp: 7200 };
    setTrainingKernel(trainingKernelOf(() => table, () => timeouts, sysctlDir));
    // LVSD_CODE_CACHE: write when training; use or off to time a cold apply against the training kernel
    const mode = codeCacheMode();
    if (mode !== 'off') installCodeCache(dir, CODE_CACHED_FILES, mode);
    const { start } = createRequire(import.meta.url)(join(dir, 'apply.cjs')) as typeof import('../src/cli/start.js');
    const args = ['apply', '-c', config, '--state-file', join(tmp, 'state.json')];
    // the cold apply at log level debug (its lines: the missing state file, ipvs.apply), the re-apply at
    // apply's own warn (nothing to log: no logger made)
    process.env.LVSD_LOG_LEVEL = 'debug';
    await start(args);
    delete process.env.LVSD_LOG_LEVEL;
    if (process.exitCode) return;
    if (process.env.LVSD_TRAIN_ONCE === '1') return;
    const { loadConfig } = await import('../src/config/index.js');
    const { desiredTable } = await import('../src/daemon/desired.js');
    const loaded = await loadConfig(config);
    table = desiredTable(loaded);
    timeouts = { tcp: 900, tcpFin: 120, udp: 300, ...loaded.ipvs.timeouts };
    await start(args);
  } finally {
    setTrainingKernel(undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What the trainers run with: write mode, nothing logged, no NODE_OPTIONS (its V8 flags are not lvsd's). */
function trainingEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LVSD_CODE_CACHE: 'write', LVSD_LOG_LEVEL: 'silent' };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * Trains apply.cjs's cache in `dir` for node `flags` (a child: trainApply); its answer as spawnSync gave it.
 * A failed apply (netlink unusable here) leaves a cache of what ran and a note on stderr, not a failed build.
 */
export function trainApplyCache(dir: string, flags: readonly string[], node = process.execPath, config = join(repo, 'examples', 'services.json')): SpawnSyncReturns<string> {
  const r = spawnSync(node, [...flags, fileURLToPath(import.meta.url), '--train-apply', dir, config], { env: trainingEnv(), encoding: 'utf8', timeout: 120_000 });
  if (r.error || r.signal) throw new Error(`training lvsd apply: ${r.error?.message ?? r.signal}`);
  if (r.status !== 0) process.stderr.write(`code cache: training lvsd apply failed (exit ${r.status}), its cache holds less: ${r.stderr.trim()}\n`);
  return r;
}

export function writeCodeCaches(dir: string, node = process.execPath): void {
  const tmp = mkdtempSync(join(tmpdir(), 'lvsd-code-cache-'));
  try {
    const config = join(repo, 'examples', 'services.json');
    const none = join(tmp, 'nobody.sock');
    const trainings = [
      ['status', '--socket', none],
      ['reload', '--socket', none],
      ['check', '-c', config],
    ];
    const env = trainingEnv();
    for (const flags of [[], shebangFlags()]) {
      for (const args of trainings) {
        const r = spawnSync(node, [...flags, join(dir, 'lvsd.cjs'), ...args], { env, encoding: 'utf8', timeout: 120_000 });
        if (r.error || r.signal) throw new Error(`training lvsd ${args.join(' ')}: ${r.error?.message ?? r.signal}`);
      }
      trainApplyCache(dir, flags, node, config);
      for (const file of EAGER_FILES) {
        const r = spawnSync(node, [...flags, fileURLToPath(import.meta.url), '--eager', dir, file], { env, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`compiling ${file}: ${r.stderr}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// run as a program (not when a test imports this file for its exports)
const argv = process.argv[1] === fileURLToPath(import.meta.url) ? process.argv.slice(2) : undefined;
if (argv?.[0] === '--eager') {
  eager(argv[1]!, argv[2]!);
} else if (argv?.[0] === '--train-apply') {
  await trainApply(argv[1]!, argv[2]!);
} else if (argv) {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  writeCodeCaches(opt('--dir') ?? join(dist, 'bundle'), opt('--node'));
}
