/**
 * src/net: what lvsd needs from the host's network stack besides IPVS. Other folders import only this file.
 * - address.ts: address text <-> bytes (pure)
 * - garp.ts: gratuitous ARP / unsolicited NA builders (pure)
 * - netlink.ts: netlink sockets of any protocol through the addon (errors as values), rtnetlink requests
 * - rtnl.ts: rtnetlink link/address messages (pure; internal)
 * - links.ts, addresses.ts: interface facts, link notifications and addresses over rtnetlink
 * - native.ts: the lvsd_native addon's binding and its loading (native-errors.ts: its errors in words)
 * - vrrp-socket.ts: VRRP raw sockets and the advert clock; announce.ts: gratuitous ARP / unsolicited NA sends
 * - tcp-probe.ts: TCP connect probes through the addon (the health checker's tcp check)
 * - icmp-probe.ts: ICMP/ICMPv6 echo probes through the addon (the health checker's ping check)
 * - accept-filter.ts: the nftables table that drops packets to VIPs of instances with Accept_Mode off
 */
export * from './address.js';
export * from './garp.js';
export * from './netlink.js';
export * from './links.js';
export * from './addresses.js';
export * from './native.js';
export * from './vrrp-socket.js';
export * from './announce.js';
export * from './tcp-probe.js';
export * from './icmp-probe.js';
export * from './accept-filter.js';
