/*
 * One-shot link-level sends for address takeover announcements: a whole Ethernet frame over AF_PACKET
 * (gratuitous ARP) and an ICMPv6 message over a raw ICMPv6 socket (unsolicited neighbour advertisement;
 * the kernel computes the ICMPv6 checksum on such sockets). The frames themselves are built in TypeScript.
 */
#include "link_send.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pktinfo.h"
#include "util.h"

/* ifIndex(ifname) -> index; throws ENODEV-style errno errors for a missing interface. */
napi_value lvsd_if_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char ifname[IF_NAMESIZE];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !lvsd_arg_ifname(env, argv[0], ifname, sizeof ifname)) return NULL;
  unsigned index = if_nametoindex(ifname);
  if (index == 0) {
    lvsd_throw_errno(env, "if_nametoindex", errno, ifname);
    return NULL;
  }
  napi_value result;
  napi_create_uint32(env, index, &result);
  return result;
}

/* sendFrame(ifname, frame: Buffer): send a complete Ethernet frame (destination MAC = first 6 bytes). */
napi_value lvsd_send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char ifname[IF_NAMESIZE];
  void *frame;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !lvsd_arg_ifname(env, argv[0], ifname, sizeof ifname) ||
      !lvsd_arg_buffer(env, argv[1], &frame, &len))
    return NULL;
  if (len < ETH_HLEN) {
    lvsd_throw_type(env, "frame shorter than an Ethernet header");
    return NULL;
  }
  unsigned index = if_nametoindex(ifname);
  if (index == 0) {
    lvsd_throw_errno(env, "if_nametoindex", errno, ifname);
    return NULL;
  }
  const uint8_t *bytes = frame;
  uint16_t ethertype = (uint16_t)((bytes[12] << 8) | bytes[13]);
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ethertype));
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", errno, "AF_PACKET");
    return NULL;
  }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ethertype);
  sll.sll_ifindex = (int)index;
  sll.sll_halen = ETH_ALEN;
  memcpy(sll.sll_addr, bytes, ETH_ALEN);
  ssize_t n = sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof sll);
  int err = errno;
  close(fd);
  if (n < 0) {
    lvsd_throw_errno(env, "sendto", err, ifname);
    return NULL;
  }
  return NULL;
}

/*
 * sendIcmp6(ifname, message: Buffer, destination: Buffer(16), source: Buffer(16) | null, hopLimit: number):
 * send an ICMPv6 message out of the interface, from `source` when given.
 */
napi_value lvsd_send_icmp6(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  char ifname[IF_NAMESIZE];
  void *message, *dest, *source;
  size_t len;
  uint32_t hops;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || !lvsd_arg_ifname(env, argv[0], ifname, sizeof ifname) ||
      !lvsd_arg_buffer(env, argv[1], &message, &len) || !lvsd_arg_opt_address(env, argv[2], 16, &dest) ||
      !lvsd_arg_opt_address(env, argv[3], 16, &source) || !lvsd_arg_u32(env, argv[4], &hops))
    return NULL;
  if (dest == NULL || hops > 255) {
    lvsd_throw_type(env, "destination is required and hopLimit must be 0..255");
    return NULL;
  }
  unsigned index = if_nametoindex(ifname);
  if (index == 0) {
    lvsd_throw_errno(env, "if_nametoindex", errno, ifname);
    return NULL;
  }
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", errno, "AF_INET6 raw ICMPv6");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) {
    int err = errno;
    close(fd);
    lvsd_throw_errno(env, "setsockopt", err, "SO_BINDTODEVICE");
    return NULL;
  }
  if (!lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, (int)hops, "IPV6_MULTICAST_HOPS") ||
      !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, (int)hops, "IPV6_UNICAST_HOPS") ||
      !lvsd_setsockopt_int(env, fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)index, "IPV6_MULTICAST_IF")) {
    close(fd);
    return NULL;
  }
  struct sockaddr_in6 sin6;
  memset(&sin6, 0, sizeof sin6);
  sin6.sin6_family = AF_INET6;
  memcpy(&sin6.sin6_addr, dest, 16);
  sin6.sin6_scope_id = index;
  lvsd_pktinfo_control control;
  struct iovec iov = {.iov_base = message, .iov_len = len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &sin6;
  msg.msg_namelen = sizeof sin6;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (source != NULL) lvsd_set_pktinfo(&msg, &control, AF_INET6, index, source);
  ssize_t n = sendmsg(fd, &msg, 0);
  int err = errno;
  close(fd);
  if (n < 0) {
    lvsd_throw_errno(env, "sendmsg", err, ifname);
    return NULL;
  }
  return NULL;
}
