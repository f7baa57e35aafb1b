/*
 * A VRRP socket's making, apart from its reading and sending (vrrp_socket.c): the arguments vrrpOpen and
 * vrrpListen share, a fresh raw protocol-112 socket bound to one interface with its options (receive times,
 * packet info, TTL / hop limit 255, multicast interface and group, no loopback, no kernel IPv6 checksum),
 * and the check that a socket handed over (opened at exec) is such a socket.
 */
#include "vrrp_socket_setup.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* Set the options of a fresh socket; returns false after throwing. */
static bool configure(napi_env env, int fd, int family, const char *ifname, unsigned ifindex, bool multicast) {
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) {
    lvsd_throw_errno(env, "setsockopt", errno, "SO_BINDTODEVICE");
    return false;
  }
  /* each datagram's receive time: a thread that reads late still knows when an advert came (the runner's
     Master_Down timer runs from it, and an advert queued before the timer is handled keeps it a backup) */
  if (!lvsd_setsockopt_int(env, fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")) return false;
  if (family == AF_INET) {
    struct ip_mreqn mreq;
    memset(&mreq, 0, sizeof mreq);
    mreq.imr_ifindex = (int)ifindex;
    if (!lvsd_setsockopt_int(env, fd, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IP, IP_TTL, 255, "IP_TTL") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IP, IP_MULTICAST_TTL, 255, "IP_MULTICAST_TTL") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP"))
      return false;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0) {
      lvsd_throw_errno(env, "setsockopt", errno, "IP_MULTICAST_IF");
      return false;
    }
    if (multicast) {
      mreq.imr_multiaddr.s_addr = htonl(0xe0000012); /* 224.0.0.18 */
      if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
        lvsd_throw_errno(env, "setsockopt", errno, "IP_ADD_MEMBERSHIP 224.0.0.18");
        return false;
      }
    }
  } else {
    if (!lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255, "IPV6_UNICAST_HOPS") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255, "IPV6_MULTICAST_HOPS") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)ifindex, "IPV6_MULTICAST_IF") ||
        !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_CHECKSUM, -1, "IPV6_CHECKSUM"))
      return false;
    if (multicast) {
      struct ipv6_mreq mreq;
      memset(&mreq, 0, sizeof mreq);
      static const uint8_t group[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12};
      memcpy(&mreq.ipv6mr_multiaddr, group, 16);
      mreq.ipv6mr_interface = ifindex;
      if (setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
        lvsd_throw_errno(env, "setsockopt", errno, "IPV6_JOIN_GROUP ff02::12");
        return false;
      }
    }
  }
  return true;
}

/* Read the arguments family (4 | 6), ifname and multicast shared by vrrpOpen and vrrpListen; false after throwing. */
bool lvsd_vrrp_socket_args(napi_env env, napi_value *argv, int *family, char *ifname, size_t size, unsigned *ifindex,
                        bool *multicast) {
  uint32_t fam;
  if (!lvsd_arg_u32(env, argv[0], &fam) || !lvsd_arg_ifname(env, argv[1], ifname, size) ||
      !lvsd_arg_bool(env, argv[2], multicast))
    return false;
  if (fam != 4 && fam != 6) {
    lvsd_throw_type(env, "family must be 4 or 6");
    return false;
  }
  *family = fam == 4 ? AF_INET : AF_INET6;
  *ifindex = if_nametoindex(ifname);
  if (*ifindex == 0) {
    lvsd_throw_errno(env, "if_nametoindex", errno, ifname);
    return false;
  }
  return true;
}

/* A new socket of `family` on `ifname`, configured; -1 after throwing. */
int lvsd_vrrp_new_socket(napi_env env, int family, const char *ifname, unsigned ifindex, bool multicast) {
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, VRRP_PROTO);
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", errno, family == AF_INET ? "AF_INET raw 112" : "AF_INET6 raw 112");
    return -1;
  }
  if (!configure(env, fd, family, ifname, ifindex, multicast)) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Whether `fd` is a raw VRRP socket of `family` bound to `ifname` (what vrrpListen made); throws EBADF if not. */
bool lvsd_is_vrrp_socket(napi_env env, int fd, int family, const char *ifname) {
  int domain = 0, type = 0, protocol = 0;
  socklen_t len = sizeof domain;
  char bound[IF_NAMESIZE + 1];
  socklen_t blen = sizeof bound;
  memset(bound, 0, sizeof bound);
  bool ok = fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == family &&
            (len = sizeof type, getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0) && type == SOCK_RAW &&
            (len = sizeof protocol, getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0) &&
            protocol == VRRP_PROTO && getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bound, &blen) == 0 &&
            strcmp(bound, ifname) == 0;
  if (!ok) lvsd_throw_errno(env, "getsockopt", EBADF, "not a VRRP socket of this family and interface");
  return ok;
}
