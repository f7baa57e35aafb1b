/*
 * TCP connect probes without a JavaScript socket each: the health checker's hot path at thousands of
 * real servers a second. A probe is a non-blocking socket and connect(); a handshake that ended inside
 * that connect() (a server on a link inside this host: a veth, loopback) is settled there and then, any
 * other goes on the epoll set; when the socket turns writable (connected) or reports an error, or its
 * deadline passes, the socket is closed (with RST
 * when asked: SO_LINGER 0 leaves no TIME_WAIT) and the outcome folded or queued. The outcomes reach
 * JavaScript in one call per wake of the main loop, as a Float64Array of [id, errno, latency in
 * microseconds, watch, run] records (errno 0 = connected, ETIMEDOUT = the deadline passed; watch 1 = id
 * is a watch's, 0 = a one-off probe's; run: see tcp_watch.c).
 *
 * This file is the engine, single-threaded logic with no lock of its own: one turn (lvsd_tcp_turn) takes
 * the completions, the commands JavaScript queued, the deadlines passed and the watches due, and folds
 * what came of them under the prober's mutex once at its end. Where it runs is tcp_runner.c (a thread of
 * its own, so nothing JavaScript does delays a probe, or the Node loop as a fallback); the sockets kept,
 * held and spare tcp_socket.c; the deadline heap tcp_deadline.c, periodic checks ("watches")
 * tcp_watch.c, the lifetime tcp_prober.c, the JavaScript entry points tcp_probe_api.c and tcp_watch_api.c.
 * Nothing is decided here: what an outcome means (rise, fall, weights) is src/health's business.
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

uint64_t lvsd_tcp_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- slots ---- */

/* Make room for one more slot; false when out of memory. */
bool lvsd_tcp_grow(tcp_prober *p) {
  if (p->nfree > 0 || p->nslots < p->cap) return true;
  uint32_t cap = p->cap ? p->cap * 2 : 256;
  probe_slot *slots = realloc(p->slots, sizeof *slots * cap);
  if (slots == NULL) return false;
  p->slots = slots;
  uint32_t *f = realloc(p->free_ids, sizeof *f * cap), *h = NULL;
  if (f != NULL) p->free_ids = f;
  if (f != NULL) h = realloc(p->heap, sizeof *h * cap);
  if (h == NULL) return false;
  p->heap = h;
  p->cap = cap;
  return true;
}

static void release_slot(tcp_prober *p, uint32_t id) {
  p->slots[id].fd = -1;
  p->slots[id].heap_pos = NO_HEAP;
  p->free_ids[p->nfree++] = id;
}

void lvsd_tcp_drop(tcp_prober *p, uint32_t id) {
  lvsd_tcp_deadline_remove(p, id);
  lvsd_tcp_end_socket(p, &p->slots[id]);
  if (p->slots[id].watch == NO_WATCH && p->slots[id].oneoff < p->noneoff_slot) p->oneoff_slot[p->slots[id].oneoff] = NO_SLOT;
  release_slot(p, id);
}

bool lvsd_tcp_fold_later(tcp_prober *p, bool watch, uint32_t id, uint32_t epoch, int err, double latency_us, uint64_t at) {
  if (p->folds_n == p->folds_cap) {
    uint32_t cap = p->folds_cap ? p->folds_cap * 2 : 256;
    tcp_fold *f = realloc(p->folds, sizeof *f * cap);
    if (f == NULL) return false;
    p->folds = f;
    p->folds_cap = cap;
  }
  p->folds[p->folds_n++] = (tcp_fold){.id = id, .epoch = epoch, .watch = watch, .err = err, .latency_us = latency_us, .at = at};
  return true;
}

/* Close the probe's socket and keep its outcome for the end of the turn. */
static void finish(tcp_prober *p, uint32_t id, int err, uint64_t at) {
  probe_slot *s = &p->slots[id];
  if (s->fd < 0) return;
  lvsd_tcp_deadline_remove(p, id);
  lvsd_tcp_end_socket(p, s);
  double latency_us = (double)(at - s->start_ns) / 1000.0;
  if (s->watch != NO_WATCH) {
    p->watches[s->watch].slot = NO_SLOT;
    p->watch_in_flight--;
    lvsd_tcp_fold_later(p, true, s->watch, s->epoch, err, latency_us, at);
  } else {
    if (s->oneoff < p->noneoff_slot) p->oneoff_slot[s->oneoff] = NO_SLOT;
    lvsd_tcp_fold_later(p, false, s->oneoff, s->epoch, err, latency_us, at);
  }
  release_slot(p, id);
}

/* ---- starting probes ---- */

/* Over a link inside this host (a veth to another namespace, loopback) the whole handshake usually runs
   inside the connect() that began it: the SYN and the server's SYN-ACK are processed as softirq work
   when the packet is sent, and the SYN-ACK is applied to the socket when connect() releases it. A second
   connect() asks the socket where it stands without an epoll registration, its removal at close and a
   wake-up: 0 connected, EALREADY still under way; a failure is reported (and cleared) as SO_ERROR would
   report it, ECONNABORTED meaning a socket closed without one (ECONNRESET, as for EPOLLERR with no error). */
static int settled_at_once(int fd, const tcp_addr *addr) {
  if (connect(fd, &addr->sa, lvsd_tcp_addr_len(addr)) == 0) return 0;
  return errno == ECONNABORTED ? ECONNRESET : errno;
}

int64_t lvsd_tcp_start(tcp_prober *p, const tcp_addr *addr, uint32_t timeout_ms, bool reset, bool try_settle, int *done, double *latency_us, uint64_t *at) {
  uint64_t start = lvsd_tcp_now_ns();
  *latency_us = 0;
  *at = 0;
  bool v6 = addr->sa.sa_family == AF_INET6;
  int fd = reset ? lvsd_tcp_kept_socket(p, addr->sa.sa_family) : lvsd_tcp_spare_socket(p, v6);
  bool pooled = reset && fd >= 0;
  if (fd < 0) fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *done = errno;
    return -1;
  }
  if (reset && !pooled) {
    /* close() then sends RST: the probe leaves no TIME_WAIT on this host and no FIN handshake on the wire */
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  if (connect(fd, &addr->sa, lvsd_tcp_addr_len(addr)) == 0) {
    if (pooled) lvsd_tcp_end_kept(p, fd, v6);
    else lvsd_tcp_close_connected(p, fd, v6, lvsd_tcp_now_ns());
    *done = 0;
    return -1;
  }
  if (errno != EINPROGRESS) {
    *done = errno;
    if (pooled) lvsd_tcp_end_kept(p, fd, v6); /* refused at once (loopback): unconnected again, kept */
    else close(fd);
    return -1;
  }
  /* (not for a kept socket: its edge-triggered registration stays, and an edge left from this probe could be
     taken for the next one's on the same socket) */
  int now_err = pooled || !try_settle ? EALREADY : settled_at_once(fd, addr);
  if (now_err != EALREADY) {
    *at = lvsd_tcp_now_ns();
    *latency_us = (double)(*at - start) / 1000.0;
    if (now_err == 0) lvsd_tcp_close_connected(p, fd, v6, *at);
    else close(fd);
    *done = now_err;
    return -1;
  }
  if (!lvsd_tcp_grow(p)) {
    if (pooled) lvsd_tcp_end_kept(p, fd, v6);
    else close(fd);
    *done = ENOMEM;
    return -1;
  }
  uint32_t id = p->nfree > 0 ? p->free_ids[--p->nfree] : p->nslots++;
  probe_slot *s = &p->slots[id];
  s->fd = fd;
  s->pooled = pooled;
  s->v6 = v6;
  s->start_ns = start;
  s->deadline_ns = start + (uint64_t)(timeout_ms ? timeout_ms : 1) * 1000000u;
  s->heap_pos = NO_HEAP;
  s->watch = NO_WATCH;
  s->oneoff = NO_SLOT;
  s->epoch = 0;
  if (pooled) {
    p->fd_slot[fd] = (uint32_t)id;
  } else {
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = id};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      *done = errno;
      close(fd);
      release_slot(p, id);
      return -1;
    }
  }
  lvsd_tcp_deadline_push(p, id);
  return id;
}

/* ---- one-off probes (the engine's side) ---- */

static void oneoff_command(tcp_prober *p, const tcp_cmd *c) {
  if (c->id >= p->noneoff_slot) {
    uint32_t cap = p->noneoff_slot ? p->noneoff_slot : 64;
    while (cap <= c->id) cap *= 2;
    uint32_t *o = realloc(p->oneoff_slot, sizeof *o * cap);
    if (o == NULL) {
      if (c->op == CMD_PROBE) lvsd_tcp_fold_later(p, false, c->id, c->epoch, ENOMEM, 0, lvsd_tcp_now_ns());
      return;
    }
    for (uint32_t i = p->noneoff_slot; i < cap; i++) o[i] = NO_SLOT;
    p->oneoff_slot = o;
    p->noneoff_slot = cap;
  }
  if (c->op == CMD_CANCEL) {
    uint32_t s = p->oneoff_slot[c->id];
    if (s != NO_SLOT && p->slots[s].fd >= 0 && p->slots[s].epoch == c->epoch) lvsd_tcp_drop(p, s);
    return;
  }
  int err = 0;
  double latency_us;
  uint64_t t0 = lvsd_tcp_now_ns(), settled_at;
  int64_t s = lvsd_tcp_start(p, &c->addr, c->timeout_ms, c->reset, true, &err, &latency_us, &settled_at);
  if (s < 0) {
    uint64_t at = lvsd_tcp_now_ns();
    lvsd_tcp_fold_later(p, false, c->id, c->epoch, err, (double)(at - t0) / 1000.0, at);
    return;
  }
  p->slots[s].oneoff = c->id;
  p->slots[s].epoch = c->epoch;
  p->oneoff_slot[c->id] = (uint32_t)s;
}

/* ---- one turn ---- */

static void expire(tcp_prober *p) {
  uint64_t now = lvsd_tcp_now_ns();
  while (p->heap_n > 0 && p->slots[p->heap[0]].deadline_ns <= now) finish(p, p->heap[0], ETIMEDOUT, now);
}

/* The kernel's clock is jiffies (1-10 ms): a handshake this close to its deadline counts as in time. */
#define LATE_SLACK_NS 10000000u

/* A connect found complete after its deadline (the engine was held: loop mode, or a starved thread): did
   the handshake end after the deadline? TCP_INFO says how long ago the last ACK came, here the SYN-ACK;
   the probe is judged on its own clock, as keepalived's checker judges it, not on when it was read. */
static bool completed_late(int fd, uint64_t deadline_ns, uint64_t at) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < offsetof(struct tcp_info, tcpi_last_ack_recv) + sizeof ti.tcpi_last_ack_recv) return false;
  uint64_t ago = (uint64_t)ti.tcpi_last_ack_recv * 1000000u;
  return ago < at && at - ago > deadline_ns + LATE_SLACK_NS;
}

static void completions(tcp_prober *p, const struct epoll_event *ev, int k) {
  uint64_t at = lvsd_tcp_now_ns();
  for (int i = 0; i < k; i++) {
    uint32_t id = ev[i].data.u32;
    if (id == WAKE_ID) {
      uint64_t n;
      if (read(p->wakefd, &n, sizeof n) < 0) { /* EAGAIN: already read */
      }
      continue;
    }
    if (id & POOLED) { /* a kept socket: its probe, if one is under way (an idle one's edges are not) */
      uint32_t fd = id & ~POOLED;
      if (fd >= p->fd_slot_cap || p->fd_slot[fd] == NO_SLOT) continue;
      id = p->fd_slot[fd];
      if (id >= p->nslots || p->slots[id].fd != (int)fd) continue;
    }
    if (id >= p->nslots || p->slots[id].fd < 0) continue;
    int err = 0;
    /* A failed connect (refused, unreachable, reset) is EPOLLERR with EPOLLHUP: the kernel sets the socket's
       error before it wakes the poll. Writable without either is a connection: no SO_ERROR to read. */
    if (ev[i].events & (EPOLLERR | EPOLLHUP)) {
      socklen_t len = sizeof err;
      if (getsockopt(p->slots[id].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err == 0) err = ECONNRESET;
    }
    if (err == 0 && at > p->slots[id].deadline_ns && completed_late(p->slots[id].fd, p->slots[id].deadline_ns, at)) err = ETIMEDOUT;
    finish(p, id, err, at);
  }
}

/* Every completion ready now, before deadlines are judged: a connection that completed in time is not
   called a timeout because the engine got round to it late. */
static void collect(tcp_prober *p) {
  struct epoll_event ev[MAX_EVENTS];
  for (int round = 0; round < 64; round++) {
    int k = epoll_wait(p->epfd, ev, MAX_EVENTS, 0);
    if (k <= 0) break;
    completions(p, ev, k);
    if (k < MAX_EVENTS) break;
  }
}

/* The commands JavaScript queued, in order (taken under mu, applied without it). */
static void take_commands(tcp_prober *p) {
  pthread_mutex_lock(&p->mu);
  tcp_cmd *c = p->cmds;
  uint32_t n = p->cmds_n, cap = p->cmds_cap;
  p->cmds = p->work;
  p->cmds_cap = p->work_cap;
  p->cmds_n = 0;
  p->work = c;
  p->work_cap = cap;
  p->wake_pending = false;
  p->max_in_flight = p->limit;
  p->close_after_ns = p->close_after_cfg;
  bool reuse_was = p->reuse;
  p->reuse = p->reuse_cfg;
  p->stop_seen = p->stop;
  pthread_mutex_unlock(&p->mu);
  if (reuse_was && !p->reuse) lvsd_tcp_close_spare(p);
  for (uint32_t i = 0; i < n && !p->stop_seen; i++) {
    if (c[i].op == CMD_PROBE || c[i].op == CMD_CANCEL) oneoff_command(p, &c[i]);
    else lvsd_tcp_watch_command(p, &c[i]);
  }
}

/* The turn's outcomes into runs and counters and the queue for JavaScript: one critical section. */
static bool publish(tcp_prober *p) {
  pthread_mutex_lock(&p->mu);
  uint32_t before = p->out_n;
  for (uint32_t i = 0; i < p->folds_n; i++) {
    tcp_fold *f = &p->folds[i];
    if (f->watch) {
      /* a watch removed (or removed and made again) since: its outcome goes with it */
      if (f->id < p->nwatches && p->watches[f->id].used && p->watches[f->id].epoch == f->epoch)
        lvsd_tcp_watch_outcome(p, f->id, f->err, f->latency_us, f->at);
      continue;
    }
    tcp_outcome *o = lvsd_tcp_next_out(p);
    if (o != NULL) *o = (tcp_outcome){.id = f->id, .epoch = f->epoch, .err = f->err, .latency_us = f->latency_us, .watch = false, .run = 0};
  }
  p->stats[0] = p->turns_n;
  p->stats[1] = p->watch_in_flight;
  p->stats[2] = (double)p->heap_n - p->watch_in_flight;
  p->stats[3] = p->skipped;
  p->stats[4] = p->reused;
  bool queued = p->out_n > before;
  pthread_mutex_unlock(&p->mu);
  p->folds_n = 0;
  return queued;
}

uint64_t lvsd_tcp_turn(tcp_prober *p, const struct epoll_event *ev, int k) {
  /* completions first: a command below may free a slot the events name, and reuse it */
  if (k < 0) {
    collect(p);
  } else {
    completions(p, ev, k);
    if (k == MAX_EVENTS) collect(p);
  }
  take_commands(p);
  if (p->stop_seen) return 0;
  lvsd_tcp_close_held(p, false);
  expire(p);
  lvsd_tcp_run_turns(p);
  if (publish(p)) uv_async_send(&p->async);
  uint64_t first = p->heap_n > 0 ? p->slots[p->heap[0]].deadline_ns : 0;
  uint64_t turn = lvsd_tcp_first_turn(p);
  if (turn != 0 && (first == 0 || turn < first)) first = turn;
  /* held sockets close at a turn that runs anyway; one is woken for only when none comes within the hold
     again (10 ms at most) after the first is due */
  if (p->held_n > 0) {
    uint64_t hold = p->held_due[0] + (p->close_after_ns < 10000000u ? p->close_after_ns : 10000000u);
    if (first == 0 || hold < first) first = hold;
  }
  return first;
}
