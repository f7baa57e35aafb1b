/**
 * The `ecmp` section (active-active directors, docs/ecmp.md) and the rules it puts on the services: what
 * cannot work when several directors serve one address at once is refused, what works but differs between
 * directors is a warning. Pure.
 */
import { familyOf, type Family } from '../net/address.js';
import { durationOr as seconds, formatDuration } from './duration.js';
import { MAX_TIMER_SECONDS, TIMER_WHY, hostAddress, overMax } from './limits.js';
import { pathProblem } from './normalise.js';
import type { Problems } from './problems.js';
import type { Located, RawEcmp, RawService } from './raw.js';
import type { EcmpConfig, EcmpPeerConfig, ServiceConfig, VrrpInstanceConfig } from './types.js';

export const ECMP_DEFAULTS = {
  bfdInterval: 0.1,
  bfdMultiplier: 3,
  holdTime: 3,
  vipInterface: 'lo',
  withdrawWait: 2,
  daemonPath: '/usr/sbin/bird',
  runDir: '/run/lvsd/bird',
} as const;

/** BGP's hold time is 0 or 3..65535 s (RFC 4271 4.2); lvsd needs a live one, so 0 is refused too. */
function holdTimeProblem(s: number): string | undefined {
  if (!Number.isInteger(s) || s < 3 || s > 65535) return `must be a whole number of seconds from 3s to 65535s (BGP's hold time), not ${formatDuration(s)}`;
  return undefined;
}

/** Interface names as the kernel takes them: 1..15 bytes, no '/', no whitespace. */
function interfaceProblem(name: string): string | undefined {
  if (Buffer.byteLength(name) > 15) return `"${name}" is longer than 15 bytes, the most an interface name has`;
  if (/[/\s:]/.test(name) || name === '.' || name === '..') return `"${name}" cannot be an interface name`;
  return undefined;
}

export function normaliseEcmp(loc: Located<RawEcmp>, problems: Problems): EcmpConfig {
  const { file, pointer, value: raw } = loc;
  const report = (p: string, m: string) => problems.add(file, pointer + p, m);
  const routerId = hostAddress(raw.routerId);
  if ('error' in routerId) report('/routerId', routerId.error);
  else if (familyOf(routerId.address) !== 'ipv4') report('/routerId', `${routerId.address} is not IPv4: a BGP router id is a 32-bit number written as an IPv4 address`);
  const holdTime = seconds(raw.holdTime, ECMP_DEFAULTS.holdTime);
  if (raw.holdTime !== undefined) {
    const p = holdTimeProblem(holdTime);
    if (p !== undefined) report('/holdTime', p);
  }
  const seen = new Map<string, number>();
  const peers: EcmpPeerConfig[] = [];
  raw.peers.forEach((rp, i) => {
    const a = hostAddress(rp.address);
    if ('error' in a) return report(`/peers/${i}/address`, a.error);
    const earlier = seen.get(a.address);
    if (earlier !== undefined) report(`/peers/${i}/address`, `duplicate peer ${a.address} (also /peers/${earlier})`);
    seen.set(a.address, i);
    const family = familyOf(a.address) as Family;
    let source: string | undefined;
    if (rp.source !== undefined) {
      const s = hostAddress(rp.source);
      if ('error' in s) report(`/peers/${i}/source`, s.error);
      else if (familyOf(s.address) !== family) report(`/peers/${i}/source`, `is ${familyOf(s.address)} but the peer ${a.address} is ${family}`);
      else source = s.address;
    }
    const peerHold = seconds(rp.holdTime, holdTime);
    if (rp.holdTime !== undefined) {
      const p = holdTimeProblem(peerHold);
      if (p !== undefined) report(`/peers/${i}/holdTime`, p);
    }
    peers.push({ address: a.address, family, as: rp.as, bfd: rp.bfd ?? true, holdTime: peerHold, ...(source !== undefined && { source }) });
  });
  const interval = seconds(raw.bfd?.interval, ECMP_DEFAULTS.bfdInterval);
  if (raw.bfd?.interval !== undefined && (interval < 0.01 || interval > 60)) {
    report('/bfd/interval', `must be from 10ms to 60s, not ${formatDuration(interval)}`);
  }
  const vipInterface = raw.vipInterface ?? ECMP_DEFAULTS.vipInterface;
  const badIf = interfaceProblem(vipInterface);
  if (badIf !== undefined) report('/vipInterface', badIf);
  const withdrawWait = seconds(raw.withdrawWait, ECMP_DEFAULTS.withdrawWait);
  const waitTooLong = overMax(withdrawWait, MAX_TIMER_SECONDS, TIMER_WHY);
  if (waitTooLong !== undefined) report('/withdrawWait', waitTooLong);
  const path = raw.daemon?.path ?? ECMP_DEFAULTS.daemonPath;
  const runDir = raw.daemon?.runDir ?? ECMP_DEFAULTS.runDir;
  for (const [key, value] of [['path', raw.daemon?.path], ['runDir', raw.daemon?.runDir]] as const) {
    const p = value !== undefined ? pathProblem(value) : undefined;
    if (p !== undefined) report(`/daemon/${key}`, p);
  }
  // BIRD's socket path is runDir + "/bird.ctl": it must fit sun_path (107 bytes)
  if (Buffer.byteLength(runDir) + 9 > 107) report('/daemon/runDir', `is too long: ${runDir}/bird.ctl must fit a Unix socket path (107 bytes)`);
  return {
    origin: { file, pointer },
    routerId: 'address' in routerId ? routerId.address : raw.routerId,
    localAs: raw.localAs,
    peers,
    bfd: { interval, multiplier: raw.bfd?.multiplier ?? ECMP_DEFAULTS.bfdMultiplier },
    vipInterface,
    withdrawWait,
    daemon: { path, runDir },
  };
}

/**
 * What active-active needs of the services: the same choice of real server on every director for the
 * same flow (`mh`), and replies that do not come back through the director that picked (no NAT: the
 * routers may send a flow's packets to any director). Refused where it cannot work, warned where it
 * works but the directors may choose differently.
 */
export function checkEcmpServices(
  ecmp: EcmpConfig, raw: ReadonlyArray<Located<RawService>>, services: readonly ServiceConfig[],
  vrrp: readonly VrrpInstanceConfig[], problems: Problems,
): void {
  const vips = new Set<string>();
  raw.forEach((loc, i) => {
    const svc = services[i];
    const { file, pointer, value } = loc;
    if (!svc) return;
    if (svc.spec.key.kind === 'fwmark') {
      problems.warn(file, pointer, 'a fwmark service has no address for lvsd to announce over BGP: announce the addresses its marks cover yourself, or give the service an address');
      return;
    }
    vips.add(svc.spec.key.address);
    if (svc.spec.scheduler !== 'mh') {
      problems.add(file, `${pointer}/scheduler`, `is "${svc.spec.scheduler}"${value.scheduler === undefined ? ' (the default)' : ''}, but ecmp needs "mh": only Maglev hashing makes every director pick the same real server for a flow the routers move to it`);
    }
    const nat = 'nat forwarding cannot work active-active: the replies must pass back through the director that rewrote the request, and the routers may send a flow to any director; use "dr" or "tunnel"';
    if ((value.forwarding ?? 'nat') === 'nat' && (value.realServers ?? []).some((r) => r.forwarding === undefined)) {
      problems.add(file, `${pointer}/forwarding`, value.forwarding === undefined ? `is "nat" (the default): ${nat}` : `is "nat": ${nat}`);
    }
    (value.realServers ?? []).forEach((r, k) => {
      if (r.forwarding === 'nat') problems.add(file, `${pointer}/realServers/${k}/forwarding`, `is "nat": ${nat}`);
    });
    if (value.sorryServer && (value.sorryServer.forwarding ?? value.forwarding ?? 'nat') === 'nat') {
      problems.add(file, `${pointer}/sorryServer/forwarding`, `is "nat": ${nat}`);
    }
    if (value.persistence !== undefined) {
      problems.warn(file, `${pointer}/persistence`, 'persistence is kept by each director on its own: a client the routers move to another director may get another real server (mh without mh-port already keeps a client address on one real server)');
    }
    if (svc.slowStart > 0) {
      problems.warn(file, `${pointer}/slowStart`, 'while a weight ramps up the directors may hold different weights, so mh may pick differently on each for a while');
    }
  });
  vrrp.forEach((v) => v.addresses.forEach((a, k) => {
    if (vips.has(a.address)) {
      problems.add(v.origin.file, `${v.origin.pointer}/addresses/${k}`, `${a.address} is a service address announced over BGP (ecmp): one address cannot both move by VRRP and be announced by every director`);
    }
  }));
  const families = new Set(ecmp.peers.map((p) => p.family));
  for (const a of vips) {
    const f = familyOf(a) as Family;
    if (!families.has(f)) {
      problems.add(ecmp.origin.file, `${ecmp.origin.pointer}/peers`, `has no ${f} peer to announce ${a} to (IPv4 addresses go to IPv4 peers, IPv6 to IPv6)`);
    }
  }
}
