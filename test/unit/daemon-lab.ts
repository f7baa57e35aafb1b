/**
 * A daemon over the in-memory IPVS model (ModelClient, with fault injection), a scripted prober, a
 * capturing logger, real metrics and, when asked, a fake VRRP side: what the daemon fault tests share.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../../src/config/types.js';
import { Daemon, type DaemonOptions, type VrrpPort } from '../../src/daemon/daemon.js';
import { createMetrics, type Metrics } from '../../src/daemon/metrics.js';
import type { VrrpInstanceStatus } from '../../src/daemon/status.js';
import type { Prober } from '../../src/health/index.js';
import { destId, serviceId } from '../../src/ipvs/types.js';
import { ModelClient } from './reconcile-model.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function weights(kernel: ModelClient, key = 'tcp/192.0.2.10:80'): Record<string, number> {
  const e = kernel.table.find((x) => serviceId(x.service.key) === key);
  return Object.fromEntries((e?.dests ?? []).map((d) => [destId(d), d.weight]).sort());
}

/** One sample's value from Prometheus text; undefined when the series does not exist. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[3]);
  }
  return undefined;
}

export const WEB = {
  name: 'web', protocol: 'tcp', address: '192.0.2.10', port: 80, scheduler: 'wrr', forwarding: 'nat',
  healthCheck: { type: 'tcp', interval: '100ms', timeout: '50ms', rise: 1, fall: 1 },
  realServers: [
    { address: '10.0.1.11', port: 8080, weight: 100 },
    { address: '10.0.1.12', port: 8080, weight: 100 },
    { address: '10.0.1.13', port: 8080, weight: 100 },
  ],
};

export const VI_1 = { name: 'vi_1', interface: 'eth0', vrid: 51, priority: 150, addresses: ['192.0.2.10/24'] };

/** A VRRP side that records what it was asked and fails when told to. */
export class FakeVrrp implements VrrpPort {
  configs: Config[] = [];
  failUpdate: Error | undefined;
  /** update() waits for this when set (a slow VRRP thread). */
  gate: Promise<void> | undefined;
  stopped = false;
  constructor(config: Config, private readonly metrics?: Metrics) {
    this.configs.push(config);
    for (const v of config.vrrp) this.metrics?.vrrpState(v.name, 'master');
  }
  get running(): string[] {
    return this.configs.at(-1)!.vrrp.map((v) => `${v.name}/${v.vrid}/${v.priority}`);
  }
  /** update() calls so far, counted when called (before the gate). */
  updateCalls = 0;
  async update(config: Config): Promise<void> {
    this.updateCalls++;
    await this.gate;
    if (this.failUpdate) throw this.failUpdate;
    this.configs.push(config);
    for (const v of config.vrrp) {
      this.metrics?.vrrpState(v.name, 'backup');
      this.metrics?.vrrpAdvertSent(v.name, 3);
    }
  }
  snapshot(): VrrpInstanceStatus[] {
    return [];
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  onTransition(): void {}
  /** tableReady() calls, with how many services the kernel held at that moment (set by the lab). */
  tableReadyCalls: Array<{ ok: boolean; error?: string | undefined; kernelServices: number }> = [];
  kernelServices: () => number = () => 0;
  async tableReady(ok: boolean, error?: string): Promise<void> {
    this.tableReadyCalls.push({ ok, error, kernelServices: this.kernelServices() });
  }
}

export interface LabOptions {
  vrrp?: boolean;
}

export function daemonLab(t: { after(fn: () => unknown): void }, lab: LabOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-faults-'));
  const configPath = join(dir, 'services.json');
  const write = (doc: unknown) => writeFileSync(configPath, JSON.stringify(doc));
  write({ services: [WEB], ...(lab.vrrp ? { vrrp: [VI_1] } : {}) });
  const alive = new Set(['10.0.1.11:8080', '10.0.1.12:8080', '10.0.1.13:8080', '10.0.1.14:8080']);
  const probed: string[] = [];
  const state = {
    onProbe: undefined as undefined | ((id: string) => void),
  };
  const prober: Prober = async (_check, target) => {
    const id = destId(target);
    probed.push(id);
    state.onProbe?.(id);
    return alive.has(id) ? { ok: true, latencyMs: 1, reason: 'ok' } : { ok: false, latencyMs: 1, reason: 'connect ECONNREFUSED' };
  };
  const kernel = new ModelClient();
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = createMetrics({ processMetrics: false });
  let vrrp: FakeVrrp | undefined;
  const daemons: Daemon[] = [];
  t.after(async () => {
    for (const d of daemons) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir, configPath, write, alive, probed, kernel, logs, metrics,
    get vrrp() { return vrrp; },
    set onProbe(fn: ((id: string) => void) | undefined) { state.onProbe = fn; },
    async start(extra: Partial<DaemonOptions> = {}): Promise<Daemon> {
      const d = await Daemon.start({
        configPath, log, stateFile: join(dir, 'state.json'), ipvs: async () => kernel, prober, metrics,
        vrrp: async (config) => {
          vrrp = new FakeVrrp(config, metrics);
          vrrp.kernelServices = () => kernel.table.length;
          return vrrp;
        },
        ...extra,
      });
      daemons.push(d);
      return d;
    },
  };
}
