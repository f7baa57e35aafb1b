/*
 * VRRP datagrams sent on a VRRP socket (vrrp_socket.c): no IP header (the kernel makes it), to the
 * multicast group or a unicast peer, from a chosen source address in an IP_PKTINFO / IPV6_PKTINFO cmsg or
 * the kernel's choice (the socket is never bound: a bound raw socket only receives packets addressed to the
 * bound address, which would lose the multicast group). lvsd_vrrp_sendmsg is the system call any thread
 * makes (the advert clock's too); vrrpSend is its JavaScript face.
 */
#include "vrrp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "pktinfo.h"
#include "util.h"

/* One datagram as vrrpSend sends it (see vrrp_socket.h); -1 with errno set on failure. */
ssize_t lvsd_vrrp_sendmsg(int fd, int family, unsigned ifindex, const void *payload, size_t len, const void *dest,
                          const void *source) {
  struct sockaddr_in sin;
  struct sockaddr_in6 sin6;
  lvsd_pktinfo_control control;
  struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (family == AF_INET) {
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    memcpy(&sin.sin_addr, dest, 4);
    msg.msg_name = &sin;
    msg.msg_namelen = sizeof sin;
    if (source != NULL) lvsd_set_pktinfo(&msg, &control, AF_INET, ifindex, source);
  } else {
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    memcpy(&sin6.sin6_addr, dest, 16);
    sin6.sin6_scope_id = ifindex;
    msg.msg_name = &sin6;
    msg.msg_namelen = sizeof sin6;
    if (source != NULL) lvsd_set_pktinfo(&msg, &control, AF_INET6, ifindex, source);
  }
  return sendmsg(fd, &msg, MSG_DONTWAIT);
}

/* vrrpSend(handle, payload: Buffer, destination: Buffer(4|16), source: Buffer | null) -> bytes sent */
napi_value lvsd_vrrp_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "vrrpSend(handle, payload, destination, source)");
    return NULL;
  }
  lvsd_vrrp_target s;
  if (!lvsd_vrrp_socket_get(env, argv[0], &s)) return NULL;
  void *payload, *dest, *source;
  size_t plen, alen = s.family == AF_INET ? 4 : 16;
  if (!lvsd_arg_buffer(env, argv[1], &payload, &plen) || !lvsd_arg_opt_address(env, argv[2], alen, &dest) ||
      !lvsd_arg_opt_address(env, argv[3], alen, &source))
    return NULL;
  if (dest == NULL) {
    lvsd_throw_type(env, "destination is required");
    return NULL;
  }
  ssize_t n = lvsd_vrrp_sendmsg(s.fd, s.family, s.ifindex, payload, plen, dest, source);
  if (n < 0) {
    lvsd_throw_errno(env, "sendmsg", errno, NULL);
    return NULL;
  }
  napi_value result;
  napi_create_int64(env, n, &result);
  return result;
}
