/**
 * Interface addresses over rtnetlink: list, add and remove (idempotently: adding an address that is there
 * or removing one that is not is success, so a VRRP transition can be replayed safely), and the address a
 * VRRP socket sends from (IPv4: the interface's primary address; IPv6: its link-local address).
 */
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { LvsdError } from '../errors.js';
import { addressToBytes, afOf, bytesToAddress, canonicalAddress, familyOf, familyOfAf, type Family } from './address.js';
import { getLink } from './links.js';
import { rtnlRequest } from './netlink.js';
import {
  addressRequest, dumpAddressesRequest, IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_NODAD, IFA_F_SECONDARY, IFA_F_TENTATIVE, type RtAddress,
} from './rtnl.js';

const { EADDRNOTAVAIL, EEXIST, ENOENT, ESRCH } = constants.errno;

export type AddressScope = 'global' | 'site' | 'link' | 'host' | 'nowhere';

export interface InterfaceAddress {
  family: Family;
  address: string;
  prefixLength: number;
  ifindex: number;
  scope: AddressScope;
  /** IPv4: not the primary address of its subnet on the interface. */
  secondary: boolean;
  /** IPv6: duplicate address detection has not finished (the address is not usable yet). */
  tentative: boolean;
  dadFailed: boolean;
  deprecated: boolean;
  /** Added with IFA_F_NODAD. */
  nodad: boolean;
  label?: string;
}

function scopeName(scope: number | undefined): AddressScope {
  switch (scope) {
    case 200: return 'site';
    case 253: return 'link';
    case 254: return 'host';
    case 255: return 'nowhere';
    default: return 'global';
  }
}

function fromRt(a: RtAddress): InterfaceAddress | undefined {
  const family = familyOfAf(a.af);
  if (!family || !a.address || a.address.length !== (family === 'ipv4' ? 4 : 16)) return undefined;
  const out: InterfaceAddress = {
    family,
    address: bytesToAddress(family, a.address),
    prefixLength: a.prefixLength,
    ifindex: a.index,
    scope: scopeName(a.scope),
    secondary: (a.flags & IFA_F_SECONDARY) !== 0,
    tentative: (a.flags & IFA_F_TENTATIVE) !== 0,
    dadFailed: (a.flags & IFA_F_DADFAILED) !== 0,
    deprecated: (a.flags & IFA_F_DEPRECATED) !== 0,
    nodad: (a.flags & IFA_F_NODAD) !== 0,
  };
  if (a.label !== undefined) out.label = a.label;
  return out;
}

function checkAddress(address: string, prefixLength?: number): { family: Family; bytes: Buffer } {
  const family = familyOf(address);
  if (!family) throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
  const max = family === 'ipv4' ? 32 : 128;
  if (prefixLength !== undefined && (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max)) {
    throw new TypeError(`prefix length ${prefixLength} out of range 0..${max} for ${address}`);
  }
  return { family, bytes: addressToBytes(address) };
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function kernelError(action: string, ifname: string, address: string, errno: number): LvsdError {
  const name = errnoName(errno);
  return new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot ${action} ${address} on ${ifname}: ${name}`, {
    details: { interface: ifname, address, errno: name },
  });
}

/** The addresses on one interface (both families unless `family` is given), in the kernel's order. */
export async function listAddresses(ifname: string, family?: Family): Promise<InterfaceAddress[]> {
  const link = await getLink(ifname);
  const reply = await rtnlRequest((seq) => dumpAddressesRequest(seq, family ? afOf(family) : 0), 'dump', 'RTM_GETADDR dump');
  if (reply.errno !== 0) throw kernelError('list addresses', ifname, 'the addresses', reply.errno);
  const out: InterfaceAddress[] = [];
  for (const r of reply.items) {
    if (r.kind !== 'address' || r.address.index !== link.index) continue;
    const a = fromRt(r.address);
    if (a && (!family || a.family === family)) out.push(a);
  }
  return out;
}

/**
 * Add `address/prefixLength` to the interface. Resolves true when added, false when it was already there.
 * IPv6 addresses are added with IFA_F_NODAD: a VIP moves between directors that already agreed (by VRRP)
 * who owns it, and duplicate address detection would keep the address tentative (unusable as a source,
 * not answering neighbour solicitations) for about a second after every takeover. `options.ifindex`: the
 * interface's index when the caller knows it (no link lookup first).
 */
export async function addAddress(ifname: string, address: string, prefixLength: number, options: { ifindex?: number } = {}): Promise<boolean> {
  const { family, bytes } = checkAddress(address, prefixLength);
  // a caller that knows the index (a VRRP takeover: its socket's) saves a round trip under rtnl_lock
  const index = options.ifindex ?? (await getLink(ifname)).index;
  const change = family === 'ipv6'
    ? { af: afOf(family), prefixLength, index, flags: IFA_F_NODAD, address: bytes }
    : { af: afOf(family), prefixLength, index, local: bytes, address: bytes };
  const reply = await rtnlRequest((seq) => addressRequest(seq, 'add', change), 'ack', `RTM_NEWADDR ${address} on ${ifname}`);
  if (reply.errno === 0) return true;
  if (reply.errno === EEXIST) return false;
  throw kernelError('add', ifname, address, reply.errno);
}

/**
 * Remove `address` from the interface. Resolves true when removed, false when it was not there. The prefix
 * length is looked up when not given (the kernel matches IPv6 addresses on address and prefix length).
 */
export async function removeAddress(ifname: string, address: string, prefixLength?: number, options: { ifindex?: number } = {}): Promise<boolean> {
  const { family, bytes } = checkAddress(address, prefixLength);
  const canonical = canonicalAddress(address)!;
  let plen = prefixLength;
  if (plen === undefined) {
    const found = (await listAddresses(ifname, family)).find((a) => a.address === canonical);
    if (!found) return false;
    plen = found.prefixLength;
  }
  const index = options.ifindex ?? (await getLink(ifname)).index;
  // IPv4 matches on IFA_LOCAL alone; IPv6 needs IFA_ADDRESS (with the prefix length).
  const change = family === 'ipv4'
    ? { af: afOf(family), prefixLength: plen, index, local: bytes }
    : { af: afOf(family), prefixLength: plen, index, address: bytes };
  const reply = await rtnlRequest((seq) => addressRequest(seq, 'remove', change), 'ack', `RTM_DELADDR ${address} on ${ifname}`);
  if (reply.errno === 0) return true;
  if (reply.errno === EADDRNOTAVAIL || reply.errno === ENOENT || reply.errno === ESRCH) return false;
  throw kernelError('remove', ifname, address, reply.errno);
}

/**
 * The address VRRP advertisements go out from: for IPv4 the interface's primary address (the first
 * non-secondary global one), for IPv6 its usable link-local address. Undefined when there is none.
 */
export async function primaryAddress(ifname: string, family: Family): Promise<string | undefined> {
  const addresses = await listAddresses(ifname, family);
  if (family === 'ipv4') {
    const usable = addresses.filter((a) => !a.secondary && a.scope !== 'host' && a.scope !== 'nowhere');
    return (usable.find((a) => a.scope === 'global') ?? usable[0])?.address;
  }
  return addresses.find((a) => a.scope === 'link' && a.address.startsWith('fe80:') && !a.tentative && !a.dadFailed)
    ?.address;
}
