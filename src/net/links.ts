/**
 * Interface facts over rtnetlink (src/net/netlink.ts, the addon's netlink socket): index, MAC, MTU and
 * whether the link can carry traffic, plus a watcher on RTNLGRP_LINK so a link going down or up is seen
 * within milliseconds (VRRP fault state, tracked interfaces) instead of by polling. When the watcher's socket
 * overflows (a burst of link changes while lvsd was not reading), it re-reads every link and reports what
 * changed, so no link change is missed for good.
 */
import { constants } from 'node:os';
import { LvsdError } from '../errors.js';
import { formatMac } from './garp.js';
import { NETLINK_ROUTE, NetlinkSocket, rtnlRequest, type NetlinkItem } from './netlink.js';
import { decodeRtnl, dumpLinksRequest, getLinkRequest, RTNLGRP_LINK, type OperState, type RtLink } from './rtnl.js';

export type { OperState } from './rtnl.js';

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

export function linkFromRt(l: RtLink): LinkInfo {
  return {
    name: l.name,
    index: l.index,
    mac: formatMac(l.address.length >= 6 ? l.address : Buffer.alloc(6)),
    mtu: l.mtu,
    up: l.up,
    adminUp: l.adminUp,
    carrier: l.carrier,
    operstate: l.operstate,
  };
}

/** The facts of one interface; LvsdError LVSD_NATIVE_UNAVAILABLE when there is no such interface. */
export async function getLink(name: string): Promise<LinkInfo> {
  let reply;
  try {
    reply = await rtnlRequest((seq) => getLinkRequest(seq, name), 'get', `RTM_GETLINK ${name}`);
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot read interface ${JSON.stringify(name)}: ${(e as Error).message}`, {
      details: { interface: name },
      cause: e,
    });
  }
  const link = reply.items.find((i) => i.kind === 'link');
  if (reply.errno === constants.errno.ENODEV || (reply.errno === 0 && !link)) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `no such interface: ${JSON.stringify(name)}`, { details: { interface: name, errno: 'ENODEV' } });
  }
  if (reply.errno !== 0 || !link) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot read interface ${JSON.stringify(name)}: errno ${reply.errno}`, {
      details: { interface: name, errno: reply.errno },
    });
  }
  return linkFromRt(link.link);
}

/** Every interface in the namespace. */
export async function listLinks(): Promise<LinkInfo[]> {
  const reply = await rtnlRequest((seq) => dumpLinksRequest(seq), 'dump', 'RTM_GETLINK dump');
  if (reply.errno !== 0) throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot list interfaces: errno ${reply.errno}`, { details: { errno: reply.errno } });
  return reply.items.flatMap((i) => (i.kind === 'link' ? [linkFromRt(i.link)] : []));
}

export interface LinkWatcher {
  /** Stop watching; the socket is closed. */
  close(): void;
  /** Whether the watcher keeps the process alive (default true while open). */
  ref(): void;
  unref(): void;
}

export interface WatchLinksOptions {
  /** The socket broke (it no longer reads): LVSD_NATIVE_UNAVAILABLE; the watcher subscribes again and re-reads. */
  onError?: (error: LvsdError) => void;
  /**
   * Notifications were lost (the socket's buffer overflowed) and the links are being re-read; `resynced`
   * later says how many links the re-read reported as changed. For logs and metrics.
   */
  onOverrun?: (info: { phase: 'lost'; lost: 'overrun' | 'truncated' | 'error' } | { phase: 'resynced'; links: number; changed: number; ms: number }) => void;
  /** Keep the event loop alive while watching. Default true. */
  ref?: boolean;
  /** Receive buffer to ask for (bytes). Default: the kernel's (net.core.rmem_default); a burst that overflows it is re-read. */
  recvBufferSize?: number;
  /** Opens the notification socket (tests inject failures here). Default: an RTNLGRP_LINK NetlinkSocket. */
  openSocket?: (onBatch: (items: NetlinkItem[], drained: boolean) => void) => Pick<NetlinkSocket, 'close' | 'ref'>;
}

function sameLink(a: LinkInfo, b: LinkInfo): boolean {
  return a.name === b.name && a.up === b.up && a.adminUp === b.adminUp && a.carrier === b.carrier && a.mtu === b.mtu && a.mac === b.mac && a.operstate === b.operstate;
}

/**
 * Call `cb` for every link notification (RTM_NEWLINK / RTM_DELLINK) in this network namespace. The kernel
 * sends one on any change (flags, carrier, MTU, address...), so callers compare `up` to what they saw last.
 * Admin up/down arrives at once; carrier changes go through the kernel's linkwatch, which for physical
 * NICs passes the first change at once but holds further ones to at most one per second.
 *
 * Lost notifications (ENOBUFS, a truncated datagram) are repaired: once the socket's queue is drained the
 * links are dumped again, and `cb` gets an event for every link whose state differs from the last one
 * reported (a vanished link as `removed`). A notification read while the dump runs is newer than the dump's
 * view of its link or equal to it (nothing was lost after the queue was drained), so it wins.
 */
export function watchLinks(cb: (event: LinkEvent) => void, options: WatchLinksOptions = {}): LinkWatcher {
  const known = new Map<number, LinkInfo>();
  let closed = false;
  let resyncWanted = false;
  let resyncing: Set<number> | undefined; // links notified while a dump runs
  let lastDrained = true;
  let socket: Pick<NetlinkSocket, 'close' | 'ref'>;

  const emit = (link: LinkInfo, removed: boolean): void => {
    if (removed) known.delete(link.index);
    else known.set(link.index, link);
    cb({ ...link, removed });
  };

  const resync = (): void => {
    resyncWanted = false;
    resyncing = new Set();
    const started = Date.now();
    listLinks().then(
      (links) => {
        if (closed) return;
        const seen = resyncing ?? new Set<number>();
        resyncing = undefined;
        let changed = 0;
        const present = new Set<number>();
        for (const l of links) {
          present.add(l.index);
          if (seen.has(l.index)) continue;
          const before = known.get(l.index);
          if (before && sameLink(before, l)) continue;
          changed++;
          emit(l, false);
        }
        for (const [index, l] of [...known]) {
          if (present.has(index) || seen.has(index)) continue;
          changed++;
          emit(l, true);
        }
        options.onOverrun?.({ phase: 'resynced', links: links.length, changed, ms: Date.now() - started });
        if (resyncWanted && lastDrained) resync(); // else the next drained batch starts it
      },
      (e: unknown) => {
        if (closed) return;
        resyncing = undefined;
        // the dump itself failed (it can overflow too under a storm): try again shortly
        resyncWanted = true;
        setTimeout(() => {
          if (!closed && resyncWanted && !resyncing) resync();
        }, 100).unref();
        void e;
      },
    );
  };

  const onBatch = (items: NetlinkItem[], drained: boolean): void => {
    for (const item of items) {
      if (closed) return;
      if (!Buffer.isBuffer(item)) {
        if (item.kind === 'broken') {
          reopen(item.message, item.code);
          return;
        }
        if (!resyncWanted) options.onOverrun?.({ phase: 'lost', lost: item.kind });
        resyncWanted = true;
        continue;
      }
      for (const m of decodeRtnl(item)) {
        if (m.kind === 'malformed') {
          if (!resyncWanted) options.onOverrun?.({ phase: 'lost', lost: 'truncated' });
          resyncWanted = true;
          continue;
        }
        if (m.kind !== 'link') continue;
        resyncing?.add(m.link.index);
        emit(linkFromRt(m.link), m.removed);
      }
    }
    lastDrained = drained;
    if (drained && resyncWanted && !resyncing && !closed) resync();
  };

  let referenced = options.ref ?? true;
  const open = (): Pick<NetlinkSocket, 'close' | 'ref'> => {
    const s = options.openSocket
      ? options.openSocket(onBatch)
      : new NetlinkSocket(NETLINK_ROUTE, { groups: [RTNLGRP_LINK], recvBufferSize: options.recvBufferSize ?? 0, onBatch });
    if (!referenced) s.ref(false);
    return s;
  };

  /** The socket stopped reading: say so, then subscribe again (every second until it works) and re-read. */
  const reopen = (why: string, errno: string): void => {
    socket.close();
    options.onError?.(new LvsdError('LVSD_NATIVE_UNAVAILABLE', `link notification socket failed: ${why}; subscribing again`, { details: { errno } }));
    if (!resyncWanted) options.onOverrun?.({ phase: 'lost', lost: 'error' });
    resyncWanted = true;
    const retry = setTimeout(() => {
      if (closed) return;
      try {
        socket = open();
      } catch (e) {
        reopen((e as Error).message, 'open');
        return;
      }
      if (!resyncing) resync();
    }, 1000);
    retry.unref();
  };

  try {
    socket = open();
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `cannot subscribe to link notifications: ${(e as Error).message}`, { cause: e });
  }
  // what the links are now, so a later re-read reports only what changed (not reported to cb)
  listLinks().then(
    (links) => {
      for (const l of links) if (!known.has(l.index)) known.set(l.index, l);
    },
    () => undefined,
  );
  const watcher: LinkWatcher = {
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
    ref() {
      referenced = true;
      if (!closed) socket.ref(true);
    },
    unref() {
      referenced = false;
      if (!closed) socket.ref(false);
    },
  };
  return watcher;
}
