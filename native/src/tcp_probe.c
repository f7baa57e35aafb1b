/*
 * TCP connect probes without a JavaScript socket each: the health checker's hot path at thousands of
 * real servers a second. One prober owns an epoll set read from the Node event loop (a uv_poll_t on the
 * epoll fd) and a uv timer for deadlines. A probe is a non-blocking socket and connect(); when the socket
 * turns writable (connected) or reports an error, or its deadline passes, the socket is closed and the
 * outcome queued. The outcomes gathered in one wake-up reach JavaScript in one call, as a Float64Array of
 * [id, errno, latency in microseconds] triples (errno 0 = connected, ETIMEDOUT = the deadline passed).
 *
 * Nothing is decided here: what to probe, when, and what an outcome means is src/health's business.
 * Deadlines live in a binary min-heap indexed by slot, so cancelling or completing a probe is O(log n)
 * and the timer is re-armed only when the earliest deadline changes.
 */
#include "tcp_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "util.h"

#define MAX_EVENTS 256
#define NO_HEAP UINT32_MAX

typedef struct probe_slot {
  int fd;            /* -1: free */
  uint32_t heap_pos; /* index in the deadline heap, NO_HEAP when not in it */
  uint64_t start_ns;
  uint64_t deadline_ns;
} probe_slot;

typedef struct tcp_prober {
  napi_env env;
  int epfd;
  uv_poll_t poll;
  uv_timer_t timer;
  uint64_t armed_ns; /* deadline the timer is armed for; 0 = not armed */
  napi_ref callback;
  napi_async_context async_context;
  probe_slot *slots;
  uint32_t nslots; /* slots ever used (high-water mark) */
  uint32_t cap;
  uint32_t *free_ids;
  uint32_t nfree;
  uint32_t *heap; /* slot ids ordered by deadline */
  uint32_t heap_n;
  double *out; /* outcome triples waiting for delivery */
  uint32_t out_n;
  uint32_t out_cap;
  uint32_t *done; /* slots whose outcome is queued: freed after delivery */
  uint32_t done_n;
  bool delivering;
  bool closing;
  int handles_open; /* uv handles not yet closed (poll, timer) */
  bool finalized;
  napi_async_cleanup_hook_handle cleanup_hook;
} tcp_prober;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- the deadline heap ---- */

static bool earlier(tcp_prober *p, uint32_t a, uint32_t b) {
  return p->slots[p->heap[a]].deadline_ns < p->slots[p->heap[b]].deadline_ns;
}

static void heap_swap(tcp_prober *p, uint32_t a, uint32_t b) {
  uint32_t t = p->heap[a];
  p->heap[a] = p->heap[b];
  p->heap[b] = t;
  p->slots[p->heap[a]].heap_pos = a;
  p->slots[p->heap[b]].heap_pos = b;
}

static void heap_up(tcp_prober *p, uint32_t i) {
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!earlier(p, i, parent)) break;
    heap_swap(p, i, parent);
    i = parent;
  }
}

static void heap_down(tcp_prober *p, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < p->heap_n && earlier(p, l, m)) m = l;
    if (r < p->heap_n && earlier(p, r, m)) m = r;
    if (m == i) return;
    heap_swap(p, i, m);
    i = m;
  }
}

static void heap_push(tcp_prober *p, uint32_t id) {
  uint32_t i = p->heap_n++;
  p->heap[i] = id;
  p->slots[id].heap_pos = i;
  heap_up(p, i);
}

static void heap_remove(tcp_prober *p, uint32_t id) {
  uint32_t i = p->slots[id].heap_pos;
  if (i == NO_HEAP) return;
  p->slots[id].heap_pos = NO_HEAP;
  uint32_t last = --p->heap_n;
  if (i == last) return;
  p->heap[i] = p->heap[last];
  p->slots[p->heap[i]].heap_pos = i;
  heap_down(p, i);
  heap_up(p, i);
}

/* ---- delivery ---- */

static void call_js(tcp_prober *p, size_t argc, napi_value *argv) {
  napi_env env = p->env;
  napi_value cb, recv, result;
  if (p->callback == NULL || napi_get_reference_value(env, p->callback, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv);
  napi_make_callback(env, p->async_context, recv, cb, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void release_slot(tcp_prober *p, uint32_t id) {
  p->slots[id].fd = -1;
  p->slots[id].heap_pos = NO_HEAP;
  p->free_ids[p->nfree++] = id;
}

/* Close the probe's socket and queue its outcome; the slot is freed once JavaScript has it. */
static void finish(tcp_prober *p, uint32_t id, int err, uint64_t at) {
  probe_slot *s = &p->slots[id];
  if (s->fd < 0) return;
  heap_remove(p, id);
  close(s->fd);
  s->fd = -2; /* done, outcome queued */
  double *o = &p->out[3 * p->out_n++];
  o[0] = (double)id;
  o[1] = (double)err;
  o[2] = (double)(at - s->start_ns) / 1000.0;
  p->done[p->done_n++] = id;
}

static void deliver(tcp_prober *p) {
  if (p->out_n == 0 || p->delivering) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  size_t n = (size_t)p->out_n * 3;
  void *data;
  napi_value ab, arr;
  napi_create_arraybuffer(env, n * sizeof(double), &data, &ab);
  memcpy(data, p->out, n * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, n, ab, 0, &arr);
  p->out_n = 0;
  /* the ids stay taken until JavaScript has seen them, so a probe started from the callback cannot reuse one */
  uint32_t done_n = p->done_n;
  p->done_n = 0;
  uint32_t *done = malloc(sizeof(uint32_t) * (done_n ? done_n : 1));
  if (done != NULL) memcpy(done, p->done, sizeof(uint32_t) * done_n);
  p->delivering = true;
  call_js(p, 1, &arr);
  p->delivering = false;
  if (done != NULL) {
    for (uint32_t i = 0; i < done_n; i++) release_slot(p, done[i]);
    free(done);
  }
  napi_close_handle_scope(env, scope);
}

static void on_timer(uv_timer_t *t);

/* Arm the timer for the earliest deadline, if that is earlier than (or different from) what it is armed for. */
static void arm(tcp_prober *p) {
  if (p->closing) return;
  if (p->heap_n == 0) {
    if (p->armed_ns != 0) uv_timer_stop(&p->timer);
    p->armed_ns = 0;
    return;
  }
  uint64_t first = p->slots[p->heap[0]].deadline_ns;
  if (p->armed_ns != 0 && p->armed_ns <= first) return; /* fires first anyway; re-armed then */
  uint64_t now = now_ns();
  uint64_t ms = first > now ? (first - now + 999999) / 1000000 : 0;
  uv_timer_start(&p->timer, on_timer, ms, 0);
  p->armed_ns = first;
}

static void expire(tcp_prober *p) {
  uint64_t now = now_ns();
  while (p->heap_n > 0 && p->slots[p->heap[0]].deadline_ns <= now) finish(p, p->heap[0], ETIMEDOUT, now);
}

static void on_timer(uv_timer_t *t) {
  tcp_prober *p = t->data;
  p->armed_ns = 0;
  expire(p);
  deliver(p);
  arm(p);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  tcp_prober *p = handle->data;
  if (status < 0 || p->closing) return;
  struct epoll_event ev[MAX_EVENTS];
  for (int round = 0; round < 16; round++) {
    int k = epoll_wait(p->epfd, ev, MAX_EVENTS, 0);
    if (k <= 0) break;
    uint64_t at = now_ns();
    for (int i = 0; i < k; i++) {
      uint32_t id = ev[i].data.u32;
      if (id >= p->nslots || p->slots[id].fd < 0) continue;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(p->slots[id].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err == 0 && (ev[i].events & (EPOLLERR | EPOLLHUP))) err = ECONNRESET;
      finish(p, id, err, at);
    }
    if (k < MAX_EVENTS) break;
  }
  expire(p);
  deliver(p);
  arm(p);
}

/* ---- lifetime ---- */

static void free_prober(tcp_prober *p) {
  free(p->slots);
  free(p->free_ids);
  free(p->heap);
  free(p->out);
  free(p->done);
  free(p);
}

static void on_handle_closed(uv_handle_t *handle) {
  tcp_prober *p = handle->data;
  if (--p->handles_open > 0) return;
  if (p->cleanup_hook != NULL) napi_remove_async_cleanup_hook(p->cleanup_hook);
  p->cleanup_hook = NULL;
  if (p->finalized) free_prober(p);
}

static void begin_close(tcp_prober *p, bool from_js) {
  if (p->closing) return;
  p->closing = true;
  uv_poll_stop(&p->poll);
  uv_timer_stop(&p->timer);
  for (uint32_t i = 0; i < p->nslots; i++) {
    if (p->slots[i].fd >= 0) close(p->slots[i].fd);
    p->slots[i].fd = -1;
  }
  p->heap_n = 0;
  p->out_n = 0;
  close(p->epfd);
  p->epfd = -1;
  if (from_js) {
    if (p->callback != NULL) napi_delete_reference(p->env, p->callback);
    p->callback = NULL;
    if (p->async_context != NULL) napi_async_destroy(p->env, p->async_context);
    p->async_context = NULL;
  }
  uv_close((uv_handle_t *)&p->poll, on_handle_closed);
  uv_close((uv_handle_t *)&p->timer, on_handle_closed);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  begin_close(arg, false);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tcp_prober *p = data;
  p->finalized = true;
  if (!p->closing) begin_close(p, true);
  else if (p->handles_open == 0) free_prober(p);
}

static tcp_prober *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    lvsd_throw_type(env, "expected a TCP prober handle");
    return NULL;
  }
  return data;
}

/* Make room for one more slot; false when out of memory. */
static bool grow(tcp_prober *p) {
  if (p->nfree > 0 || p->nslots < p->cap) return true;
  uint32_t cap = p->cap ? p->cap * 2 : 256;
  probe_slot *slots = realloc(p->slots, sizeof *slots * cap);
  if (slots == NULL) return false;
  p->slots = slots;
  uint32_t *f = realloc(p->free_ids, sizeof *f * cap), *h = NULL, *d = NULL;
  if (f != NULL) p->free_ids = f;
  if (f != NULL) h = realloc(p->heap, sizeof *h * cap);
  if (h != NULL) p->heap = h;
  if (h != NULL) d = realloc(p->done, sizeof *d * cap);
  if (d != NULL) p->done = d;
  double *o = d != NULL ? realloc(p->out, sizeof *o * 3 * cap) : NULL;
  if (o == NULL) return false;
  p->out = o;
  p->cap = cap;
  return true;
}

/* tcpProberOpen(callback(outcomes: Float64Array)) -> handle */
napi_value lvsd_tcp_prober_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype cbt = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &cbt);
  if (cbt != napi_function) {
    lvsd_throw_type(env, "tcpProberOpen(callback)");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    lvsd_throw_errno(env, "epoll_create1", errno, NULL);
    return NULL;
  }
  tcp_prober *p = calloc(1, sizeof *p);
  if (p == NULL || !grow(p)) {
    if (p != NULL) free_prober(p);
    close(epfd);
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  p->env = env;
  p->epfd = epfd;
  int rc = uv_poll_init(loop, &p->poll, epfd);
  if (rc < 0) {
    close(epfd);
    free_prober(p);
    lvsd_throw_errno(env, "uv_poll_init", -rc, NULL);
    return NULL;
  }
  p->poll.data = p;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->handles_open = 2;
  napi_create_reference(env, argv[0], 1, &p->callback);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "lvsd:TcpProber", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &p->async_context);
  napi_add_async_cleanup_hook(env, env_cleanup, p, &p->cleanup_hook);
  rc = uv_poll_start(&p->poll, UV_READABLE, on_poll);
  napi_value handle;
  napi_create_external(env, p, finalize, NULL, &handle);
  if (rc < 0) {
    begin_close(p, true);
    lvsd_throw_errno(env, "uv_poll_start", -rc, NULL);
    return NULL;
  }
  return handle;
}

/*
 * tcpProbe(handle, address: Buffer(4|16), port, timeoutMs) -> number
 *   >= 0: the probe is under way with this id (its outcome comes through the callback);
 *   -1: connected at once (loopback can); < -1: failed at once with errno -(n + 1).
 */
napi_value lvsd_tcp_probe(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "tcpProbe(handle, address, port, timeoutMs)");
    return NULL;
  }
  tcp_prober *p = unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  void *addr;
  size_t alen;
  uint32_t port, timeout_ms;
  if (!lvsd_arg_buffer(env, argv[1], &addr, &alen) || !lvsd_arg_u32(env, argv[2], &port) ||
      !lvsd_arg_u32(env, argv[3], &timeout_ms))
    return NULL;
  if ((alen != 4 && alen != 16) || port == 0 || port > 65535) {
    lvsd_throw_type(env, "address must be 4 or 16 bytes and port 1..65535");
    return NULL;
  }
  napi_value result;
  if (p->closing) {
    napi_create_int32(env, -1 - EBADF, &result);
    return result;
  }
  struct sockaddr_storage sa;
  socklen_t salen;
  memset(&sa, 0, sizeof sa);
  if (alen == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&sa;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    memcpy(&sin->sin_addr, addr, 4);
    salen = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    memcpy(&sin6->sin6_addr, addr, 16);
    salen = sizeof *sin6;
  }
  uint64_t start = now_ns();
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    napi_create_int32(env, -1 - errno, &result);
    return result;
  }
  if (connect(fd, (struct sockaddr *)&sa, salen) == 0) {
    close(fd);
    napi_create_int32(env, -1, &result);
    return result;
  }
  if (errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    napi_create_int32(env, -1 - err, &result);
    return result;
  }
  if (!grow(p)) {
    close(fd);
    napi_create_int32(env, -1 - ENOMEM, &result);
    return result;
  }
  uint32_t id = p->nfree > 0 ? p->free_ids[--p->nfree] : p->nslots++;
  probe_slot *s = &p->slots[id];
  s->fd = fd;
  s->start_ns = start;
  s->deadline_ns = start + (uint64_t)(timeout_ms ? timeout_ms : 1) * 1000000u;
  s->heap_pos = NO_HEAP;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = id};
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    close(fd);
    release_slot(p, id);
    napi_create_int32(env, -1 - err, &result);
    return result;
  }
  heap_push(p, id);
  arm(p);
  napi_create_int32(env, (int32_t)id, &result);
  return result;
}

/* tcpProbeCancel(handle, id): close a probe under way; its outcome is never delivered. */
napi_value lvsd_tcp_probe_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 2 ? NULL : unwrap(env, argv[0]);
  uint32_t id;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &id)) return NULL;
  if (p->closing || id >= p->nslots || p->slots[id].fd < 0) return NULL;
  heap_remove(p, id);
  close(p->slots[id].fd);
  release_slot(p, id);
  arm(p);
  return NULL;
}

/* tcpProberClose(handle): close every probe under way (no outcomes) and the prober (idempotent). */
napi_value lvsd_tcp_prober_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  begin_close(p, true);
  return NULL;
}

/* tcpProberRef(handle, ref): whether the prober keeps the event loop alive while probes are under way. */
napi_value lvsd_tcp_prober_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ref;
  tcp_prober *p = argc < 2 ? NULL : unwrap(env, argv[0]);
  if (p == NULL || !lvsd_arg_bool(env, argv[1], &ref)) return NULL;
  if (!p->closing) {
    if (ref) {
      uv_ref((uv_handle_t *)&p->poll);
      uv_ref((uv_handle_t *)&p->timer);
    } else {
      uv_unref((uv_handle_t *)&p->poll);
      uv_unref((uv_handle_t *)&p->timer);
    }
  }
  return NULL;
}
