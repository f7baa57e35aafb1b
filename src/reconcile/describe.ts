/**
 * Short human renderings of IPVS values, shared by the planner's reasons (`weight 100 -> 50`) and the
 * CLI rendering of a plan. Pure.
 */
import {
  SVC_F_PERSISTENT,
  serviceFlagNames,
  tunnelChecksum,
  unknownServiceFlags,
  type DestSpec,
  type Family,
  type ServiceSpec,
  type Timeouts,
} from '../table/index.js';

/**
 * "persistent|ops", "none" when no bit is set; unknown bits as hex. With the scheduler, the scheduler flags
 * get ipvsadm's names: sh and mh call SCHED1 "-fallback" and SCHED2 "-port" ("mh-fallback|mh-port").
 */
export function describeServiceFlags(flags: number, scheduler?: string): string {
  const names = serviceFlagNames(flags, scheduler, 'short');
  const rest = unknownServiceFlags(flags);
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length === 0 ? 'none' : names.join('|');
}

/** IPv4 netmask as a dotted quad ("255.255.255.0"), IPv6 as a prefix length ("/64"). */
export function describeNetmask(family: Family, netmask: number): string {
  if (family === 'ipv6') return `/${netmask}`;
  const n = netmask >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

/** "csum", "remcsum", "nocsum". */
export function describeTunnelFlags(flags: number): string {
  return tunnelChecksum(flags, 'short');
}

/** "wrr persistent 300s netmask 255.255.255.0 pe sip ops": the service's attributes worth reading. */
export function describeService(service: ServiceSpec): string {
  const parts = [service.scheduler];
  if (service.flags & SVC_F_PERSISTENT) parts.push(`persistent ${service.timeout}s`);
  const fullMask = service.key.family === 'ipv6' ? 128 : 0xffffffff;
  if ((service.netmask >>> 0) !== fullMask) parts.push(`netmask ${describeNetmask(service.key.family, service.netmask)}`);
  if (service.pe !== '') parts.push(`pe ${service.pe}`);
  const other = service.flags & ~SVC_F_PERSISTENT;
  if (other !== 0) parts.push(describeServiceFlags(other, service.scheduler));
  return parts.join(' ');
}

/** "nat weight 100", "tunnel gue:6080 csum weight 1 upper 500 lower 100". */
export function describeDest(dest: DestSpec): string {
  // built as one string, no array of parts: a cold plan prints one of these per real server
  let out: string = dest.forwarding;
  if (dest.forwarding === 'tunnel') {
    out += dest.tunnelType === 'ipip' ? ' ipip' : ` ${dest.tunnelType}:${dest.tunnelPort} ${describeTunnelFlags(dest.tunnelFlags)}`;
  }
  out += ` weight ${dest.weight}`;
  if (dest.upperThreshold !== 0) out += ` upper ${dest.upperThreshold}`;
  if (dest.lowerThreshold !== 0) out += ` lower ${dest.lowerThreshold}`;
  return out;
}

/** "tcp 900s tcpfin 120s udp 300s" for the fields that are set (non-zero). */
export function describeTimeouts(t: Partial<Timeouts>): string {
  const parts: string[] = [];
  if (t.tcp) parts.push(`tcp ${t.tcp}s`);
  if (t.tcpFin) parts.push(`tcpfin ${t.tcpFin}s`);
  if (t.udp) parts.push(`udp ${t.udp}s`);
  return parts.join(' ');
}
