/**
 * Interface facts over rtnetlink (the `netlink` package): index, MAC, MTU and whether the link can carry
 * traffic, plus a watcher on RTNLGRP_LINK so a link going down or up is seen within milliseconds (VRRP
 * fault state, tracked interfaces) instead of by polling.
 */
import { getSystemErrorName } from 'node:util';
import { createRtNetlink, rt, type RtNetlinkSocket } from 'netlink';
import { LvsdError } from '../errors.js';
import { formatMac } from './garp.js';

const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
export type OperState = (typeof OPERSTATES)[number];

export interface LinkInfo {
  name: string;
  index: number;
  /** "aa:bb:cc:dd:ee:ff" (all zeros for links without a hardware address). */
  mac: string;
  mtu: number;
  /** Usable: administratively up (IFF_UP) and operationally running (IFF_RUNNING: carrier, operstate up). */
  up: boolean;
  /** IFF_UP alone. */
  adminUp: boolean;
  /** The driver reports carrier. */
  carrier: boolean;
  operstate: OperState;
}

export interface LinkEvent extends LinkInfo {
  /** The link was deleted (RTM_DELLINK); the other fields are its last known state. */
  removed: boolean;
}

/** Errno name from an error the netlink package raised ("Request rejected: ENODEV"), if any. */
export function netlinkErrnoName(e: unknown): string | undefined {
  const message = e instanceof Error ? e.message : String(e);
  const m = /Request rejected: (E[A-Z0-9]+|-?\d+)/.exec(message);
  if (!m) return undefined;
  const text = m[1]!;
  if (/^-?\d+$/.test(text)) {
    try {
      return getSystemErrorName(-Math.abs(Number(text)));
    } catch {
      return text;
    }
  }
  return text;
}

/** Run `fn` with a fresh rtnetlink socket, closed afterwards (it never keeps the process alive). */
export async function withRtnl<T>(fn: (socket: RtNetlinkSocket) => Promise<T>): Promise<T> {
  let socket: RtNetlinkSocket;
  try {
    socket = createRtNetlink();
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot open an rtnetlink socket: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await fn(socket);
  } finally {
    socket.socket.close();
  }
}

export function linkFromMessage(msg: rt.LinkMessage): LinkInfo {
  const flags = msg.data.flags ?? {};
  const operstate = OPERSTATES[msg.attrs.operstate ?? 0] ?? 'unknown';
  return {
    name: msg.attrs.ifname ?? '',
    index: msg.data.index ?? 0,
    mac: formatMac(msg.attrs.address ?? Buffer.alloc(6)),
    mtu: msg.attrs.mtu ?? 0,
    up: flags.up === true && flags.running === true,
    adminUp: flags.up === true,
    carrier: msg.attrs.carrier === 1,
    operstate,
  };
}

/** The facts of one interface; LvsdError LVSD_NATIVE_UNAVAILABLE when there is no such interface. */
export async function getLink(name: string): Promise<LinkInfo> {
  return withRtnl(async (socket) => {
    try {
      const replies = await socket.getLink({}, { ifname: name });
      const link = replies.find((r) => r.kind === 'link');
      if (!link) throw new Error('Request rejected: ENODEV');
      return linkFromMessage(link);
    } catch (e) {
      const errno = netlinkErrnoName(e);
      if (errno === 'ENODEV') {
        throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `no such interface: ${JSON.stringify(name)}`, {
          details: { interface: name, errno },
          cause: e,
        });
      }
      throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot read interface ${JSON.stringify(name)}: ${(e as Error).message}`, {
        details: { interface: name, errno },
        cause: e,
      });
    }
  });
}

/** Every interface in the namespace. */
export async function listLinks(): Promise<LinkInfo[]> {
  return withRtnl(async (socket) => (await socket.getLinks()).map(linkFromMessage));
}

export interface LinkWatcher {
  /** Stop watching; the socket is closed. */
  close(): void;
  /** Whether the watcher keeps the process alive (default true while open). */
  ref(): void;
  unref(): void;
}

export interface WatchLinksOptions {
  /** Socket or overrun errors (LVSD_NETLINK_OVERRUN: events were lost, re-read state with listLinks). */
  onError?: (error: LvsdError) => void;
  /** Keep the event loop alive while watching. Default true. */
  ref?: boolean;
}

/**
 * Call `cb` for every link notification (RTM_NEWLINK / RTM_DELLINK) in this network namespace. The kernel
 * sends one on any change (flags, carrier, MTU, address...), so callers compare `up` to what they saw last.
 * Admin up/down arrives at once; carrier changes go through the kernel's linkwatch, which for physical
 * NICs passes the first change at once but holds further ones to at most one per second.
 */
export function watchLinks(cb: (event: LinkEvent) => void, options: WatchLinksOptions = {}): LinkWatcher {
  let socket: RtNetlinkSocket;
  try {
    socket = createRtNetlink({ ref: options.ref ?? true } as Parameters<typeof createRtNetlink>[0]);
    socket.addMembership(rt.MulticastGroups.LINK);
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot subscribe to link notifications: ${(e as Error).message}`, { cause: e });
  }
  let closed = false;
  socket.socket.on('message', (msgs) => {
    for (const m of msgs) {
      if (m.type !== rt.MessageType.NEWLINK && m.type !== rt.MessageType.DELLINK) continue;
      let link: LinkInfo;
      try {
        link = linkFromMessage(rt.parseLinkMessage(m.data));
      } catch {
        continue;
      }
      cb({ ...link, removed: m.type === rt.MessageType.DELLINK });
    }
  });
  socket.socket.on('error', (e) => {
    if (closed) return;
    const errno = (e as { code?: string }).code;
    const error =
      errno === 'ENOBUFS'
        ? new LvsdError('LVSD_NETLINK_OVERRUN', 'link notifications overran the socket buffer; re-read the links', { cause: e })
        : new LvsdError('LVSD_NATIVE_UNAVAILABLE', `link notification socket failed: ${e.message}`, { cause: e });
    options.onError?.(error);
  });
  return {
    close() {
      if (closed) return;
      closed = true;
      socket.socket.close();
    },
    ref() {
      if (!closed) socket.socket.ref(true);
    },
    unref() {
      if (!closed) socket.socket.ref(false);
    },
  };
}
