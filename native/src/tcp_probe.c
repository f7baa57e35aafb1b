/*
 * TCP connect probes without a JavaScript socket each: the health checker's hot path at thousands of
 * real servers a second. One prober owns an epoll set read from the Node event loop (a uv_poll_t on the
 * epoll fd) and a uv timer for deadlines. A probe is a non-blocking socket and connect(); when the socket
 * turns writable (connected) or reports an error, or its deadline passes, the socket is closed (with RST
 * when asked: SO_LINGER 0 leaves no TIME_WAIT) and the outcome queued. The outcomes gathered in one wake-up
 * reach JavaScript in one call, as a Float64Array of [id, errno, latency in microseconds, watch, run]
 * records (errno 0 = connected, ETIMEDOUT = the deadline passed; watch 1 = id is a watch's, 0 = a one-off
 * probe's; run: see tcp_watch.c).
 *
 * This file is the engine: starting a probe, waking (completions, deadlines, turns) and delivery. The
 * deadline heap is tcp_deadline.c, the prober's lifetime (open, grow, close, finalize) tcp_prober.c,
 * periodic checks ("watches", scheduled and folded here in C) tcp_watch.c, the JavaScript entry points
 * tcp_probe_api.c. Nothing is decided here: what an outcome means (rise, fall, weights) is src/health's
 * business.
 */
#include "tcp_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "tcp_probe_int.h"

#define MAX_EVENTS 256

uint64_t lvsd_tcp_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- delivery ---- */

static void release_slot(tcp_prober *p, uint32_t id) {
  p->slots[id].fd = -1;
  p->slots[id].heap_pos = NO_HEAP;
  p->free_ids[p->nfree++] = id;
}

double *lvsd_tcp_next_out(tcp_prober *p) {
  if (p->out_n == p->out_cap) {
    uint32_t cap = p->out_cap ? p->out_cap * 2 : 512;
    double *o = realloc(p->out, sizeof *o * OUT_WIDTH * cap);
    if (o == NULL) return NULL;
    p->out = o;
    p->out_cap = cap;
  }
  return &p->out[OUT_WIDTH * p->out_n++];
}

void lvsd_tcp_drop(tcp_prober *p, uint32_t id) {
  lvsd_tcp_deadline_remove(p, id);
  close(p->slots[id].fd);
  release_slot(p, id);
}

/* Close the probe's socket and fold or queue its outcome; a one-off's slot is freed once JavaScript has it. */
static void finish(tcp_prober *p, uint32_t id, int err, uint64_t at) {
  probe_slot *s = &p->slots[id];
  if (s->fd < 0) return;
  lvsd_tcp_deadline_remove(p, id);
  close(s->fd);
  double latency_us = (double)(at - s->start_ns) / 1000.0;
  if (s->watch != NO_WATCH) {
    uint32_t w = s->watch;
    p->watches[w].slot = NO_WATCH;
    p->watch_in_flight--;
    s->watch = NO_WATCH;
    release_slot(p, id); /* nothing in JavaScript names a watch's slot */
    lvsd_tcp_watch_outcome(p, w, err, latency_us, at);
    return;
  }
  s->fd = -2; /* done, outcome queued */
  double *o = lvsd_tcp_next_out(p);
  if (o != NULL) { /* else out of memory: the outcome is lost, the slot still freed */
    o[0] = (double)id;
    o[1] = (double)err;
    o[2] = latency_us;
    o[3] = 0;
    o[4] = 0;
  }
  p->done[p->done_n++] = id;
}

static void deliver(tcp_prober *p) {
  if (p->out_n == 0 || p->delivering) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  size_t n = (size_t)p->out_n * OUT_WIDTH;
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
  lvsd_call_js(p->env, p->callback, p->async_context, 1, &arr);
  p->delivering = false;
  if (done != NULL) {
    for (uint32_t i = 0; i < done_n; i++) release_slot(p, done[i]);
    free(done);
  }
  napi_close_handle_scope(env, scope);
}

/* ---- starting probes ---- */

int64_t lvsd_tcp_start(tcp_prober *p, const struct sockaddr_storage *sa, socklen_t salen, uint32_t timeout_ms, bool reset, int *done) {
  uint64_t start = lvsd_tcp_now_ns();
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *done = errno;
    return -1;
  }
  if (reset) {
    /* close() then sends RST: the probe leaves no TIME_WAIT on this host and no FIN handshake on the wire */
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
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
  if (!lvsd_tcp_grow(p)) {
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
  lvsd_tcp_deadline_push(p, id);
  return id;
}

/* ---- waking up ---- */

static void on_timer(uv_timer_t *t);

/* Arm the timer for the earliest deadline or turn, unless it is already armed for that or earlier. */
void lvsd_tcp_arm(tcp_prober *p) {
  if (p->closing) return;
  uint64_t first = 0;
  if (p->heap_n > 0) first = p->slots[p->heap[0]].deadline_ns;
  uint64_t turn = lvsd_tcp_first_turn(p);
  if (turn != 0 && (first == 0 || turn < first)) first = turn;
  if (first == 0) {
    if (p->armed_ns != 0) uv_timer_stop(&p->timer);
    p->armed_ns = 0;
    return;
  }
  uint64_t now = lvsd_tcp_now_ns();
  if (p->poll_dead && p->heap_n > 0 && first > now + 10000000u) first = now + 10000000u;
  if (p->armed_ns != 0 && p->armed_ns <= first) return; /* fires first anyway; re-armed then */
  uint64_t ms = first > now ? (first - now + 999999) / 1000000 : 0;
  uv_timer_start(&p->timer, on_timer, ms, 0);
  p->armed_ns = first;
}

static void expire(tcp_prober *p) {
  uint64_t now = lvsd_tcp_now_ns();
  while (p->heap_n > 0 && p->slots[p->heap[0]].deadline_ns <= now) finish(p, p->heap[0], ETIMEDOUT, now);
}

/* The kernel's clock is jiffies (1-10 ms): a handshake this close to its deadline counts as in time. */
#define LATE_SLACK_NS 10000000u

/* A connect found complete after its deadline (the event loop was held): did the handshake end after the
   deadline? TCP_INFO says how long ago the last ACK came, here the SYN-ACK; the probe is judged on its own
   clock, as keepalived's checker judges it, not on when this process got round to reading it. */
static bool completed_late(int fd, uint64_t deadline_ns, uint64_t at) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < offsetof(struct tcp_info, tcpi_last_ack_recv) + sizeof ti.tcpi_last_ack_recv) return false;
  uint64_t ago = (uint64_t)ti.tcpi_last_ack_recv * 1000000u;
  return ago < at && at - ago > deadline_ns + LATE_SLACK_NS;
}

/* Take every completed connect off the epoll set before deadlines are judged: a loop that was busy must
   not call a connection that completed in time a timeout (nor one that completed late a connection). */
static void collect(tcp_prober *p) {
  struct epoll_event ev[MAX_EVENTS];
  for (int round = 0; round < 64; round++) {
    int k = epoll_wait(p->epfd, ev, MAX_EVENTS, 0);
    if (k <= 0) break;
    uint64_t at = lvsd_tcp_now_ns();
    for (int i = 0; i < k; i++) {
      uint32_t id = ev[i].data.u32;
      if (id >= p->nslots || p->slots[id].fd < 0) continue;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(p->slots[id].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err == 0 && (ev[i].events & (EPOLLERR | EPOLLHUP))) err = ECONNRESET;
      if (err == 0 && at > p->slots[id].deadline_ns && completed_late(p->slots[id].fd, p->slots[id].deadline_ns, at)) err = ETIMEDOUT;
      finish(p, id, err, at);
    }
    if (k < MAX_EVENTS) break;
  }
}

static void wake(tcp_prober *p) {
  collect(p);
  expire(p);
  lvsd_tcp_run_turns(p);
  deliver(p);
  lvsd_tcp_arm(p);
}

static void on_timer(uv_timer_t *t) {
  tcp_prober *p = t->data;
  p->armed_ns = 0;
  wake(p);
}

void lvsd_tcp_on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  tcp_prober *p = handle->data;
  if (p->closing) return;
  if (status < 0) {
    /* libuv stopped the poll (POLLERR; an epoll fd has no reason to report one). Left stopped, completed
       connects would only be seen when a deadline fires: healthy servers late or timed out. Poll again,
       or, if that fails, let the timer collect every 10 ms. */
    if (!p->poll_dead && uv_poll_start(&p->poll, UV_READABLE, lvsd_tcp_on_poll) < 0) p->poll_dead = true;
  }
  wake(p);
}
