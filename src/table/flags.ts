/**
 * The flag bits of linux/ip_vs.h and every name lvsd gives them: the config's, status's and the plan
 * reasons' (ipvsadm's short words). The one place that names flags. Pure.
 */

/** Service flag bits (IP_VS_SVC_F_*). */
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

/**
 * Each service flag: `name` is status's (`lvsd status --json` flags[]), `short` the plan's and ipvsadm's,
 * `scheduler` the suffix sh and mh give the bit ("sh-fallback", "mh-port").
 */
const SERVICE_FLAGS: ReadonlyArray<{ bit: number; name: string; short: string; scheduler?: 'fallback' | 'port' }> = [
  { bit: SVC_F_PERSISTENT, name: 'persistent', short: 'persistent' },
  { bit: SVC_F_ONEPACKET, name: 'one-packet', short: 'ops' },
  { bit: SVC_F_SCHED1, name: 'sched-flag-1', short: 'sched1', scheduler: 'fallback' },
  { bit: SVC_F_SCHED2, name: 'sched-flag-2', short: 'sched2', scheduler: 'port' },
  { bit: SVC_F_SCHED3, name: 'sched-flag-3', short: 'sched3' },
];

/** The schedulers whose scheduler flags have names of their own. */
function namesSchedulerFlags(scheduler: string | undefined): scheduler is 'sh' | 'mh' {
  return scheduler === 'sh' || scheduler === 'mh';
}

/**
 * The names of the bits set in `flags`, in bit order: `long` as status prints them ("one-packet",
 * "sched-flag-1"), `short` as plans do ("ops", "sched1"); for sh and mh the scheduler flags are
 * "sh-fallback", "sh-port". Bits lvsd does not know are left out (see unknownServiceFlags).
 */
export function serviceFlagNames(flags: number, scheduler: string | undefined, style: 'long' | 'short' = 'long'): string[] {
  const named = namesSchedulerFlags(scheduler);
  const out: string[] = [];
  for (const f of SERVICE_FLAGS) {
    if (!(flags & f.bit)) continue;
    out.push(named && f.scheduler ? `${scheduler}-${f.scheduler}` : style === 'long' ? f.name : f.short);
  }
  return out;
}

/** The bits of `flags` that have no name here. */
export function unknownServiceFlags(flags: number): number {
  let rest = flags >>> 0;
  for (const f of SERVICE_FLAGS) rest &= ~f.bit;
  return rest >>> 0;
}

/** The config's `schedulerFlags` words and their bits. */
export const SCHEDULER_FLAG_BITS: Readonly<Record<string, number>> = {
  'sh-fallback': SVC_F_SCHED1,
  'sh-port': SVC_F_SCHED2,
  'mh-fallback': SVC_F_SCHED1,
  'mh-port': SVC_F_SCHED2,
};

/** The config's `schedulerFlags` for a service's bits ("mh-fallback", "mh-port"). */
export function schedulerFlagWords(flags: number, scheduler: string): string[] {
  const out: string[] = [];
  for (const f of SERVICE_FLAGS) if (f.scheduler && flags & f.bit) out.push(`${scheduler}-${f.scheduler}`);
  return out;
}

export type TunnelChecksum = 'none' | 'csum' | 'remcsum';

/** The config's tunnel `checksum` words and their bits. */
export const TUNNEL_CHECKSUM_BITS: Readonly<Record<TunnelChecksum, number>> = { none: TUN_F_NOCSUM, csum: TUN_F_CSUM, remcsum: TUN_F_REMCSUM };

/** A tunnel's checksum mode: the config's word ("none"), or ipvsadm's ("nocsum") with `short`. */
export function tunnelChecksum(flags: number, style: 'long' | 'short' = 'long'): string {
  if (flags & TUN_F_REMCSUM) return 'remcsum';
  if (flags & TUN_F_CSUM) return 'csum';
  return style === 'long' ? 'none' : 'nocsum';
}
