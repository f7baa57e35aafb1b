/**
 * The one-shot announcements of an address takeover, through the addon: gratuitous ARP (IPv4) and
 * unsolicited neighbour advertisements (IPv6).
 */
import { addressToBytes, familyOf } from './address.js';
import { primaryAddress } from './addresses.js';
import { ALL_NODES, buildGratuitousArp, buildUnsolicitedNa } from './garp.js';
import { getLink } from './links.js';
import { loadNative } from './native.js';
import { toLvsdError } from './native-errors.js';

/**
 * Broadcast a gratuitous ARP for the IPv4 `address` out of `ifname`, announcing `mac` (default: the
 * interface's own MAC) as its owner. A request by default (see garp.ts); `op: 'reply'` for the other form.
 */
export async function sendGratuitousArp(ifname: string, address: string, mac?: string, op: 'request' | 'reply' = 'request'): Promise<void> {
  const native = loadNative();
  const hw = mac ?? (await getLink(ifname)).mac;
  const frame = buildGratuitousArp(hw, address, op);
  try {
    native.sendFrame(ifname, frame);
  } catch (e) {
    throw toLvsdError(e, `cannot send gratuitous ARP for ${address}`, ifname);
  }
}

export interface UnsolicitedNaOptions {
  /** Default: the interface's MAC. */
  mac?: string;
  /** Default: the interface's link-local address. */
  source?: string;
  /** Set the Router flag (the address is a gateway this node forwards for). Default false. */
  router?: boolean;
}

/**
 * Send an unsolicited neighbour advertisement for the IPv6 `address` to all nodes (ff02::1) with hop
 * limit 255, Override set, from the interface's link-local address; the kernel fills the checksum.
 */
export async function sendUnsolicitedNa(ifname: string, address: string, options: UnsolicitedNaOptions = {}): Promise<void> {
  const native = loadNative();
  const mac = options.mac ?? (await getLink(ifname)).mac;
  const source = options.source ?? (await primaryAddress(ifname, 'ipv6'));
  const message = buildUnsolicitedNa(mac, address, options.router ? { router: true } : {});
  try {
    native.sendIcmp6(ifname, message, addressToBytes(ALL_NODES), source ? addressToBytes(source) : null, 255);
  } catch (e) {
    throw toLvsdError(e, `cannot send neighbour advertisement for ${address}`, ifname);
  }
}

/**
 * Announce that this node now owns `address` on `ifname`: gratuitous ARP (IPv4) or unsolicited NA (IPv6).
 * `options.mac`: the interface's MAC when the caller knows it (no link lookup per announcement).
 */
export async function announceAddress(ifname: string, address: string, options: { mac?: string } = {}): Promise<void> {
  const family = familyOf(address);
  if (family === 'ipv4') return sendGratuitousArp(ifname, address, options.mac);
  if (family === 'ipv6') return sendUnsolicitedNa(ifname, address, options.mac !== undefined ? { mac: options.mac } : {});
  throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
}
