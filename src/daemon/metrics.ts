/**
 * Prometheus metrics (prom-client): a registry with typed updaters the daemon calls as things happen
 * (VRRP, health checks, reconciles, reloads), plus kernel and health-loop gauges read from the latest
 * status snapshot at scrape time (metrics-snapshot.ts). `startMetricsServer` (metrics-server.ts) serves
 * GET /metrics on the configured host:port. The metric list is in docs/status.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DURATION_BUCKETS } from './buckets.js';
import { SeriesValues, scrapeTimeFamily } from './metrics-families.js';
import { registerSnapshotMetrics } from './metrics-snapshot.js';
import type { LoadOutcome, StatusSnapshot, VrrpStateName } from './status.js';

export { parseListen, startMetricsServer } from './metrics-server.js';

/** lvsd_vrrp_state values. */
export const VRRP_STATE_VALUE: Record<Exclude<VrrpStateName, 'stopped'>, number> = {
  init: 0, backup: 1, master: 2, fault: 3,
};


export interface Metrics {
  registry: Registry;
  /** 'stopped' removes the instance's series. */
  vrrpState(instance: string, state: VrrpStateName): void;
  vrrpTransition(instance: string, to: VrrpStateName): void;
  vrrpAdvertSent(instance: string, count?: number): void;
  vrrpAdvertReceived(instance: string, count?: number): void;
  /** reason: a short stable word ('checksum', 'ttl', 'vrid', 'auth', 'interval', 'addresses', 'length', ...). */
  vrrpAdvertInvalid(instance: string, reason: string, count?: number): void;
  /** Netlink messages lost (ENOBUFS) on a socket (links: notifications, ipvs: replies) and the state re-read. */
  netlinkOverrun(socket: string, count?: number): void;
  /** result: 'up' | 'down' per probe, or a finer stable word ('timeout', 'refused'). */
  healthResult(service: string, realServer: string, result: string, count?: number): void;
  healthProbeDuration(type: string, seconds: number): void;
  /** Many probe durations at once: counts per DURATION_BUCKETS bound (and one beyond), their sum and count. */
  healthProbeDurations(type: string, histogram: { buckets: number[]; sumSeconds: number; count: number }): void;
  /** Called at each scrape before the health series are read (the addon's TCP check counts are pulled then). */
  healthCountsFrom(take: () => void): void;
  healthUp(service: string, realServer: string, up: boolean): void;
  /** A probe that failed because of the director itself (EMFILE, EADDRNOTAVAIL ...), by errno name. */
  healthLocalFailure(errno: string): void;
  /** Drops a removed real server's series (health results and up). */
  forgetRealServer(service: string, realServer: string): void;
  /** Drops a removed VRRP instance's series (state, transitions, adverts). */
  forgetInstance(instance: string): void;
  reconcileDuration(seconds: number): void;
  reconcileError(count?: number): void;
  configReload(result: LoadOutcome): void;
  /** One reconcile: its duration and how many commands the kernel refused (the daemon's DaemonMetrics shape). */
  reconcile(durationSeconds: number, errors: number): void;
  /** One pass over the kernel by kind (start, reload, drift, repair, adopted, health, drain) and result (ok, partial, failed). */
  reconcilePass(kind: string, result: 'ok' | 'partial' | 'failed'): void;
  /** Kernel operations that failed, by command and reason (overrun, refused, skipped, unavailable, protocol, error). */
  ipvsOpFailed(op: string, reason: string, count?: number): void;
  /** Failed operations outstanding (0 once repaired). */
  ipvsFailuresPending(count: number): void;
  /** One load or reload, by result (the daemon's DaemonMetrics shape). */
  reload(result: LoadOutcome): void;
  /** Where the scrape-time gauges (kernel counters, health loop) read from; undefined = no data yet. */
  setSnapshotSource(source: () => StatusSnapshot | undefined): void;
}

export interface MetricsOptions {
  /** Node.js process metrics (process_*, nodejs_*). Default true. */
  processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  const registers = [registry];
  let source: () => StatusSnapshot | undefined = () => undefined;
  // Probe results and durations arrive thousands of times a second: they are counted in plain numbers
  // here and become series only at scrape time (prom-client hashes the labels on every inc/observe), and
  // the per-real-server families keep one key and number per series (metrics-families.ts).
  const resultCounts = new SeriesValues(['service', 'real_server', 'result']);
  /** Every result word counted (up, down): forgetRealServer drops each one's series. */
  const resultWords = new Set<string>();
  const ups = new SeriesValues(['service', 'real_server']);
  const durations = new Map<string, { buckets: number[]; sum: number; count: number }>();
  let takeHealthCounts = (): void => undefined;
  const durationsOf = (type: string) => {
    let d = durations.get(type);
    if (!d) durations.set(type, (d = { buckets: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }));
    return d;
  };

  /** Per VRRP instance, the series it has (metric + full label set), so forgetInstance can remove them all. */
  const instanceSeries = new Map<string, Map<string, { metric: Counter<string> | Gauge<string>; labels: Record<string, string> }>>();
  const seen = (instance: string, metric: Counter<string> | Gauge<string>, labels: Record<string, string>): Record<string, string> => {
    let m = instanceSeries.get(instance);
    if (!m) instanceSeries.set(instance, (m = new Map()));
    const key = `${(metric as unknown as { name: string }).name}\0${labels.to ?? ''}\0${labels.reason ?? ''}`;
    if (!m.has(key)) m.set(key, { metric, labels });
    return labels;
  };
  const vrrpState = new Gauge({ name: 'lvsd_vrrp_state', help: 'VRRP state: 0 init, 1 backup, 2 master, 3 fault', labelNames: ['instance'], registers });
  const transitions = new Counter({ name: 'lvsd_vrrp_transitions_total', help: 'VRRP state changes, by the state entered', labelNames: ['instance', 'to'], registers });
  const sent = new Counter({ name: 'lvsd_vrrp_adverts_sent_total', help: 'VRRP advertisements sent', labelNames: ['instance'], registers });
  const received = new Counter({ name: 'lvsd_vrrp_adverts_received_total', help: 'Valid VRRP advertisements received', labelNames: ['instance'], registers });
  const invalid = new Counter({ name: 'lvsd_vrrp_adverts_invalid_total', help: 'VRRP advertisements dropped as invalid, by reason', labelNames: ['instance', 'reason'], registers });
  const netlinkOverruns = new Counter({ name: 'lvsd_netlink_overruns_total', help: 'Netlink overruns (messages lost, state re-read), by socket: links, ipvs', labelNames: ['socket'], registers });
  scrapeTimeFamily(registers, 'lvsd_health_results_total', 'Health probe results', 'counter', (put) => {
    takeHealthCounts();
    resultCounts.put(put);
  }, true);
  registry.registerMetric(probeDurationMetric('lvsd_health_probe_duration_seconds', 'Health probe duration', durations, () => takeHealthCounts()) as never);
  scrapeTimeFamily(registers, 'lvsd_health_up', 'Whether the real server is healthy (1) or not (0)', 'gauge', (put) => ups.put(put), true);
  const reconcileDuration = new Histogram({ name: 'lvsd_reconcile_duration_seconds', help: 'Time to reconcile the kernel table with the desired state', buckets: [...DURATION_BUCKETS], registers });
  const reconcileErrors = new Counter({ name: 'lvsd_reconcile_errors_total', help: 'IPVS commands the kernel refused during reconciles', registers });
  const localFailures = new Counter({
    name: 'lvsd_health_local_failures_total', help: 'Probes that failed because of the director itself (out of descriptors, ports, memory), by errno; not counted against the real server',
    labelNames: ['errno'], registers,
  });
  const reloads = new Counter({ name: 'lvsd_config_reloads_total', help: 'Config loads and reloads, by result', labelNames: ['result'], registers });
  const passes = new Counter({ name: 'lvsd_ipvs_reconciles_total', help: 'Passes over the kernel IPVS table, by kind and result', labelNames: ['kind', 'result'], registers });
  const opFailures = new Counter({ name: 'lvsd_ipvs_op_failures_total', help: 'IPVS operations that failed, by command and reason', labelNames: ['op', 'reason'], registers });
  const pendingFailures = new Gauge({ name: 'lvsd_ipvs_failures_pending', help: 'Failed IPVS operations not repaired yet', registers });
  pendingFailures.set(0);

  registerSnapshotMetrics(registers, () => source());

  return {
    registry,
    vrrpState: (instance, state) => {
      if (state === 'stopped') vrrpState.remove({ instance });
      else vrrpState.set(seen(instance, vrrpState, { instance }), VRRP_STATE_VALUE[state]);
    },
    vrrpTransition: (instance, to) => transitions.inc(seen(instance, transitions, { instance, to })),
    forgetInstance: (instance) => {
      for (const { metric, labels } of instanceSeries.get(instance)?.values() ?? []) metric.remove(labels);
      instanceSeries.delete(instance);
    },
    vrrpAdvertSent: (instance, count = 1) => sent.inc(seen(instance, sent, { instance }), count),
    vrrpAdvertReceived: (instance, count = 1) => received.inc(seen(instance, received, { instance }), count),
    vrrpAdvertInvalid: (instance, reason, count = 1) => invalid.inc(seen(instance, invalid, { instance, reason }), count),
    netlinkOverrun: (socket, count = 1) => netlinkOverruns.inc({ socket }, count),
    healthResult: (service, realServer, result, count = 1) => {
      resultWords.add(result);
      resultCounts.add(SeriesValues.key(service, realServer, result), count);
    },
    healthProbeDurations: (type, h) => {
      const d = durationsOf(type);
      d.count += h.count;
      d.sum += h.sumSeconds;
      // the last bucket (beyond every bound) is only in the count, as +Inf
      for (let i = 0; i < DURATION_BUCKETS.length; i++) d.buckets[i]! += h.buckets[i] ?? 0;
    },
    healthCountsFrom: (take) => { takeHealthCounts = take; },
    healthProbeDuration: (type, seconds) => {
      const d = durationsOf(type);
      d.count++;
      d.sum += seconds;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        if (seconds <= DURATION_BUCKETS[i]!) {
          d.buckets[i]!++;
          break;
        }
      }
    },
    healthUp: (service, realServer, isUp) => ups.set(SeriesValues.key(service, realServer), isUp ? 1 : 0),
    forgetRealServer: (service, realServer) => {
      ups.delete(SeriesValues.key(service, realServer));
      for (const result of resultWords) resultCounts.delete(SeriesValues.key(service, realServer, result));
    },
    reconcileDuration: (seconds) => reconcileDuration.observe(seconds),
    reconcileError: (count = 1) => reconcileErrors.inc(count),
    healthLocalFailure: (errno) => localFailures.inc({ errno }),
    configReload: (result) => reloads.inc({ result }),
    reconcile: (seconds, errors) => {
      reconcileDuration.observe(seconds);
      if (errors > 0) reconcileErrors.inc(errors);
    },
    reconcilePass: (kind, result) => passes.inc({ kind, result }),
    ipvsOpFailed: (op, reason, count = 1) => opFailures.inc({ op, reason }, count),
    ipvsFailuresPending: (count) => pendingFailures.set(count),
    reload: (result) => reloads.inc({ result }),
    setSnapshotSource: (fn) => { source = fn; },
  };
}

/**
 * A histogram by check type whose buckets are plain counters (non-cumulative, one per bound), shaped for
 * the registry at scrape time the way prom-client's own Histogram is: _bucket (cumulative, with +Inf),
 * _sum and _count per type.
 */
function probeDurationMetric(
  name: string, help: string, data: Map<string, { buckets: number[]; sum: number; count: number }>, before: () => void,
) {
  return {
    name, help, type: 'histogram', aggregator: 'sum',
    reset: () => data.clear(),
    get: async () => {
      before();
      const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
      for (const [type, d] of data) {
        let acc = 0;
        for (let i = 0; i < DURATION_BUCKETS.length; i++) {
          acc += d.buckets[i]!;
          values.push({ labels: { le: DURATION_BUCKETS[i]!, type }, value: acc, metricName: `${name}_bucket` });
        }
        values.push({ labels: { le: '+Inf', type }, value: d.count, metricName: `${name}_bucket` });
        values.push({ labels: { type }, value: d.sum, metricName: `${name}_sum` });
        values.push({ labels: { type }, value: d.count, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
  };
}
