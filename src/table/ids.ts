/**
 * Identities of services and real servers: what the reconciler keys its maps by, what status and metrics
 * print. Pure.
 */
import { canonicalAddress, formatHostPort } from '../net/address.js';
import type { DestSpec, ServiceKey } from './types.js';

/** A stable identity string for a service: "tcp/192.0.2.10:80", "udp/[2001:db8::53]:53", "fwmark/ipv4/7". */
export function serviceId(key: ServiceKey): string {
  return key.kind === 'fwmark'
    ? `fwmark/${key.family}/${key.fwmark}`
    : `${key.protocol}/${formatHostPort(key.address, key.port)}`;
}

/** A stable identity string for a real server within its service: "10.0.1.11:8080". */
export function destId(dest: Pick<DestSpec, 'address' | 'port'>): string {
  return formatHostPort(dest.address, dest.port);
}

/** A dotted quad without leading zeros is already canonical: most addresses take this path. */
const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const canonicalCache = new Map<string, string>();

/** An address in canonical text (itself when it is already, or when it is no address). */
export function canonicalAddressText(address: string): string {
  return canonical(address);
}

function canonical(address: string): string {
  if (CANONICAL_V4.test(address)) return address;
  let c = canonicalCache.get(address);
  if (c === undefined) {
    c = canonicalAddress(address) ?? address;
    if (canonicalCache.size >= 65536) canonicalCache.clear();
    canonicalCache.set(address, c);
  }
  return c;
}

/** The identity of a service with its address in canonical text, so "2001:DB8::1" and "2001:db8::1" agree. */
export function canonicalServiceId(key: ServiceKey): string {
  if (key.kind === 'fwmark') return serviceId(key);
  return serviceId({ ...key, address: canonical(key.address) });
}

/** The identity of a real server within its service, address in canonical text. */
export function canonicalDestId(dest: Pick<DestSpec, 'address' | 'port'>): string {
  const address = canonical(dest.address);
  // one flat string (join): the kept view keys every real server by this, and a template literal's
  // result is a tree of its parts, ~twice the bytes
  return address.includes(':') ? ['[', address, ']:', dest.port].join('') : [address, dest.port].join(':');
}
