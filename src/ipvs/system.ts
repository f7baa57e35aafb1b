/**
 * The global IPVS objects <-> netlink attributes, pure: sync daemons (IPVS_CMD_ATTR_DAEMON), connection
 * timeouts (first-level IPVS_CMD_ATTR_TIMEOUT_*) and the GET_INFO reply (first-level IPVS_INFO_ATTR_*).
 */
import { addressToBytes, bytesToAddress, familyOf } from '../net/address.js';
import type { IpvsInfo, SyncDaemon, SyncState, Timeouts } from './types.js';
import * as C from './constants.js';
import { attr, be32, nest, str, u16, u32, u8 } from './nlattr.js';
import { getBytes, getStr, getU16, getU32, getU8, parseAttrs, protocolError, type Attrs } from './nlattr-read.js';

export function stateNumber(state: SyncState): number {
  return state === 'master' ? C.IP_VS_STATE_MASTER : C.IP_VS_STATE_BACKUP;
}

/** IPVS_CMD_ATTR_DAEMON for NEW_DAEMON: STATE, MCAST_IFN and SYNC_ID are required, the rest optional (kernel >= 4.3). */
export function encodeDaemon(d: SyncDaemon): Buffer {
  const attrs = [
    u32(C.IPVS_DAEMON_ATTR_STATE, stateNumber(d.state), 'IPVS_DAEMON_ATTR_STATE'),
    str(C.IPVS_DAEMON_ATTR_MCAST_IFN, d.interface),
    u32(C.IPVS_DAEMON_ATTR_SYNC_ID, d.syncId, 'IPVS_DAEMON_ATTR_SYNC_ID'),
  ];
  if (d.maxLength !== undefined) attrs.push(u16(C.IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.maxLength, 'IPVS_DAEMON_ATTR_SYNC_MAXLEN'));
  if (d.group !== undefined) {
    const family = familyOf(d.group);
    if (family === 'ipv4') attrs.push(be32(C.IPVS_DAEMON_ATTR_MCAST_GROUP, addressToBytes(d.group).readUInt32BE(0), 'IPVS_DAEMON_ATTR_MCAST_GROUP'));
    else if (family === 'ipv6') attrs.push(attr(C.IPVS_DAEMON_ATTR_MCAST_GROUP6, addressToBytes(d.group)));
    else throw new TypeError(`sync daemon group is not an IP address: ${JSON.stringify(d.group)}`);
  }
  if (d.port !== undefined) attrs.push(u16(C.IPVS_DAEMON_ATTR_MCAST_PORT, d.port, 'IPVS_DAEMON_ATTR_MCAST_PORT'));
  if (d.ttl !== undefined) attrs.push(u8(C.IPVS_DAEMON_ATTR_MCAST_TTL, d.ttl, 'IPVS_DAEMON_ATTR_MCAST_TTL'));
  return nest(C.IPVS_CMD_ATTR_DAEMON, attrs);
}

/** IPVS_CMD_ATTR_DAEMON for DEL_DAEMON: the state alone. */
export function encodeDaemonState(state: SyncState): Buffer {
  return nest(C.IPVS_CMD_ATTR_DAEMON, [u32(C.IPVS_DAEMON_ATTR_STATE, stateNumber(state), 'IPVS_DAEMON_ATTR_STATE')]);
}

/** The payload of an IPVS_CMD_ATTR_DAEMON from a GET_DAEMON dump. */
export function decodeDaemon(payload: Buffer): SyncDaemon {
  const what = 'IPVS sync daemon';
  const a = parseAttrs(payload, what);
  const stateNum = getU32(a, C.IPVS_DAEMON_ATTR_STATE, what, 'STATE');
  if (stateNum !== C.IP_VS_STATE_MASTER && stateNum !== C.IP_VS_STATE_BACKUP) throw protocolError(what, `unknown state ${stateNum}`);
  const out: SyncDaemon = {
    state: stateNum === C.IP_VS_STATE_MASTER ? 'master' : 'backup',
    interface: getStr(a, C.IPVS_DAEMON_ATTR_MCAST_IFN, what, 'MCAST_IFN'),
    syncId: getU32(a, C.IPVS_DAEMON_ATTR_SYNC_ID, what, 'SYNC_ID'),
  };
  if (a.has(C.IPVS_DAEMON_ATTR_SYNC_MAXLEN)) out.maxLength = getU16(a, C.IPVS_DAEMON_ATTR_SYNC_MAXLEN, what, 'SYNC_MAXLEN');
  if (a.has(C.IPVS_DAEMON_ATTR_MCAST_GROUP)) out.group = bytesToAddress('ipv4', getBytes(a, C.IPVS_DAEMON_ATTR_MCAST_GROUP, 4, what, 'MCAST_GROUP'));
  if (a.has(C.IPVS_DAEMON_ATTR_MCAST_GROUP6)) out.group = bytesToAddress('ipv6', getBytes(a, C.IPVS_DAEMON_ATTR_MCAST_GROUP6, 16, what, 'MCAST_GROUP6'));
  if (a.has(C.IPVS_DAEMON_ATTR_MCAST_PORT)) out.port = getU16(a, C.IPVS_DAEMON_ATTR_MCAST_PORT, what, 'MCAST_PORT');
  if (a.has(C.IPVS_DAEMON_ATTR_MCAST_TTL)) out.ttl = getU8(a, C.IPVS_DAEMON_ATTR_MCAST_TTL, what, 'MCAST_TTL');
  return out;
}

/** First-level attributes of SET_CONFIG. A 0 timeout means "leave as is" and is not sent. */
export function encodeTimeouts(t: Timeouts): Buffer[] {
  const out: Buffer[] = [];
  if (t.tcp !== 0) out.push(u32(C.IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp, 'IPVS_CMD_ATTR_TIMEOUT_TCP'));
  if (t.tcpFin !== 0) out.push(u32(C.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpFin, 'IPVS_CMD_ATTR_TIMEOUT_TCP_FIN'));
  if (t.udp !== 0) out.push(u32(C.IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp, 'IPVS_CMD_ATTR_TIMEOUT_UDP'));
  return out;
}

/** The first-level attributes of a GET_CONFIG reply. A protocol compiled out of the kernel reads 0. */
export function decodeTimeouts(a: Attrs): Timeouts {
  const what = 'IPVS timeouts';
  const get = (type: number, name: string) => (a.has(type) ? getU32(a, type, what, name) : 0);
  return {
    tcp: get(C.IPVS_CMD_ATTR_TIMEOUT_TCP, 'TIMEOUT_TCP'),
    tcpFin: get(C.IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, 'TIMEOUT_TCP_FIN'),
    udp: get(C.IPVS_CMD_ATTR_TIMEOUT_UDP, 'TIMEOUT_UDP'),
  };
}

/** The first-level attributes of a GET_INFO reply. */
export function decodeInfo(a: Attrs): IpvsInfo {
  const what = 'IPVS info';
  const v = getU32(a, C.IPVS_INFO_ATTR_VERSION, what, 'VERSION');
  return {
    version: `${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`,
    connTableSize: getU32(a, C.IPVS_INFO_ATTR_CONN_TAB_SIZE, what, 'CONN_TAB_SIZE'),
  };
}
