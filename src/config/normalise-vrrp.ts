/**
 * VRRP instances, sync groups and the connection-sync daemon: family rules, interval resolution per
 * version, uniqueness, membership. Pure.
 */
import { canonicalAddress, familyOf, type Family } from '../net/address.js';
import type {
  ConnectionSyncConfig, SyncGroupConfig, TrackFileConfig, TrackProcessConfig, TrackScriptConfig, VrrpAddress, VrrpInstanceConfig,
} from './types.js';
import { durationOr as seconds, formatDuration } from './duration.js';
import { MAX_TIMER_SECONDS, TIMER_WHY, hostAddress, overMax, subnetBroadcast, zoneProblem } from './limits.js';
import type { Problems } from './problems.js';
import { trackProcessKey } from '../track-key.js';
import type { Located, RawConnectionSync, RawSyncGroup, RawVrrpInstance } from './raw.js';

export const VRRP_DEFAULTS = {
  priority: 100,
  version: 3,
  advertInterval: 1,
  preempt: true,
  preemptDelay: 0,
  acceptMode: true,
  v2Compat: false,
  trackWeight: 0,
  trackScript: { interval: 1, rise: 1, fall: 1, weight: 0 },
  trackFileWeight: 1,
  trackProcess: { weight: 0, quorum: 1, delay: 0, interval: 1 },
  garp: { count: 5, interval: 0.2, refresh: 0 },
} as const;

/** "192.0.2.10/24" or "2001:db8::1" (gets /32 or /128) to a VrrpAddress, or the reason it is not one. */
export function parseVrrpAddress(text: string): VrrpAddress | string {
  const slash = text.indexOf('/');
  const host = slash >= 0 ? text.slice(0, slash) : text;
  const parsed = hostAddress(host);
  if ('error' in parsed) return parsed.error;
  const address = parsed.address;
  const family = familyOf(address)!;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { family, address, prefixLength: max };
  const lenText = text.slice(slash + 1);
  const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 1 && len <= max)) return `prefix length "${lenText}" must be from 1 to ${max} for ${family}`;
  const broadcast = subnetBroadcast(address, len);
  if (broadcast !== undefined) return broadcast;
  return { family, address, prefixLength: len };
}

/** Centiseconds exactly? (3 decimals of float noise tolerated.) */
function wholeCentiseconds(s: number): boolean {
  return Math.abs(s * 100 - Math.round(s * 100)) < 1e-6;
}

/** Names unique within a list: the second use of a name is reported with the first's place. */
function uniqueNames(items: ReadonlyArray<unknown>, key: (x: never) => string, list: string, report: (p: string, m: string) => void): void {
  const seen = new Map<string, number>();
  items.forEach((t, i) => {
    const k = key(t as never);
    const earlier = seen.get(k);
    if (earlier !== undefined) report(`/${list}/${i}`, `tracks "${k}" twice (also /${list}/${earlier})`);
    else seen.set(k, i);
  });
}

function trackScripts(raw: RawVrrpInstance, execUser: string, report: (p: string, m: string) => void): TrackScriptConfig[] {
  const list = raw.trackScripts ?? [];
  uniqueNames(list, (t: { name: string }) => t.name, 'trackScripts', report);
  return list.map((t, i) => {
    const interval = seconds(t.interval, VRRP_DEFAULTS.trackScript.interval);
    const timeout = seconds(t.timeout, interval);
    if (t.interval !== undefined && interval <= 0) report(`/trackScripts/${i}/interval`, 'must be more than 0');
    if (t.timeout !== undefined && timeout <= 0) report(`/trackScripts/${i}/timeout`, 'must be more than 0');
    for (const [k, given, v] of [['interval', t.interval, interval], ['timeout', t.timeout, timeout]] as const) {
      const tooLong = given !== undefined ? overMax(v, MAX_TIMER_SECONDS, TIMER_WHY) : undefined;
      if (tooLong !== undefined) report(`/trackScripts/${i}/${k}`, tooLong);
    }
    return {
      name: t.name, command: [...t.command], interval, timeout,
      weight: t.weight ?? VRRP_DEFAULTS.trackScript.weight, reverse: t.reverse ?? false,
      rise: t.rise ?? VRRP_DEFAULTS.trackScript.rise, fall: t.fall ?? VRRP_DEFAULTS.trackScript.fall,
      user: t.user ?? execUser, initFail: t.initFail ?? false,
    };
  });
}

function trackFiles(raw: RawVrrpInstance, report: (p: string, m: string) => void): TrackFileConfig[] {
  const list = raw.trackFiles ?? [];
  uniqueNames(list, (t: { path: string }) => t.path, 'trackFiles', report);
  list.forEach((t, i) => {
    if (!t.path.startsWith('/')) report(`/trackFiles/${i}/path`, `"${t.path}" is not an absolute path`);
  });
  return list.map((t) => ({ path: t.path, weight: t.weight ?? VRRP_DEFAULTS.trackFileWeight, reverse: t.reverse ?? false }));
}

/** The key a tracked process is shown and logged by: its name, with its arguments when given. */
export { trackProcessKey };

function trackProcesses(raw: RawVrrpInstance, report: (p: string, m: string) => void): TrackProcessConfig[] {
  const list = raw.trackProcesses ?? [];
  uniqueNames(list, trackProcessKey, 'trackProcesses', report);
  return list.map((t, i) => {
    const quorum = t.quorum ?? VRRP_DEFAULTS.trackProcess.quorum;
    if (t.quorumMax !== undefined && t.quorumMax < quorum) report(`/trackProcesses/${i}/quorumMax`, `is less than quorum (${quorum}): the process could never be up`);
    const interval = seconds(t.interval, VRRP_DEFAULTS.trackProcess.interval);
    if (t.interval !== undefined && interval <= 0) report(`/trackProcesses/${i}/interval`, 'must be more than 0');
    const delay = seconds(t.delay, VRRP_DEFAULTS.trackProcess.delay);
    for (const [k, given, v] of [['interval', t.interval, interval], ['delay', t.delay, delay]] as const) {
      const tooLong = given !== undefined ? overMax(v, MAX_TIMER_SECONDS, TIMER_WHY) : undefined;
      if (tooLong !== undefined) report(`/trackProcesses/${i}/${k}`, tooLong);
    }
    return {
      name: t.name, ...(t.args !== undefined && { args: [...t.args] }),
      weight: t.weight ?? VRRP_DEFAULTS.trackProcess.weight, reverse: t.reverse ?? false,
      quorum, ...(t.quorumMax !== undefined && { quorumMax: t.quorumMax }), delay, interval,
    };
  });
}

function normaliseInstance(loc: Located<RawVrrpInstance>, problems: Problems, execUser: string): VrrpInstanceConfig {
  const { file, pointer, value: raw } = loc;
  const report = (p: string, message: string) => problems.add(file, pointer + p, message);

  const addresses: VrrpAddress[] = [];
  const seen = new Map<string, number>();
  raw.addresses.forEach((text, i) => {
    const a = parseVrrpAddress(text);
    if (typeof a === 'string') return report(`/addresses/${i}`, a);
    const earlier = seen.get(a.address);
    if (earlier !== undefined) report(`/addresses/${i}`, `duplicate address ${a.address} (also /addresses/${earlier})`);
    else seen.set(a.address, i);
    addresses.push(a);
  });
  const family: Family = addresses[0]?.family ?? 'ipv4';
  raw.addresses.forEach((text, i) => {
    const a = parseVrrpAddress(text);
    if (typeof a !== 'string' && a.family !== family) {
      report(`/addresses/${i}`, `is ${a.family} but the instance is ${family} (from its first address); one instance carries one family: use two instances in a sync group`);
    }
  });

  let unicast: VrrpInstanceConfig['unicast'];
  if (raw.unicast !== undefined) {
    const canon = (text: string, p: string): string => {
      const parsed = hostAddress(text);
      const a = 'address' in parsed ? parsed.address : undefined;
      if ('error' in parsed) report(p, parsed.error);
      else if (familyOf(a!) !== family) report(p, `is ${familyOf(a!)} but the instance is ${family}`);
      return a ?? text;
    };
    const peers = raw.unicast.peers.map((peer, i) => canon(peer, `/unicast/peers/${i}`));
    unicast = { source: canon(raw.unicast.source, '/unicast/source'), peers };
  }

  const version = raw.version ?? VRRP_DEFAULTS.version;
  const advertInterval = seconds(raw.advertInterval, VRRP_DEFAULTS.advertInterval);
  if (version === 2) {
    if (family !== 'ipv4') report('/version', 'VRRP version 2 is IPv4 only; use version 3 for IPv6');
    if (!Number.isInteger(advertInterval) || advertInterval < 1 || advertInterval > 255) {
      report('/advertInterval', `VRRP version 2 needs whole seconds from 1s to 255s (got ${formatDuration(advertInterval)})`);
    }
  } else if (advertInterval < 0.01 || advertInterval > 40.95) {
    report('/advertInterval', `must be from 10ms to 40.95s (got ${formatDuration(advertInterval)})`);
  } else if (!wholeCentiseconds(advertInterval)) {
    report('/advertInterval', `VRRP version 3 counts in centiseconds; ${formatDuration(advertInterval)} is finer than 10ms steps`);
  }
  if (raw.v2Compat === true) {
    if (version !== 3) report('/v2Compat', 'is for a version 3 instance among VRRPv2 routers; a version 2 instance speaks VRRPv2 already');
    else if (family !== 'ipv4') report('/v2Compat', 'VRRPv2 is IPv4 only');
    else if (!Number.isInteger(advertInterval) || advertInterval > 255) {
      report('/advertInterval', `with v2Compat the VRRPv2 routers must read the same interval: whole seconds from 1s to 255s (got ${formatDuration(advertInterval)})`);
    }
  }

  if (raw.authentication !== undefined) {
    const bytes = Buffer.byteLength(raw.authentication.password, 'utf8');
    if (version !== 2 && raw.v2Compat !== true) {
      report('/authentication', 'is VRRPv2 only (RFC 5798 removed authentication): set version 2 (or v2Compat, whose VRRPv2 adverts carry it), or remove it');
    }
    else if (bytes > 8) report('/authentication/password', `is ${bytes} bytes in UTF-8; a VRRPv2 password carries at most 8`);
  }

  const garp = {
    count: raw.garp?.count ?? VRRP_DEFAULTS.garp.count,
    interval: seconds(raw.garp?.interval, VRRP_DEFAULTS.garp.interval),
    refresh: seconds(raw.garp?.refresh, VRRP_DEFAULTS.garp.refresh),
  };
  const preemptDelay = seconds(raw.preemptDelay, VRRP_DEFAULTS.preemptDelay);
  const timers: Array<[string, unknown, number]> = [
    ['/preemptDelay', raw.preemptDelay, preemptDelay],
    ['/garp/interval', raw.garp?.interval, garp.interval],
    ['/garp/refresh', raw.garp?.refresh, garp.refresh],
  ];
  for (const [p, given, value] of timers) {
    const tooLong = given !== undefined ? overMax(value, MAX_TIMER_SECONDS, TIMER_WHY) : undefined;
    if (tooLong !== undefined) report(p, tooLong);
  }
  const notify: VrrpInstanceConfig['notify'] = {};
  for (const k of ['master', 'backup', 'fault', 'stop'] as const) {
    const argv = raw.notify?.[k];
    if (argv !== undefined) notify[k] = [...argv];
  }
  if (raw.notify?.user !== undefined) notify.user = raw.notify.user;
  const trackNames = new Map<string, number>();
  (raw.trackInterfaces ?? []).forEach((t, i) => {
    const earlier = trackNames.get(t.name);
    if (earlier !== undefined) report(`/trackInterfaces/${i}`, `tracks "${t.name}" twice (also /trackInterfaces/${earlier})`);
    else trackNames.set(t.name, i);
  });

  return {
    name: raw.name,
    origin: { file, pointer },
    interface: raw.interface,
    vrid: raw.vrid,
    priority: raw.priority ?? VRRP_DEFAULTS.priority,
    version,
    family,
    advertInterval: Math.round(advertInterval * 100) / 100,
    preempt: raw.preempt ?? VRRP_DEFAULTS.preempt,
    preemptDelay,
    acceptMode: raw.acceptMode ?? VRRP_DEFAULTS.acceptMode,
    v2Compat: raw.v2Compat ?? VRRP_DEFAULTS.v2Compat,
    addresses,
    ...(unicast !== undefined && { unicast }),
    trackInterfaces: (raw.trackInterfaces ?? []).map((t) => ({ name: t.name, weight: t.weight ?? VRRP_DEFAULTS.trackWeight })),
    trackScripts: trackScripts(raw, execUser, report),
    trackFiles: trackFiles(raw, report),
    trackProcesses: trackProcesses(raw, report),
    garp,
    notify,
    ...(raw.authentication !== undefined && { authentication: { type: 'pass' as const, password: raw.authentication.password } }),
  };
}

/** Instances and sync groups, with names unique, (interface, vrid, family) unique, and membership checked. */
export function normaliseVrrp(
  instances: ReadonlyArray<Located<RawVrrpInstance>>, groups: ReadonlyArray<Located<RawSyncGroup>>, problems: Problems,
  unusableNames: ReadonlySet<string> = new Set(),
  /** Who track scripts run as when they do not say: health.execUser. */
  execUser = 'nobody',
): { vrrp: VrrpInstanceConfig[]; syncGroups: SyncGroupConfig[] } {
  const where = (here: Located<unknown>, there: Located<unknown>) =>
    here.file === there.file ? there.pointer : `${there.file} ${there.pointer}`;
  const byName = new Map<string, { loc: Located<RawVrrpInstance>; inst: VrrpInstanceConfig }>();
  const byRouter = new Map<string, Located<RawVrrpInstance>>();
  const byAddress = new Map<string, { name: string; loc: Located<RawVrrpInstance> }>();
  const vrrp = instances.map((loc) => {
    const inst = normaliseInstance(loc, problems, execUser);
    loc.value.addresses.forEach((text, i) => {
      const a = parseVrrpAddress(text);
      if (typeof a === 'string') return;
      const owner = byAddress.get(a.address);
      if (!owner) byAddress.set(a.address, { name: inst.name, loc });
      else if (owner.loc !== loc) {
        problems.add(loc.file, `${loc.pointer}/addresses/${i}`,
          `${a.address} is also an address of instance "${owner.name}" (${where(loc, owner.loc)}); two instances would fight over it`);
      }
    });
    const named = byName.get(inst.name);
    if (named) problems.add(loc.file, `${loc.pointer}/name`, `duplicate VRRP instance name "${inst.name}" (also ${where(loc, named.loc)})`);
    else byName.set(inst.name, { loc, inst });
    const router = `${inst.interface}\0${inst.vrid}\0${inst.family}`;
    const same = byRouter.get(router);
    if (same) {
      problems.add(loc.file, `${loc.pointer}/vrid`,
        `vrid ${inst.vrid} on ${inst.interface} (${inst.family}) is already used by "${same.value.name}" (${where(loc, same)})`);
    } else {
      byRouter.set(router, loc);
    }
    return inst;
  });

  const groupNames = new Map<string, Located<RawSyncGroup>>();
  const memberOf = new Map<string, { group: string; loc: Located<RawSyncGroup> }>();
  const syncGroups = groups.map((loc) => {
    const { name, instances: members } = loc.value;
    const named = groupNames.get(name);
    if (named) problems.add(loc.file, `${loc.pointer}/name`, `duplicate sync group name "${name}" (also ${where(loc, named)})`);
    else groupNames.set(name, loc);
    members.forEach((member, i) => {
      const p = `${loc.pointer}/instances/${i}`;
      const inst = byName.get(member);
      if (!inst) {
        if (unusableNames.has(member)) return; // that instance's own problems are reported already
        problems.add(loc.file, p, `no VRRP instance is named "${member}"`);
        return;
      }
      const other = memberOf.get(member);
      if (other) {
        problems.add(loc.file, p, other.group === name
          ? `lists "${member}" twice`
          : `"${member}" is already in sync group "${other.group}" (${where(loc, other.loc)}); an instance belongs to one group only`);
        return;
      }
      memberOf.set(member, { group: name, loc });
      inst.inst.syncGroup = name;
    });
    return { name, instances: [...members] };
  });
  return { vrrp, syncGroups };
}

function isMulticast(address: string): boolean {
  if (familyOf(address) === 'ipv4') {
    const first = Number(address.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return address.toLowerCase().startsWith('ff');
}

/** The connection-sync daemon settings; its instance must be a declared VRRP instance. */
export function normaliseConnectionSync(
  loc: Located<RawConnectionSync>, vrrp: readonly VrrpInstanceConfig[], problems: Problems,
  unusableNames: ReadonlySet<string> = new Set(),
): ConnectionSyncConfig {
  const { file, pointer, value: raw } = loc;
  if (!vrrp.some((v) => v.name === raw.instance) && !unusableNames.has(raw.instance)) {
    problems.add(file, `${pointer}/instance`, `no VRRP instance is named "${raw.instance}"`);
  }
  let group: string | undefined;
  if (raw.group !== undefined) {
    const zone = zoneProblem(raw.group);
    group = zone === undefined ? canonicalAddress(raw.group) : undefined;
    if (zone !== undefined) problems.add(file, `${pointer}/group`, zone);
    else if (group === undefined) problems.add(file, `${pointer}/group`, `"${raw.group}" is not an IP address`);
    else if (!isMulticast(group)) problems.add(file, `${pointer}/group`, `${group} is not a multicast address`);
  }
  return {
    instance: raw.instance,
    interface: raw.interface,
    syncId: raw.syncId,
    ...(raw.port !== undefined && { port: raw.port }),
    ...(raw.ttl !== undefined && { ttl: raw.ttl }),
    ...((group ?? raw.group) !== undefined && { group: group ?? raw.group }),
    ...(raw.maxLength !== undefined && { maxLength: raw.maxLength }),
  };
}
