/*
 * The VRRP socket: a raw IP socket for protocol 112 (IPv4 or IPv6) bound to one interface, read from the
 * Node event loop with a uv_poll_t (no thread per socket). All protocol logic stays in TypeScript; this
 * file sets socket options, reads datagrams with their TTL / hop limit, addresses and interface, and sends.
 *
 * Receiving: IPv4 raw sockets deliver the IP header, which we parse for TTL, source and destination and
 * strip. IPv6 raw sockets deliver only the payload; source comes from the sender address, destination and
 * interface from IPV6_PKTINFO, hop limit from IPV6_HOPLIMIT.
 * Sending: we never bind() (a bound raw socket only receives packets addressed to the bound address, which
 * would lose the multicast group); a chosen source address goes in an IP_PKTINFO / IPV6_PKTINFO cmsg.
 * IPv6 checksum: IPV6_CHECKSUM is disabled, the TypeScript codec computes and verifies VRRP checksums.
 * Errors: a socket error (POLLERR; libuv then stops the poll and reports EBADF) is read with SO_ERROR and
 * delivered as a value, the error queue is drained and the poll restarted: a VRRP socket never goes deaf in
 * silence. One that cannot be polled again is reported with `stopped: true`; JavaScript replaces it.
 */
#include "vrrp_socket.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"

#define VRRP_PROTO 112
#define MAX_READS_PER_WAKE 64
#define MAX_IDLE_ERROR_WAKES 16 /* POLLERR wakes in a row with no error, nothing queued and nothing read */

typedef struct vrrp_socket {
  napi_env env;
  int fd;
  int family;
  unsigned ifindex;
  uv_poll_t poll;
  napi_ref callback;
  napi_async_context async_context;
  bool closing;        /* close requested (by JS, GC or env teardown) */
  bool handle_closed;  /* uv_close callback ran */
  bool finalized;      /* the JS External is gone */
  int idle_error_wakes;
  /* Registered while the uv handle is alive: Node waits for it at environment teardown (a worker
     thread ending), so the close callback never runs after the addon is unloaded. */
  napi_async_cleanup_hook_handle cleanup_hook;
} vrrp_socket;

static void on_handle_closed(uv_handle_t *handle) {
  vrrp_socket *s = handle->data;
  s->handle_closed = true;
  if (s->cleanup_hook != NULL) napi_remove_async_cleanup_hook(s->cleanup_hook);
  s->cleanup_hook = NULL;
  if (s->finalized) free(s);
}

/* Stop polling and close; `from_js` says JS state (references, async context) may still be released. */
static void begin_close(vrrp_socket *s, bool from_js) {
  if (s->closing) return;
  s->closing = true;
  /* Once polling stopped the fd can go at once, even if the loop never runs the close callback again
     (a worker thread being torn down). */
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

/* Environment teardown: close; on_handle_closed then tells Node we are done. */
static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle; /* the same handle we registered, removed in on_handle_closed */
  vrrp_socket *s = arg;
  begin_close(s, false);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  vrrp_socket *s = data;
  s->finalized = true;
  if (!s->closing) begin_close(s, true);
  else if (s->handle_closed) free(s);
}

static void call_js(vrrp_socket *s, size_t argc, napi_value *argv) {
  lvsd_call_js(s->env, s->callback, s->async_context, argc, argv);
}

static void deliver_error(vrrp_socket *s, const char *syscall, int err) {
  napi_value argv[1];
  argv[0] = lvsd_errno_error(s->env, syscall, err, NULL);
  call_js(s, 1, argv);
}

static void deliver_packet(vrrp_socket *s, const uint8_t *payload, size_t len, const void *src, const void *dst,
                           int ttl, unsigned ifindex) {
  napi_env env = s->env;
  size_t alen = s->family == AF_INET ? 4 : 16;
  napi_value argv[6];
  void *ignored;
  napi_get_null(env, &argv[0]);
  napi_create_buffer_copy(env, len, payload, &ignored, &argv[1]);
  napi_create_buffer_copy(env, alen, src, &ignored, &argv[2]);
  napi_create_buffer_copy(env, alen, dst, &ignored, &argv[3]);
  napi_create_int32(env, ttl, &argv[4]);
  napi_create_uint32(env, ifindex, &argv[5]);
  call_js(s, 6, argv);
}

/* Read one datagram; returns false when there is nothing more to read (or the read failed). */
static bool read_one(vrrp_socket *s, bool *progress) {
  uint8_t buf[65536];
  union {
    struct cmsghdr align;
    uint8_t bytes[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + 64];
  } control;
  struct sockaddr_storage from;
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
  struct msghdr msg = {
      .msg_name = &from,
      .msg_namelen = sizeof from,
      .msg_iov = &iov,
      .msg_iovlen = 1,
      .msg_control = control.bytes,
      .msg_controllen = sizeof control.bytes,
  };
  ssize_t n = recvmsg(s->fd, &msg, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == EINTR) return true;
    *progress = true;
    deliver_error(s, "recvmsg", errno);
    return false;
  }
  *progress = true;
  unsigned ifindex = 0;
  if (s->family == AF_INET) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo info;
        memcpy(&info, CMSG_DATA(c), sizeof info);
        ifindex = (unsigned)info.ipi_ifindex;
      }
    }
    if (n < 20) return true; /* not even an IP header: drop */
    size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
    if (ihl < 20 || (size_t)n < ihl) return true;
    deliver_packet(s, buf + ihl, (size_t)n - ihl, buf + 12, buf + 16, buf[8], ifindex);
  } else {
    struct in6_addr dst;
    memset(&dst, 0, sizeof dst);
    int hops = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IPV6) continue;
      if (c->cmsg_type == IPV6_PKTINFO) {
        struct in6_pktinfo info;
        memcpy(&info, CMSG_DATA(c), sizeof info);
        ifindex = info.ipi6_ifindex;
        dst = info.ipi6_addr;
      } else if (c->cmsg_type == IPV6_HOPLIMIT) {
        memcpy(&hops, CMSG_DATA(c), sizeof hops);
      }
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&from;
    deliver_packet(s, buf, (size_t)n, &sin6->sin6_addr, &dst, hops, ifindex);
  }
  return true;
}

/* Drain the error queue (entries only exist if someone set IP_RECVERR / IPV6_RECVERR on the socket; while one
   is queued the socket stays readable-with-error and a restarted poll would wake at once again). */
static int drain_error_queue(vrrp_socket *s) {
  uint8_t buf[512];
  uint8_t control[512];
  int drained = 0;
  for (int i = 0; i < MAX_READS_PER_WAKE; i++) {
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(s->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    drained++;
  }
  return drained;
}

/* The socket cannot be read again: stop polling and hand JavaScript the error marked `stopped` (it opens a
   new socket). */
static void stop_broken(vrrp_socket *s, napi_value error) {
  uv_poll_stop(&s->poll);
  napi_value yes;
  napi_get_boolean(s->env, true, &yes);
  napi_set_named_property(s->env, error, "stopped", yes);
  call_js(s, 1, &error);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  vrrp_socket *s = handle->data;
  if (s->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  bool progress = false;
  if (status < 0) {
    /* POLLERR: libuv stopped the poll and reports EBADF. The socket is fine: take its pending error (this
       clears it), drop what waits in the error queue, deliver the error as a value, read, and poll again.
       Left stopped, the socket would hear no advert again and a backup would make itself master. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
      /* not a socket any more (EBADF, ENOTSOCK): polling it again would make libuv abort in epoll_ctl */
      stop_broken(s, lvsd_errno_error(s->env, "getsockopt", errno, "SO_ERROR"));
      napi_close_handle_scope(s->env, scope);
      return;
    }
    if (drain_error_queue(s) > 0) progress = true;
    if (err != 0) {
      progress = true;
      deliver_error(s, "recvmsg", err);
    }
  }
  for (int i = 0; i < MAX_READS_PER_WAKE && !s->closing; i++) {
    napi_handle_scope inner;
    napi_open_handle_scope(s->env, &inner);
    bool more = read_one(s, &progress);
    napi_close_handle_scope(s->env, inner);
    if (!more) break;
  }
  if (status < 0 && !s->closing) {
    s->idle_error_wakes = progress ? 0 : s->idle_error_wakes + 1;
    int rc = 0;
    if (s->idle_error_wakes < MAX_IDLE_ERROR_WAKES) rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (s->idle_error_wakes >= MAX_IDLE_ERROR_WAKES || rc < 0) {
      /* Cannot be brought back: say so (JavaScript opens a new socket), never carry on deaf in silence. */
      stop_broken(s, rc < 0 ? lvsd_errno_error(s->env, "uv_poll_start", -rc, NULL)
                            : lvsd_errno_error(s->env, "uv_poll", -status, "socket keeps failing"));
    }
  } else if (status >= 0) {
    s->idle_error_wakes = 0;
  }
  napi_close_handle_scope(s->env, scope);
}

/* Set the options of a fresh socket; returns false after throwing. */
static bool configure(napi_env env, int fd, int family, const char *ifname, unsigned ifindex, bool multicast) {
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) {
    lvsd_throw_errno(env, "setsockopt", errno, "SO_BINDTODEVICE");
    return false;
  }
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

static vrrp_socket *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    lvsd_throw_type(env, "expected a VRRP socket handle");
    return NULL;
  }
  return data;
}

/* vrrpOpen(family: 4 | 6, ifname: string, multicast: boolean, callback) -> handle */
napi_value lvsd_vrrp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "vrrpOpen(family, ifname, multicast, callback)");
    return NULL;
  }
  uint32_t fam;
  bool multicast;
  char ifname[IF_NAMESIZE];
  napi_valuetype cbt;
  if (!lvsd_arg_u32(env, argv[0], &fam) || !lvsd_arg_ifname(env, argv[1], ifname, sizeof ifname) ||
      !lvsd_arg_bool(env, argv[2], &multicast))
    return NULL;
  napi_typeof(env, argv[3], &cbt);
  if ((fam != 4 && fam != 6) || cbt != napi_function) {
    lvsd_throw_type(env, "family must be 4 or 6 and callback a function");
    return NULL;
  }
  int family = fam == 4 ? AF_INET : AF_INET6;
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    lvsd_throw_errno(env, "if_nametoindex", errno, ifname);
    return NULL;
  }
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, VRRP_PROTO);
  if (fd < 0) {
    lvsd_throw_errno(env, "socket", errno, family == AF_INET ? "AF_INET raw 112" : "AF_INET6 raw 112");
    return NULL;
  }
  if (!configure(env, fd, family, ifname, ifindex, multicast)) {
    close(fd);
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  vrrp_socket *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->ifindex = ifindex;
  int rc = uv_poll_init(loop, &s->poll, fd);
  if (rc < 0) {
    close(fd);
    free(s);
    lvsd_throw_errno(env, "uv_poll_init", -rc, NULL);
    return NULL;
  }
  s->poll.data = s;
  lvsd_async_init(env, argv[3], "lvsd:VrrpSocket", &s->callback, &s->async_context, env_cleanup, s, &s->cleanup_hook);
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

/* vrrpSend(handle, payload: Buffer, destination: Buffer(4|16), source: Buffer | null) -> bytes sent */
napi_value lvsd_vrrp_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "vrrpSend(handle, payload, destination, source)");
    return NULL;
  }
  vrrp_socket *s = unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closing) {
    lvsd_throw_errno(env, "sendmsg", EBADF, "socket is closed");
    return NULL;
  }
  void *payload, *dest, *source;
  size_t plen, alen = s->family == AF_INET ? 4 : 16;
  if (!lvsd_arg_buffer(env, argv[1], &payload, &plen) || !lvsd_arg_opt_address(env, argv[2], alen, &dest) ||
      !lvsd_arg_opt_address(env, argv[3], alen, &source))
    return NULL;
  if (dest == NULL) {
    lvsd_throw_type(env, "destination is required");
    return NULL;
  }
  struct sockaddr_in sin;
  struct sockaddr_in6 sin6;
  union {
    struct cmsghdr align;
    uint8_t bytes[CMSG_SPACE(sizeof(struct in6_pktinfo))];
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = payload, .iov_len = plen};
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (s->family == AF_INET) {
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    memcpy(&sin.sin_addr, dest, 4);
    msg.msg_name = &sin;
    msg.msg_namelen = sizeof sin;
    if (source != NULL) {
      msg.msg_control = control.bytes;
      msg.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      struct in_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      pi.ipi_ifindex = (int)s->ifindex;
      memcpy(&pi.ipi_spec_dst, source, 4);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  } else {
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    memcpy(&sin6.sin6_addr, dest, 16);
    sin6.sin6_scope_id = s->ifindex;
    msg.msg_name = &sin6;
    msg.msg_namelen = sizeof sin6;
    if (source != NULL) {
      msg.msg_control = control.bytes;
      msg.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
      struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      pi.ipi6_ifindex = s->ifindex;
      memcpy(&pi.ipi6_addr, source, 16);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
  }
  ssize_t n = sendmsg(s->fd, &msg, MSG_DONTWAIT);
  if (n < 0) {
    lvsd_throw_errno(env, "sendmsg", errno, NULL);
    return NULL;
  }
  napi_value result;
  napi_create_int64(env, n, &result);
  return result;
}

/* vrrpClose(handle): stop reading and close the fd (idempotent). */
napi_value lvsd_vrrp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  vrrp_socket *s = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (s == NULL) return NULL;
  begin_close(s, true);
  return NULL;
}

/* vrrpRef(handle, ref: boolean): whether an open socket keeps the event loop alive. */
napi_value lvsd_vrrp_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ref;
  vrrp_socket *s = argc < 2 ? NULL : unwrap(env, argv[0]);
  if (s == NULL || !lvsd_arg_bool(env, argv[1], &ref)) return NULL;
  if (!s->closing) {
    if (ref) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}
