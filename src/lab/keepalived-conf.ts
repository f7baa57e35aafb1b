/**
 * A keepalived.conf equivalent to one lab director's lvsd configuration, so the failover-gap bench
 * (bench/failover-gap.ts) can run keepalived "configured the same way" from the very files lvsd reads.
 * Pure: the normalised lvsd config in (every default filled, so nothing is left to either tool's own
 * defaults by accident), the text out.
 *
 * It translates only what the lab uses: VRRP v3 instances (no unicast, tracking or notify), TCP services
 * on an address with DR/NAT real servers and HTTP checks, and connection sync. Anything else throws,
 * naming what could not be translated, rather than silently benchmarking a different setup.
 *
 * The one place the two differ by design is the health checks' counting (keepalived has no `rise`):
 * - lvsd `fall: N` (N failures in a row, one per interval) -> keepalived `retry N-1` with
 *   `delay_before_retry` = the interval: the first failure and N-1 retries, an interval apart;
 * - lvsd starts every real server down and needs `rise` successes -> keepalived `alpha` (start down)
 *   and up after the first success: keepalived brings a server up (rise - 1) intervals sooner.
 * - lvsd's probe `timeout` -> keepalived `connect_timeout` (which bounds the whole HTTP check).
 * - lvsd `onFailure: inhibit` -> `inhibit_on_failure` (weight 0, the entry stays); `remove` -> nothing.
 */
import type { Config, HealthCheckConfig, RealServerConfig, ServiceConfig, VrrpInstanceConfig } from '../config/types.js';

export interface KeepalivedOptions {
  /** global_defs router_id */
  routerId: string;
  /** real-time priority of keepalived's VRRP process: lvsd's VRRP thread runs SCHED_RR at this priority */
  vrrpRtPriority: number;
  /** RLIMIT_RTTIME for it, microseconds (its 10 ms default can get it killed on a loaded host) */
  vrrpRlimitRttime: number;
}

/** Seconds as keepalived writes them: "1", "0.1", "2.5". */
export function keepalivedSeconds(s: number): string {
  return String(Math.round(s * 1000) / 1000);
}

function unsupported(what: string): never {
  throw new Error(`keepalived-conf: cannot translate ${what}`);
}

function vrrpInstance(v: VrrpInstanceConfig): string[] {
  if (v.version !== 3) unsupported(`VRRP version ${v.version} (instance ${v.name}): the lab uses 3`);
  if (v.unicast) unsupported(`unicast VRRP (instance ${v.name})`);
  if (v.trackInterfaces.length > 0) unsupported(`track interfaces (instance ${v.name})`);
  if (v.priority === 255) unsupported(`an address owner (priority 255, instance ${v.name})`);
  return [
    `vrrp_instance ${v.name} {`,
    // both tools start every non-owner instance as backup and let the election decide
    '  state BACKUP',
    `  interface ${v.interface}`,
    `  virtual_router_id ${v.vrid}`,
    `  priority ${v.priority}`,
    `  advert_int ${keepalivedSeconds(v.advertInterval)}`,
    '  version 3',
    ...(v.preempt ? (v.preemptDelay > 0 ? [`  preempt_delay ${keepalivedSeconds(v.preemptDelay)}`] : []) : ['  nopreempt']),
    // lvsd's gratuitous ARPs: `count` of them on becoming master (their spacing is global, vrrp_garp_interval),
    // refresh 0 = no later set
    `  garp_master_repeat ${v.garp.count}`,
    '  garp_master_delay 0',
    ...(v.garp.refresh > 0 ? [`  garp_master_refresh ${keepalivedSeconds(v.garp.refresh)}`] : []),
    '  virtual_ipaddress {',
    ...v.addresses.map((a) => `    ${a.address}/${a.prefixLength} dev ${v.interface}`),
    '  }',
    '}',
  ];
}

function check(c: HealthCheckConfig, rs: RealServerConfig): string[] {
  if (c.type !== 'http') unsupported(`a ${c.type} health check (real server ${rs.spec.address})`);
  if (c.method !== 'GET') unsupported(`HTTP method ${c.method}`);
  if (c.expectBody !== undefined || c.expectDigest !== undefined || c.host !== undefined) {
    unsupported('an HTTP check with a body, digest or host expectation');
  }
  const connect = c.address === rs.spec.address && c.port === rs.spec.port ? [] : [`      connect_ip ${c.address}`, `      connect_port ${c.port}`];
  return [
    '    HTTP_GET {',
    '      url {',
    `        path ${c.path}`,
    `        status_code ${c.expectStatus.join(' ')}`,
    '      }',
    ...connect,
    `      connect_timeout ${keepalivedSeconds(c.timeout)}`,
    `      retry ${c.fall - 1}`,
    `      delay_before_retry ${keepalivedSeconds(c.interval)}`,
    '    }',
  ];
}

function virtualServer(s: ServiceConfig): string[] {
  const key = s.spec.key;
  if (key.kind !== 'addr' || key.protocol !== 'tcp') unsupported(`service ${s.name}: only TCP services on an address`);
  if (s.spec.timeout > 0 || s.spec.flags !== 0) unsupported(`service ${s.name}: persistence or scheduler flags`);
  if (s.sorryServer || s.quorum || s.slowStart > 0) unsupported(`service ${s.name}: sorry server, quorum or slow start`);
  if (s.initialState !== 'down') unsupported(`service ${s.name}: initialState up`);
  const intervals = new Set(s.realServers.map((r) => r.healthCheck.interval));
  if (intervals.size !== 1) unsupported(`service ${s.name}: real servers probed at different intervals`);
  const lines = [
    `virtual_server ${key.address} ${key.port} {`,
    `  delay_loop ${keepalivedSeconds([...intervals][0]!)}`,
    `  lb_algo ${s.spec.scheduler}`,
    `  lb_kind ${forwarding(s.realServers, s.name)}`,
    '  protocol TCP',
    '  alpha',
  ];
  for (const rs of s.realServers) {
    lines.push(
      `  real_server ${rs.spec.address} ${rs.spec.port} {`,
      `    weight ${rs.spec.weight}`,
      ...(s.onFailure === 'inhibit' ? ['    inhibit_on_failure'] : []),
      ...check(rs.healthCheck, rs),
      '  }',
    );
  }
  lines.push('}');
  return lines;
}

function forwarding(rss: RealServerConfig[], name: string): 'DR' | 'NAT' {
  const kinds = new Set(rss.map((r) => r.spec.forwarding));
  if (kinds.size !== 1) unsupported(`service ${name}: mixed forwarding methods`);
  const k = [...kinds][0];
  if (k === 'dr') return 'DR';
  if (k === 'nat') return 'NAT';
  return unsupported(`service ${name}: ${String(k)} forwarding`);
}

/** The keepalived.conf text for a director whose lvsd config is `config`. */
export function keepalivedConf(config: Config, opts: KeepalivedOptions): string {
  if (config.syncGroups.length > 0) unsupported('VRRP sync groups');
  const cs = config.connectionSync;
  if (cs && (cs.port !== undefined || cs.ttl !== undefined || cs.group !== undefined || cs.maxLength !== undefined)) {
    unsupported('connection sync with a port, TTL, group or maximum length');
  }
  const garpIntervals = new Set(config.vrrp.map((v) => v.garp.interval));
  if (garpIntervals.size > 1) unsupported('instances with different GARP intervals (keepalived sets it per interface)');
  const lines = [
    'global_defs {',
    `  router_id ${opts.routerId}`,
    '  vrrp_version 3',
    `  vrrp_rt_priority ${opts.vrrpRtPriority}`,
    `  vrrp_rlimit_rttime ${opts.vrrpRlimitRttime}`,
    ...[...garpIntervals].map((g) => `  vrrp_garp_interval ${keepalivedSeconds(g)}`),
    ...(cs ? [`  lvs_sync_daemon ${cs.interface} ${cs.instance} id ${cs.syncId}`] : []),
    '}',
  ];
  for (const v of config.vrrp) lines.push(...vrrpInstance(v));
  for (const s of config.services) lines.push(...virtualServer(s));
  return lines.join('\n') + '\n';
}
