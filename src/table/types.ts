/**
 * The IPVS table as the kernel holds it, in lvsd's vocabulary. Every field is always present (defaults
 * filled) so two objects compare field by field: the reconciler diffs these, the netlink codec encodes and
 * decodes these, the config normaliser produces these and the health scheduler weighs these. A leaf: it
 * imports nothing of lvsd's but the address helpers.
 */
import type { Family } from '../net/address.js';

export type { Family };
export type Protocol = 'tcp' | 'udp' | 'sctp';
/**
 * `local` and `bypass` exist in linux/ip_vs.h; older kernels report `local` for a real server on one of the
 * director's own addresses (6.1 keeps the method it was given, measured). lvsd never asks for either.
 */
export type Forwarding = 'nat' | 'dr' | 'tunnel' | 'local' | 'bypass';
export type TunnelType = 'ipip' | 'gue' | 'gre';

export type ServiceKey =
  | { kind: 'addr'; family: Family; protocol: Protocol; address: string; port: number }
  | { kind: 'fwmark'; family: Family; fwmark: number };

export interface ServiceSpec {
  key: ServiceKey;
  scheduler: string;
  /** SVC_F_* bits (flags.ts), never HASHED. */
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
  /** TUN_F_* bits (flags.ts). */
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

/** One service of the kernel's table with its real servers, as a dump reads it. */
export interface KernelEntry {
  service: KernelService;
  dests: KernelDest[];
}

/** One service of the table lvsd wants, with the real servers it wants in it (weights as wanted now). */
export interface DesiredEntry {
  service: ServiceSpec;
  dests: DestSpec[];
}

/** Connection timeouts in seconds; 0 means "leave as is" when setting. */
export interface Timeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}
