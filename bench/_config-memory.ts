/**
 * The heap the loaded config and the reload cache (src/config/cache.ts) hold at N real servers (100 per
 * service, a TCP check each), measured with `node --expose-gc` after a full GC: the Config alone, then what
 * the ConfigCache keeps beside it (the file's bytes, its parsed document, the memo of normalised items).
 *
 *   node --expose-gc dist/bench/_config-memory.js [N]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigCache, loadConfig } from '../src/config/index.js';

const N = Number(process.argv[2] ?? 100_000);
const PER = 100;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const dir = mkdtempSync(join(tmpdir(), 'lvsd-cfgmem-'));
const file = join(dir, 'lvsd.json');
writeFileSync(file, JSON.stringify({
  services: Array.from({ length: Math.ceil(N / PER) }, (_, s) => ({
    name: `s${s}`, protocol: 'tcp', address: `10.92.${s >> 8}.${s & 255}`, port: 80, scheduler: 'wrr', forwarding: 'nat',
    healthCheck: { type: 'tcp', interval: '10s', timeout: '1s', rise: 1, fall: 2 },
    realServers: Array.from({ length: Math.min(PER, N - s * PER) }, (_, r) => ({ address: `127.1.${s & 255}.${r + 1}`, port: 8000 + (s >> 8), weight: 1 })),
  })),
}));
const mib = (n: number) => +(n / 1048576).toFixed(1);
const heap = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
};
const h0 = heap();
let config: unknown = await loadConfig(file);
const h1 = heap();
config = undefined;
heap();
let cache: ConfigCache | undefined = new ConfigCache();
config = await loadConfig(file, { cache });
const h2 = heap();
const reload0 = performance.now();
config = await loadConfig(file, { cache });
const reloadMs = performance.now() - reload0;
const h3 = heap();
cache = undefined;
const h4 = heap();
process.stdout.write(`${JSON.stringify({
  realServers: N,
  configHeapMiB: mib(h1.heap - h0.heap),
  withCacheHeapMiB: mib(h2.heap - h0.heap), withCacheExternalMiB: mib(h2.external - h0.external),
  afterReloadHeapMiB: mib(h3.heap - h0.heap), unchangedReloadMs: Math.round(reloadMs),
  cacheAloneHeapMiB: mib(h3.heap - h4.heap), cacheAloneExternalMiB: mib(h3.external - h4.external),
})}\n`);
void config;
