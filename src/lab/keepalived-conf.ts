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
import { LvsdError } from '../errors.js';
import type { Config, HealthCheckConfig, RealServerConfig, ServiceConfig, VrrpInstanceConfig } from '../config/types.js';

export interface KeepalivedOptions {
  /** global_defs router_id */
  routerId: string;
  /** real-time priority of keepalived's VRRP process: lvsd's VRRP thread runs SCHED_RR at this priority (0: not set) */
  vrrpRtPriority?: number;
  /** RLIMIT_RTTIME for it, microseconds (its 10 ms default can get it killed on a loaded host; 0: not set) */
  vrrpRlimitRttime?: number;
}

/** Seconds as keepalived writes them: "1", "0.1", "2.5". */
export function keepalivedSeconds(s: number): string {
  return String(Math.round(s * 1000) / 1000);
}

function unsupported(what: string): never {
  throw new LvsdError('LVSD_CONFIG_INVALID', `keepalived-conf: cannot translate ${what}`);
}

/** A word keepalived reads back as one: quoted when it has blanks or comment characters. */
function word(w: string): string {
  return /^[^\s"'!#{}\\]+$/.test(w) ? w : `"${w.replace(/(["\\])/g, '\\$1')}"`;
}

/** A command keyword (quorum_up, notify_up...): keepalived splits its script on blanks, then an optional user. */
function scriptLine(indent: string, keyword: string, argv: readonly string[] | undefined, user: string | undefined, where: string): string[] {
  if (!argv) return [];
  if (argv.some((a) => /\s/.test(a))) unsupported(`${where}: ${keyword} with an argument with blanks (keepalived splits the script on blanks)`);
  return [`${indent}${keyword} ${word(argv.join(' '))}${user ? ` ${word(user)}` : ''}`];
}

/**
 * keepalived names of an instance's tracked objects: defined once at the top level, named by the instance.
 * A script keeps its name unless another instance has a script of that name too (then INSTANCE_NAME).
 */
let sharedScriptNames = new Set<string>();
const trackNames = (v: VrrpInstanceConfig) => ({
  scripts: v.trackScripts.map((t) => (sharedScriptNames.has(t.name) ? `${v.name}_${t.name}` : t.name)),
  files: v.trackFiles.map((_t, i) => `${v.name}_file${i}`),
  processes: v.trackProcesses.map((_t, i) => `${v.name}_process${i}`),
});

const weightLine = (t: { weight: number; reverse: boolean }) => `  weight ${t.weight}${t.reverse ? ' reverse' : ''}`;

/** vrrp_script / track_file / vrrp_track_process blocks of an instance's tracked scripts, files and processes. */
function trackDefinitions(v: VrrpInstanceConfig): string[] {
  const n = trackNames(v);
  const out: string[] = [];
  for (const t of v.trackScripts) if (t.command.some((a) => /\s/.test(a))) unsupported(`track script ${t.name}: an argument with blanks (keepalived splits the script on blanks)`);
  v.trackScripts.forEach((t, i) => out.push(
    `vrrp_script ${n.scripts[i]} {`, `  script ${word(t.command.join(' '))}`, `  interval ${keepalivedSeconds(t.interval)}`,
    `  timeout ${keepalivedSeconds(t.timeout)}`, weightLine(t), `  rise ${t.rise}`, `  fall ${t.fall}`, `  user ${t.user}`,
    ...(t.initFail ? ['  init_fail'] : []), '}'));
  v.trackFiles.forEach((t, i) => out.push(`track_file ${n.files[i]} {`, `  file ${word(t.path)}`, weightLine(t), '}'));
  v.trackProcesses.forEach((t, i) => out.push(
    `vrrp_track_process ${n.processes[i]} {`, `  process ${[t.name, ...(t.args ?? [])].map(word).join(' ')}`, weightLine(t),
    `  quorum ${t.quorum}`, ...(t.quorumMax !== undefined ? [`  quorum_max ${t.quorumMax}`] : []),
    ...(t.delay > 0 ? [`  delay ${keepalivedSeconds(t.delay)}`] : []), '}'));
  return out;
}

function trackReferences(v: VrrpInstanceConfig): string[] {
  const n = trackNames(v);
  const block = (keyword: string, names: string[]) => (names.length > 0 ? [`  ${keyword} {`, ...names.map((x) => `    ${x}`), '  }'] : []);
  return [...block('track_script', n.scripts), ...block('track_file', n.files), ...block('track_process', n.processes)];
}

function vrrpInstance(v: VrrpInstanceConfig): string[] {
  const notify = (['master', 'backup', 'fault', 'stop'] as const)
    .filter((k) => v.notify[k] !== undefined)
    .flatMap((k) => scriptLine('  ', `notify_${k}`, v.notify[k], v.notify.user, `instance ${v.name}`));
  if (v.v2Compat) unsupported(`instance ${v.name}: v2Compat (keepalived has no mixed VRRPv2/VRRPv3 mode: choose version 2 or 3 first)`);
  return [
    `vrrp_instance ${v.name} {`,
    // both tools start every non-owner instance as backup and let the election decide
    `  state ${v.priority === 255 ? 'MASTER' : 'BACKUP'}`,
    `  interface ${v.interface}`,
    `  virtual_router_id ${v.vrid}`,
    `  priority ${v.priority}`,
    `  advert_int ${keepalivedSeconds(v.advertInterval)}`,
    `  version ${v.version}`,
    ...(v.acceptMode ? [] : ['  no_accept']),
    ...(v.authentication ? ['  authentication {', '    auth_type PASS', `    auth_pass ${word(v.authentication.password)}`, '  }'] : []),
    ...(v.preempt ? (v.preemptDelay > 0 ? [`  preempt_delay ${keepalivedSeconds(v.preemptDelay)}`] : []) : ['  nopreempt']),
    // lvsd's gratuitous ARPs: `count` of them on becoming master (their spacing is global, vrrp_garp_interval),
    // refresh 0 = no later set
    `  garp_master_repeat ${v.garp.count}`,
    '  garp_master_delay 0',
    ...(v.garp.refresh > 0 ? [`  garp_master_refresh ${keepalivedSeconds(v.garp.refresh)}`] : []),
    ...(v.unicast ? [`  unicast_src_ip ${v.unicast.source}`, '  unicast_peer {', ...v.unicast.peers.map((p) => `    ${p}`), '  }'] : []),
    ...(v.trackInterfaces.length > 0
      ? ['  track_interface {', ...v.trackInterfaces.map((t) => `    ${t.name}${t.weight !== 0 ? ` weight ${t.weight}` : ''}`), '  }']
      : []),
    ...trackReferences(v),
    ...notify,
    '  virtual_ipaddress {',
    ...v.addresses.map((a) => `    ${a.address}/${a.prefixLength} dev ${v.interface}`),
    '  }',
    '}',
  ];
}

function connect(c: HealthCheckConfig, rs: RealServerConfig): string[] {
  return [
    ...(c.address !== rs.spec.address ? [`      connect_ip ${c.address}`] : []),
    ...(c.port !== rs.spec.port ? [`      connect_port ${c.port}`] : []),
  ];
}

function check(c: HealthCheckConfig, rs: RealServerConfig): string[] {
  // lvsd fall N: the first failure and N-1 retries an interval apart; the probe timeout bounds the check
  const timing = [`      connect_timeout ${keepalivedSeconds(c.timeout)}`, `      retry ${c.fall - 1}`, `      delay_before_retry ${keepalivedSeconds(c.interval)}`];
  switch (c.type) {
    case 'none':
      return [];
    case 'tcp':
      if (c.close === 'reset') unsupported('a tcp check closing with RST (close: "reset"; keepalived\'s TCP_CHECK always closes with FIN)');
      return ['    TCP_CHECK {', ...connect(c, rs), ...timing, '    }'];
    case 'http':
    case 'https': {
      if (c.method !== 'GET') unsupported(`HTTP method ${c.method}`);
      if (c.expectDigest !== undefined) unsupported('an HTTP check with a SHA-256 digest (keepalived digests are MD5)');
      return [
        `    ${c.type === 'http' ? 'HTTP_GET' : 'SSL_GET'} {`,
        '      url {',
        `        path ${word(c.path)}`,
        `        status_code ${c.expectStatus.join(' ')}`,
        ...(c.host !== undefined ? [`        virtualhost ${word(c.host)}`] : []),
        ...(c.expectBody !== undefined ? [`        regex ${word(c.expectBody)}`] : []),
        '      }',
        ...connect(c, rs),
        ...timing,
        '    }',
      ];
    }
    case 'dns':
      if (c.transport !== 'udp' || c.expectRcode.join() !== '0') unsupported('a DNS check over TCP or expecting another rcode than NOERROR');
      return ['    DNS_CHECK {', `      type ${c.queryType}`, `      name ${word(c.query)}`, ...connect(c, rs), ...timing, '    }'];
    case 'exec':
      if (c.shell) unsupported('an exec check through a shell');
      return [
        '    MISC_CHECK {',
        `      misc_path ${word([...c.command, rs.spec.address, String(rs.spec.port)].join(' '))}`,
        `      misc_timeout ${Math.max(1, Math.ceil(c.timeout))}`,
        ...(c.dynamicWeight ? ['      misc_dynamic'] : []),
        ...(c.user !== undefined ? [`      user ${c.user}`] : []),
        `      retry ${c.fall - 1}`,
        `      delay_before_retry ${keepalivedSeconds(c.interval)}`,
        '    }',
      ];
    case 'ping':
      return ['    PING_CHECK {', ...(c.address !== rs.spec.address ? [`      connect_ip ${c.address}`] : []), ...timing, '    }'];
    case 'smtp':
      return ['    SMTP_CHECK {', ...(c.heloName !== undefined ? [`      helo_name ${word(c.heloName)}`] : []), ...connect(c, rs), ...timing, '    }'];
    case 'udp': {
      if (c.payload === '') unsupported('a UDP check with an empty payload (keepalived sends random bytes instead)');
      const pairs = (hex: string) => hex.match(/../g)?.join(' ') ?? '';
      return [
        '    UDP_CHECK {',
        `      payload ${pairs(c.payload)}`,
        ...(c.requireReply
          ? [
              `      require_reply${c.expectReply !== undefined ? ` ${pairs(c.expectReply)}` : ''}`,
              `      min_reply_length ${c.minReplyLength}`,
              `      max_reply_length ${c.maxReplyLength}`,
            ]
          : []),
        ...connect(c, rs),
        ...timing,
        '    }',
      ];
    }
    default:
      return unsupported(`a ${c.type} health check (real server ${rs.spec.address})`);
  }
}

const KIND = { nat: 'NAT', dr: 'DR', tunnel: 'TUN' } as const;

/** A group's members as virtual_server_group lines, consecutive addresses on one port written as a range. */
function groupLines(members: ServiceConfig[]): string[] {
  const out: string[] = [];
  const families = new Set(members.map((m) => m.spec.key.family));
  let run: { first: string; last: string; port: number; lastTail: number; family: string } | undefined;
  const flush = () => {
    if (!run) return;
    if (run.first === run.last) out.push(`  ${run.first} ${run.port}`);
    else out.push(`  ${run.first}-${run.family === 'ipv4' ? run.lastTail : run.lastTail.toString(16)} ${run.port}`);
    run = undefined;
  };
  for (const m of members) {
    const key = m.spec.key;
    if (key.kind === 'fwmark') {
      flush();
      // the family is written when the group has both (keepalived needs it then) or when it is not IPv4
      out.push(`  fwmark ${key.fwmark}${families.size > 1 || key.family === 'ipv6' ? ` ${key.family === 'ipv6' ? 'inet6' : 'inet'}` : ''}`);
      continue;
    }
    const tail = lastPart(key.address, key.family);
    const prefix = key.address.slice(0, key.address.lastIndexOf(key.family === 'ipv4' ? '.' : ':'));
    if (run && run.port === key.port && run.family === key.family && tail === run.lastTail + 1
      && prefix === run.last.slice(0, run.last.lastIndexOf(key.family === 'ipv4' ? '.' : ':'))) {
      run.last = key.address;
      run.lastTail = tail;
      continue;
    }
    flush();
    run = { first: key.address, last: key.address, port: key.port, lastTail: tail, family: key.family };
  }
  flush();
  return out;
}

function lastPart(address: string, family: string): number {
  if (family === 'ipv4') return Number(address.split('.').at(-1));
  const part = address.split(':').at(-1) ?? '';
  return part === '' ? 0 : Number.parseInt(part, 16);
}

/**
 * A group: `virtual_server_group NAME { members }` and one `virtual_server group NAME` with the settings and
 * real servers every member shares. A real server whose port differs between members has no keepalived form.
 */
function virtualServerGroup(members: ServiceConfig[]): string[] {
  const first = members[0]!;
  const name = first.group!.name;
  if (!/^[A-Za-z0-9_.:-]+$/.test(name)) unsupported(`group ${name}: a name keepalived cannot read as one word`);
  // a real server whose port follows the member's: without a port (DR and tunnel only; NAT would need one)
  const realServers = first.realServers.map((rs, i) => {
    const ports = new Set(members.map((m) => m.realServers[i]?.spec.port));
    if (ports.size === 1) return rs;
    if (rs.spec.forwarding === 'nat') unsupported(`group ${name}: NAT real server ${rs.spec.address} has a different port per member (${[...ports].join(', ')}); keepalived gives it one`);
    return { ...rs, spec: { ...rs.spec, port: 0 } };
  });
  const addr = members.find((m) => m.spec.key.kind === 'addr');
  const body = virtualServer({ ...first, name, realServers }, addr?.spec.key.kind === 'addr' ? addr.spec.key.protocol : undefined).slice(1);
  return [`virtual_server_group ${name} {`, ...groupLines(members), '}', `virtual_server group ${name} {`, ...body];
}

function virtualServer(s: ServiceConfig, groupProtocol?: string): string[] {
  const key = s.spec.key;
  if (s.slowStart > 0) unsupported(`service ${s.name}: slow start`);
  const intervals = new Set(s.realServers.filter((r) => r.healthCheck.type !== 'none').map((r) => r.healthCheck.interval));
  if (intervals.size > 1) unsupported(`service ${s.name}: real servers probed at different intervals`);
  const flags = s.spec.flags;
  const persistent = (flags & 0x1) !== 0;
  const sched = s.spec.scheduler;
  const weights = new Set(s.realServers.map((r) => r.spec.weight));
  if (s.quorum && weights.size > 1) unsupported(`service ${s.name}: a quorum over real servers of different weights (keepalived sums weights)`);
  const fullMask = key.family === 'ipv6' ? 128 : 0xffffffff;
  const lines = [
    key.kind === 'fwmark' ? `virtual_server fwmark ${key.fwmark} {` : `virtual_server ${key.address} ${key.port} {`,
    `  delay_loop ${keepalivedSeconds([...intervals][0] ?? 60)}`,
    `  lb_algo ${sched}`,
    `  lb_kind ${forwarding(s.realServers, s.name)}`,
    ...(groupProtocol !== undefined ? [`  protocol ${groupProtocol.toUpperCase()}`]
      : key.kind === 'fwmark' || s.group ? [] : [`  protocol ${key.protocol.toUpperCase()}`]),
    ...(persistent ? [`  persistence_timeout ${s.spec.timeout}`] : []),
    ...(persistent && s.spec.netmask !== fullMask ? [`  persistence_granularity ${key.family === 'ipv6' ? s.spec.netmask : maskText(s.spec.netmask)}`] : []),
    ...(s.spec.pe ? [`  persistence_engine ${s.spec.pe}`] : []),
    ...((flags & 0x4) !== 0 ? ['  ops'] : []),
    ...((flags & 0x8) !== 0 ? [`  ${sched}-fallback`] : []),
    ...((flags & 0x10) !== 0 ? [`  ${sched}-port`] : []),
    ...(s.initialState === 'down' ? ['  alpha'] : []),
    ...(s.quorum ? [`  quorum ${s.quorum.minUp * ([...weights][0] ?? 1)}`] : []),
    ...scriptLine('  ', 'quorum_up', s.quorum?.up, s.quorum?.user, `service ${s.name}`),
    ...scriptLine('  ', 'quorum_down', s.quorum?.down, s.quorum?.user, `service ${s.name}`),
    ...(s.sorryServer ? [`  sorry_server ${s.sorryServer.address} ${s.sorryServer.port}`] : []),
    // lvsd's service name, kept where keepalived has one (an id-like default name is not written)
    ...(s.group || /^(tcp|udp|sctp|fwmark)\//.test(s.name) ? [] : [`  snmp_name ${word(s.name)}`]),
  ];
  for (const rs of s.realServers) {
    lines.push(
      `  real_server ${rs.spec.address}${s.group && rs.spec.port === 0 ? '' : ` ${rs.spec.port}`} {`,
      `    weight ${rs.spec.weight}`,
      ...methodLine(rs, s),
      ...(rs.spec.upperThreshold > 0 ? [`    uthreshold ${rs.spec.upperThreshold}`, `    lthreshold ${rs.spec.lowerThreshold}`] : []),
      ...(s.onFailure === 'inhibit' ? ['    inhibit_on_failure'] : []),
      ...check(rs.healthCheck, rs),
      ...scriptLine('    ', 'notify_up', rs.notify?.up, rs.notify?.user, `real server ${rs.spec.address}`),
      ...scriptLine('    ', 'notify_down', rs.notify?.down, rs.notify?.user, `real server ${rs.spec.address}`),
      '  }',
    );
  }
  lines.push('}');
  return lines;
}

function maskText(n: number): string {
  return [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.');
}

function kindOf(rs: RealServerConfig, name: string): 'DR' | 'NAT' | 'TUN' {
  return forwarding([rs], name);
}

/** A real server's lvs_method when it differs from the service's lb_kind (or is a GUE/GRE tunnel). */
function methodLine(rs: RealServerConfig, s: ServiceConfig): string[] {
  const kind = kindOf(rs, s.name);
  const tunnel = kind === 'TUN' && rs.spec.tunnelType !== 'ipip'
    ? ` type ${rs.spec.tunnelType}${rs.spec.tunnelType === 'gue' ? ` port ${rs.spec.tunnelPort}` : ''} ${['nocsum', 'csum', 'remcsum'][rs.spec.tunnelFlags] ?? 'nocsum'}`
    : '';
  return kind !== forwarding(s.realServers, s.name) || tunnel !== '' ? [`    lvs_method ${kind}${tunnel}`] : [];
}

/** The service's lb_kind: its first real server's (others differing get their own lvs_method). */
function forwarding(rss: RealServerConfig[], name: string): 'DR' | 'NAT' | 'TUN' {
  const k = rss[0]?.spec.forwarding ?? 'nat';
  if (k !== 'nat' && k !== 'dr' && k !== 'tunnel') return unsupported(`service ${name}: ${k} forwarding`);
  return KIND[k];
}

/** The keepalived.conf text for a director whose lvsd config is `config`. */
export function keepalivedConf(config: Config, opts: KeepalivedOptions): string {
  const cs = config.connectionSync;
  const garpIntervals = new Set(config.vrrp.map((v) => v.garp.interval));
  if (garpIntervals.size > 1) unsupported('instances with different GARP intervals (keepalived sets it per interface)');
  const t = config.ipvs.timeouts;
  const lines = [
    'global_defs {',
    `  router_id ${opts.routerId}`,
    ...(config.vrrp.length > 0 && config.vrrp.every((v) => v.version === 3) ? ['  vrrp_version 3'] : []),
    ...(opts.vrrpRtPriority ? [`  vrrp_rt_priority ${opts.vrrpRtPriority}`] : []),
    ...(opts.vrrpRlimitRttime ? [`  vrrp_rlimit_rttime ${opts.vrrpRlimitRttime}`] : []),
    ...[...garpIntervals].map((g) => `  vrrp_garp_interval ${keepalivedSeconds(g)}`),
    ...(t && Object.keys(t).length > 0
      ? [`  lvs_timeouts${t.tcp !== undefined ? ` tcp ${t.tcp}` : ''}${t.tcpFin !== undefined ? ` tcpfin ${t.tcpFin}` : ''}${t.udp !== undefined ? ` udp ${t.udp}` : ''}`]
      : []),
    ...(cs
      ? [`  lvs_sync_daemon ${cs.interface} ${cs.instance} id ${cs.syncId}${cs.maxLength !== undefined ? ` maxlen ${cs.maxLength}` : ''}` +
          `${cs.port !== undefined ? ` port ${cs.port}` : ''}${cs.ttl !== undefined ? ` ttl ${cs.ttl}` : ''}${cs.group !== undefined ? ` group ${cs.group}` : ''}`]
      : []),
    '}',
  ];
  for (const g of config.syncGroups) lines.push(`vrrp_sync_group ${g.name} {`, '  group {', ...g.instances.map((i) => `    ${i}`), '  }', '}');
  const scriptNames = config.vrrp.flatMap((v) => v.trackScripts.map((t) => t.name));
  sharedScriptNames = new Set(scriptNames.filter((n, i) => scriptNames.indexOf(n) !== i));
  for (const v of config.vrrp) lines.push(...trackDefinitions(v));
  for (const v of config.vrrp) lines.push(...vrrpInstance(v));
  // a group is written where its first member is, so an import gives the services back in their order
  const written = new Set<string>();
  for (const s of config.services) {
    if (!s.group) lines.push(...virtualServer(s));
    else if (!written.has(s.group.name)) {
      written.add(s.group.name);
      lines.push(...virtualServerGroup(config.services.filter((m) => m.group?.name === s.group!.name)));
    }
  }
  return lines.join('\n') + '\n';
}
