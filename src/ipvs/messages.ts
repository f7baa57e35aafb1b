/**
 * Whole generic netlink messages for the IPVS family, pure: one builder per IpvsCommand and per query, and
 * the decoders of the replies. `family` is the IPVS family id resolved at run time; `seq` the sequence number.
 */
import type { IpvsCommand, KernelDest, KernelService, ServiceKey, SyncDaemon } from './types.js';
import type { Family } from '../net/address.js';
import * as C from './constants.js';
import { DEST_ATTR_LEN, decodeDestIn, decodeService, encodeDest, encodeDestKey, encodeService, encodeServiceKey, writeDest, writeService } from './codec.js';
import { decodeDaemon, encodeDaemon, encodeDaemonState, encodeTimeouts } from './system.js';
import { AttrWriter, genlmsg, str } from './nlattr.js';
import { AttrIndex, getStr, getU16, parseGenl, protocolError, type Attrs } from './nlattr-read.js';

/** Flags of a change: a request that wants an acknowledgement even on success. */
export const CHANGE_FLAGS = C.NLM_F_REQUEST | C.NLM_F_ACK;
/** Flags of a dump. */
export const DUMP_FLAGS = C.NLM_F_REQUEST | C.NLM_F_DUMP;
/** Flags of a single get: no NLM_F_ACK, the reply (or an error) is the whole answer. */
export const GET_FLAGS = C.NLM_F_REQUEST;

const ipvs = (family: number, flags: number, seq: number, cmd: number, attrs: Buffer[]) =>
  genlmsg(family, flags, seq, cmd, C.IPVS_GENL_VERSION, attrs);

/** The IPVS genl command number and attributes of a change. */
export function commandParts(command: IpvsCommand): { cmd: number; attrs: Buffer[] } {
  switch (command.cmd) {
    case 'new-service':
      return { cmd: C.IPVS_CMD_NEW_SERVICE, attrs: [encodeService(command.service)] };
    case 'set-service':
      return { cmd: C.IPVS_CMD_SET_SERVICE, attrs: [encodeService(command.service)] };
    case 'del-service':
      return { cmd: C.IPVS_CMD_DEL_SERVICE, attrs: [encodeServiceKey(command.key)] };
    case 'new-dest':
      return { cmd: C.IPVS_CMD_NEW_DEST, attrs: [encodeServiceKey(command.service), encodeDest(command.dest)] };
    case 'set-dest':
      return { cmd: C.IPVS_CMD_SET_DEST, attrs: [encodeServiceKey(command.service), encodeDest(command.dest)] };
    case 'del-dest':
      return { cmd: C.IPVS_CMD_DEL_DEST, attrs: [encodeServiceKey(command.service), encodeDestKey(command.dest)] };
    case 'set-timeouts':
      return { cmd: C.IPVS_CMD_SET_CONFIG, attrs: encodeTimeouts(command.timeouts) };
    case 'new-daemon':
      return { cmd: C.IPVS_CMD_NEW_DAEMON, attrs: [encodeDaemon(command.daemon)] };
    case 'del-daemon':
      return { cmd: C.IPVS_CMD_DEL_DAEMON, attrs: [encodeDaemonState(command.state)] };
  }
}

/** Flags of a change sent in a batch: answered only if refused (the batch ends with an acknowledged barrier). */
export const QUIET_FLAGS = C.NLM_F_REQUEST;

/** The message of one change; by default it asks for an acknowledgement. */
export function commandMessage(family: number, seq: number, command: IpvsCommand, flags = CHANGE_FLAGS): Buffer {
  if (command.cmd === 'new-dest' || command.cmd === 'set-dest') {
    // the bulk of any large apply: written in one buffer (same bytes as commandParts)
    const key = encodeServiceKey(command.service);
    const w = new AttrWriter(C.NLMSG_HDRLEN + C.GENL_HDRLEN + key.length + DEST_ATTR_LEN);
    w.genlHeader(family, flags, seq, command.cmd === 'new-dest' ? C.IPVS_CMD_NEW_DEST : C.IPVS_CMD_SET_DEST, C.IPVS_GENL_VERSION).raw(key);
    writeDest(w, command.dest);
    return w.buf;
  }
  const { cmd, attrs } = commandParts(command);
  return ipvs(family, flags, seq, cmd, attrs);
}

/**
 * Writes the message of one change at the writer's position (commandMessage's bytes): how a batch fills its
 * datagrams, one buffer for a few hundred changes instead of one (and, for a service, one per attribute) each.
 */
export function writeCommand(w: AttrWriter, family: number, seq: number, command: IpvsCommand, flags: number): void {
  switch (command.cmd) {
    case 'new-dest':
    case 'set-dest': {
      const start = w.beginGenlmsg(family, flags, seq, command.cmd === 'new-dest' ? C.IPVS_CMD_NEW_DEST : C.IPVS_CMD_SET_DEST, C.IPVS_GENL_VERSION);
      w.raw(encodeServiceKey(command.service));
      writeDest(w, command.dest);
      w.endMessage(start);
      return;
    }
    case 'new-service':
    case 'set-service': {
      const start = w.beginGenlmsg(family, flags, seq, command.cmd === 'new-service' ? C.IPVS_CMD_NEW_SERVICE : C.IPVS_CMD_SET_SERVICE, C.IPVS_GENL_VERSION);
      writeService(w, command.service);
      w.endMessage(start);
      return;
    }
    default: {
      const { cmd, attrs } = commandParts(command);
      const start = w.beginGenlmsg(family, flags, seq, cmd, C.IPVS_GENL_VERSION);
      for (const a of attrs) w.raw(a);
      w.endMessage(start);
    }
  }
}

export function dumpServicesMessage(family: number, seq: number): Buffer {
  return ipvs(family, DUMP_FLAGS, seq, C.IPVS_CMD_GET_SERVICE, []);
}

export function dumpDestsMessage(family: number, seq: number, service: ServiceKey): Buffer {
  return ipvs(family, DUMP_FLAGS, seq, C.IPVS_CMD_GET_DEST, [encodeServiceKey(service)]);
}

export function dumpDaemonsMessage(family: number, seq: number): Buffer {
  return ipvs(family, DUMP_FLAGS, seq, C.IPVS_CMD_GET_DAEMON, []);
}

export function getInfoMessage(family: number, seq: number): Buffer {
  return ipvs(family, GET_FLAGS, seq, C.IPVS_CMD_GET_INFO, []);
}

export function getConfigMessage(family: number, seq: number): Buffer {
  return ipvs(family, GET_FLAGS, seq, C.IPVS_CMD_GET_CONFIG, []);
}

/** CTRL_CMD_GETFAMILY for a family name, to the generic netlink controller. */
export function getFamilyMessage(seq: number, name: string): Buffer {
  return genlmsg(C.GENL_ID_CTRL, GET_FLAGS, seq, C.CTRL_CMD_GETFAMILY, 1, [str(C.CTRL_ATTR_FAMILY_NAME, name)]);
}

/** The family id in the controller's reply. */
export function decodeFamilyId(payload: Buffer): { id: number; name: string } {
  const what = 'generic netlink family';
  const { attrs } = parseGenl(payload, what);
  return { id: getU16(attrs, C.CTRL_ATTR_FAMILY_ID, what, 'FAMILY_ID'), name: getStr(attrs, C.CTRL_ATTR_FAMILY_NAME, what, 'FAMILY_NAME') };
}

function nested(attrs: Attrs, type: number, what: string, name: string): Buffer {
  const b = attrs.get(type);
  if (b === undefined) throw protocolError(what, `${name} is missing`);
  return b;
}

/** One message of a GET_SERVICE dump. */
export function decodeServiceMessage(payload: Buffer, withStats = true): KernelService {
  const { attrs } = parseGenl(payload, 'IPVS service message');
  return decodeService(nested(attrs, C.IPVS_CMD_ATTR_SERVICE, 'IPVS service message', 'CMD_ATTR_SERVICE'), withStats);
}

/** The first-level attributes of a dumped destination's message (reused: decoding is synchronous). */
const destMessageIndex = new AttrIndex(C.IPVS_CMD_ATTR_DEST);

/**
 * One message of a GET_DEST dump: read in place (parseGenl's Map and views of every message were a third
 * of what a drift pass at 110,000 real servers allocated; same checks and messages).
 */
export function decodeDestMessage(payload: Buffer, serviceFamily: Family, withStats = true): KernelDest {
  const what = 'IPVS destination message';
  if (payload.length < C.GENL_HDRLEN) throw protocolError(what, `generic netlink payload has ${payload.length} bytes, below the 4-byte header`);
  const a = destMessageIndex.parse(payload, what, C.GENL_HDRLEN);
  const at = a.at(C.IPVS_CMD_ATTR_DEST, 0, what, 'CMD_ATTR_DEST');
  return decodeDestIn(payload, at, at + a.size(C.IPVS_CMD_ATTR_DEST), serviceFamily, withStats);
}

/** One message of a GET_DAEMON dump. */
export function decodeDaemonMessage(payload: Buffer): SyncDaemon {
  const { attrs } = parseGenl(payload, 'IPVS daemon message');
  return decodeDaemon(nested(attrs, C.IPVS_CMD_ATTR_DAEMON, 'IPVS daemon message', 'CMD_ATTR_DAEMON'));
}
