/*
 * The VRRP socket: a raw IP socket for protocol 112 (IPv4 or IPv6) bound to one interface, read from the
 * Node event loop with a uv_poll_t (no thread per socket). All protocol logic stays in TypeScript; this
 * file sets socket options and reads datagrams with their TTL / hop limit, addresses and interface;
 * vrrp_send.c sends.
 *
 * Receiving: IPv4 raw sockets deliver the IP header, which we parse for TTL, source and destination and
 * strip. IPv6 raw sockets deliver only the payload; source comes from the sender address, destination and
 * interface from IPV6_PKTINFO, hop limit from IPV6_HOPLIMIT. Each datagram comes with the time the kernel
 * received it (SO_TIMESTAMPNS, given on CLOCK_MONOTONIC), so a thread that was held reads when an advert
 * really came.
 * Sending (vrrp_send.c): we never bind() (a bound raw socket only receives packets addressed to the bound
 * address, which would lose the multicast group).
 * IPv6 checksum: IPV6_CHECKSUM is disabled, the TypeScript codec computes and verifies VRRP checksums.
 * Errors: a socket error (POLLERR; libuv then stops the poll and reports EBADF) is read with SO_ERROR and
 * delivered as a value, the error queue is drained and the poll restarted: a VRRP socket never goes deaf in
 * silence. One that cannot be polled again is reported with `stopped: true`; JavaScript replaces it.
 */
#include "vrrp_socket.h"

#include <errno.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"
#include "vrrp_clock.h"
#include "vrrp_socket_setup.h"

#define MAX_READS_PER_WAKE 64
#define MAX_READS_PER_DRAIN 4096
#define BAD_HANDLE "expected a VRRP socket handle"

typedef struct vrrp_socket {
  lvsd_polled h; /* first: the polled socket's plumbing (util.h) */
  int family;
  unsigned ifindex;
  /* CLOCK_MONOTONIC ns of the last read that found the queue empty (0: never): what is read later arrived after */
  int64_t empty_since;
} vrrp_socket;

static int64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void call_js(vrrp_socket *s, size_t argc, napi_value *argv) {
  lvsd_polled_call(&s->h, argc, argv);
}

static void deliver_error(vrrp_socket *s, const char *syscall, int err) {
  napi_value argv[1];
  argv[0] = lvsd_errno_error(s->h.env, syscall, err, NULL);
  call_js(s, 1, argv);
}

static void deliver_packet(vrrp_socket *s, const uint8_t *payload, size_t len, const void *src, const void *dst,
                           int ttl, unsigned ifindex, double received_ms) {
  napi_env env = s->h.env;
  size_t alen = s->family == AF_INET ? 4 : 16;
  napi_value argv[7];
  void *ignored;
  napi_get_null(env, &argv[0]);
  napi_create_buffer_copy(env, len, payload, &ignored, &argv[1]);
  napi_create_buffer_copy(env, alen, src, &ignored, &argv[2]);
  napi_create_buffer_copy(env, alen, dst, &ignored, &argv[3]);
  napi_create_int32(env, ttl, &argv[4]);
  napi_create_uint32(env, ifindex, &argv[5]);
  napi_create_double(env, received_ms, &argv[6]);
  call_js(s, 7, argv);
}

/*
 * When (CLOCK_MONOTONIC ms) the kernel received a datagram whose SO_TIMESTAMPNS stamp is `stamp`
 * (CLOCK_REALTIME); -1 without a stamp. The two clocks are read together after the recvmsg, so time the
 * thread lost before or after the read shifts both alike and the result is the arrival whatever the
 * scheduler did. Never later than that read, never before the last read that found the queue empty (the
 * datagram came after it, whatever a step of the wall clock says).
 */
static double received_at(const vrrp_socket *s, const struct timespec *stamp) {
  if (stamp == NULL) return -1;
  int64_t real = clock_ns(CLOCK_REALTIME), mono = clock_ns(CLOCK_MONOTONIC);
  int64_t age = real - ((int64_t)stamp->tv_sec * 1000000000 + stamp->tv_nsec);
  if (age < 0) age = 0;
  int64_t at = mono - age;
  if (at < s->empty_since) at = s->empty_since;
  return (double)at / 1e6;
}

/* Read one datagram; returns false when there is nothing more to read (or the read failed). */
static bool read_one(vrrp_socket *s, bool *progress) {
  uint8_t buf[65536];
  union {
    struct cmsghdr align;
    uint8_t bytes[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct timespec)) + 64];
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
  int64_t before = clock_ns(CLOCK_MONOTONIC); /* what a read that finds nothing proves: empty then */
  ssize_t n = recvmsg(s->h.fd, &msg, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s->empty_since = before;
      return false;
    }
    if (errno == EINTR) return true;
    *progress = true;
    deliver_error(s, "recvmsg", errno);
    return false;
  }
  *progress = true;
  unsigned ifindex = 0;
  struct timespec stamp_buf, *stamp = NULL;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof stamp_buf)) {
      memcpy(&stamp_buf, CMSG_DATA(c), sizeof stamp_buf);
      stamp = &stamp_buf;
    }
  }
  double received = received_at(s, stamp);
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
    deliver_packet(s, buf + ihl, (size_t)n - ihl, buf + 12, buf + 16, buf[8], ifindex, received);
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
    deliver_packet(s, buf, (size_t)n, &sin6->sin6_addr, &dst, hops, ifindex, received);
  }
  return true;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  vrrp_socket *s = handle->data;
  if (s->h.closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->h.env, &scope) != napi_ok) return;
  bool progress = false, stopped = false;
  if (status < 0) {
    /* POLLERR: the socket is fine: take its pending error, drop what waits in the error queue, deliver the
       error as a value, read, and poll again. Left stopped, the socket would hear no advert again and a
       backup would make itself master. */
    napi_value error = lvsd_polled_pending_error(&s->h, "recvmsg", true, &progress, &stopped);
    if (error != NULL) call_js(s, 1, &error);
  }
  for (int i = 0; i < MAX_READS_PER_WAKE && !stopped && !s->h.closing; i++) {
    napi_handle_scope inner;
    napi_open_handle_scope(s->h.env, &inner);
    bool more = read_one(s, &progress);
    napi_close_handle_scope(s->h.env, inner);
    if (!more) break;
  }
  napi_value error = lvsd_polled_rearm(&s->h, status, progress, stopped);
  if (error != NULL) call_js(s, 1, &error);
  napi_close_handle_scope(s->h.env, scope);
}

/*
 * vrrpOpen(family: 4 | 6, ifname: string, multicast: boolean, callback, fd?: number) -> handle
 * With `fd` (a socket vrrpListen opened, with the same family, interface and multicast), that socket is
 * polled from now on, with what it queued meanwhile; it is checked to be a raw VRRP socket on `ifname` first.
 */
napi_value lvsd_vrrp_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "vrrpOpen(family, ifname, multicast, callback, fd?)");
    return NULL;
  }
  int family;
  bool multicast;
  unsigned ifindex;
  char ifname[IF_NAMESIZE];
  napi_valuetype cbt, fdt = napi_undefined;
  if (!lvsd_vrrp_socket_args(env, argv, &family, ifname, sizeof ifname, &ifindex, &multicast)) return NULL;
  napi_typeof(env, argv[3], &cbt);
  if (cbt != napi_function) {
    lvsd_throw_type(env, "callback must be a function");
    return NULL;
  }
  if (argc >= 5) napi_typeof(env, argv[4], &fdt);
  int fd;
  if (fdt == napi_undefined || fdt == napi_null) {
    fd = lvsd_vrrp_new_socket(env, family, ifname, ifindex, multicast);
    if (fd < 0) return NULL;
  } else {
    int32_t given;
    if (napi_get_value_int32(env, argv[4], &given) != napi_ok) {
      lvsd_throw_type(env, "fd must be a number");
      return NULL;
    }
    if (!lvsd_is_vrrp_socket(env, given, family, ifname)) return NULL;
    fd = given;
  }
  vrrp_socket *s = calloc(1, sizeof *s);
  if (s != NULL) {
    s->family = family;
    s->ifindex = ifindex;
    /* a socket opened here has queued nothing yet; one adopted may hold adverts from before */
    if (fdt == napi_undefined || fdt == napi_null) s->empty_since = clock_ns(CLOCK_MONOTONIC);
  }
  /* the advert clock lets go of the socket before its fd closes, however it closes */
  if (s != NULL) s->h.before_close = lvsd_advert_forget;
  return lvsd_polled_start(env, (lvsd_polled *)s, fd, argv[3], "lvsd:VrrpSocket", on_poll, true);
}

/*
 * vrrpListen(family: 4 | 6, ifname: string, multicast: boolean) -> fd
 * A VRRP socket as vrrpOpen makes it, not polled: the kernel queues what arrives until vrrpOpen adopts it
 * (`lvsd run` opens its instances' sockets at exec, before the VRRP thread runs: src/vrrp/early-listen.ts).
 * Its receive buffer is 1 MiB where the kernel allows, so seconds of adverts from many virtual routers fit.
 */
napi_value lvsd_vrrp_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    lvsd_throw_type(env, "vrrpListen(family, ifname, multicast)");
    return NULL;
  }
  int family;
  bool multicast;
  unsigned ifindex;
  char ifname[IF_NAMESIZE];
  if (!lvsd_vrrp_socket_args(env, argv, &family, ifname, sizeof ifname, &ifindex, &multicast)) return NULL;
  int fd = lvsd_vrrp_new_socket(env, family, ifname, ifindex, multicast);
  if (fd < 0) return NULL;
  lvsd_set_rcvbuf(fd, 1 << 20);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/*
 * vrrpDrain(handle) -> drops
 * Reads every datagram queued now, delivering each to the callback before returning (as a poll wake
 * would), and returns how many the kernel dropped on this socket since it was opened (a full receive
 * queue), or -1 when that cannot be read. What the runner needs before it starts a Master_Down timer that
 * runs from the moment the socket was opened: every advert heard since, or the knowledge that some were lost.
 */
napi_value lvsd_vrrp_drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  vrrp_socket *s = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (s == NULL) return NULL;
  if (s->h.closing) {
    lvsd_throw_errno(env, "recvmsg", EBADF, "socket is closed");
    return NULL;
  }
  bool progress = false;
  for (int i = 0; i < MAX_READS_PER_DRAIN && !s->h.closing; i++) {
    napi_handle_scope inner;
    napi_open_handle_scope(env, &inner);
    bool more = read_one(s, &progress);
    napi_close_handle_scope(env, inner);
    if (!more) break;
  }
  int64_t drops = -1;
  uint32_t meminfo[SK_MEMINFO_VARS];
  socklen_t len = sizeof meminfo;
  if (!s->h.closing && getsockopt(s->h.fd, SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 &&
      len >= (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
    drops = meminfo[SK_MEMINFO_DROPS];
  /* a queue still not empty after MAX_READS_PER_DRAIN reads: not everything was heard */
  if (drops >= 0 && !s->h.closing) {
    int pending = 0;
    if (ioctl(s->h.fd, FIONREAD, &pending) == 0 && pending > 0) drops = -1;
  }
  napi_value result;
  napi_create_int64(env, drops, &result);
  return result;
}

bool lvsd_vrrp_socket_get(napi_env env, napi_value handle, lvsd_vrrp_target *out) {
  vrrp_socket *s = lvsd_unwrap(env, handle, BAD_HANDLE);
  if (s == NULL) return false;
  if (s->h.closing) {
    lvsd_throw_errno(env, "sendmsg", EBADF, "socket is closed");
    return false;
  }
  out->owner = &s->h;
  out->fd = s->h.fd;
  out->family = s->family;
  out->ifindex = s->ifindex;
  return true;
}

/* vrrpClose(handle): stop reading and close the fd (idempotent). */
napi_value lvsd_vrrp_close(napi_env env, napi_callback_info info) {
  return lvsd_polled_close_call(env, info, BAD_HANDLE);
}

/* vrrpRef(handle, ref: boolean): whether an open socket keeps the event loop alive. */
napi_value lvsd_vrrp_ref(napi_env env, napi_callback_info info) {
  return lvsd_polled_ref_call(env, info, BAD_HANDLE);
}
