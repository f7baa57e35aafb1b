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
 * read (SO_ERROR), reported and polled again, as in netlink_socket.c. A send returns -errno, never throws.
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
#define MAX_IDLE_ERROR_WAKES 16
/* Replies to a burst of probes arrive before the loop reads any: each costs ~400 bytes of receive buffer
   (skb truesize), so the default 208 KiB holds 512 and drops the rest (measured: 512 of 1000 loopback
   echoes answered). 4 MiB holds ~10000. */
#define RECV_BUFFER_BYTES (4 * 1024 * 1024)

typedef struct icmp_socket {
  napi_env env;
  int fd;
  int family;
  bool raw;
  uv_poll_t poll;
  napi_ref callback;
  napi_async_context async_context;
  uint8_t buf[RECV_BUFFER];
  int idle_error_wakes;
  bool closing;
  bool handle_closed;
  bool finalized;
  napi_async_cleanup_hook_handle cleanup_hook;
} icmp_socket;

static void on_handle_closed(uv_handle_t *handle) {
  icmp_socket *s = handle->data;
  s->handle_closed = true;
  if (s->cleanup_hook != NULL) napi_remove_async_cleanup_hook(s->cleanup_hook);
  s->cleanup_hook = NULL;
  if (s->finalized) free(s);
}

static void begin_close(icmp_socket *s, bool from_js) {
  if (s->closing) return;
  s->closing = true;
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  if (from_js) {
    if (s->callback != NULL) napi_delete_reference(s->env, s->callback);
    s->callback = NULL;
    if (s->async_context != NULL) napi_async_destroy(s->env, s->async_context);
    s->async_context = NULL;
  }
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  begin_close(arg, false);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  icmp_socket *s = data;
  s->finalized = true;
  if (!s->closing) begin_close(s, true);
  else if (s->handle_closed) free(s);
}

static void push(napi_env env, napi_value items, uint32_t *count, napi_value item) {
  napi_set_element(env, items, (*count)++, item);
}

/* One datagram -> `address bytes + ICMP message` (raw IPv4: the IP header skipped), or nothing if malformed. */
static void push_message(icmp_socket *s, napi_value items, uint32_t *count, const struct sockaddr_storage *from, size_t n) {
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
  napi_value b;
  void *data;
  if (napi_create_buffer(s->env, alen + len, &data, &b) != napi_ok) return;
  memcpy(data, addr, alen);
  memcpy((uint8_t *)data + alen, msg, len);
  push(s->env, items, count, b);
}

static bool read_batch(icmp_socket *s, napi_value items, uint32_t *count, bool *fatal) {
  for (int i = 0; i < MAX_READS_PER_WAKE; i++) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof from;
    memset(&from, 0, sizeof from);
    ssize_t n = recvfrom(s->fd, s->buf, RECV_BUFFER, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      if (err == EINTR) continue;
      push(s->env, items, count, lvsd_errno_error(s->env, "recvfrom", err, NULL));
      /* a ping socket reports an ICMP error for an earlier request here; the socket goes on */
      if (err == ENOBUFS || err == EHOSTUNREACH || err == ENETUNREACH || err == ECONNREFUSED || err == EMSGSIZE) continue;
      *fatal = true;
      return false;
    }
    if ((int)from.ss_family != s->family) continue;
    push_message(s, items, count, &from, (size_t)n);
  }
  return false;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  icmp_socket *s = handle->data;
  if (s->closing) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value items;
  napi_create_array(env, &items);
  uint32_t count = 0;
  bool fatal = false;
  if (status < 0) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) push(env, items, &count, lvsd_errno_error(env, "recvfrom", err, NULL));
  }
  read_batch(s, items, &count, &fatal);
  if (status < 0) {
    s->idle_error_wakes = count == 0 ? s->idle_error_wakes + 1 : 0;
    if (s->idle_error_wakes >= MAX_IDLE_ERROR_WAKES) {
      push(env, items, &count, lvsd_errno_error(env, "uv_poll", -status, "socket keeps failing"));
      fatal = true;
    } else if (!fatal) {
      int rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
      if (rc < 0) {
        push(env, items, &count, lvsd_errno_error(env, "uv_poll_start", -rc, NULL));
        fatal = true;
      }
    }
  } else {
    s->idle_error_wakes = 0;
  }
  if (fatal) {
    uv_poll_stop(&s->poll); /* JS sees the error, closes this socket and opens another on the next probe */
    napi_value last, yes;
    if (count > 0 && napi_get_element(env, items, count - 1, &last) == napi_ok) {
      napi_get_boolean(env, true, &yes);
      napi_set_named_property(env, last, "stopped", yes);
    }
  }
  if (count > 0) lvsd_call_js(env, s->callback, s->async_context, 1, &items);
  napi_close_handle_scope(env, scope);
}

static icmp_socket *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    lvsd_throw_type(env, "expected an ICMP socket handle");
    return NULL;
  }
  return data;
}

/* Receive buffer: SO_RCVBUFFORCE (CAP_NET_ADMIN, beyond net.core.rmem_max), else SO_RCVBUF (capped by it). */
static void set_rcvbuf(int fd) {
  int size = RECV_BUFFER_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

/* A ping socket if allowed, else a raw one with an echo-reply-only filter; -errno when neither opens. */
static int open_socket(int family, bool *raw) {
  int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd >= 0) {
    *raw = false;
    set_rcvbuf(fd);
    return fd;
  }
  int first = errno;
  if (first != EACCES && first != EPERM && first != EPROTONOSUPPORT) return -first;
  fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return -errno;
  *raw = true;
  set_rcvbuf(fd);
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
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  icmp_socket *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    lvsd_throw_errno(env, "malloc", ENOMEM, NULL);
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->raw = raw;
  int rc = uv_poll_init(loop, &s->poll, fd);
  if (rc < 0) {
    close(fd);
    free(s);
    lvsd_throw_errno(env, "uv_poll_init", -rc, NULL);
    return NULL;
  }
  s->poll.data = s;
  lvsd_async_init(env, argv[1], "lvsd:IcmpSocket", &s->callback, &s->async_context, env_cleanup, s, &s->cleanup_hook);
  rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  uv_unref((uv_handle_t *)&s->poll); /* idle: JS refs it while probes are under way */
  napi_value handle;
  napi_create_external(env, s, finalize, NULL, &handle);
  if (rc < 0) {
    begin_close(s, true);
    lvsd_throw_errno(env, "uv_poll_start", -rc, NULL);
    return NULL;
  }
  return handle;
}

/* icmpSend(handle, destination: Buffer(4|16), message: Buffer) -> 0, or -errno (never throws for a socket
   condition: ENETUNREACH, EHOSTUNREACH, ENOBUFS, EAGAIN ... are values). */
napi_value lvsd_icmp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  icmp_socket *s = argc < 3 ? NULL : unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  void *dst, *data;
  size_t dlen, len;
  if (!lvsd_arg_buffer(env, argv[1], &dst, &dlen) || !lvsd_arg_buffer(env, argv[2], &data, &len)) return NULL;
  napi_value result;
  if (dlen != (s->family == AF_INET ? 4U : 16U)) {
    lvsd_throw_type(env, "destination address of the wrong family");
    return NULL;
  }
  if (s->closing) {
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
    n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, tlen);
  } while (n < 0 && errno == EINTR);
  napi_create_int32(env, n < 0 ? -errno : 0, &result);
  return result;
}

/* icmpClose(handle): stop reading and close (idempotent). */
napi_value lvsd_icmp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  icmp_socket *s = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(s, true);
  return NULL;
}

/* icmpRef(handle, ref): whether the socket keeps the event loop alive (while probes are under way). */
napi_value lvsd_icmp_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ref;
  icmp_socket *s = argc < 2 ? NULL : unwrap(env, argv[0]);
  if (s == NULL || !lvsd_arg_bool(env, argv[1], &ref)) return NULL;
  if (!s->closing) {
    if (ref) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}
