/**
 * The IPVS table as the kernel holds it, in lvsd's vocabulary. Every field is always present (defaults
 * filled) so two objects compare field by field: the reconciler diffs these, the codec encodes and
 * decodes these, and the config normaliser produces these.
 */
import { formatHostPort, type Family } from '../net/address.js';

export type { Family };
export type Protocol = 'tcp' | 'udp' | 'sctp';
/**
 * `local` and `bypass` exist in linux/ip_vs.h; older kernels report `local` for a real server on one of the
 * director's own addresses (6.1 keeps the method it was given, measured). lvsd never asks for either.
 */
export type Forwarding = 'nat' | 'dr' | 'tunnel' | 'local' | 'bypass';
export type TunnelType = 'ipip' | 'gue' | 'gre';

/** Service flag bits (linux/ip_vs.h IP_VS_SVC_F_*). */
export const SVC_F_PERSISTENT = 0x0001;
export const SVC_F_HASHED = 0x0002; // kernel-internal: always set in dumps, never sent
export const SVC_F_ONEPACKET = 0x0004;
export const SVC_F_SCHED1 = 0x0008; // sh-fallback, mh-fallback
export const SVC_F_SCHED2 = 0x0010; // sh-port, mh-port
export const SVC_F_SCHED3 = 0x0020;

/** Tunnel flag bits (IP_VS_TUNNEL_ENCAP_FLAG_*). */
export const TUN_F_NOCSUM = 0x0000;
export const TUN_F_CSUM = 0x0001;
export const TUN_F_REMCSUM = 0x0002;

export type ServiceKey =
  | { kind: 'addr'; family: Family; protocol: Protocol; address: string; port: number }
  | { kind: 'fwmark'; family: Family; fwmark: number };

export interface ServiceSpec {
  key: ServiceKey;
  scheduler: string;
  /** SVC_F_* bits, never HASHED. */
  flags: number;
  /** Persistence timeout in seconds; 0 when not persistent. */
  timeout: number;
  /** IPv4: the mask as an unsigned 32-bit number (0xffffffff = whole address). IPv6: prefix length (128). */
  netmask: number;
  /** Persistence engine name ('sip'), or '' for none. */
  pe: string;
}

export interface DestSpec {
  family: Family;
  address: string;
  port: number;
  forwarding: Forwarding;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType: TunnelType;
  tunnelPort: number;
  /** TUN_F_* bits. */
  tunnelFlags: number;
}

export interface Stats {
  conns: bigint;
  inpkts: bigint;
  outpkts: bigint;
  inbytes: bigint;
  outbytes: bigint;
  cps: bigint;
  inpps: bigint;
  outpps: bigint;
  inbps: bigint;
  outbps: bigint;
}

export interface KernelService extends ServiceSpec {
  stats?: Stats;
}

export interface KernelDest extends DestSpec {
  activeConns: number;
  inactiveConns: number;
  persistentConns: number;
  stats?: Stats;
}

export interface KernelEntry {
  service: KernelService;
  dests: KernelDest[];
}

/** Connection timeouts in seconds; 0 means "leave as is" when setting. */
export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

export interface IpvsInfo {
  /** e.g. "1.2.1" */
  version: string;
  connTableSize: number;
}

export type SyncState = 'master' | 'backup';

export interface SyncDaemon {
  state: SyncState;
  interface: string;
  syncId: number;
  maxLength?: number;
  group?: string;
  port?: number;
  ttl?: number;
}

/** A stable identity string for a service: "tcp/192.0.2.10:80", "udp/[2001:db8::53]:53", "fwmark/ipv4/7". */
export function serviceId(key: ServiceKey): string {
  return key.kind === 'fwmark'
    ? `fwmark/${key.family}/${key.fwmark}`
    : `${key.protocol}/${formatHostPort(key.address, key.port)}`;
}

/** A stable identity string for a real server within its service: "10.0.1.11:8080". */
export function destId(dest: Pick<DestSpec, 'address' | 'port'>): string {
  return formatHostPort(dest.address, dest.port);
}

/** One change to the kernel table. The reconciler produces these; the client sends them, pipelined. */
export type IpvsCommand =
  | { cmd: 'new-service'; service: ServiceSpec }
  | { cmd: 'set-service'; service: ServiceSpec }
  | { cmd: 'del-service'; key: ServiceKey }
  | { cmd: 'new-dest'; service: ServiceKey; dest: DestSpec }
  | { cmd: 'set-dest'; service: ServiceKey; dest: DestSpec }
  | { cmd: 'del-dest'; service: ServiceKey; dest: Pick<DestSpec, 'family' | 'address' | 'port'> }
  | { cmd: 'set-timeouts'; timeouts: Timeouts }
  | { cmd: 'new-daemon'; daemon: SyncDaemon }
  | { cmd: 'del-daemon'; state: SyncState };

/** The outcome of one command: `error` is an LvsdError (code LVSD_IPVS_KERNEL, details.errno) on refusal. */
export type IpvsResult = { ok: true } | { ok: false; error: Error & { code?: string } };

/** What the rest of lvsd needs from the kernel's IPVS. src/ipvs implements it over generic netlink. */
export interface IpvsClient {
  info(): Promise<IpvsInfo>;
  /**
   * Every service with its destinations and stats; with `only` (service ids as serviceId() writes them),
   * just those services (the others' destinations are not read).
   */
  dump(only?: ReadonlySet<string>): Promise<KernelEntry[]>;
  getTimeouts(): Promise<Timeouts>;
  /** Sync daemons running now (0, 1 or 2). */
  getDaemons(): Promise<SyncDaemon[]>;
  /**
   * Sends the commands in order, pipelined (many in flight, not one round trip each), and resolves with one
   * result per command in the same order. A refused command does not stop the ones after it.
   */
  execute(commands: readonly IpvsCommand[]): Promise<IpvsResult[]>;
  close(): void;
}
