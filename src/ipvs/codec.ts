/**
 * Services, destinations and their statistics <-> IPVS netlink attributes, pure. Each object has its pair side
 * by side: encodeService/decodeService, encodeDest/decodeDest. The encoders produce the nested attribute
 * (IPVS_CMD_ATTR_SERVICE / IPVS_CMD_ATTR_DEST) ready to put in a message; the decoders take its payload.
 *
 * Wire facts (linux/ip_vs.h and net/netfilter/ipvs/ip_vs_ctl.c): AF and PROTOCOL are host-order u16, ports
 * big-endian, ADDR is always 16 bytes (IPv4 in the first 4); FWMARK present means a fwmark service, so an
 * addr service never carries it and a fwmark service never carries PROTOCOL/ADDR/PORT; FLAGS is
 * {u32 flags, u32 mask} and dumps set the HASHED bit, which is stripped; NETMASK is the IPv4 mask in network
 * order but, for IPv6, the prefix length as a host-order u32.
 */
import { addressToBytes, afOf, bytesToAddress, familyOfAf, ipv4Value, type Family } from '../net/address.js';
import {
  SVC_F_HASHED,
  type DestSpec,
  type Forwarding,
  type KernelDest,
  type KernelService,
  type Protocol,
  type ServiceKey,
  type ServiceSpec,
  type Stats,
  type TunnelType,
} from './types.js';
import * as C from './constants.js';
import { AttrWriter, NLA_HDRLEN, attr, be16, be32, hostU32, fit, nest, str, u16, u32, u8 } from './nlattr.js';
import {
  AttrIndex, getBe16, getBe32, getBytes, getCounter, getS32, getStr, getU16, getU32, getU8, hostU32At, parseAttrs, protocolError, type Attrs,
} from './nlattr-read.js';

const PROTOCOLS: Record<Protocol, number> = { tcp: C.IPPROTO_TCP, udp: C.IPPROTO_UDP, sctp: C.IPPROTO_SCTP };
const FORWARDING: Record<Forwarding, number> = {
  nat: C.IP_VS_CONN_F_MASQ,
  local: C.IP_VS_CONN_F_LOCALNODE,
  tunnel: C.IP_VS_CONN_F_TUNNEL,
  dr: C.IP_VS_CONN_F_DROUTE,
  bypass: C.IP_VS_CONN_F_BYPASS,
};
const TUNNELS: Record<TunnelType, number> = {
  ipip: C.IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  gue: C.IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  gre: C.IP_VS_CONN_F_TUNNEL_TYPE_GRE,
};

function reverse<K extends string>(m: Record<K, number>): Map<number, K> {
  return new Map(Object.entries(m).map(([k, v]) => [v as number, k as K]));
}
const PROTOCOL_OF = reverse(PROTOCOLS);
const FORWARDING_OF = reverse(FORWARDING);
const TUNNEL_OF = reverse(TUNNELS);

/** The 16-byte ADDR attribute payload. */
export function addr16(address: string): Buffer {
  const bytes = addressToBytes(address);
  if (bytes.length === 16) return bytes;
  const out = Buffer.alloc(16);
  out.set(bytes);
  return out;
}

function familyFrom(af: number, what: string): Family {
  const family = familyOfAf(af);
  if (!family) throw protocolError(what, `unknown address family ${af}`);
  return family;
}

// ---- services ------------------------------------------------------------------------------------------

/** The identifying attributes of a service (what DEL_SERVICE, GET_DEST and dest commands need). */
function serviceKeyAttrs(key: ServiceKey): Buffer[] {
  const af = u16(C.IPVS_SVC_ATTR_AF, afOf(key.family), 'IPVS_SVC_ATTR_AF');
  if (key.kind === 'fwmark') return [af, u32(C.IPVS_SVC_ATTR_FWMARK, key.fwmark, 'IPVS_SVC_ATTR_FWMARK')];
  return [
    af,
    u16(C.IPVS_SVC_ATTR_PROTOCOL, PROTOCOLS[key.protocol], 'IPVS_SVC_ATTR_PROTOCOL'),
    attr(C.IPVS_SVC_ATTR_ADDR, addr16(key.address)),
    be16(C.IPVS_SVC_ATTR_PORT, key.port, 'IPVS_SVC_ATTR_PORT'),
  ];
}

/** Encoded keys by key object: every real server command of a service repeats its key (a plan shares the object). */
const encodedKeys = new WeakMap<ServiceKey, Buffer>();

/**
 * IPVS_CMD_ATTR_SERVICE with only the identity, for DEL_SERVICE and the destination commands. The result is
 * shared between calls with the same key object: callers copy it into a message, never write to it.
 */
export function encodeServiceKey(key: ServiceKey): Buffer {
  const cached = encodedKeys.get(key);
  if (cached) return cached;
  let out: Buffer;
  if (key.kind === 'fwmark') {
    const w = new AttrWriter(20);
    const at = w.begin(C.IPVS_CMD_ATTR_SERVICE);
    w.u16(C.IPVS_SVC_ATTR_AF, afOf(key.family), 'IPVS_SVC_ATTR_AF').u32(C.IPVS_SVC_ATTR_FWMARK, key.fwmark, 'IPVS_SVC_ATTR_FWMARK').end(at);
    out = w.done();
  } else {
    const w = new AttrWriter(48);
    const at = w.begin(C.IPVS_CMD_ATTR_SERVICE);
    w.u16(C.IPVS_SVC_ATTR_AF, afOf(key.family), 'IPVS_SVC_ATTR_AF')
      .u16(C.IPVS_SVC_ATTR_PROTOCOL, PROTOCOLS[key.protocol], 'IPVS_SVC_ATTR_PROTOCOL')
      .addr16(C.IPVS_SVC_ATTR_ADDR, key.address)
      .be16(C.IPVS_SVC_ATTR_PORT, key.port, 'IPVS_SVC_ATTR_PORT')
      .end(at);
    out = w.done();
  }
  encodedKeys.set(key, out);
  return out;
}

/** IPVS_CMD_ATTR_SERVICE with the full entry (NEW/SET_SERVICE need SCHED_NAME, FLAGS, TIMEOUT, NETMASK together). */
export function encodeService(spec: ServiceSpec): Buffer {
  const flags = Buffer.concat([hostU32((fit(spec.flags, 'u32', 'IPVS_SVC_ATTR_FLAGS') & ~SVC_F_HASHED) >>> 0, 'IPVS_SVC_ATTR_FLAGS'), hostU32(0xffffffff, 'IPVS_SVC_ATTR_FLAGS mask')]);
  const attrs = [
    ...serviceKeyAttrs(spec.key),
    str(C.IPVS_SVC_ATTR_SCHED_NAME, spec.scheduler),
    attr(C.IPVS_SVC_ATTR_FLAGS, flags),
    u32(C.IPVS_SVC_ATTR_TIMEOUT, spec.timeout, 'IPVS_SVC_ATTR_TIMEOUT'),
    spec.key.family === 'ipv4' ? be32(C.IPVS_SVC_ATTR_NETMASK, spec.netmask, 'IPVS_SVC_ATTR_NETMASK') : u32(C.IPVS_SVC_ATTR_NETMASK, spec.netmask, 'IPVS_SVC_ATTR_NETMASK'),
  ];
  if (spec.pe !== '') attrs.push(str(C.IPVS_SVC_ATTR_PE_NAME, spec.pe));
  return nest(C.IPVS_CMD_ATTR_SERVICE, attrs);
}

/** String attributes already encoded (scheduler and persistence-engine names: a handful of values), by type and text. */
const strAttrs = new Map<string, Buffer>();

function strAttr(type: number, s: string): Buffer {
  const k = `${type}\0${s}`;
  let a = strAttrs.get(k);
  if (a === undefined) {
    a = str(type, s);
    if (strAttrs.size < 256) strAttrs.set(k, a);
  }
  return a;
}

/**
 * Writes the IPVS_CMD_ATTR_SERVICE of encodeService (the same bytes) at the writer's position: the key's
 * attributes copied from encodeServiceKey's (made once per key object, and its real servers' commands use
 * them too), the scheduler's name from the encoded ones.
 */
export function writeService(w: AttrWriter, spec: ServiceSpec): void {
  const key = spec.key;
  const keyAttrs = encodeServiceKey(key);
  const at = w.begin(C.IPVS_CMD_ATTR_SERVICE);
  w.raw(keyAttrs.subarray(NLA_HDRLEN))
    .raw(strAttr(C.IPVS_SVC_ATTR_SCHED_NAME, spec.scheduler))
    .u32pair(C.IPVS_SVC_ATTR_FLAGS, (fit(spec.flags, 'u32', 'IPVS_SVC_ATTR_FLAGS') & ~SVC_F_HASHED) >>> 0, 0xffffffff, 'IPVS_SVC_ATTR_FLAGS')
    .u32(C.IPVS_SVC_ATTR_TIMEOUT, spec.timeout, 'IPVS_SVC_ATTR_TIMEOUT');
  if (key.family === 'ipv4') w.be32(C.IPVS_SVC_ATTR_NETMASK, spec.netmask, 'IPVS_SVC_ATTR_NETMASK');
  else w.u32(C.IPVS_SVC_ATTR_NETMASK, spec.netmask, 'IPVS_SVC_ATTR_NETMASK');
  if (spec.pe !== '') w.raw(strAttr(C.IPVS_SVC_ATTR_PE_NAME, spec.pe));
  w.end(at);
}

function decodeServiceKey(a: Attrs, what: string): ServiceKey {
  const family = familyFrom(getU16(a, C.IPVS_SVC_ATTR_AF, what, 'AF'), what);
  if (a.has(C.IPVS_SVC_ATTR_FWMARK)) return { kind: 'fwmark', family, fwmark: getU32(a, C.IPVS_SVC_ATTR_FWMARK, what, 'FWMARK') };
  const protoNum = getU16(a, C.IPVS_SVC_ATTR_PROTOCOL, what, 'PROTOCOL');
  const protocol = PROTOCOL_OF.get(protoNum);
  if (!protocol) throw protocolError(what, `unknown protocol ${protoNum}`);
  const address = bytesToAddress(family, getBytes(a, C.IPVS_SVC_ATTR_ADDR, family === 'ipv4' ? 4 : 16, what, 'ADDR'));
  return { kind: 'addr', family, protocol, address, port: getBe16(a, C.IPVS_SVC_ATTR_PORT, what, 'PORT') };
}

/** The payload of an IPVS_CMD_ATTR_SERVICE from a dump or GET_SERVICE reply. */
export function decodeService(payload: Buffer, withStats = true): KernelService {
  const what = 'IPVS service';
  const a = parseAttrs(payload, what);
  const key = decodeServiceKey(a, what);
  const flags = getBytes(a, C.IPVS_SVC_ATTR_FLAGS, 4, what, 'FLAGS');
  const out: KernelService = {
    key,
    scheduler: getStr(a, C.IPVS_SVC_ATTR_SCHED_NAME, what, 'SCHED_NAME'),
    flags: (hostU32At(flags, 0) & ~SVC_F_HASHED) >>> 0,
    timeout: getU32(a, C.IPVS_SVC_ATTR_TIMEOUT, what, 'TIMEOUT'),
    netmask: key.family === 'ipv4'
      ? getBe32(a, C.IPVS_SVC_ATTR_NETMASK, what, 'NETMASK')
      : getU32(a, C.IPVS_SVC_ATTR_NETMASK, what, 'NETMASK'),
    pe: a.has(C.IPVS_SVC_ATTR_PE_NAME) ? getStr(a, C.IPVS_SVC_ATTR_PE_NAME, what, 'PE_NAME') : '',
  };
  const stats = withStats ? decodeStatsOf(a, C.IPVS_SVC_ATTR_STATS64, C.IPVS_SVC_ATTR_STATS, what) : undefined;
  if (stats) out.stats = stats;
  return out;
}

// ---- destinations --------------------------------------------------------------------------------------

/** The identifying attributes of a destination (DEL_DEST). */
function destKeyAttrs(dest: Pick<DestSpec, 'family' | 'address' | 'port'>): Buffer[] {
  return [
    attr(C.IPVS_DEST_ATTR_ADDR, addr16(dest.address)),
    be16(C.IPVS_DEST_ATTR_PORT, dest.port, 'IPVS_DEST_ATTR_PORT'),
    u16(C.IPVS_DEST_ATTR_ADDR_FAMILY, afOf(dest.family), 'IPVS_DEST_ATTR_ADDR_FAMILY'),
  ];
}

export function encodeDestKey(dest: Pick<DestSpec, 'family' | 'address' | 'port'>): Buffer {
  return nest(C.IPVS_CMD_ATTR_DEST, destKeyAttrs(dest));
}

/** IPVS_CMD_ATTR_DEST with the full entry (NEW/SET_DEST need FWD_METHOD, WEIGHT, U_THRESH, L_THRESH together). */
/** Bytes of encodeDest's attribute: nest header 4 + ADDR 20 + nine 8-byte attributes. */
export const DEST_ATTR_LEN = 96;

/** encodeDest's attribute with every header written and every value zero (the layout writeDest fills). */
const DEST_TEMPLATE: Uint8Array = (() => {
  const w = new AttrWriter(DEST_ATTR_LEN);
  const at = w.begin(C.IPVS_CMD_ATTR_DEST);
  w.addr16(C.IPVS_DEST_ATTR_ADDR, '0.0.0.0').be16(C.IPVS_DEST_ATTR_PORT, 0, 'PORT').u16(C.IPVS_DEST_ATTR_ADDR_FAMILY, 0, 'ADDR_FAMILY')
    .u32(C.IPVS_DEST_ATTR_FWD_METHOD, 0, 'FWD_METHOD').u32(C.IPVS_DEST_ATTR_WEIGHT, 0, 'WEIGHT').u32(C.IPVS_DEST_ATTR_U_THRESH, 0, 'U_THRESH')
    .u32(C.IPVS_DEST_ATTR_L_THRESH, 0, 'L_THRESH').u8(C.IPVS_DEST_ATTR_TUN_TYPE, 0, 'TUN_TYPE').be16(C.IPVS_DEST_ATTR_TUN_PORT, 0, 'TUN_PORT')
    .u16(C.IPVS_DEST_ATTR_TUN_FLAGS, 0, 'TUN_FLAGS').end(at);
  if (w.off !== DEST_ATTR_LEN) throw new Error(`IPVS_CMD_ATTR_DEST template is ${w.off} bytes, not ${DEST_ATTR_LEN}`);
  return w.buf;
})();

/**
 * Writes the IPVS_CMD_ATTR_DEST of encodeDest (DEST_ATTR_LEN bytes) at the writer's position: every value
 * checked first, in the attributes' order (the first that does not fit throws, nothing written), then the
 * template copied and the values stored at their places. A cold apply writes one per real server.
 */
export function writeDest(w: AttrWriter, dest: DestSpec): void {
  const v4 = ipv4Value(dest.address);
  const bytes = v4 >= 0 ? undefined : addressToBytes(dest.address);
  const port = fit(dest.port, 'u16', 'IPVS_DEST_ATTR_PORT');
  const af = fit(afOf(dest.family), 'u16', 'IPVS_DEST_ATTR_ADDR_FAMILY');
  const fwd = fit(FORWARDING[dest.forwarding], 'u32', 'IPVS_DEST_ATTR_FWD_METHOD');
  const weight = fit(fit(dest.weight, 'int', 'IPVS_DEST_ATTR_WEIGHT'), 'u32', 'IPVS_DEST_ATTR_WEIGHT');
  const upper = fit(dest.upperThreshold, 'u32', 'IPVS_DEST_ATTR_U_THRESH');
  const lower = fit(dest.lowerThreshold, 'u32', 'IPVS_DEST_ATTR_L_THRESH');
  const tunType = fit(TUNNELS[dest.tunnelType], 'u8', 'IPVS_DEST_ATTR_TUN_TYPE');
  const tunPort = fit(dest.tunnelPort, 'u16', 'IPVS_DEST_ATTR_TUN_PORT');
  const tunFlags = fit(dest.tunnelFlags, 'u16', 'IPVS_DEST_ATTR_TUN_FLAGS');
  const at = w.template(DEST_TEMPLATE);
  if (bytes === undefined) w.putBe32(at + 8, v4);
  else w.buf.set(bytes, at + 8);
  w.putBe16(at + 28, port);
  w.putU16(at + 36, af);
  w.putU32(at + 44, fwd);
  w.putU32(at + 52, weight);
  w.putU32(at + 60, upper);
  w.putU32(at + 68, lower);
  w.buf[at + 76] = tunType;
  w.putBe16(at + 84, tunPort);
  w.putU16(at + 92, tunFlags);
}

export function encodeDest(dest: DestSpec): Buffer {
  const w = new AttrWriter(DEST_ATTR_LEN);
  writeDest(w, dest);
  return w.done();
}

/**
 * The payload of an IPVS_CMD_ATTR_DEST from a dump. `serviceFamily` is the family to assume when the
 * kernel is older than 3.18 and sends no ADDR_FAMILY.
 */
/** Index for dumped destinations (reused: decoding is synchronous). */
const destIndex = new AttrIndex(C.IPVS_DEST_ATTR_TUN_FLAGS + 8);

export function decodeDest(payload: Buffer, serviceFamily: Family, withStats = true): KernelDest {
  return decodeDestIn(payload, 0, payload.length, serviceFamily, withStats);
}

/** decodeDest of the attribute's payload at buf[start, end) (in its message: no view of it is made). */
export function decodeDestIn(buf: Buffer, start: number, end: number, serviceFamily: Family, withStats = true): KernelDest {
  const what = 'IPVS destination';
  const a = destIndex.parse(buf, what, start, end);
  const family = a.has(C.IPVS_DEST_ATTR_ADDR_FAMILY)
    ? familyFrom(a.u16(C.IPVS_DEST_ATTR_ADDR_FAMILY, what, 'ADDR_FAMILY'), what)
    : serviceFamily;
  const fwd = a.u32(C.IPVS_DEST_ATTR_FWD_METHOD, what, 'FWD_METHOD') & C.IP_VS_CONN_F_FWD_MASK;
  const forwarding = FORWARDING_OF.get(fwd);
  if (!forwarding) throw protocolError(what, `unknown forwarding method ${fwd}`);
  const tunNum = a.has(C.IPVS_DEST_ATTR_TUN_TYPE) ? a.u8(C.IPVS_DEST_ATTR_TUN_TYPE, what, 'TUN_TYPE') : 0;
  const tunnelType = TUNNEL_OF.get(tunNum);
  if (!tunnelType) throw protocolError(what, `unknown tunnel type ${tunNum}`);
  const addrAt = a.at(C.IPVS_DEST_ATTR_ADDR, family === 'ipv4' ? 4 : 16, what, 'ADDR');
  const b = a.buf;
  const out: KernelDest = {
    family,
    address: family === 'ipv4' ? `${b[addrAt]}.${b[addrAt + 1]}.${b[addrAt + 2]}.${b[addrAt + 3]}` : bytesToAddress(family, b.subarray(addrAt, addrAt + 16)),
    port: a.be16(C.IPVS_DEST_ATTR_PORT, what, 'PORT'),
    forwarding,
    weight: a.s32(C.IPVS_DEST_ATTR_WEIGHT, what, 'WEIGHT'),
    upperThreshold: a.u32(C.IPVS_DEST_ATTR_U_THRESH, what, 'U_THRESH'),
    lowerThreshold: a.u32(C.IPVS_DEST_ATTR_L_THRESH, what, 'L_THRESH'),
    tunnelType,
    tunnelPort: a.has(C.IPVS_DEST_ATTR_TUN_PORT) ? a.be16(C.IPVS_DEST_ATTR_TUN_PORT, what, 'TUN_PORT') : 0,
    tunnelFlags: a.has(C.IPVS_DEST_ATTR_TUN_FLAGS) ? a.u16(C.IPVS_DEST_ATTR_TUN_FLAGS, what, 'TUN_FLAGS') : 0,
    activeConns: a.has(C.IPVS_DEST_ATTR_ACTIVE_CONNS) ? a.u32(C.IPVS_DEST_ATTR_ACTIVE_CONNS, what, 'ACTIVE_CONNS') : 0,
    inactiveConns: a.has(C.IPVS_DEST_ATTR_INACT_CONNS) ? a.u32(C.IPVS_DEST_ATTR_INACT_CONNS, what, 'INACT_CONNS') : 0,
    persistentConns: a.has(C.IPVS_DEST_ATTR_PERSIST_CONNS) ? a.u32(C.IPVS_DEST_ATTR_PERSIST_CONNS, what, 'PERSIST_CONNS') : 0,
  };
  const stats = withStats ? a.get(C.IPVS_DEST_ATTR_STATS64) ?? a.get(C.IPVS_DEST_ATTR_STATS) : undefined;
  if (stats) out.stats = statsOf(stats, what);
  return out;
}

// ---- statistics ----------------------------------------------------------------------------------------

const STATS_FIELDS: ReadonlyArray<[number, keyof Stats]> = [
  [C.IPVS_STATS_ATTR_CONNS, 'conns'],
  [C.IPVS_STATS_ATTR_INPKTS, 'inpkts'],
  [C.IPVS_STATS_ATTR_OUTPKTS, 'outpkts'],
  [C.IPVS_STATS_ATTR_INBYTES, 'inbytes'],
  [C.IPVS_STATS_ATTR_OUTBYTES, 'outbytes'],
  [C.IPVS_STATS_ATTR_CPS, 'cps'],
  [C.IPVS_STATS_ATTR_INPPS, 'inpps'],
  [C.IPVS_STATS_ATTR_OUTPPS, 'outpps'],
  [C.IPVS_STATS_ATTR_INBPS, 'inbps'],
  [C.IPVS_STATS_ATTR_OUTBPS, 'outbps'],
];

/**
 * The payload of a STATS or STATS64 nest. Each counter may be 4 bytes (32-bit STATS) or 8 (STATS64 and the
 * byte counters of STATS); a counter the kernel did not send reads 0.
 */
const statsIndex = new AttrIndex(C.IPVS_STATS_ATTR_OUTBPS);

export function decodeStats(payload: Buffer): Stats {
  const what = 'IPVS statistics';
  const a = statsIndex.parse(payload, what);
  const out = {} as Stats;
  for (const [type, name] of STATS_FIELDS) out[name] = a.counter(type, what, name);
  return out;
}

function statsOf(b: Buffer, what: string): Stats {
  try {
    return decodeStats(b);
  } catch (e) {
    throw protocolError(what, `bad statistics (${(e as Error).message})`);
  }
}

/** STATS64 when the kernel sent it (>= 4.1), else the 32-bit STATS, else undefined. */
function decodeStatsOf(a: Attrs, type64: number, type32: number, what: string): Stats | undefined {
  const b = a.get(type64) ?? a.get(type32);
  if (b === undefined) return undefined;
  try {
    return decodeStats(b);
  } catch (e) {
    throw protocolError(what, `bad statistics (${(e as Error).message})`);
  }
}
