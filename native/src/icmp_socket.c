/*
 * An ICMP or ICMPv6 socket for echo probes (PING checks), read on the Node event loop with a uv_poll_t.
 * It only moves messages: the echo request is built, and a reply matched to its probe (source, sequence,
 * a token in the payload) and timed out, in TypeScript (src/net/icmp-probe.ts).
 *
 * The socket is an unprivileged ping socket (SOCK_DGRAM, IPPROTO_ICMP[V6]) when net.ipv4.ping_group_range
 * lets this process's group have one, else a raw socket (CAP_NET_RAW) with a filter passing echo replies
 * only. A ping socket sees only the replies to its own requests (the kernel sets and matches the id); a raw
 * socket sees every echo reply the host receives, and the IPv4 header, which is stripped here: JavaScript
 * gets the same ICMP message from both. Each item delivered is a Buffer: the source address (4 or 16
 * bytes) followed by the ICMP message.
 *
 * Nothing here ever throws from a libuv callback: a failed read reaches JavaScript as an Error value with
 * `errno` and `syscall` in the batch (`stopped` set when the socket no longer reads); a POLLERR wake is
 * read (SO_ERROR), reported and polled again, as for every polled socket (lvsd_polled, util.c). A send
 * returns -errno, never throws.
 */
#include "icmp_socket.h"

#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <linux/icmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"

#define RECV_BUFFER 2048      /* an echo reply to our 64-byte requests, with room for options */
#define MAX_READS_PER_WAKE 64 /* then yield to the loop */
/* Replies to a burst of probes arrive before the loop reads any: each costs ~400 bytes of receive buffer
   (skb truesize), so the default 208 KiB holds 512 and drops the rest (measured: 512 of 1000 loopback
   echoes answered). 4 MiB holds ~10000. */
#define RECV_BUFFER_BYTES (4 * 1024 * 1024)
#define BAD_HANDLE "expected an ICMP socket handle"

typedef struct icmp_socket {
  lvsd_polled h; /* first: the polled socket's plumbing (util.h) */
  int family;
  bool raw;
  uint8_t buf[RECV_BUFFER];
} icmp_socket;

/* One datagram -> `address bytes + ICMP message` (raw IPv4: the IP header skipped), or nothing if malformed. */
static void push_message(icmp_socket *s, lvsd_batch *b, const struct sockaddr_storage *from, size_t n) {
  const uint8_t *msg = s->buf;
  size_t len = n;
  if (s->family == AF_INET && s->raw) {
    if (len < 20) return;
    size_t ihl = (size_t)(msg[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > len) return;
    msg += ihl;
    len -= ihl;
  }
  const void *addr;
  size_t alen;
  if (s->family == AF_INET) {
    addr = &((const struct sockaddr_in *)from)->sin_addr;
    alen = 4;
  } else {
    addr = &((const struct sockaddr_in6 *)from)->sin6_addr;
    alen = 16;
  }
  napi_value item;
  void *data;
  if (napi_create_buffer(s->h.env, alen + len, &data, &item) != napi_ok) return;
  memcpy(data, addr, alen);
  memcpy((uint8_t *)data + alen, msg, len);
  lvsd_batch_push(b, item);
}

/* Reads what is queued (at most MAX_READS_PER_WAKE datagrams) into `b`; an error the socket cannot go on
   after stops it (sets *stopped). */
static void read_batch(icmp_socket *s, lvsd_batch *b, bool *stopped) {
  for (int i = 0; i < MAX_READS_PER_WAKE; i++) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t n = recvfrom(s->h.fd, s->buf, RECV_BUFFER, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR) continue;
      napi_value error = lvsd_errno_error(s->h.env, "recvfrom", err, NULL);
      lvsd_batch_push(b, error);
      /* a ping socket reports an ICMP error for an earlier request here; the socket goes on */
      if (err == ENOBUFS || err == EHOSTUNREACH || err == ENETUNREACH || err == ECONNREFUSED || err == EMSGSIZE) continue;
      lvsd_polled_stop(&s->h, error); /* JS sees the error, closes this socket and opens another on the next probe */
      *stopped = true;
      return;
    }
    if ((int)from.ss_family != s->family) continue;
    push_message(s, b, &from, (size_t)n);
  }
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  icmp_socket *s = handle->data;
  if (s->h.closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->h.env, &scope) != napi_ok) return;
  lvsd_batch b;
  lvsd_batch_init(&b, s->h.env);
  bool stopped = false, progress = false;
  if (status < 0) lvsd_batch_push(&b, lvsd_polled_pending_error(&s->h, "recvfrom", false, &progress, &stopped));
  if (!stopped) read_batch(s, &b, &stopped);
  lvsd_batch_push(&b, lvsd_polled_rearm(&s->h, status, b.count > 0, stopped));
  if (b.count > 0) lvsd_polled_call(&s->h, 1, &b.items);
  napi_close_handle_scope(s->h.env, scope);
}

/* A ping socket if allowed, else a raw one with an echo-reply-only filter; -errno when neither opens. */
static int open_socket(int family, bool *raw) {
  int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd >= 0) {
    *raw = false;
    lvsd_set_rcvbuf(fd, RECV_BUFFER_BYTES);
    return fd;
  }
  int first = errno;
  if (first != EACCES && first != EPERM && first != EPROTONOSUPPORT) return -first;
  fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return -errno;
  *raw = true;
  lvsd_set_rcvbuf(fd, RECV_BUFFER_BYTES);
  if (family == AF_INET) {
    struct icmp_filter filter = {.data = ~(1U << ICMP_ECHOREPLY)};
    (void)setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter);
  } else {
    struct icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    (void)setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
  }
  return fd;
}

/* icmpOpen(family: 4|6, callback(items: Array<Buffer|Error>)) -> handle. Throws an errno Error when no socket
   can be had (no ping_group_range and no CAP_NET_RAW: EACCES/EPERM; EMFILE ...): the caller turns it into
   a probe result. */
napi_value lvsd_icmp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t fam;
  napi_valuetype cbt = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &cbt);
  if (argc < 2 || !lvsd_arg_u32(env, argv[0], &fam) || (fam != 4 && fam != 6) || cbt != napi_function) {
    if (!(argc >= 2 && cbt != napi_function)) lvsd_throw_type(env, "icmpOpen(family: 4|6, callback)");
    else lvsd_throw_type(env, "callback must be a function");
    return NULL;
  }
  int family = fam == 4 ? AF_INET : AF_INET6;
  bool raw = false;
  int fd = open_socket(family, &raw);
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", -fd, family == AF_INET ? "ICMP" : "ICMPv6");
    return NULL;
  }
  icmp_socket *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->family = family;
    s->raw = raw;
  }
  /* idle (unreferenced): JS refs it while probes are under way */
  return lvsd_polled_start(env, (lvsd_polled *)s, fd, argv[1], "lvsd:IcmpSocket", on_poll, false);
}

/* icmpSend(handle, destination: Buffer(4|16), message: Buffer) -> 0, or -errno (never throws for a socket
   condition: ENETUNREACH, EHOSTUNREACH, ENOBUFS, EAGAIN ... are values). */
napi_value lvsd_icmp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  icmp_socket *s = argc < 3 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (s == NULL) return NULL;
  void *dst, *data;
  size_t dlen, len;
  if (!lvsd_arg_buffer(env, argv[1], &dst, &dlen) || !lvsd_arg_buffer(env, argv[2], &data, &len)) return NULL;
  napi_value result;
  if (dlen != (s->family == AF_INET ? 4U : 16U)) {
    lvsd_throw_type(env, "destination address of the wrong family");
    return NULL;
  }
  if (s->h.closing) {
    napi_create_int32(env, -EBADF, &result);
    return result;
  }
  struct sockaddr_storage to;
  socklen_t tlen;
  memset(&to, 0, sizeof to);
  if (s->family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&to;
    a->sin_family = AF_INET;
    memcpy(&a->sin_addr, dst, 4);
    tlen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
    a->sin6_family = AF_INET6;
    memcpy(&a->sin6_addr, dst, 16);
    tlen = sizeof *a;
  }
  ssize_t n;
  do {
    n = sendto(s->h.fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, tlen);
  } while (n < 0 && errno == EINTR);
  napi_create_int32(env, n < 0 ? -errno : 0, &result);
  return result;
}

/* icmpClose(handle): stop reading and close (idempotent). */
napi_value lvsd_icmp_close(napi_env env, napi_callback_info info) {
  return lvsd_polled_close_call(env, info, BAD_HANDLE);
}

/* icmpRef(handle, ref): whether the socket keeps the event loop alive (while probes are under way). */
napi_value lvsd_icmp_ref(napi_env env, napi_callback_info info) {
  return lvsd_polled_ref_call(env, info, BAD_HANDLE);
}
