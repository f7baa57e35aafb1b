/**
 * Interface addresses over rtnetlink: list, add and remove (idempotently: adding an address that is there
 * or removing one that is not is success, so a VRRP transition can be replayed safely), and the address a
 * VRRP socket sends from (IPv4: the interface's primary address; IPv6: its link-local address).
 */
import { rt } from 'netlink';
import { LvsdError } from '../errors.js';
import { addressToBytes, afOf, bytesToAddress, canonicalAddress, familyOf, familyOfAf, type Family } from './address.js';
import { getLink, netlinkErrnoName, withRtnl } from './links.js';

// NLM_F_CREATE | NLM_F_EXCL: create, and say EEXIST (which we treat as success) when it already exists.
const NLM_F_CREATE_EXCL = 0x400 | 0x200;

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

function fromMessage(msg: rt.AddressMessage): InterfaceAddress | undefined {
  const family = familyOfAf(msg.data.family ?? 0);
  const bytes = msg.attrs.local ?? msg.attrs.address;
  if (!family || !bytes) return undefined;
  // IFA_FLAGS (u32) supersedes the u8 ifa_flags when present.
  const flags = msg.attrs.flags ?? msg.data.flags ?? {};
  const out: InterfaceAddress = {
    family,
    address: bytesToAddress(family, bytes),
    prefixLength: msg.data.prefixlen ?? 0,
    ifindex: msg.data.index ?? 0,
    scope: scopeName(msg.data.scope),
    secondary: flags.secondary === true,
    tentative: flags.tentative === true,
    dadFailed: flags.dadfailed === true,
    deprecated: flags.deprecated === true,
    nodad: flags.nodad === true,
  };
  if (msg.attrs.label !== undefined) out.label = msg.attrs.label;
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

function kernelError(action: string, ifname: string, address: string, e: unknown): LvsdError {
  const errno = netlinkErrnoName(e);
  return new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot ${action} ${address} on ${ifname}: ${errno ?? (e as Error).message}`, {
    details: { interface: ifname, address, errno },
    cause: e,
  });
}

/** The addresses on one interface (both families unless `family` is given), in the kernel's order. */
export async function listAddresses(ifname: string, family?: Family): Promise<InterfaceAddress[]> {
  const link = await getLink(ifname);
  return withRtnl(async (socket) => {
    const data: rt.Address = family ? { family: afOf(family) } : {};
    const replies = await socket.getAddresses(data);
    const out: InterfaceAddress[] = [];
    for (const r of replies) {
      if (r.data.index !== link.index) continue;
      const a = fromMessage(r);
      if (a && (!family || a.family === family)) out.push(a);
    }
    return out;
  });
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
  return withRtnl(async (socket) => {
    const data: rt.Address = { family: afOf(family), prefixlen: prefixLength, index, scope: 0 };
    const attrs: rt.AddressAttrs = { local: bytes, address: bytes };
    if (family === 'ipv6') {
      data.flags = { nodad: true };
      attrs.flags = { nodad: true };
      delete attrs.local;
    }
    try {
      await socket.newAddress(data, attrs, { flags: NLM_F_CREATE_EXCL });
      return true;
    } catch (e) {
      if (netlinkErrnoName(e) === 'EEXIST') return false;
      throw kernelError('add', ifname, address, e);
    }
  });
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
  return withRtnl(async (socket) => {
    const data: rt.Address = { family: afOf(family), prefixlen: plen, index };
    // IPv4 matches on IFA_LOCAL alone; IPv6 needs IFA_ADDRESS (with the prefix length).
    const attrs: rt.AddressAttrs = family === 'ipv4' ? { local: bytes } : { address: bytes };
    try {
      await socket.delAddress(data, attrs);
      return true;
    } catch (e) {
      const errno = netlinkErrnoName(e);
      if (errno === 'EADDRNOTAVAIL' || errno === 'ENOENT' || errno === 'ESRCH') return false;
      throw kernelError('remove', ifname, address, e);
    }
  });
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
