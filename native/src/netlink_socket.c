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
#define MAX_IDLE_ERROR_WAKES 16   /* POLLERR wakes in a row with nothing to read and no socket error */

typedef struct nl_socket {
  napi_env env;
  int fd;
  uv_poll_t poll;
  napi_ref callback;
  napi_async_context async_context;
  uint8_t *buf;
  int idle_error_wakes;
  bool closing;
  bool handle_closed;
  bool finalized;
  napi_async_cleanup_hook_handle cleanup_hook;
} nl_socket;

static void on_handle_closed(uv_handle_t *handle) {
  nl_socket *s = handle->data;
  s->handle_closed = true;
  if (s->cleanup_hook != NULL) napi_remove_async_cleanup_hook(s->cleanup_hook);
  s->cleanup_hook = NULL;
  if (s->finalized) {
    free(s->buf);
    free(s);
  }
}

static void begin_close(nl_socket *s, bool from_js) {
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
  nl_socket *s = data;
  s->finalized = true;
  if (!s->closing) begin_close(s, true);
  else if (s->handle_closed) {
    free(s->buf);
    free(s);
  }
}

static void push(napi_env env, napi_value items, uint32_t *count, napi_value item) {
  napi_set_element(env, items, (*count)++, item);
}

/* Reads what is queued (at most MAX_READS_PER_WAKE datagrams) into `items`; returns whether the queue is
   known to be empty (the last read said EAGAIN). Stops at a fatal error (sets *fatal). */
static bool read_batch(nl_socket *s, napi_value items, uint32_t *count, bool *fatal) {
  napi_env env = s->env;
  for (int i = 0; i < MAX_READS_PER_WAKE; i++) {
    struct sockaddr_nl from;
    struct iovec iov = {.iov_base = s->buf, .iov_len = RECV_BUFFER};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    memset(&from, 0, sizeof from);
    ssize_t n = recvmsg(s->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return true;
      if (err == EINTR) continue;
      push(env, items, count, lvsd_errno_error(env, "recvmsg", err, NULL));
      if (err == ENOBUFS) continue; /* the overflow flag is cleared by reporting it; messages queued remain */
      *fatal = true;
      return false;
    }
    if (from.nl_pid != 0) continue; /* only the kernel speaks to us */
    if ((size_t)n > RECV_BUFFER || (msg.msg_flags & MSG_TRUNC)) {
      napi_value e = lvsd_errno_error(env, "recvmsg", EMSGSIZE, "datagram truncated");
      napi_value size;
      napi_create_int64(env, n, &size);
      napi_set_named_property(env, e, "truncated", size);
      push(env, items, count, e);
      continue;
    }
    napi_value b;
    void *ignored;
    napi_create_buffer_copy(env, (size_t)n, s->buf, &ignored, &b);
    push(env, items, count, b);
  }
  return false;
}

static void on_poll(uv_poll_t *handle, int status, int events);

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  nl_socket *s = handle->data;
  if (s->closing) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value items;
  napi_create_array(env, &items);
  uint32_t count = 0;
  bool fatal = false;
  if (status < 0) {
    /* POLLERR: libuv stopped the poll. Take the pending socket error (this clears it) and go on. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) push(env, items, &count, lvsd_errno_error(env, "recvmsg", err, NULL));
  }
  bool drained = read_batch(s, items, &count, &fatal);
  if (status < 0) {
    if (count == 0) s->idle_error_wakes++;
    else s->idle_error_wakes = 0;
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
    uv_poll_stop(&s->poll); /* JS sees the error and closes the socket */
    /* mark the last error as the one that stopped the socket */
    napi_value last, yes;
    if (count > 0 && napi_get_element(env, items, count - 1, &last) == napi_ok) {
      napi_get_boolean(env, true, &yes);
      napi_set_named_property(env, last, "stopped", yes);
    }
  }
  if (count > 0) {
    napi_value argv[2];
    argv[0] = items;
    napi_get_boolean(env, drained, &argv[1]);
    lvsd_call_js(env, s->callback, s->async_context, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

static nl_socket *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    lvsd_throw_type(env, "expected a netlink socket handle");
    return NULL;
  }
  return data;
}

/* Receive buffer: SO_RCVBUFFORCE (CAP_NET_ADMIN, beyond net.core.rmem_max), else SO_RCVBUF (capped). */
static void set_rcvbuf(int fd, int size) {
  if (size <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
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
  set_rcvbuf(fd, (int)rcvbuf);
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
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  nl_socket *s = calloc(1, sizeof *s);
  uint8_t *buf = malloc(RECV_BUFFER);
  if (s == NULL || buf == NULL) {
    free(s);
    free(buf);
    close(fd);
    lvsd_throw_errno(env, "malloc", ENOMEM, NULL);
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->buf = buf;
  int rc = uv_poll_init(loop, &s->poll, fd);
  if (rc < 0) {
    close(fd);
    free(buf);
    free(s);
    lvsd_throw_errno(env, "uv_poll_init", -rc, NULL);
    return NULL;
  }
  s->poll.data = s;
  lvsd_async_init(env, argv[3], "lvsd:NetlinkSocket", &s->callback, &s->async_context, env_cleanup, s, &s->cleanup_hook);
  rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  napi_value handle;
  napi_create_external(env, s, finalize, NULL, &handle);
  if (rc < 0) {
    begin_close(s, true);
    lvsd_throw_errno(env, "uv_poll_start", -rc, NULL);
    return NULL;
  }
  return handle;
}

/* nlSend(handle, datagram: Buffer) -> bytes sent, or -errno (never throws for a socket condition). */
napi_value lvsd_nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_socket *s = argc < 2 ? NULL : unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  void *data;
  size_t len;
  if (!lvsd_arg_buffer(env, argv[1], &data, &len)) return NULL;
  napi_value result;
  if (s->closing) {
    napi_create_int32(env, -EBADF, &result);
    return result;
  }
  struct sockaddr_nl to;
  memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  napi_create_int64(env, n < 0 ? -(int64_t)errno : (int64_t)n, &result);
  return result;
}

/* nlClose(handle): stop reading and close (idempotent). */
napi_value lvsd_nl_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_socket *s = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(s, true);
  return NULL;
}

/* nlRef(handle, ref): whether an open socket keeps the event loop alive. */
napi_value lvsd_nl_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ref;
  nl_socket *s = argc < 2 ? NULL : unwrap(env, argv[0]);
  if (s == NULL || !lvsd_arg_bool(env, argv[1], &ref)) return NULL;
  if (!s->closing) {
    if (ref) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

/* nlInfo(handle) -> { port, rcvbuf }: the port id the kernel gave us and the receive buffer it granted. */
napi_value lvsd_nl_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nl_socket *s = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value out, v;
  napi_create_object(env, &out);
  if (s->closing) return out;
  struct sockaddr_nl addr;
  socklen_t alen = sizeof addr;
  memset(&addr, 0, sizeof addr);
  if (getsockname(s->fd, (struct sockaddr *)&addr, &alen) == 0) {
    napi_create_uint32(env, addr.nl_pid, &v);
    napi_set_named_property(env, out, "port", v);
  }
  int size = 0;
  socklen_t slen = sizeof size;
  if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, &slen) == 0) {
    napi_create_int32(env, size, &v);
    napi_set_named_property(env, out, "rcvbuf", v);
  }
  return out;
}
