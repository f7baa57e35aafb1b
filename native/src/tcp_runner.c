/*
 * Where the TCP prober's engine (tcp_probe.c) runs, and how its outcomes reach JavaScript.
 *
 * On a thread of its own: a loop around epoll_wait on the prober's epoll set (the probes' sockets and an
 * eventfd JavaScript writes when it queues a command), whose timeout is the next deadline or turn. So
 * probe starts, completions, deadlines and folding keep time whatever holds the Node loop (a drift read, a
 * reload's parse, a status build, the garbage collector). Only the outcomes JavaScript must hear cross over:
 * the engine queues them under the mutex and calls uv_async_send; the main loop takes the whole queue in
 * one go and hands it to the callback as one Float64Array.
 *
 * On the Node loop, when the thread cannot be created (or tests ask): a uv_poll on the epoll set and a uv
 * timer for the next deadline or turn, each wake one turn of the same engine. Slower to react when the
 * loop is held, but the same outcomes.
 */
#include <errno.h>
#include <sched.h>
#include <sys/syscall.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tcp_probe_int.h"

/* ---- commands (main thread) ---- */

static void wake_engine(tcp_prober *p) {
  uint64_t one = 1;
  if (write(p->wakefd, &one, sizeof one) < 0) { /* EAGAIN: the counter is full, so it is readable anyway */
  }
}

bool lvsd_tcp_command(tcp_prober *p, const tcp_cmd *c) {
  pthread_mutex_lock(&p->mu);
  if (p->cmds_n == p->cmds_cap) {
    uint32_t cap = p->cmds_cap ? p->cmds_cap * 2 : 64;
    tcp_cmd *q = realloc(p->cmds, sizeof *q * cap);
    if (q == NULL) {
      pthread_mutex_unlock(&p->mu);
      return false;
    }
    p->cmds = q;
    p->cmds_cap = cap;
  }
  p->cmds[p->cmds_n++] = *c;
  bool wake = !p->wake_pending;
  p->wake_pending = true;
  pthread_mutex_unlock(&p->mu);
  if (wake) wake_engine(p); /* one write per batch of commands the engine has not taken yet */
  return true;
}

/* ---- delivery (main thread) ---- */

static bool grow_buf(void **buf, uint32_t *cap, uint32_t want, size_t size) {
  if (want <= *cap) return true;
  uint32_t c = *cap ? *cap : 512;
  while (c < want) c *= 2;
  void *b = realloc(*buf, size * c);
  if (b == NULL) return false;
  *buf = b;
  *cap = c;
  return true;
}

/* The engine's queue, taken in one go: outcomes of watches and one-offs JavaScript has since removed,
   cancelled or made again (another epoch) are dropped here; the rest go to the callback in one call. */
static void on_async(uv_async_t *a) {
  tcp_prober *p = a->data;
  if (p->closing || p->delivering) return;
  pthread_mutex_lock(&p->mu);
  tcp_outcome *q = p->out;
  uint32_t n = p->out_n, cap = p->out_cap;
  p->out = p->taken;
  p->out_cap = p->taken_cap;
  p->out_n = 0;
  pthread_mutex_unlock(&p->mu);
  p->taken = q;
  p->taken_cap = cap;
  if (n == 0) return;
  if (!grow_buf((void **)&p->deliver_buf, &p->deliver_cap, n * OUT_WIDTH, sizeof(double)) ||
      !grow_buf((void **)&p->done, &p->done_cap, n, sizeof(uint32_t)))
    return; /* out of memory: these outcomes are lost; a one-off's promise would wait for close */
  uint32_t m = 0, done_n = 0;
  for (uint32_t i = 0; i < n; i++) {
    tcp_outcome *o = &q[i];
    if (o->watch) {
      if (o->id >= p->js_nwatches || !p->js_used[o->id] || p->js_epoch[o->id] != o->epoch) continue;
    } else {
      if (o->id >= p->noneoff || !p->oneoff_pending[o->id] || p->oneoff_epoch[o->id] != o->epoch) continue;
      p->oneoff_pending[o->id] = 0;
      p->oneoffs_pending--;
      p->done[done_n++] = o->id;
    }
    double *r = &p->deliver_buf[OUT_WIDTH * m++];
    r[0] = o->id;
    r[1] = o->err;
    r[2] = o->latency_us;
    r[3] = o->watch;
    r[4] = o->run;
  }
  if (m > 0) {
    napi_env env = p->env;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      size_t len = (size_t)m * OUT_WIDTH;
      void *data;
      napi_value ab, arr;
      napi_create_arraybuffer(env, len * sizeof(double), &data, &ab);
      memcpy(data, p->deliver_buf, len * sizeof(double));
      napi_create_typedarray(env, napi_float64_array, len, ab, 0, &arr);
      /* the one-off ids stay taken until JavaScript has seen them, so a probe started from the callback
         cannot reuse one named further on in this batch; `done` is not touched by a nested call (delivering) */
      p->delivering = true;
      lvsd_call_js(env, p->callback, p->async_context, 1, &arr);
      p->delivering = false;
      napi_close_handle_scope(env, scope);
    }
  }
  for (uint32_t i = 0; i < done_n && p->oneoff_free != NULL; i++) p->oneoff_free[p->noneoff_free++] = p->done[i];
  /* more came while JavaScript ran: the next wake of the loop takes it */
}

/* ---- the engine on its own thread ---- */

static int timeout_ms(uint64_t next) {
  if (next == 0) return -1;
  uint64_t now = lvsd_tcp_now_ns();
  if (next <= now) return 0;
  uint64_t ms = (next - now + 999999) / 1000000;
  return ms > 60000 ? 60000 : (int)ms;
}

static void *engine_thread(void *arg) {
  tcp_prober *p = arg;
  __atomic_store_n(&p->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
  struct epoll_event ev[MAX_EVENTS];
  uint64_t next = 0;
  for (;;) {
    int k = epoll_wait(p->epfd, ev, MAX_EVENTS, timeout_ms(next));
    if (k < 0) {
      if (errno != EINTR) nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL); /* cannot happen: the set is ours */
      k = 0;
    }
    next = lvsd_tcp_turn(p, ev, k);
    if (p->stop_seen) return NULL;
  }
}

/* ---- the engine on the Node loop (fallback) ---- */

static void on_timer(uv_timer_t *t);

/* Arm the timer for the earliest deadline or turn, unless it is already armed for that or earlier. */
static void arm(tcp_prober *p, uint64_t first) {
  if (p->closing) return;
  if (first == 0) {
    if (p->armed_ns != 0) uv_timer_stop(&p->timer);
    p->armed_ns = 0;
    return;
  }
  uint64_t now = lvsd_tcp_now_ns();
  if (p->poll_dead && first > now + 10000000u) first = now + 10000000u;
  if (p->armed_ns != 0 && p->armed_ns <= first) return; /* fires first anyway; re-armed then */
  uint64_t ms = first > now ? (first - now + 999999) / 1000000 : 0;
  uv_timer_start(&p->timer, on_timer, ms, 0);
  p->armed_ns = first;
}

static void on_timer(uv_timer_t *t) {
  tcp_prober *p = t->data;
  p->armed_ns = 0;
  if (!p->closing) arm(p, lvsd_tcp_turn(p, NULL, -1));
}

void lvsd_tcp_kick(tcp_prober *p) {
  if (!p->threaded && !p->closing && p->handles_open > 1) arm(p, lvsd_tcp_turn(p, NULL, -1));
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  tcp_prober *p = handle->data;
  if (p->closing) return;
  if (status < 0) {
    /* libuv stopped the poll (POLLERR; an epoll fd has no reason to report one). Left stopped, completed
       connects would only be seen when a deadline fires: poll again, or let the timer wake every 10 ms. */
    if (!p->poll_dead && uv_poll_start(&p->poll, UV_READABLE, on_poll) < 0) p->poll_dead = true;
  }
  arm(p, lvsd_tcp_turn(p, NULL, -1));
}

/* ---- start and stop ---- */

static int run_on_loop(tcp_prober *p, uv_loop_t *loop) {
  int rc = uv_poll_init(loop, &p->poll, p->epfd);
  if (rc < 0) return rc;
  p->poll.data = p;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  p->handles_open += 2;
  p->threaded = false;
  rc = uv_poll_start(&p->poll, UV_READABLE, on_poll);
  return rc;
}

int lvsd_tcp_run(tcp_prober *p, uv_loop_t *loop, int mode) {
  int rc = uv_async_init(loop, &p->async, on_async);
  if (rc < 0) return rc;
  p->async.data = p;
  p->handles_open = 1;
  if (mode == 1) return run_on_loop(p, loop);
  rc = EAGAIN; /* mode 2: as if the system had no thread to give */
  if (mode == 0) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    /* signals stay the main thread's: the engine's thread blocks them all */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->thread, &attr, engine_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0) {
      pthread_setname_np(p->thread, "lvsd-tcp-probe");
      p->threaded = true;
      /* its id, for tcpProberNice: published as its first act (microseconds) */
      while (__atomic_load_n(&p->tid, __ATOMIC_ACQUIRE) == 0) sched_yield();
      return 0;
    }
  }
  (void)rc; /* the thread could not be created: the engine runs on the Node loop instead */
  return run_on_loop(p, loop);
}

void lvsd_tcp_stop(tcp_prober *p) {
  if (p->threaded) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_mutex_unlock(&p->mu);
    wake_engine(p);
    pthread_join(p->thread, NULL);
    p->threaded = false;
    return;
  }
  if (p->handles_open > 1) {
    uv_poll_stop(&p->poll);
    uv_timer_stop(&p->timer);
  }
}
