#ifndef LVSD_VRRP_SOCKET_SETUP_H
#define LVSD_VRRP_SOCKET_SETUP_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

#define VRRP_PROTO 112

/* Read the arguments family (4 | 6), ifname and multicast shared by vrrpOpen and vrrpListen; false after throwing. */
bool lvsd_vrrp_socket_args(napi_env env, napi_value *argv, int *family, char *ifname, size_t size, unsigned *ifindex,
                           bool *multicast);
/* A new socket of `family` on `ifname`, configured; -1 after throwing. */
int lvsd_vrrp_new_socket(napi_env env, int family, const char *ifname, unsigned ifindex, bool multicast);
/* Whether `fd` is a raw VRRP socket of `family` bound to `ifname` (what vrrpListen made); throws EBADF if not. */
bool lvsd_is_vrrp_socket(napi_env env, int fd, int family, const char *ifname);
#endif
