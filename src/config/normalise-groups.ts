/**
 * Service groups (keepalived's virtual_server_group): a service declared with `members` is one IPVS
 * service per member (address and port, an address range, or a fwmark), all sharing the service's real
 * servers, checks and settings. This module expands and checks the members; normalise-services.ts builds
 * each member's ServiceConfig. Pure.
 */
import { addressToBytes, bytesToAddress, familyOf, formatHostPort, type Family } from '../net/address.js';
import type { ServiceKey } from '../table/index.js';
import { hostAddress } from './limits.js';
import type { RawRealServer, RawService } from './raw.js';

/** Most IPVS services one group may expand to (ranges count every address). */
export const MAX_GROUP_MEMBERS = 1024;
/** Most destinations (members x real and sorry servers) one group may put in the kernel. */
export const MAX_GROUP_DESTINATIONS = 65536;

type Report = (pointer: string, message: string) => void;

export interface Member {
  key: ServiceKey;
  /** Where the member was declared, relative to the service: `/members/2`. */
  pointer: string;
}

/** Each member's kernel key, ranges expanded; problems reported at the member. Undefined when unusable. */
export function expandMembers(raw: RawService, report: Report): Member[] | undefined {
  const list = raw.members ?? [];
  let ok = true;
  const bad = (pointer: string, message: string) => { ok = false; report(pointer, message); };
  if (raw.name === undefined) bad('', 'a service with members needs a "name" (its members are named after it)');
  for (const k of ['address', 'port', 'fwmark'] as const) {
    if (raw[k] !== undefined) bad(`/${k}`, `a service with members takes "${k}" from each member; remove it here (or remove "members")`);
  }
  const servers = [...(raw.realServers ?? []), ...(raw.sorryServer ? [raw.sorryServer] : [])];
  const allTunnel = servers.length > 0 && servers.every((s) => (s.forwarding ?? raw.forwarding ?? 'nat') === 'tunnel');
  const addressFamilies = new Set<Family>();
  const memberFamilies: Array<{ index: number; family: Family }> = [];
  const out: Member[] = [];
  const fwmarks: Array<{ index: number; fwmark: number; family?: Family }> = [];
  list.forEach((m, i) => {
    const at = `/members/${i}`;
    if (m.fwmark !== undefined) {
      for (const k of ['address', 'lastAddress', 'port'] as const) {
        if (m[k] !== undefined) bad(`${at}/${k}`, `a fwmark member has no ${k} (the mark selects its packets)`);
      }
      fwmarks.push({ index: i, fwmark: m.fwmark, ...(m.family !== undefined && { family: m.family }) });
      return;
    }
    if (m.address === undefined) {
      bad(at, 'a member has an address (and port) or a fwmark');
      return;
    }
    if (raw.protocol === undefined) bad('', 'missing required key "protocol" (the address members need one)');
    const port = m.port ?? 0;
    const first = hostAddress(m.address);
    if ('error' in first) {
      bad(`${at}/address`, first.error);
      return;
    }
    const family = familyOf(first.address)!;
    if (m.family !== undefined && m.family !== family) bad(`${at}/family`, `is ${m.family} but the address ${first.address} is ${family}`);
    addressFamilies.add(family);
    memberFamilies.push({ index: i, family });
    const addresses = m.lastAddress === undefined ? [first.address] : range(first.address, m.lastAddress, `${at}/lastAddress`, bad);
    if (out.length + addresses.length > MAX_GROUP_MEMBERS) return; // counted below
    for (const address of addresses) out.push({ key: { kind: 'addr', family, protocol: raw.protocol ?? 'tcp', address, port }, pointer: at });
  });
  const total = list.reduce((n, m) => n + (m.fwmark !== undefined ? 1 : m.lastAddress !== undefined ? rangeSize(m) : 1), 0);
  if (total > MAX_GROUP_MEMBERS) {
    bad('/members', `expands to ${total} IPVS services, more than the ${MAX_GROUP_MEMBERS} a group may have; split it`);
    return undefined;
  }
  if (raw.family !== undefined && addressFamilies.size > 0 && !addressFamilies.has(raw.family)) {
    bad('/family', `is ${raw.family} but the members' addresses are ${[...addressFamilies].join(' and ')}`);
  }
  if (addressFamilies.size > 1 && !allTunnel) {
    const firstFamily = memberFamilies[0]!.family;
    const other = memberFamilies.find((m) => m.family !== firstFamily)!;
    bad(`/members/${other.index}`,
      `is ${other.family} but member ${memberFamilies[0]!.index} is ${firstFamily}: a group mixes IPv4 and IPv6 only when every real and sorry server uses tunnel forwarding (as in keepalived; NAT and DR forward within one family)`);
  }
  // A fwmark member's family: its own, else the service's, else the address members' (when one), else the
  // real servers' (when one), else IPv4: keepalived's order. With both families present it must be given.
  const serverFamilies = new Set(servers.map(addrFamily).filter((f): f is Family => f !== undefined));
  for (const f of fwmarks) {
    let family = f.family ?? raw.family;
    if (family === undefined) {
      if (addressFamilies.size > 1) {
        bad(`/members/${f.index}`, 'needs a "family": the group has IPv4 and IPv6 members, so a fwmark member must say which it is');
        continue;
      }
      family = addressFamilies.size === 1 ? [...addressFamilies][0]! : serverFamilies.size === 1 ? [...serverFamilies][0]! : 'ipv4';
    }
    out.push({ key: { kind: 'fwmark', family, fwmark: f.fwmark }, pointer: `/members/${f.index}` });
  }
  // members in declaration order (fwmarks were collected apart to know the families first)
  out.sort((a, b) => memberIndex(a) - memberIndex(b));
  const dests = out.length * servers.length;
  if (dests > MAX_GROUP_DESTINATIONS) {
    bad('/members', `puts ${out.length} x ${servers.length} = ${dests} destinations in the kernel, more than the ${MAX_GROUP_DESTINATIONS} a group may have; split it`);
  }
  return ok ? out : undefined;
}

function memberIndex(m: Member): number {
  return Number(m.pointer.slice('/members/'.length));
}

function addrFamily(s: { address: string }): Family | undefined {
  const a = hostAddress(s.address);
  return 'address' in a ? familyOf(a.address) : undefined;
}

/** The number of addresses of a range member, 1 when the range is not usable (its problem is reported apart). */
function rangeSize(m: { address?: string; lastAddress?: string }): number {
  const a = m.address !== undefined ? hostAddress(m.address) : undefined;
  const b = m.lastAddress !== undefined ? hostAddress(m.lastAddress) : undefined;
  if (!a || !b || !('address' in a) || !('address' in b)) return 1;
  const x = rangeEnds(a.address, b.address);
  return x === undefined ? 1 : x.last - x.first + 1;
}

/** The last octet (IPv4) or last 16 bits (IPv6) of both ends, when everything before them is equal. */
function rangeEnds(first: string, last: string): { first: number; last: number } | undefined {
  if (familyOf(first) !== familyOf(last)) return undefined;
  const a = addressToBytes(first);
  const b = addressToBytes(last);
  const tail = a.length === 4 ? 1 : 2;
  if (!a.subarray(0, a.length - tail).equals(b.subarray(0, b.length - tail))) return undefined;
  const read = (buf: Buffer) => (tail === 1 ? buf[buf.length - 1]! : buf.readUInt16BE(buf.length - 2));
  const lo = read(a);
  const hi = read(b);
  return hi >= lo ? { first: lo, last: hi } : undefined;
}

/** Every address from first to last; problems reported at `pointer`. */
function range(first: string, lastText: string, pointer: string, bad: Report): string[] {
  const parsed = hostAddress(lastText);
  if ('error' in parsed) {
    bad(pointer, parsed.error);
    return [first];
  }
  const last = parsed.address;
  const family = familyOf(first)!;
  if (familyOf(last) !== family) {
    bad(pointer, `is ${familyOf(last)} but the range starts at the ${family} address ${first}`);
    return [first];
  }
  const ends = rangeEnds(first, last);
  if (ends === undefined) {
    bad(pointer, `${last} is not ${first} or after it in the same ${family === 'ipv4' ? '/24 (a range counts up the last octet' : '/112 (a range counts up the last 16 bits'}, as keepalived's a.b.c.d-N)`);
    return [first];
  }
  const bytes = addressToBytes(first);
  const out: string[] = [];
  for (let v = ends.first; v <= ends.last; v++) {
    if (family === 'ipv4') bytes[3] = v;
    else bytes.writeUInt16BE(v, 14);
    const address = bytesToAddress(family, bytes);
    const usable = hostAddress(address);
    if ('error' in usable) {
      bad(pointer, `the range from ${first} includes ${usable.error}`);
      return [first];
    }
    out.push(address);
  }
  return out;
}

/** Member service names: `group[tcp/10.0.0.1:80]`. */
export function memberName(group: string, id: string): string {
  return `${group}[${id}]`;
}

/**
 * The port a group's real server is probed on (and named by, for drains), the same for every member: its
 * own port, else the one port every member has, else its check's port. Undefined: none applies.
 */
export function sharedPort(rs: RawRealServer, members: readonly Member[], checkPort: number | undefined): number | undefined {
  if (rs.port !== undefined) return rs.port;
  const ports = new Set(members.map((m) => (m.key.kind === 'addr' ? m.key.port : 0)));
  if (ports.size === 1) return [...ports][0]!;
  return checkPort;
}

export function sharedId(address: string, port: number): string {
  return formatHostPort(address, port);
}
