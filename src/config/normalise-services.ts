/**
 * IPVS services, each list item by itself (a group: each member): the rules linux/ip_vs.h and the kernel
 * impose that the schema cannot express, and the build of ServiceConfig with every default filled. The
 * list's cross-service rules are normalise-service-list.ts's. Pure.
 */
import {
  SCHEDULER_FLAG_BITS, SVC_F_ONEPACKET, SVC_F_PERSISTENT, TUNNEL_CHECKSUM_BITS, TUN_F_NOCSUM,
  destId, serviceId, type DestSpec, type Forwarding, type ServiceKey, type TunnelType,
} from '../table/index.js';
import { canonicalAddress, familyOf, type Family } from '../net/address.js';
import type { HealthGlobalConfig, Origin, RealServerConfig, RealServerNotify, ServiceConfig, ServiceGroupRef } from './types.js';
import { durationOr as seconds } from './duration.js';
import { MAX_PERSISTENCE_SECONDS, MAX_TIMER_SECONDS, TIMER_WHY, hostAddress, overMax } from './limits.js';
import { buildHealthCheck, checkHealthShape, noHealthCheck } from './normalise-health.js';
import { expandMembers, memberName, sharedId, sharedPort, type Member } from './normalise-groups.js';
import { Problems } from './problems.js';
import type { Located, RawRealServer, RawService, RawTunnel } from './raw.js';

export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'] as const;
export const SERVICE_DEFAULTS = {
  scheduler: 'wlc',
  forwarding: 'nat',
  weight: 1,
  persistenceTimeout: 300,
  onFailure: 'inhibit',
  slowStart: 0,
  initialState: 'down',
} as const;


type Report = (pointer: string, message: string) => void;

/** The mask of a dotted IPv4 netmask as an unsigned number, or a reason it is not one. */
export function ipv4Mask(text: string): number | string {
  const canonical = canonicalAddress(text);
  if (canonical === undefined || familyOf(canonical) !== 'ipv4') return `"${text}" is not a dotted IPv4 netmask`;
  const value = canonical.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  const inverted = ~value >>> 0;
  if ((inverted & (inverted + 1)) !== 0) return `"${text}" is not a contiguous netmask (ones then zeros, e.g. 255.255.255.0)`;
  if (value === 0) return `"${text}" keeps no bits of the client address; use at least /1`;
  return value;
}

function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** The kernel key of a service, or undefined (with problems reported) when it cannot be made. */
function serviceKey(raw: RawService, report: Report): { key?: ServiceKey; family: Family } {
  if (raw.fwmark !== undefined) {
    for (const k of ['address', 'port', 'protocol'] as const) {
      if (raw[k] !== undefined) report(`/${k}`, `a fwmark service has no ${k} (the mark selects its packets); remove "${k}" or "fwmark"`);
    }
    const family = raw.family ?? 'ipv4';
    return { key: { kind: 'fwmark', family, fwmark: raw.fwmark }, family };
  }
  const missing = (['protocol', 'address', 'port'] as const).filter((k) => raw[k] === undefined);
  for (const k of missing) report('', `missing required key "${k}" (a service has protocol, address and port, or a fwmark)`);
  const parsed = raw.address !== undefined ? hostAddress(raw.address) : undefined;
  const address = parsed !== undefined && 'address' in parsed ? parsed.address : undefined;
  if (parsed !== undefined && 'error' in parsed) report('/address', parsed.error);
  const family = (address && familyOf(address)) || raw.family || 'ipv4';
  if (raw.family !== undefined && address !== undefined && raw.family !== family) {
    report('/family', `is ${raw.family} but the address ${address} is ${family}`);
  }
  if (missing.length > 0 || address === undefined) return { family };
  return { key: { kind: 'addr', family, protocol: raw.protocol!, address, port: raw.port! }, family };
}

interface TunnelFields {
  tunnelType: TunnelType;
  tunnelPort: number;
  tunnelFlags: number;
}

function tunnelFields(tunnel: RawTunnel | undefined, forwarding: Forwarding, pointer: string | undefined, report: Report): TunnelFields {
  if (forwarding !== 'tunnel' || tunnel === undefined) return { tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: TUN_F_NOCSUM };
  const type = tunnel.type ?? 'ipip';
  const checksum = tunnel.checksum ?? 'none';
  if (pointer !== undefined) {
    if (type === 'gue' && tunnel.port === undefined) report(pointer, 'a gue tunnel needs "port" (the GUE UDP port on the real server)');
    if (type !== 'gue' && tunnel.port !== undefined) report(`${pointer}/port`, `only gue tunnels have a port, not ${type}`);
    if (type !== 'gue' && checksum === 'remcsum') report(`${pointer}/checksum`, `remcsum needs a gue tunnel, not ${type}`);
    if (type === 'ipip' && checksum === 'csum') report(`${pointer}/checksum`, 'ipip tunnels carry no checksum: csum applies to gue and gre');
  }
  return { tunnelType: type, tunnelPort: type === 'gue' ? tunnel.port ?? 0 : 0, tunnelFlags: TUNNEL_CHECKSUM_BITS[checksum] };
}

interface DestInput {
  address: string;
  port?: number;
  weight?: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  forwarding?: 'nat' | 'dr' | 'tunnel';
  tunnel?: RawTunnel;
}

/** A destination (real or sorry server) of a service, with the port and family rules applied. */
function buildDest(
  d: DestInput, svc: RawService, key: ServiceKey | undefined, family: Family, pointer: string, report: Report,
): DestSpec {
  const parsed = hostAddress(d.address);
  const address = 'address' in parsed ? parsed.address : undefined;
  if ('error' in parsed) report(`${pointer}/address`, parsed.error);
  // a canonical address: IPv6 text always has a colon, IPv4 text never
  const destFamily: Family = address === undefined ? family : address.includes(':') ? 'ipv6' : 'ipv4';
  const forwarding: Forwarding = d.forwarding ?? svc.forwarding ?? SERVICE_DEFAULTS.forwarding;
  const servicePort = key?.kind === 'addr' ? key.port : svc.port ?? 0;
  const port = d.port ?? servicePort;
  if (forwarding !== 'nat' && key?.kind !== 'fwmark' && svc.fwmark === undefined && d.port !== undefined && d.port !== servicePort) {
    report(`${pointer}/port`, `${forwarding} forwarding cannot change the port: use the service's port ${servicePort} or omit it (only nat remaps ports)`);
  }
  if (destFamily !== family && forwarding !== 'tunnel') {
    report(`${pointer}/address`, `is ${destFamily} but the service is ${family}; mixing families needs tunnel forwarding`);
  }
  if (d.tunnel !== undefined && forwarding !== 'tunnel') {
    report(`${pointer}/tunnel`, `applies only to tunnel forwarding, and this server uses ${forwarding}`);
  }
  const tunnelPointer = d.tunnel !== undefined ? `${pointer}/tunnel` : undefined;
  const upper = d.upperThreshold ?? 0;
  const lower = d.lowerThreshold ?? 0;
  if (d.lowerThreshold !== undefined && upper === 0 && lower > 0) {
    report(`${pointer}/lowerThreshold`, 'needs an upperThreshold (the lower threshold re-enables a server the upper one stopped)');
  } else if (lower > upper) {
    report(`${pointer}/lowerThreshold`, `must not be above upperThreshold (${lower} > ${upper})`);
  }
  const tunnel = tunnelFields(d.tunnel ?? svc.tunnel, forwarding, tunnelPointer, report);
  // every field in one literal, in DestSpec's order (src/table/dest.ts): a spread of the tunnel's fields
  // moved them into a property array of their own per real server (~40 bytes each) and gave the config's
  // destinations a hidden class apart from every copy's
  return {
    family: destFamily,
    address: address ?? d.address,
    port,
    forwarding,
    weight: d.weight ?? SERVICE_DEFAULTS.weight,
    upperThreshold: upper,
    lowerThreshold: lower,
    tunnelType: tunnel.tunnelType,
    tunnelPort: tunnel.tunnelPort,
    tunnelFlags: tunnel.tunnelFlags,
  };
}

/** A group member being built: its key, where it was declared, and the group's other members. */
interface MemberContext {
  member: Member;
  members: readonly Member[];
  group: ServiceGroupRef;
}

/** One service (or one member of a group), normalised; problems are reported relative to its pointer. */
export function normaliseService(
  loc: Located<RawService>, index: number, global: HealthGlobalConfig, problems: Problems, ctx?: MemberContext,
): { service: ServiceConfig; key?: ServiceKey } {
  const { file, pointer, value: raw } = loc;
  const report: Report = (p, message) => problems.add(file, pointer + p, message);
  const { key, family } = ctx ? { key: ctx.member.key, family: ctx.member.key.family } : serviceKey(raw, report);
  const keyPointer = ctx ? ctx.member.pointer : '';

  const scheduler = raw.scheduler ?? SERVICE_DEFAULTS.scheduler;
  let flags = 0;
  (raw.schedulerFlags ?? []).forEach((flag, i) => {
    const owner = flag.split('-')[0]!;
    if (owner !== scheduler) report(`/schedulerFlags/${i}`, `"${flag}" is a flag of the ${owner} scheduler, not ${scheduler}`);
    flags |= SCHEDULER_FLAG_BITS[flag] ?? 0;
  });

  const protocol = key ? (key.kind === 'addr' ? key.protocol : undefined) : raw.fwmark === undefined ? raw.protocol : undefined;
  if (raw.onePacket === true) {
    if (protocol !== undefined && protocol !== 'udp') {
      report('/onePacket', `one-packet scheduling applies to UDP only (the kernel ignores it for ${protocol}); use it on udp or fwmark services`);
    }
    flags |= SVC_F_ONEPACKET;
  }

  let timeout = 0;
  let netmask = family === 'ipv4' ? 0xffffffff : 128;
  let pe = '';
  const persistence = raw.persistence;
  if (persistence !== undefined) {
    flags |= SVC_F_PERSISTENT;
    timeout = seconds(persistence.timeout, SERVICE_DEFAULTS.persistenceTimeout);
    if (!Number.isInteger(timeout) || timeout < 1) {
      report('/persistence/timeout', 'must be a whole number of seconds, at least 1s (the kernel counts persistence in seconds)');
    } else if (timeout > MAX_PERSISTENCE_SECONDS) {
      report('/persistence/timeout', overMax(timeout, MAX_PERSISTENCE_SECONDS, `${MAX_PERSISTENCE_SECONDS} s: the kernel keeps it in 32-bit jiffies and would wrap it`)!);
    }
    const nm = persistence.netmask;
    if (nm !== undefined) {
      if (family === 'ipv4') {
        if (typeof nm === 'string') {
          const mask = ipv4Mask(nm);
          if (typeof mask === 'string') report('/persistence/netmask', mask);
          else netmask = mask;
        } else if (nm < 1 || nm > 32) {
          report('/persistence/netmask', 'an IPv4 prefix length must be from 1 to 32');
        } else {
          netmask = prefixMask(nm);
        }
      } else if (typeof nm === 'string') {
        report('/persistence/netmask', 'an IPv6 service takes a prefix length from 1 to 128, not a dotted mask');
      } else if (nm < 1 || nm > 128) {
        report('/persistence/netmask', 'an IPv6 prefix length must be from 1 to 128');
      } else {
        netmask = nm;
      }
    }
    if (persistence.engine !== undefined) {
      if (protocol !== undefined && protocol !== 'udp') report('/persistence/engine', `the sip persistence engine needs a udp (or fwmark) service, not ${protocol}`);
      pe = persistence.engine;
    }
  }
  const slowStart = seconds(raw.slowStart, SERVICE_DEFAULTS.slowStart);
  const slowStartTooLong = overMax(slowStart, MAX_TIMER_SECONDS, TIMER_WHY);
  if (slowStartTooLong !== undefined) report('/slowStart', slowStartTooLong);
  if (key?.kind === 'addr' && key.port === 0 && persistence === undefined) {
    report(`${keyPointer}/port`, 'port 0 (all ports) needs persistence: add "persistence": {}');
  }

  const realServers: RealServerConfig[] = [];
  /** Each real server's index by address and port (a duplicate names the first). */
  const seenDests = new Map<string, number>();
  const usesTunnel = (raw.forwarding ?? 'nat') === 'tunnel' || (raw.realServers ?? []).some((r) => r.forwarding === 'tunnel')
    || raw.sorryServer?.forwarding === 'tunnel';
  if (raw.tunnel !== undefined && !usesTunnel) report('/tunnel', 'is set but no server of this service uses tunnel forwarding');
  // The service-level tunnel's own rules are checked once here, whatever its servers do.
  if (raw.tunnel !== undefined) tunnelFields(raw.tunnel, 'tunnel', '/tunnel', report);
  if (raw.healthCheck !== undefined) checkHealthShape(raw.healthCheck, file, `${pointer}/healthCheck`, problems);

  // a plain loop, and per real server no closure, no pointer text kept and no spread: a cold apply builds
  // every real server of the table here once, mostly in V8's interpreter
  const list = raw.realServers ?? [];
  for (let i = 0; i < list.length; i++) {
    const rs = list[i]!;
    const rsPointer = `/realServers/${i}`;
    const spec = buildDest(rs, raw, key, family, rsPointer, report);
    const id = `${spec.address}\0${spec.port}`;
    const earlier = seenDests.get(id);
    if (earlier !== undefined) report(rsPointer, `duplicate real server ${destId(spec)} (also ${pointer}/realServers/${earlier})`);
    else seenDests.set(id, i);
    if (rs.healthCheck !== undefined) checkHealthShape(rs.healthCheck, file, `${pointer}${rsPointer}/healthCheck`, problems);
    const declared = rs.healthCheck ?? raw.healthCheck;
    if (ctx) {
      // one probe per real server for the whole group: the same target whatever the member's port
      const port = sharedPort(rs, ctx.members, declared?.port);
      const needsPort = declared !== undefined && !['none', 'ping'].includes(declared.type);
      const unported = port === undefined && needsPort;
      if (unported) {
        const ports = [...new Set(ctx.members.map((m) => (m.key.kind === 'addr' ? m.key.port : 0)))].join(', ');
        report(rsPointer, `the members of this group have different ports (${ports}) and the real server has none: give it a "port", or its healthCheck one (it is probed once for the whole group)`);
      }
      const target = { ...spec, port: port ?? 0 };
      const healthCheck = buildHealthCheck(declared, target, global, (m) => { if (!unported) report(rsPointer, m); });
      realServers.push({ spec, healthCheck, shared: { id: sharedId(spec.address, target.port), port: target.port }, ...notifyOf(rs) });
      continue;
    }
    const healthCheck = declared === undefined ? noHealthCheck(spec) : buildHealthCheck(declared, spec, global, (m) => report(rsPointer, m));
    realServers.push(rs.notify === undefined ? { spec, healthCheck } : { spec, healthCheck, ...notifyOf(rs) });
  }

  let sorryServer: DestSpec | undefined;
  if (raw.sorryServer !== undefined) {
    sorryServer = buildDest(raw.sorryServer, raw, key, family, '/sorryServer', report);
    const earlier = seenDests.get(`${sorryServer.address}\0${sorryServer.port}`);
    if (earlier !== undefined) report('/sorryServer', `is also a real server (${pointer}/realServers/${earlier}); a sorry server must be another address or port`);
  }
  if (raw.quorum !== undefined && raw.quorum.minUp > realServers.length) {
    report('/quorum/minUp', `is ${raw.quorum.minUp} but the service has only ${realServers.length} real server${realServers.length === 1 ? '' : 's'}`);
  }

  const spec = {
    key: key ?? { kind: 'fwmark' as const, family, fwmark: 0 },
    scheduler,
    flags,
    timeout,
    netmask,
    pe,
  };
  const service: ServiceConfig = {
    name: ctx ? memberName(ctx.group.name, serviceId(key!)) : raw.name ?? (key ? serviceId(key) : `service-${index}`),
    origin: { file, pointer },
    spec,
    realServers,
    onFailure: raw.onFailure ?? SERVICE_DEFAULTS.onFailure,
    slowStart,
    ...(sorryServer !== undefined && { sorryServer }),
    ...(raw.quorum !== undefined && { quorum: {
      minUp: raw.quorum.minUp,
      ...(raw.quorum.up !== undefined && { up: [...raw.quorum.up] }),
      ...(raw.quorum.down !== undefined && { down: [...raw.quorum.down] }),
      ...(raw.quorum.user !== undefined && { user: raw.quorum.user }),
    } }),
    initialState: raw.initialState ?? SERVICE_DEFAULTS.initialState,
    ...(ctx && { group: ctx.group }),
  };
  return key !== undefined ? { service, key } : { service };
}

/** What one list item makes on its own: its services (a group: one per member), with the problems found in it alone. */
export interface ServiceItem {
  /** `id`: the kernel key's serviceId, made once with the item. */
  services: Array<{ service: ServiceConfig; key?: ServiceKey; id?: string; at: Located<unknown> }>;
  /** A group's own name, claimed beside its members' names. */
  groupName?: string;
  problems: Problems;
}

/**
 * The problems of an item that has none: one object for all of them (the memo keeps every item's, 10,000
 * empty collections were ~2 MiB). Nothing adds to an item's problems once it is built.
 */
const NO_PROBLEMS = new Problems();

function kept(problems: Problems): Problems {
  return problems.size === 0 && problems.warnings.length === 0 ? NO_PROBLEMS : problems;
}

/** One item of the services list, normalised by itself (nothing here looks at the other items). */
export function normaliseItem(loc: Located<RawService>, i: number, global: HealthGlobalConfig): ServiceItem {
  const problems = new Problems();
  if (loc.value.members === undefined) {
    const { service, key } = normaliseService(loc, i, global, problems);
    return { services: [{ service, ...(key !== undefined && { key, id: serviceId(key) }), at: loc }], problems: kept(problems) };
  }
  const members = expandMembers(loc.value, (p, m) => problems.add(loc.file, loc.pointer + p, m));
  const name = loc.value.name;
  const item: ServiceItem = { services: [], problems, ...(name !== undefined && { groupName: name }) };
  if (members === undefined || name === undefined) return item;
  members.forEach((member, index) => {
    const ctx = { member, members, group: { name, index, size: members.length } };
    const { service, key } = normaliseService(loc, i, global, problems, ctx);
    item.services.push({ service, ...(key !== undefined && { key, id: serviceId(key) }), at: { ...loc, pointer: loc.pointer + member.pointer } });
  });
  item.problems = kept(problems);
  return item;
}

/**
 * Where a service's `index`-th real server was declared (a group's members share their item's origin, so
 * the same holds for them): not kept per real server (see RealServerConfig).
 */
export function realServerOrigin(service: Pick<ServiceConfig, 'origin'>, index: number): Origin {
  return { file: service.origin.file, pointer: `${service.origin.pointer}/realServers/${index}` };
}

/** A real server's notify commands, copied; nothing when it has none. */
function notifyOf(rs: RawRealServer): { notify?: RealServerNotify } {
  const n = rs.notify;
  if (!n || (n.up === undefined && n.down === undefined)) return {};
  return { notify: { ...(n.up !== undefined && { up: [...n.up] }), ...(n.down !== undefined && { down: [...n.down] }), ...(n.user !== undefined && { user: n.user }) } };
}
