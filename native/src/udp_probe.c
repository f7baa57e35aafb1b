/*
 * One UDP health probe: a connected UDP socket with IP_RECVERR / IPV6_RECVERR, read on the Node event
 * loop with a uv_poll_t. Node's dgram sockets lack RECVERR, and without it Linux reports to a UDP socket
 * only the "hard" ICMP errors (port or protocol unreachable): a router's net or host unreachable, or the
 * director's own failed ARP/ND for an on-link address, would look like silence, which a UDP check without
 * requireReply counts as up. With it every ICMP error comes back as the socket's error.
 *
 * udpProbeOpen sends the payload at once; the callback then gets, at most once per wake, either a reply
 * (a Buffer) or an Error value with `errno` (ECONNREFUSED: port unreachable; EHOSTUNREACH, ENETUNREACH
 * ...). Nothing is thrown from a libuv callback. The caller closes the probe (udpProbeClose) when it has
 * its verdict or its deadline passed.
 */
#include "udp_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"

#define REPLY_MAX 65536
#define BAD_HANDLE "expected a UDP probe handle"

/* Nothing of its own beyond the polled socket (util.h): the probe is connected, its reply or error is all
   it reads. */
typedef struct udp_probe {
  lvsd_polled h;
} udp_probe;

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  udp_probe *p = handle->data;
  if (p->h.closing) return;
  napi_env env = p->h.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value item = NULL;
  int err = 0;
  if (status < 0) {
    /* POLLERR: libuv stopped the poll; the socket error is the ICMP error */
    err = lvsd_so_error(p->h.fd);
    if (err < 0) err = -err;
    if (err == 0) err = -status;
  } else {
    uint8_t *buf = malloc(REPLY_MAX); /* replies are rare: one per probe */
    ssize_t n = -1;
    if (buf == NULL) err = ENOMEM;
    else {
      do {
        n = recv(p->h.fd, buf, REPLY_MAX, MSG_DONTWAIT | MSG_TRUNC);
      } while (n < 0 && errno == EINTR);
      if (n >= 0) {
        size_t len = (size_t)n > REPLY_MAX ? REPLY_MAX : (size_t)n;
        void *data;
        if (napi_create_buffer_copy(env, len, buf, &data, &item) != napi_ok) item = NULL;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        err = errno;
      }
      free(buf);
    }
  }
  if (err != 0) {
    uv_poll_stop(&p->h.poll); /* one verdict is enough: the caller closes the probe */
    item = lvsd_errno_error(env, "recv", err, NULL);
  }
  if (item != NULL) lvsd_polled_call(&p->h, 1, &item);
  napi_close_handle_scope(env, scope);
}

/* udpProbeOpen(destination: Buffer(4|16), port, payload: Buffer, callback(item: Buffer|Error)) -> handle.
   Throws an errno Error (syscall socket, connect or send) when the probe cannot start: the caller turns it
   into a probe result (EMFILE, ENOBUFS: the director's own; ENETUNREACH: no route). */
napi_value lvsd_udp_probe_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *dst, *payload;
  size_t dlen, plen;
  uint32_t port;
  napi_valuetype cbt = napi_undefined;
  if (argc >= 4) napi_typeof(env, argv[3], &cbt);
  if (argc < 4 || cbt != napi_function) {
    lvsd_throw_type(env, "udpProbeOpen(destination, port, payload, callback)");
    return NULL;
  }
  if (!lvsd_arg_buffer(env, argv[0], &dst, &dlen) || !lvsd_arg_u32(env, argv[1], &port) ||
      !lvsd_arg_buffer(env, argv[2], &payload, &plen))
    return NULL;
  if ((dlen != 4 && dlen != 16) || port == 0 || port > 65535) {
    lvsd_throw_type(env, "destination must be 4 or 16 bytes and port 1-65535");
    return NULL;
  }
  int family = dlen == 4 ? AF_INET : AF_INET6;
  struct sockaddr_storage to;
  socklen_t tlen;
  memset(&to, 0, sizeof to);
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&to;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    memcpy(&a->sin_addr, dst, 4);
    tlen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    memcpy(&a->sin6_addr, dst, 16);
    tlen = sizeof *a;
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", errno, NULL);
    return NULL;
  }
  int on = 1;
  if (family == AF_INET) (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof on);
  else (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
  if (connect(fd, (struct sockaddr *)&to, tlen) < 0) {
    int err = errno;
    close(fd);
    lvsd_throw_errno(env, "connect", err, NULL);
    return NULL;
  }
  ssize_t n;
  do {
    n = send(fd, payload, plen, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    close(fd);
    lvsd_throw_errno(env, "send", err, NULL);
    return NULL;
  }
  return lvsd_polled_start(env, calloc(1, sizeof(udp_probe)), fd, argv[3], "lvsd:UdpProbe", on_poll, true);
}

/* udpProbeClose(handle): stop reading and close (idempotent). */
napi_value lvsd_udp_probe_close(napi_env env, napi_callback_info info) {
  return lvsd_polled_close_call(env, info, BAD_HANDLE);
}
