/*
 * TCP connect probes without a JavaScript socket each: the health checker's hot path at thousands of
 * real servers a second. One prober owns an epoll set read from the Node event loop (a uv_poll_t on the
 * epoll fd) and a uv timer for deadlines. A probe is a non-blocking socket and connect(); when the socket
 * turns writable (connected) or reports an error, or its deadline passes, the socket is closed and the
 * outcome queued. The outcomes gathered in one wake-up reach JavaScript in one call, as a Float64Array of
 * [id, errno, latency in microseconds, watch] quadruples (errno 0 = connected, ETIMEDOUT = the deadline
 * passed; watch 1 = id is a watch's, 0 = a one-off probe's).
 *
 * Periodic targets ("watches") are scheduled here too: JavaScript registers a target with its interval,
 * timeout and first turn, and the prober starts its probes on time (turns due within 10 ms of each other
 * share one wake-up) and skips a turn while the previous probe is still under way. Their outcomes come in
 * the same batches, so a steady state of thousands of probes a second costs JavaScript one call per
 * wake-up and a loop over the outcomes, nothing per probe beyond reading them.
 *
 * Nothing is decided here: what an outcome means (rise, fall, weights) is src/health's business.
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

#define COALESCE_NS 10000000u /* turns due within 10 ms share a wake-up */
#define NO_WATCH UINT32_MAX

typedef struct probe_slot {
  int fd;            /* -1: free */
  uint32_t heap_pos; /* index in the deadline heap, NO_HEAP when not in it */
  uint32_t watch;    /* the watch this probe is for, NO_WATCH for a one-off */
  uint64_t start_ns;
  uint64_t deadline_ns;
} probe_slot;

typedef struct watch {
  bool used;
  uint32_t heap_pos; /* index in the turn heap */
  uint32_t slot;     /* the probe under way, NO_WATCH when none */
  struct sockaddr_storage sa;
  socklen_t salen;
  uint64_t interval_ns;
  uint32_t timeout_ms;
  uint64_t due_ns;
} watch;

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
  watch *watches; /* by JavaScript's id */
  uint32_t nwatches;
  uint32_t *turns; /* watch ids ordered by due_ns */
  uint32_t *scratch; /* the watches due in one wake-up */
  uint32_t turns_n;
  uint32_t max_in_flight; /* watched probes under way at most; 0 = no limit */
  uint32_t watch_in_flight;
  double skipped;   /* turns skipped: previous probe still under way, or the limit reached */
  bool delivering;
  bool closing;
  bool poll_dead; /* the epoll fd cannot be polled again: the timer collects completions every 10 ms */
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
  lvsd_call_js(p->env, p->callback, p->async_context, argc, argv);
}

static void release_slot(tcp_prober *p, uint32_t id) {
  p->slots[id].fd = -1;
  p->slots[id].heap_pos = NO_HEAP;
  p->free_ids[p->nfree++] = id;
}

/* Room for one more queued outcome (one-off probes and watches together). */
static double *next_out(tcp_prober *p) {
  if (p->out_n == p->out_cap) {
    uint32_t cap = p->out_cap ? p->out_cap * 2 : 512;
    double *o = realloc(p->out, sizeof *o * 4 * cap);
    if (o == NULL) return NULL;
    p->out = o;
    p->out_cap = cap;
  }
  return &p->out[4 * p->out_n++];
}

/* Close the probe's socket and queue its outcome; the slot is freed once JavaScript has it. */
static void finish(tcp_prober *p, uint32_t id, int err, uint64_t at) {
  probe_slot *s = &p->slots[id];
  if (s->fd < 0) return;
  heap_remove(p, id);
  close(s->fd);
  s->fd = -2; /* done, outcome queued */
  double scratch[4];
  double *o = next_out(p);
  if (o == NULL) o = scratch; /* out of memory: the outcome is lost, the slot still freed */
  if (s->watch != NO_WATCH) {
    o[0] = (double)s->watch;
    o[3] = 1;
    p->watches[s->watch].slot = NO_WATCH;
    p->watch_in_flight--;
    s->watch = NO_WATCH;
  } else {
    o[0] = (double)id;
    o[3] = 0;
  }
  o[1] = (double)err;
  o[2] = (double)(at - s->start_ns) / 1000.0;
  p->done[p->done_n++] = id;
}

static void deliver(tcp_prober *p) {
  if (p->out_n == 0 || p->delivering) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  size_t n = (size_t)p->out_n * 4;
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

static bool grow(tcp_prober *p);

/* ---- the turn heap (watches by due time) ---- */

static bool turn_earlier(tcp_prober *p, uint32_t a, uint32_t b) {
  return p->watches[p->turns[a]].due_ns < p->watches[p->turns[b]].due_ns;
}

static void turn_swap(tcp_prober *p, uint32_t a, uint32_t b) {
  uint32_t t = p->turns[a];
  p->turns[a] = p->turns[b];
  p->turns[b] = t;
  p->watches[p->turns[a]].heap_pos = a;
  p->watches[p->turns[b]].heap_pos = b;
}

static void turn_fix(tcp_prober *p, uint32_t i) {
  while (i > 0 && turn_earlier(p, i, (i - 1) / 2)) {
    turn_swap(p, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < p->turns_n && turn_earlier(p, l, m)) m = l;
    if (r < p->turns_n && turn_earlier(p, r, m)) m = r;
    if (m == i) return;
    turn_swap(p, i, m);
    i = m;
  }
}

static void turn_remove(tcp_prober *p, uint32_t w) {
  uint32_t i = p->watches[w].heap_pos;
  if (i == NO_HEAP) return;
  p->watches[w].heap_pos = NO_HEAP;
  uint32_t last = --p->turns_n;
  if (i == last) return;
  p->turns[i] = p->turns[last];
  p->watches[p->turns[i]].heap_pos = i;
  turn_fix(p, i);
}

/* ---- starting probes ---- */

/* Opens and connects a socket; returns the slot id, or -1 with *done set: 0 connected at once, else errno. */
static int64_t start_probe(tcp_prober *p, const struct sockaddr_storage *sa, socklen_t salen, uint32_t timeout_ms, int *done) {
  uint64_t start = now_ns();
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *done = errno;
    return -1;
  }
  if (connect(fd, (const struct sockaddr *)sa, salen) == 0) {
    close(fd);
    *done = 0;
    return -1;
  }
  if (errno != EINPROGRESS) {
    *done = errno;
    close(fd);
    return -1;
  }
  if (!grow(p)) {
    close(fd);
    *done = ENOMEM;
    return -1;
  }
  uint32_t id = p->nfree > 0 ? p->free_ids[--p->nfree] : p->nslots++;
  probe_slot *s = &p->slots[id];
  s->fd = fd;
  s->start_ns = start;
  s->deadline_ns = start + (uint64_t)(timeout_ms ? timeout_ms : 1) * 1000000u;
  s->heap_pos = NO_HEAP;
  s->watch = NO_WATCH;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = id};
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    *done = errno;
    close(fd);
    release_slot(p, id);
    return -1;
  }
  heap_push(p, id);
  return id;
}

/* Queue an outcome that needed no socket wait (connected or refused at once). */
static void queue_now(tcp_prober *p, uint32_t watch_id, int err) {
  double *o = next_out(p);
  if (o == NULL) return;
  o[0] = (double)watch_id;
  o[1] = (double)err;
  o[2] = 0;
  o[3] = 1;
}

/* Starts every watch whose turn is due by now + COALESCE_NS; each gets its next turn one interval on. */
static void run_turns(tcp_prober *p) {
  uint64_t now = now_ns();
  uint64_t horizon = now + COALESCE_NS;
  /* take the due ones first: a watch re-queued below is never started twice in one wake-up */
  uint32_t n = 0;
  while (p->turns_n > 0 && p->watches[p->turns[0]].due_ns <= horizon) {
    uint32_t w = p->turns[0];
    turn_remove(p, w);
    p->scratch[n++] = w;
  }
  for (uint32_t k = 0; k < n; k++) {
    uint32_t w = p->scratch[k];
    watch *x = &p->watches[w];
    uint64_t due = x->due_ns + x->interval_ns;
    while (due <= now) due += x->interval_ns;
    x->due_ns = due;
    x->heap_pos = p->turns_n;
    p->turns[p->turns_n++] = w;
    turn_fix(p, x->heap_pos);
    if (x->slot != NO_WATCH || (p->max_in_flight && p->watch_in_flight >= p->max_in_flight)) {
      p->skipped++;
      continue;
    }
    if (!grow(p)) {
      p->skipped++;
      continue;
    }
    int err = 0;
    int64_t id = start_probe(p, &x->sa, x->salen, x->timeout_ms, &err);
    if (id < 0) {
      queue_now(p, w, err);
      continue;
    }
    p->slots[id].watch = w;
    x->slot = (uint32_t)id;
    p->watch_in_flight++;
  }
}

static void on_timer(uv_timer_t *t);

/* Arm the timer for the earliest deadline or turn, unless it is already armed for that or earlier. */
static void arm(tcp_prober *p) {
  if (p->closing) return;
  uint64_t first = 0;
  if (p->heap_n > 0) first = p->slots[p->heap[0]].deadline_ns;
  if (p->turns_n > 0 && (first == 0 || p->watches[p->turns[0]].due_ns < first)) first = p->watches[p->turns[0]].due_ns;
  if (first == 0) {
    if (p->armed_ns != 0) uv_timer_stop(&p->timer);
    p->armed_ns = 0;
    return;
  }
  uint64_t now = now_ns();
  if (p->poll_dead && p->heap_n > 0 && first > now + 10000000u) first = now + 10000000u;
  if (p->armed_ns != 0 && p->armed_ns <= first) return; /* fires first anyway; re-armed then */
  uint64_t ms = first > now ? (first - now + 999999) / 1000000 : 0;
  uv_timer_start(&p->timer, on_timer, ms, 0);
  p->armed_ns = first;
}

static void expire(tcp_prober *p) {
  uint64_t now = now_ns();
  while (p->heap_n > 0 && p->slots[p->heap[0]].deadline_ns <= now) finish(p, p->heap[0], ETIMEDOUT, now);
}

/* Take every completed connect off the epoll set (before deadlines are judged: a loop that was busy must
   not call a connection that did complete a timeout). */
static void collect(tcp_prober *p) {
  struct epoll_event ev[MAX_EVENTS];
  for (int round = 0; round < 64; round++) {
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
}

static void wake(tcp_prober *p) {
  collect(p);
  expire(p);
  run_turns(p);
  deliver(p);
  arm(p);
}

static void on_timer(uv_timer_t *t) {
  tcp_prober *p = t->data;
  p->armed_ns = 0;
  wake(p);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  tcp_prober *p = handle->data;
  if (p->closing) return;
  if (status < 0) {
    /* libuv stopped the poll (POLLERR; an epoll fd has no reason to report one). Left stopped, completed
       connects would only be seen when a deadline fires: healthy servers late or timed out. Poll again,
       or, if that fails, let the timer collect every 10 ms. */
    if (!p->poll_dead && uv_poll_start(&p->poll, UV_READABLE, on_poll) < 0) p->poll_dead = true;
  }
  wake(p);
}

/* ---- lifetime ---- */

static void free_prober(tcp_prober *p) {
  free(p->slots);
  free(p->free_ids);
  free(p->heap);
  free(p->out);
  free(p->done);
  free(p->watches);
  free(p->turns);
  free(p->scratch);
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
  p->turns_n = 0;
  p->out_n = 0;
  close(p->epfd);
  p->epfd = -1;
  if (from_js) lvsd_async_release(p->env, &p->callback, &p->async_context);
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
  return lvsd_unwrap(env, v, "expected a TCP prober handle");
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
  if (d == NULL) return false;
  p->cap = cap;
  return true;
}

/* An address Buffer (4 or 16 bytes) and a port into a sockaddr; false after throwing. */
static bool sockaddr_arg(napi_env env, napi_value addr_v, napi_value port_v, struct sockaddr_storage *sa, socklen_t *salen) {
  void *addr;
  size_t alen;
  uint32_t port;
  if (!lvsd_arg_buffer(env, addr_v, &addr, &alen) || !lvsd_arg_u32(env, port_v, &port)) return false;
  if ((alen != 4 && alen != 16) || port == 0 || port > 65535) {
    lvsd_throw_type(env, "address must be 4 or 16 bytes and port 1..65535");
    return false;
  }
  memset(sa, 0, sizeof *sa);
  if (alen == 4) {
    struct sockaddr_in *sin = (struct sockaddr_in *)sa;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    memcpy(&sin->sin_addr, addr, 4);
    *salen = sizeof *sin;
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    memcpy(&sin6->sin6_addr, addr, 16);
    *salen = sizeof *sin6;
  }
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
  lvsd_async_init(env, argv[0], "lvsd:TcpProber", &p->callback, &p->async_context, env_cleanup, p, &p->cleanup_hook);
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
  struct sockaddr_storage sa;
  socklen_t salen;
  uint32_t timeout_ms;
  if (!sockaddr_arg(env, argv[1], argv[2], &sa, &salen) || !lvsd_arg_u32(env, argv[3], &timeout_ms)) return NULL;
  napi_value result;
  if (p->closing) {
    napi_create_int32(env, -1 - EBADF, &result);
    return result;
  }
  int err = 0;
  int64_t id = start_probe(p, &sa, salen, timeout_ms, &err);
  if (id >= 0) arm(p);
  napi_create_int32(env, id >= 0 ? (int32_t)id : -1 - err, &result);
  return result;
}

/* tcpWatch(handle, id, address, port, intervalMs, timeoutMs, firstInMs): probe every interval from then on. */
napi_value lvsd_tcp_watch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7) {
    lvsd_throw_type(env, "tcpWatch(handle, id, address, port, intervalMs, timeoutMs, firstInMs)");
    return NULL;
  }
  tcp_prober *p = unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  uint32_t id, interval_ms, timeout_ms, first_ms;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (!lvsd_arg_u32(env, argv[1], &id) || !sockaddr_arg(env, argv[2], argv[3], &sa, &salen) ||
      !lvsd_arg_u32(env, argv[4], &interval_ms) || !lvsd_arg_u32(env, argv[5], &timeout_ms) || !lvsd_arg_u32(env, argv[6], &first_ms))
    return NULL;
  if (id >= 1u << 24 || interval_ms == 0) {
    lvsd_throw_type(env, "watch id must be below 2^24 and the interval above 0");
    return NULL;
  }
  if (p->closing) return NULL;
  if (id >= p->nwatches) {
    uint32_t cap = p->nwatches ? p->nwatches : 256;
    while (cap <= id) cap *= 2;
    watch *w = realloc(p->watches, sizeof *w * cap);
    if (w != NULL) p->watches = w;
    uint32_t *t = w != NULL ? realloc(p->turns, sizeof *t * cap) : NULL;
    if (t != NULL) p->turns = t;
    uint32_t *sc = t != NULL ? realloc(p->scratch, sizeof *sc * cap) : NULL;
    if (sc == NULL) {
      lvsd_throw_errno(env, "realloc", ENOMEM, "watches");
      return NULL;
    }
    p->scratch = sc;
    memset(&p->watches[p->nwatches], 0, sizeof *w * (cap - p->nwatches));
    for (uint32_t i = p->nwatches; i < cap; i++) p->watches[i].heap_pos = NO_HEAP;
    p->nwatches = cap;
  }
  watch *x = &p->watches[id];
  if (x->used) {
    lvsd_throw_type(env, "watch id already in use");
    return NULL;
  }
  x->used = true;
  x->slot = NO_WATCH;
  x->sa = sa;
  x->salen = salen;
  x->interval_ns = (uint64_t)interval_ms * 1000000u;
  x->timeout_ms = timeout_ms;
  x->due_ns = now_ns() + (uint64_t)first_ms * 1000000u;
  x->heap_pos = p->turns_n;
  p->turns[p->turns_n++] = id;
  turn_fix(p, x->heap_pos);
  arm(p);
  return NULL;
}

/* tcpUnwatch(handle, id): no more turns; a probe under way is closed and its outcome never delivered. */
napi_value lvsd_tcp_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 2 ? NULL : unwrap(env, argv[0]);
  uint32_t id;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &id)) return NULL;
  if (p->closing || id >= p->nwatches || !p->watches[id].used) return NULL;
  watch *x = &p->watches[id];
  turn_remove(p, id);
  if (x->slot != NO_WATCH) { /* under way (a finished probe has already cleared x->slot) */
    heap_remove(p, x->slot);
    close(p->slots[x->slot].fd);
    release_slot(p, x->slot);
    p->watch_in_flight--;
  }
  x->slot = NO_WATCH;
  x->used = false;
  arm(p);
  return NULL;
}

/* tcpProberLimit(handle, max): watched probes under way at most (0 = no limit); turns beyond it are skipped. */
napi_value lvsd_tcp_prober_limit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 2 ? NULL : unwrap(env, argv[0]);
  uint32_t max;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &max)) return NULL;
  p->max_in_flight = max;
  return NULL;
}

/* tcpProberStats(handle) -> [watches queued, watched probes under way, one-off probes under way, turns skipped] */
napi_value lvsd_tcp_prober_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 1 ? NULL : unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  napi_value arr, v;
  napi_create_array_with_length(env, 4, &arr);
  double vals[4] = {p->turns_n, p->watch_in_flight, (double)p->heap_n - p->watch_in_flight, p->skipped};
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
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
