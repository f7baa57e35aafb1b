/**
 * The config as written, after the JSON Schema has vouched for its shape: every key optional unless the
 * schema requires it, durations still numbers or strings. Only the normaliser reads these.
 */
export type RawDuration = number | string;

/** A value and where it came from. */
export interface Located<T> {
  file: string;
  pointer: string;
  value: T;
}

export interface RawTunnel {
  type?: 'ipip' | 'gue' | 'gre';
  port?: number;
  checksum?: 'none' | 'csum' | 'remcsum';
}

export interface RawHealthCheck {
  type: 'tcp' | 'http' | 'https' | 'dns' | 'exec' | 'agent' | 'smtp' | 'udp' | 'ping' | 'none';
  address?: string;
  port?: number;
  interval?: RawDuration;
  timeout?: RawDuration;
  rise?: number;
  fall?: number;
  method?: string;
  path?: string;
  host?: string;
  expectStatus?: number[];
  expectBody?: string;
  expectDigest?: string;
  serverName?: string;
  verify?: boolean;
  query?: string;
  queryType?: 'A' | 'AAAA' | 'NS' | 'CNAME' | 'SOA' | 'PTR' | 'MX' | 'TXT' | 'SRV';
  expectRcode?: number[];
  transport?: 'udp' | 'tcp';
  close?: 'fin' | 'reset';
  command?: string[];
  shell?: boolean;
  user?: string;
  dynamicWeight?: boolean;
  send?: string;
  heloName?: string;
  payload?: string;
  requireReply?: boolean;
  expectReply?: string;
  minReplyLength?: number;
  maxReplyLength?: number;
}

export interface RawRealServer {
  address: string;
  port?: number;
  weight?: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  forwarding?: 'nat' | 'dr' | 'tunnel';
  tunnel?: RawTunnel;
  healthCheck?: RawHealthCheck;
  notify?: { up?: string[]; down?: string[]; user?: string };
}

export interface RawSorryServer {
  address: string;
  port?: number;
  weight?: number;
  forwarding?: 'nat' | 'dr' | 'tunnel';
  tunnel?: RawTunnel;
}

export interface RawServiceMember {
  address?: string;
  lastAddress?: string;
  port?: number;
  fwmark?: number;
  family?: 'ipv4' | 'ipv6';
}

export interface RawService {
  name?: string;
  members?: RawServiceMember[];
  protocol?: 'tcp' | 'udp' | 'sctp';
  address?: string;
  port?: number;
  fwmark?: number;
  family?: 'ipv4' | 'ipv6';
  scheduler?: string;
  schedulerFlags?: string[];
  persistence?: { timeout?: RawDuration; netmask?: string | number; engine?: 'sip' };
  onePacket?: boolean;
  forwarding?: 'nat' | 'dr' | 'tunnel';
  tunnel?: RawTunnel;
  realServers?: RawRealServer[];
  healthCheck?: RawHealthCheck;
  onFailure?: 'inhibit' | 'remove';
  slowStart?: RawDuration;
  sorryServer?: RawSorryServer;
  quorum?: { minUp: number; up?: string[]; down?: string[]; user?: string };
  initialState?: 'up' | 'down';
}

export interface RawIpvs {
  timeouts?: { tcp?: RawDuration; tcpFin?: RawDuration; udp?: RawDuration };
  ownWholeTable?: boolean;
  driftInterval?: RawDuration;
  stateFile?: string;
  expireNodestConn?: boolean;
  expireQuiescentTemplate?: boolean;
}

export interface RawVrrpInstance {
  name: string;
  interface: string;
  vrid: number;
  priority?: number;
  version?: 2 | 3;
  advertInterval?: RawDuration;
  preempt?: boolean;
  preemptDelay?: RawDuration;
  acceptMode?: boolean;
  v2Compat?: boolean;
  addresses: string[];
  unicast?: { source: string; peers: string[] };
  trackInterfaces?: Array<{ name: string; weight?: number }>;
  trackScripts?: Array<{
    name: string; command: string[]; interval?: RawDuration; timeout?: RawDuration; weight?: number; reverse?: boolean;
    rise?: number; fall?: number; user?: string; initFail?: boolean;
  }>;
  trackFiles?: Array<{ path: string; weight?: number; reverse?: boolean }>;
  trackProcesses?: Array<{
    name: string; args?: string[]; weight?: number; reverse?: boolean; quorum?: number; quorumMax?: number;
    delay?: RawDuration; interval?: RawDuration;
  }>;
  garp?: { count?: number; interval?: RawDuration; refresh?: RawDuration };
  notify?: { master?: string[]; backup?: string[]; fault?: string[]; stop?: string[]; user?: string };
  authentication?: { type: 'pass'; password: string };
}

export interface RawSyncGroup {
  name: string;
  instances: string[];
}

export interface RawHealthGlobal {
  execUser?: string;
  maxConcurrent?: number;
  execOutputLimit?: number;
}

export interface RawConnectionSync {
  instance: string;
  interface: string;
  syncId: number;
  port?: number;
  ttl?: number;
  group?: string;
  maxLength?: number;
}

export interface RawEcmp {
  routerId: string;
  localAs: number;
  peers: Array<{ address: string; as: number; source?: string; bfd?: boolean; holdTime?: RawDuration }>;
  bfd?: { interval?: RawDuration; multiplier?: number };
  holdTime?: RawDuration;
  vipInterface?: string;
  withdrawWait?: RawDuration;
  daemon?: { path?: string; runDir?: string };
}

export interface RawConfig {
  services: ReadonlyArray<Located<RawService>>;
  vrrp: ReadonlyArray<Located<RawVrrpInstance>>;
  syncGroups: ReadonlyArray<Located<RawSyncGroup>>;
  /** Names of VRRP instances left out for breaking the schema: references to them are not reported again. */
  unusableInstanceNames: Set<string>;
  ipvs?: Located<RawIpvs>;
  control?: Located<{ socket?: string; group?: string }>;
  metrics?: Located<{ listen: string; statusPage?: boolean }>;
  health?: Located<RawHealthGlobal>;
  connectionSync?: Located<RawConnectionSync>;
  ecmp?: Located<RawEcmp>;
}
