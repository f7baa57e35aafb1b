#ifndef LVSD_VRRP_SOCKET_H
#define LVSD_VRRP_SOCKET_H
#include <node_api.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util.h"
napi_value lvsd_vrrp_open(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_send(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_close(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_ref(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_listen(napi_env env, napi_callback_info info);
napi_value lvsd_vrrp_drain(napi_env env, napi_callback_info info);

/* What the advert clock (vrrp_clock.c) needs of an open socket: `owner` identifies it (its close hook). */
typedef struct lvsd_vrrp_target {
  lvsd_polled *owner;
  int fd;
  int family;
  unsigned ifindex;
} lvsd_vrrp_target;
/* The open socket behind a vrrpOpen handle; false after throwing (a bad handle, or EBADF once closed). */
bool lvsd_vrrp_socket_get(napi_env env, napi_value handle, lvsd_vrrp_target *out);
/* One VRRP datagram (no IP header) to `dest` (4 or 16 bytes by family), from `source` (or NULL: the kernel's
   choice) in an IP_PKTINFO / IPV6_PKTINFO cmsg, MSG_DONTWAIT: what vrrpSend does. -1 with errno on failure.
   Any thread may call it. */
ssize_t lvsd_vrrp_sendmsg(int fd, int family, unsigned ifindex, const void *payload, size_t len, const void *dest,
                          const void *source);
#endif
