/*
 * A generic netlink socket (any protocol: NETLINK_ROUTE, NETLINK_GENERIC...) read on the Node event loop
 * with a uv_poll_t. It only moves bytes: messages are built and parsed in TypeScript (src/net/netlink.ts).
 *
 * Nothing here ever throws from a libuv callback. Every condition a netlink socket can report reaches
 * JavaScript as a value in the batch: a datagram is a Buffer, a failure is an Error with `errno` and
 * `syscall` (ENOBUFS: the receive buffer overflowed and messages were lost; EMSGSIZE with `truncated`: a
 * datagram did not fit; with `stopped` set: the socket no longer reads; any other errno: messages may
 * have been lost, the socket goes on). A POLLERR wake (how the kernel signals
 * ENOBUFS) makes libuv stop the poll and report EBADF; we read and clear the socket error (SO_ERROR),
 * hand it over, and poll again, so an overrun is survivable by design. Datagrams not from the kernel
 * (port id 0) are dropped: another local process must not be able to forge replies or events.
 */
#include "netlink_socket.h"

#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define RECV_BUFFER (64 * 1024)   /* a kernel dump part is at most 32 KiB */
#define MAX_READS_PER_WAKE 64     /* then yield to the loop; the rest comes on the next wake */
#define MAX_GROUPS 32
#define BAD_HANDLE "expected a netlink socket handle"

typedef struct nl_socket {
  lvsd_polled h; /* first: the polled socket's plumbing (util.h) */
  uint8_t buf[RECV_BUFFER];
} nl_socket;

/* Reads what is queued (at most MAX_READS_PER_WAKE datagrams) into `b`; returns whether the queue is
   known to be empty (the last read said EAGAIN). Stops at an error the socket cannot go on after (sets
   *stopped). */
static bool read_batch(nl_socket *s, lvsd_batch *b, bool *stopped) {
  napi_env env = s->h.env;
  for (int i = 0; i < MAX_READS_PER_WAKE; i++) {
    struct sockaddr_nl from;
    struct iovec iov = {.iov_base = s->buf, .iov_len = RECV_BUFFER};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    memset(&from, 0, sizeof from);
    ssize_t n = recvmsg(s->h.fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      if (err == EINTR) continue;
      napi_value error = lvsd_errno_error(env, "recvmsg", err, NULL);
      lvsd_batch_push(b, error);
      if (err == ENOBUFS) continue; /* the overflow flag is cleared by reporting it; messages queued remain */
      lvsd_polled_stop(&s->h, error); /* JS sees the error and closes the socket */
      *stopped = true;
      return false;
    }
    if (from.nl_pid != 0) continue; /* only the kernel speaks to us */
    if ((size_t)n > RECV_BUFFER || (msg.msg_flags & MSG_TRUNC)) {
      napi_value e = lvsd_errno_error(env, "recvmsg", EMSGSIZE, "datagram truncated");
      napi_value size;
      napi_create_int64(env, n, &size);
      napi_set_named_property(env, e, "truncated", size);
      lvsd_batch_push(b, e);
      continue;
    }
    napi_value item;
    void *ignored;
    napi_create_buffer_copy(env, (size_t)n, s->buf, &ignored, &item);
    lvsd_batch_push(b, item);
  }
  return false;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  nl_socket *s = handle->data;
  if (s->h.closing) return;
  napi_env env = s->h.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  lvsd_batch b;
  lvsd_batch_init(&b, env);
  bool stopped = false, progress = false, drained = false;
  /* POLLERR (how the kernel signals ENOBUFS): take the pending socket error and go on. No error-queue drain:
     on netlink MSG_ERRQUEUE would read a datagram. */
  if (status < 0) lvsd_batch_push(&b, lvsd_polled_pending_error(&s->h, "recvmsg", false, &progress, &stopped));
  if (!stopped) drained = read_batch(s, &b, &stopped);
  lvsd_batch_push(&b, lvsd_polled_rearm(&s->h, status, b.count > 0, stopped));
  if (b.count > 0) {
    napi_value argv[2];
    argv[0] = b.items;
    napi_get_boolean(env, drained, &argv[1]);
    lvsd_polled_call(&s->h, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

/* nlOpen(protocol, groups: number[], rcvbuf: number, callback(items: Array<Buffer|Error>, drained)) -> handle */
napi_value lvsd_nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "nlOpen(protocol, groups, rcvbuf, callback)");
    return NULL;
  }
  uint32_t protocol, rcvbuf, ngroups = 0;
  uint32_t groups[MAX_GROUPS];
  bool is_array = false;
  napi_valuetype cbt;
  if (!lvsd_arg_u32(env, argv[0], &protocol) || !lvsd_arg_u32(env, argv[2], &rcvbuf)) return NULL;
  napi_is_array(env, argv[1], &is_array);
  napi_typeof(env, argv[3], &cbt);
  if (!is_array || cbt != napi_function) {
    lvsd_throw_type(env, "groups must be an array and callback a function");
    return NULL;
  }
  napi_get_array_length(env, argv[1], &ngroups);
  if (ngroups > MAX_GROUPS) {
    lvsd_throw_type(env, "too many multicast groups");
    return NULL;
  }
  for (uint32_t i = 0; i < ngroups; i++) {
    napi_value g;
    napi_get_element(env, argv[1], i, &g);
    if (!lvsd_arg_u32(env, g, &groups[i])) return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, (int)protocol);
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", errno, "AF_NETLINK");
    return NULL;
  }
  lvsd_set_rcvbuf(fd, (int)rcvbuf);
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    lvsd_throw_errno(env, "bind", err, "AF_NETLINK");
    return NULL;
  }
  for (uint32_t i = 0; i < ngroups; i++) {
    int g = (int)groups[i];
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0) {
      int err = errno;
      close(fd);
      lvsd_throw_errno(env, "setsockopt", err, "NETLINK_ADD_MEMBERSHIP");
      return NULL;
    }
  }
  return lvsd_polled_start(env, calloc(1, sizeof(nl_socket)), fd, argv[3], "lvsd:NetlinkSocket", on_poll, true);
}

/* nlSend(handle, datagram: Buffer) -> bytes sent, or -errno (never throws for a socket condition). */
napi_value lvsd_nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_socket *s = argc < 2 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (s == NULL) return NULL;
  void *data;
  size_t len;
  if (!lvsd_arg_buffer(env, argv[1], &data, &len)) return NULL;
  napi_value result;
  if (s->h.closing) {
    napi_create_int32(env, -EBADF, &result);
    return result;
  }
  struct sockaddr_nl to;
  memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(s->h.fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  napi_create_int64(env, n < 0 ? -(int64_t)errno : (int64_t)n, &result);
  return result;
}

/* nlClose(handle): stop reading and close (idempotent). */
napi_value lvsd_nl_close(napi_env env, napi_callback_info info) {
  return lvsd_polled_close_call(env, info, BAD_HANDLE);
}

/* nlRef(handle, ref): whether an open socket keeps the event loop alive. */
napi_value lvsd_nl_ref(napi_env env, napi_callback_info info) {
  return lvsd_polled_ref_call(env, info, BAD_HANDLE);
}

/* nlInfo(handle) -> { port, rcvbuf }: the port id the kernel gave us and the receive buffer it granted. */
napi_value lvsd_nl_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_socket *s = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (s == NULL) return NULL;
  napi_value out, v;
  napi_create_object(env, &out);
  if (s->h.closing) return out;
  struct sockaddr_nl addr;
  socklen_t alen = sizeof addr;
  memset(&addr, 0, sizeof addr);
  if (getsockname(s->h.fd, (struct sockaddr *)&addr, &alen) == 0) {
    napi_create_uint32(env, addr.nl_pid, &v);
    napi_set_named_property(env, out, "port", v);
  }
  int size = 0;
  socklen_t slen = sizeof size;
  if (getsockopt(s->h.fd, SOL_SOCKET, SO_RCVBUF, &size, &slen) == 0) {
    napi_create_int32(env, size, &v);
    napi_set_named_property(env, out, "rcvbuf", v);
  }
  return out;
}
