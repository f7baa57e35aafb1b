/**
 * The typed desired state: what a validated, normalised config says. Everything downstream (reconciler,
 * VRRP, health checks, daemon) reads these types, never raw JSON. Durations are seconds (fractional
 * allowed); every default is filled in by the normaliser so consumers never guess.
 */
import type { DestSpec, Family, ServiceSpec, Timeouts } from '../table/index.js';

/** Where a piece of config came from, for error messages: `file: /json/pointer`. */
export interface Origin {
  file: string;
  pointer: string;
}

export interface Config {
  /** The files the config was read from, in merge order. */
  files: string[];
  ipvs: IpvsConfig;
  services: ServiceConfig[];
  vrrp: VrrpInstanceConfig[];
  syncGroups: SyncGroupConfig[];
  control: ControlConfig;
  metrics?: MetricsConfig;
  /** The kernel's connection-sync daemon, driven by a VRRP instance's state. */
  connectionSync?: ConnectionSyncConfig;
  health: HealthGlobalConfig;
  /** Active-active directors: service addresses announced over BGP by a BIRD lvsd runs (docs/ecmp.md). */
  ecmp?: EcmpConfig;
  /** What `lvsd check` warns about (the config works, but maybe not as meant); absent when none. */
  warnings?: Array<{ file: string; pointer: string; message: string }>;
}

export interface IpvsConfig {
  /** Timeouts to set; absent ones are left as the kernel has them. */
  timeouts?: Partial<Timeouts>;
  /** When true lvsd owns the whole table and removes services it did not declare. Default false. */
  ownWholeTable: boolean;
  /** How often `run` re-reads the kernel table and repairs drift, seconds. Default 30. */
  driftInterval: number;
  /** Where lvsd remembers which services it applied last. Default /var/lib/lvsd/state.json. */
  stateFile: string;
  /** net.ipv4.vs.expire_nodest_conn: a SYN on an old entry to a weight-0 server is scheduled afresh. Default true. */
  expireNodestConn: boolean;
  /** net.ipv4.vs.expire_quiescent_template: persistence templates to a weight-0 server are dropped. Default true. */
  expireQuiescentTemplate: boolean;
}

export type OnFailure = 'inhibit' | 'remove';

export interface ServiceConfig {
  name: string;
  origin: Origin;
  /** The kernel-level service, every default filled. */
  spec: ServiceSpec;
  realServers: RealServerConfig[];
  onFailure: OnFailure;
  /** Seconds over which a recovered real server's weight ramps up; 0 = at once. */
  slowStart: number;
  /** Added when no real server is up, removed when one is. */
  sorryServer?: DestSpec;
  /** Below this many real servers up, all are withdrawn (the sorry server, if any, serves). */
  quorum?: {
    minUp: number;
    /** Commands run when the quorum is gained / lost (keepalived's quorum_up / quorum_down), as `user` when lvsd is root. */
    up?: string[];
    down?: string[];
    user?: string;
  };
  /** Whether real servers start up (before their first probe) or down. Default 'down'. */
  initialState: 'up' | 'down';
  /**
   * Set when this IPVS service is one member of a group (a service declared with `members`): every member
   * has the same real servers, checks and settings, each real server is probed once for the whole group,
   * and a drain of the group applies to the server in every member.
   */
  group?: ServiceGroupRef;
}

export interface ServiceGroupRef {
  /** The group's name (the declared service's `name`); members are named `group[serviceId]`. */
  name: string;
  /** This member's place in the group (0-based) and the group's size after ranges are expanded. */
  index: number;
  size: number;
}

/**
 * A configured real server. Where it was declared is not kept per real server (an Origin and its pointer
 * string were ~100 bytes each, 10 MiB at 100,000 real servers, and nothing read them): it is
 * realServerOrigin(service, index), from its service's origin and its place in `realServers`.
 */
export interface RealServerConfig {
  /** The kernel-level destination with the configured weight. */
  spec: DestSpec;
  /** The check that applies (the real server's own, else the service's, else `none`). */
  healthCheck: HealthCheckConfig;
  /**
   * In a group: the real server as one entity across the members, whose destinations may differ in port.
   * `id` names it for drains and status, `port` is the port its one probe targets. Absent outside groups
   * (there the destination itself, `destId(spec)`, is the identity and the probe target).
   */
  shared?: { id: string; port: number };
  /** Commands run when its health check takes it up / down (keepalived's notify_up / notify_down), as `user` when lvsd is root. */
  notify?: RealServerNotify;
}

export interface RealServerNotify {
  up?: string[];
  down?: string[];
  user?: string;
}

interface HealthCheckBase {
  /** Seconds between probes. Default 5. */
  interval: number;
  /** Seconds a probe may take. Default 2 (and never more than interval). */
  timeout: number;
  /** Consecutive successes to go up. Default 2. */
  rise: number;
  /** Consecutive failures to go down. Default 3. */
  fall: number;
  /** Address to probe; default the real server's. */
  address: string;
  /** Port to probe; default the real server's (the service's for fwmark services without one: 0). */
  port: number;
}

export interface TcpCheck extends HealthCheckBase {
  type: 'tcp';
  /** 'reset': close each probe's connection with RST (SO_LINGER 0), leaving no TIME_WAIT; absent: FIN. */
  close?: 'reset';
}
export interface HttpCheck extends HealthCheckBase {
  type: 'http' | 'https';
  method: string;
  path: string;
  /** Host header; default the probed address. */
  host?: string;
  expectStatus: number[];
  /** A regular expression the body must match (source text). */
  expectBody?: string;
  /** A sha256 hex digest the body must have. */
  expectDigest?: string;
  /** TLS server name (SNI); default host. */
  serverName?: string;
  /** Verify the server's certificate. Default false (real servers often have internal certificates). */
  verify: boolean;
}
export interface DnsCheck extends HealthCheckBase {
  type: 'dns';
  query: string;
  queryType: 'A' | 'AAAA' | 'NS' | 'CNAME' | 'SOA' | 'PTR' | 'MX' | 'TXT' | 'SRV';
  /** Expected response codes, numeric (0 = NOERROR). Default [0]. */
  expectRcode: number[];
  transport: 'udp' | 'tcp';
}
export interface ExecCheck extends HealthCheckBase {
  type: 'exec';
  /** argv; the real server's address and port are appended as the last two arguments. */
  command: string[];
  /** Run through /bin/sh -c (command joined by spaces). Default false. */
  shell: boolean;
  /** Unprivileged user to run as; default health.execUser. */
  user?: string;
  /** keepalived misc_dynamic: exit code 2..255 sets weight (code - 2), 0 up at configured weight, 1 down. */
  dynamicWeight: boolean;
}
export interface AgentCheck extends HealthCheckBase {
  type: 'agent';
  /** Optional text sent after connecting (HAProxy agent-send). */
  send?: string;
}
export interface SmtpCheck extends HealthCheckBase {
  type: 'smtp';
  /** The name sent with HELO; default the director's host name (read when the probe runs). */
  heloName?: string;
}
export interface UdpCheck extends HealthCheckBase {
  type: 'udp';
  /** The datagram sent, as hex digit pairs ('' sends an empty datagram). Default ''. */
  payload: string;
  /** Down unless a reply arrives (keepalived's require_reply). Default false: only an ICMP error is down. */
  requireReply: boolean;
  /** Hex pairs the reply must start with; `x` matches any nibble. Implies requireReply. */
  expectReply?: string;
  /** Reply length limits (bytes), checked when a reply is required. Default 0 and 65535. */
  minReplyLength: number;
  maxReplyLength: number;
}
/** ICMP / ICMPv6 echo through the addon (native/src/icmp_socket.c): up when the matching reply arrives. */
export interface PingCheck extends HealthCheckBase { type: 'ping' }
export interface NoneCheck extends HealthCheckBase { type: 'none' }

export type HealthCheckConfig = TcpCheck | HttpCheck | DnsCheck | ExecCheck | AgentCheck | SmtpCheck | UdpCheck | PingCheck | NoneCheck;
export type HealthCheckType = HealthCheckConfig['type'];

export interface HealthGlobalConfig {
  /** User exec checks run as unless they say otherwise. Default 'nobody'. */
  execUser: string;
  /** Most probes in flight at once. Default 1024. */
  maxConcurrent: number;
  /** Bytes of an exec check's output kept for the log. Default 4096. */
  execOutputLimit: number;
}

export interface VrrpAddress {
  family: Family;
  address: string;
  prefixLength: number;
}

export interface VrrpInstanceConfig {
  name: string;
  origin: Origin;
  interface: string;
  vrid: number;
  /** 1..255; 255 means address owner. Default 100. */
  priority: number;
  version: 2 | 3;
  family: Family;
  /** Seconds; v3 allows centisecond resolution, v2 whole seconds. Default 1. */
  advertInterval: number;
  /** Default true. */
  preempt: boolean;
  /** Seconds. Default 0. */
  preemptDelay: number;
  /**
   * RFC 5798 Accept_Mode: a master that is not the address owner accepts packets addressed to its VIPs.
   * Default true (the RFC's default is false; a director's VIPs exist to receive traffic). false: dropped
   * by an nftables rule after IPVS, so virtual services still work (src/net/accept-filter.ts).
   */
  acceptMode: boolean;
  /**
   * RFC 5798 8.4: version 3 that also sends a VRRPv2 advert with every VRRPv3 one and accepts VRRPv2
   * adverts (learning their interval), ignoring the VRRPv2 ones of a router it also hears VRRPv3 from.
   * Version 3, IPv4, whole-second interval. Default false.
   */
  v2Compat: boolean;
  addresses: VrrpAddress[];
  unicast?: { source: string; peers: string[] };
  trackInterfaces: Array<{ name: string; weight: number }>;
  /** Programs run every `interval` (unprivileged, like exec checks): up after `rise` successes, down after `fall` failures. */
  trackScripts: TrackScriptConfig[];
  /** Files holding a number: number * weight is added to the priority (weight 0: non-zero is fault). */
  trackFiles: TrackFileConfig[];
  /** Processes by name (and argv): up while quorum..quorumMax of them run. */
  trackProcesses: TrackProcessConfig[];
  garp: { count: number; interval: number; refresh: number };
  /** VRRPv2 simple-text password (RFC 2338 type 1), for a keepalived peer that sends and expects one; v2 only. */
  authentication?: { type: 'pass'; password: string };
  /** Commands per state; `user` (absent: the daemon's own) is who they run as when lvsd runs as root. */
  notify: { master?: string[]; backup?: string[]; fault?: string[]; stop?: string[]; user?: string };
  /** The sync group it belongs to, if any. */
  syncGroup?: string;
}

/**
 * Weights of scripts and processes (keepalived's): > 0 is added while up, < 0 is added while down, 0 makes
 * the instance faulty while down; `reverse` swaps up and down for that purpose and negates the weight.
 */
export interface TrackScriptConfig {
  name: string;
  /** argv, never through a shell. */
  command: string[];
  /** Seconds between runs. Default 1. */
  interval: number;
  /** Seconds a run may take; a run that takes longer failed. Default: the interval. */
  timeout: number;
  weight: number;
  reverse: boolean;
  /** Successes in a row that make a down script up. Default 1. */
  rise: number;
  /** Failures in a row that make an up script down. Default 1. */
  fall: number;
  /** Who it runs as when lvsd is root; default health.execUser. */
  user: string;
  /** Start down (as if it had failed `fall` times) rather than up. Default false. */
  initFail: boolean;
}
export interface TrackFileConfig {
  path: string;
  /** Multiplier of the number in the file; 0: a non-zero number is fault. Default 1. */
  weight: number;
  reverse: boolean;
}
export interface TrackProcessConfig {
  /** The process name (/proc/PID/comm, or the base name of argv[0]). */
  name: string;
  /** When given, the process's arguments after argv[0] must be exactly these. */
  args?: string[];
  weight: number;
  reverse: boolean;
  /** Fewest matching processes that count as up. Default 1. */
  quorum: number;
  /** Most matching processes that count as up. Default: no limit. */
  quorumMax?: number;
  /** Seconds a change in the count must last before it counts (fork/exec and restart bounces). Default 0. */
  delay: number;
  /** Seconds between scans of /proc. Default 1. */
  interval: number;
}

export interface SyncGroupConfig {
  name: string;
  instances: string[];
}

export interface ControlConfig {
  /** Unix socket path. Default /run/lvsd/lvsd.sock. */
  socket: string;
  /** Group allowed to use the socket besides root. */
  group?: string;
}

export interface MetricsConfig {
  /** host:port */
  listen: string;
  /** Serve the read-only status page at / on the metrics listener (src/daemon/web). Default false. */
  statusPage: boolean;
}

export interface ConnectionSyncConfig {
  /** The VRRP instance whose state drives the sync daemon (master -> master daemon, backup -> backup). */
  instance: string;
  interface: string;
  syncId: number;
  port?: number;
  ttl?: number;
  group?: string;
  maxLength?: number;
}

export interface EcmpPeerConfig {
  address: string;
  family: Family;
  as: number;
  source?: string;
  bfd: boolean;
  /** Seconds. */
  holdTime: number;
}

export interface EcmpConfig {
  origin: Origin;
  routerId: string;
  localAs: number;
  peers: EcmpPeerConfig[];
  /** Seconds between BFD packets (tx and rx), and the missed ones that take a session down. */
  bfd: { interval: number; multiplier: number };
  /** Where lvsd puts the service addresses (as /32 or /128). Default lo. */
  vipInterface: string;
  /** Seconds lvsd waits after a withdraw for a director drain or a stop. Default 2. */
  withdrawWait: number;
  daemon: { path: string; runDir: string };
}
