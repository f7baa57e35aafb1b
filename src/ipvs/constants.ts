/**
 * Numbers of the IPVS generic netlink interface, as linux/ip_vs.h (uapi) defines them, plus the few
 * netlink and generic-netlink controller numbers the client needs. Pure data.
 */

export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

/** Commands (IPVS_CMD_*). */
export const IPVS_CMD_NEW_SERVICE = 1;
export const IPVS_CMD_SET_SERVICE = 2;
export const IPVS_CMD_DEL_SERVICE = 3;
export const IPVS_CMD_GET_SERVICE = 4;
export const IPVS_CMD_NEW_DEST = 5;
export const IPVS_CMD_SET_DEST = 6;
export const IPVS_CMD_DEL_DEST = 7;
export const IPVS_CMD_GET_DEST = 8;
export const IPVS_CMD_NEW_DAEMON = 9;
export const IPVS_CMD_DEL_DAEMON = 10;
export const IPVS_CMD_GET_DAEMON = 11;
export const IPVS_CMD_SET_CONFIG = 12;
export const IPVS_CMD_GET_CONFIG = 13;
export const IPVS_CMD_SET_INFO = 14;
export const IPVS_CMD_GET_INFO = 15;
export const IPVS_CMD_ZERO = 16;
export const IPVS_CMD_FLUSH = 17;

/** First-level attributes (IPVS_CMD_ATTR_*). */
export const IPVS_CMD_ATTR_SERVICE = 1;
export const IPVS_CMD_ATTR_DEST = 2;
export const IPVS_CMD_ATTR_DAEMON = 3;
export const IPVS_CMD_ATTR_TIMEOUT_TCP = 4;
export const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN = 5;
export const IPVS_CMD_ATTR_TIMEOUT_UDP = 6;

/** Service attributes, nested in IPVS_CMD_ATTR_SERVICE (IPVS_SVC_ATTR_*). */
export const IPVS_SVC_ATTR_AF = 1; // u16 host order
export const IPVS_SVC_ATTR_PROTOCOL = 2; // u16 host order
export const IPVS_SVC_ATTR_ADDR = 3; // 16 bytes (union nf_inet_addr)
export const IPVS_SVC_ATTR_PORT = 4; // be16
export const IPVS_SVC_ATTR_FWMARK = 5; // u32
export const IPVS_SVC_ATTR_SCHED_NAME = 6; // NUL-terminated string, at most 15 chars
export const IPVS_SVC_ATTR_FLAGS = 7; // struct ip_vs_flags { u32 flags; u32 mask; }
export const IPVS_SVC_ATTR_TIMEOUT = 8; // u32 seconds
export const IPVS_SVC_ATTR_NETMASK = 9; // be32 mask (IPv4) / u32 prefix length (IPv6)
export const IPVS_SVC_ATTR_STATS = 10; // nested, 32-bit counters
export const IPVS_SVC_ATTR_PE_NAME = 11; // NUL-terminated string
export const IPVS_SVC_ATTR_STATS64 = 12; // nested, 64-bit counters

/** Destination attributes, nested in IPVS_CMD_ATTR_DEST (IPVS_DEST_ATTR_*). */
export const IPVS_DEST_ATTR_ADDR = 1; // 16 bytes
export const IPVS_DEST_ATTR_PORT = 2; // be16
export const IPVS_DEST_ATTR_FWD_METHOD = 3; // u32 (IP_VS_CONN_F_FWD_MASK bits)
export const IPVS_DEST_ATTR_WEIGHT = 4; // u32 (int)
export const IPVS_DEST_ATTR_U_THRESH = 5; // u32
export const IPVS_DEST_ATTR_L_THRESH = 6; // u32
export const IPVS_DEST_ATTR_ACTIVE_CONNS = 7; // u32
export const IPVS_DEST_ATTR_INACT_CONNS = 8; // u32
export const IPVS_DEST_ATTR_PERSIST_CONNS = 9; // u32
export const IPVS_DEST_ATTR_STATS = 10; // nested
export const IPVS_DEST_ATTR_ADDR_FAMILY = 11; // u16 (kernel >= 3.18)
export const IPVS_DEST_ATTR_STATS64 = 12; // nested
export const IPVS_DEST_ATTR_TUN_TYPE = 13; // u8 (kernel >= 5.3)
export const IPVS_DEST_ATTR_TUN_PORT = 14; // be16 (kernel >= 5.3)
export const IPVS_DEST_ATTR_TUN_FLAGS = 15; // u16 (kernel >= 5.5)

/** Sync daemon attributes, nested in IPVS_CMD_ATTR_DAEMON (IPVS_DAEMON_ATTR_*). */
export const IPVS_DAEMON_ATTR_STATE = 1; // u32
export const IPVS_DAEMON_ATTR_MCAST_IFN = 2; // NUL-terminated string, at most 15 chars
export const IPVS_DAEMON_ATTR_SYNC_ID = 3; // u32
export const IPVS_DAEMON_ATTR_SYNC_MAXLEN = 4; // u16
export const IPVS_DAEMON_ATTR_MCAST_GROUP = 5; // be32 IPv4 address
export const IPVS_DAEMON_ATTR_MCAST_GROUP6 = 6; // 16-byte IPv6 address
export const IPVS_DAEMON_ATTR_MCAST_PORT = 7; // u16 host order
export const IPVS_DAEMON_ATTR_MCAST_TTL = 8; // u8

/** Statistics attributes, nested in *_ATTR_STATS and *_ATTR_STATS64 (IPVS_STATS_ATTR_*). */
export const IPVS_STATS_ATTR_CONNS = 1;
export const IPVS_STATS_ATTR_INPKTS = 2;
export const IPVS_STATS_ATTR_OUTPKTS = 3;
export const IPVS_STATS_ATTR_INBYTES = 4;
export const IPVS_STATS_ATTR_OUTBYTES = 5;
export const IPVS_STATS_ATTR_CPS = 6;
export const IPVS_STATS_ATTR_INPPS = 7;
export const IPVS_STATS_ATTR_OUTPPS = 8;
export const IPVS_STATS_ATTR_INBPS = 9;
export const IPVS_STATS_ATTR_OUTBPS = 10;
export const IPVS_STATS_ATTR_PAD = 11;

/** Attributes of the GET_INFO reply, at the first level (IPVS_INFO_ATTR_*). */
export const IPVS_INFO_ATTR_VERSION = 1;
export const IPVS_INFO_ATTR_CONN_TAB_SIZE = 2;

/** Forwarding methods (IP_VS_CONN_F_*), the low 3 bits of FWD_METHOD. */
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const IP_VS_CONN_F_MASQ = 0x0000;
export const IP_VS_CONN_F_LOCALNODE = 0x0001;
export const IP_VS_CONN_F_TUNNEL = 0x0002;
export const IP_VS_CONN_F_DROUTE = 0x0003;
export const IP_VS_CONN_F_BYPASS = 0x0004;

/** Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*). */
export const IP_VS_CONN_F_TUNNEL_TYPE_IPIP = 0;
export const IP_VS_CONN_F_TUNNEL_TYPE_GUE = 1;
export const IP_VS_CONN_F_TUNNEL_TYPE_GRE = 2;

/** Tunnel encapsulation flags (IP_VS_TUNNEL_ENCAP_FLAG_*). */
export const IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM = 0;
export const IP_VS_TUNNEL_ENCAP_FLAG_CSUM = 1 << 0;
export const IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM = 1 << 1;

/** Sync daemon states (IP_VS_STATE_*). */
export const IP_VS_STATE_NONE = 0;
export const IP_VS_STATE_MASTER = 1;
export const IP_VS_STATE_BACKUP = 2;

export const IP_VS_SCHEDNAME_MAXLEN = 16;
export const IP_VS_PENAME_MAXLEN = 16;
export const IP_VS_IFNAME_MAXLEN = 16;

/** IP protocol numbers. */
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;

/** Netlink (linux/netlink.h). */
export const NETLINK_GENERIC = 16;
export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP = 0x300;
/** In an NLMSG_ERROR reply: the echoed request was cut to its header (NETLINK_CAP_ACK). */
export const NLM_F_CAPPED = 0x100;
/** In an NLMSG_ERROR reply: extended-ack TLVs follow. */
export const NLM_F_ACK_TLVS = 0x200;

/** Generic netlink controller (linux/genetlink.h). */
export const GENL_ID_CTRL = 16;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1; // u16
export const CTRL_ATTR_FAMILY_NAME = 2; // string
export const CTRL_ATTR_VERSION = 3; // u32
