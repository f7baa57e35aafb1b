/**
 * Runs inside the kernel-test VM (root, ip_vs loaded): for each of keepalived's doc/samples with virtual
 * servers, keepalived (health checkers removed, so every real server is up) programs IPVS in one network
 * namespace and `lvsd apply` of `lvsd import keepalived` of the same file in another; `ipvsadm -Sn` of the
 * two must be identical (lines sorted: the kernel's order is not ours to assert).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importKeepalived, nodeFiles } from '../../../src/import/index.js';
import { samplesDir } from '../../unit/keepalived-samples.js';
import { parseConfig } from '../../../src/config/index.js';
import { insideSkipReason } from '../vm.js';
import { run, tryRun } from './shell.js';

const skip = insideSkipReason() ?? (samplesDir() ? undefined : 'keepalived doc/samples not found');
const CLI = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const CHECKERS = /^(TCP_CHECK|HTTP_GET|SSL_GET|SMTP_CHECK|DNS_CHECK|MISC_CHECK|UDP_CHECK|PING_CHECK|FILE_CHECK|BFD_CHECK)\b/;

/** The sample without its checker blocks (and without the scripts those would have run). */
export function withoutCheckers(text: string): string {
  const out: string[] = [];
  let depth = 0;
  for (const line of text.split('\n')) {
    const code = line.replace(/[!#].*$/, '');
    if (depth === 0 && CHECKERS.test(code.trim())) depth = 0.5;
    if (depth > 0) {
      for (const c of code) {
        if (c === '{') depth = Math.floor(depth) + 1;
        else if (c === '}') depth--;
      }
      if (depth <= 0) depth = 0;
      continue;
    }
    out.push(line);
  }
  return out.join('\n');
}

function saved(ns: string): string[] {
  return run('ip', ['netns', 'exec', ns, 'ipvsadm', '-Sn']).split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '').sort();
}

/** Namespaces whose every address is routed (a dummy default route), as IPVS wants for real servers. */
async function namespaces(names: string[]): Promise<void> {
  const script = names.map((n) => `ip netns add ${n} && ip -n ${n} link add d0 type dummy && ip -n ${n} link set d0 up && ` +
    `ip -n ${n} link set lo up && ip -n ${n} route add default dev d0 && ip -n ${n} -6 route add default dev d0`).join(' && ');
  assert.equal(await exited(spawn('sh', ['-c', script], { stdio: 'ignore' })), 0, 'namespaces');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ipvsadm -Sn token of a service of the lvsd JSON: `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`, `-f 1`. */
/** ipvsadm's words for each IPVS service of an imported service (a group's: every member's, ranges expanded). */
function serviceTokens(s: Record<string, unknown>): string[] {
  return parseConfig([{ file: 'token.json', text: JSON.stringify({ services: [s] }) }]).services.map(({ spec: { key } }) => {
    if (key.kind === 'fwmark') return `-f ${key.fwmark}`;
    const flag = key.protocol === 'udp' ? '-u' : key.protocol === 'sctp' ? '--sctp-service' : '-t';
    return `${flag} ${key.address.includes(':') ? `[${key.address}]` : key.address}:${key.port}`;
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

// Times inside the VM are the guest's clock, which under TCG on a loaded host runs up to 2.5x faster than the wall
// clock (a 200 s wall run measured 500 s inside): the limit is generous; the whole file takes ~3 min of wall time.
test('keepalived and lvsd program the same IPVS table from each sample with virtual servers', { skip, timeout: 850_000 }, async (t) => {
  const dir = samplesDir()!;
  const t0 = Date.now();
  const phase = (what: string) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const tmp = mkdtempSync(join(tmpdir(), 'lvsd-ka-'));
  const made: string[] = [];
  t.after(() => {
    for (const ns of made) tryRun('ip', ['netns', 'del', ns]);
    rmSync(tmp, { recursive: true, force: true });
  });
  const samples = readdirSync(dir).filter((f) => f.startsWith('keepalived.conf.') && /^\s*virtual_server\s/m.test(readFileSync(join(dir, f), 'utf8'))).sort();
  assert.ok(samples.length >= 15, `${samples.length} samples with virtual servers`);
  // Node starts slowly under TCG (~20 s for the CLI): the samples are imported here, and applied in batches of
  // samples whose services do not collide (a config directory per batch, one `lvsd apply` each, in parallel).
  const tokens = new Map<string, string[]>();
  const batches: string[][] = [];
  for (const f of samples) {
    const r = importKeepalived(join(dir, f), nodeFiles, { configId: 'none' });
    const services = (r.config.services ?? []) as Array<Record<string, unknown>>;
    tokens.set(f, services.flatMap(serviceTokens));
    let b = batches.find((batch) => batch.every((g) => !tokens.get(g)!.some((tok) => tokens.get(f)!.includes(tok))));
    if (!b) batches.push((b = []));
    b.push(f);
    mkdirSync(join(tmp, `b${batches.indexOf(b)}`), { recursive: true });
    writeFileSync(join(tmp, `b${batches.indexOf(b)}`, `${f}.json`), JSON.stringify({ services }));
    writeFileSync(join(tmp, `b${batches.indexOf(b)}`, f), withoutCheckers(readFileSync(join(dir, f), 'utf8')));
  }
  phase(`imported ${samples.length} samples into ${batches.length} batches`);
  const names = batches.flatMap((_, i) => [`lvsdlv${i}`, `lvsdka${i}`]);
  made.push(...names);
  await namespaces(names);
  const applies = batches.map((batch, i) => {
    writeFileSync(join(tmp, `ka${i}.conf`), batch.map((f) => `include ${join(tmp, `b${i}`, f)}\n`).join(''));
    const child = spawn('ip', ['netns', 'exec', `lvsdlv${i}`, process.execPath, CLI, 'apply', '-c', join(tmp, `b${i}`), '--state-file', join(tmp, `state${i}.json`)], { stdio: 'ignore' });
    return exited(child);
  });
  const keepaliveds = batches.map((_, i) =>
    spawn('ip', ['netns', 'exec', `lvsdka${i}`, 'keepalived', '-n', '-C', '-I', '-G', '-f', join(tmp, `ka${i}.conf`), '-i', 'none',
      '-p', join(tmp, `ka${i}.pid`), '-c', join(tmp, `ka${i}.cpid`), '-r', join(tmp, `ka${i}.vpid`)], { stdio: 'ignore' }));
  phase('started');
  assert.deepEqual(await Promise.all(applies), batches.map(() => 0), 'every lvsd apply succeeds');
  phase('applied');
  const rows: string[] = [];
  try {
    for (let i = 0; i < batches.length; i++) {
      const want = saved(`lvsdlv${i}`);
      // keepalived started with the applies, long before them on this slow machine: poll until it has as many rules
      let got: string[] = [];
      for (let n = 0; n < 60; n++) {
        got = saved(`lvsdka${i}`);
        if (JSON.stringify(got) === JSON.stringify(want)) break;
        await sleep(1000);
      }
      for (const f of batches[i]!) {
        const mine = (l: string) => tokens.get(f)!.some((tok) => l.includes(` ${tok} `) || l.endsWith(` ${tok}`));
        const w = want.filter(mine);
        const g = got.filter(mine);
        assert.ok(w.length >= 2, `${f}: a service and a real server at least`);
        rows.push(`${f}: ${w.length} rules from lvsd, ${g.length} from keepalived: ${JSON.stringify(w) === JSON.stringify(g) ? 'identical' : 'DIFFERENT'}`);
      }
      assert.deepEqual(want, got, `batch ${batches[i]!.join(', ')}: lvsd (first) vs keepalived`);
    }
  } finally {
    for (const k of keepaliveds) k.kill('SIGTERM');
    await Promise.all(keepaliveds.map((k) => (k.exitCode === null ? exited(k) : undefined)));
    phase('compared');
    for (const r of rows) t.diagnostic(r);
  }
});
