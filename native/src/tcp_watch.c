/*
 * Periodic TCP checks ("watches") of the prober (tcp_probe.c), the engine's side: JavaScript registers a
 * target with its interval, timeout, first turn and its rise and fall (tcp_watch_api.c queues that as a
 * command, applied here); the engine starts its probes on time (turns due within 10 ms of each other share
 * one wake-up) and skips a turn while the previous probe is still under way.
 *
 * Outcomes are folded here, not sent one by one: each watch keeps its run (how many consecutive outcomes
 * had the same verdict, connected or not), its last outcome and counters. JavaScript hears an outcome only
 * when it can change something: the first of a run (the verdict flipped), the one whose run reaches rise
 * (successes) or fall (failures), one whose errno differs from the last (the reason changed), and every
 * failure that is the director's own (errnos JavaScript marked local: never counted in a run, since they say
 * nothing about the server). In the steady state of thousands of healthy servers that is nothing at all;
 * status and metrics read the runs, last outcomes, counters and the latency histogram when they want them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_probe_int.h"

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

static void turn_push(tcp_prober *p, uint32_t w) {
  p->watches[w].heap_pos = p->turns_n;
  p->turns[p->turns_n++] = w;
  turn_fix(p, p->watches[w].heap_pos);
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

uint64_t lvsd_tcp_first_turn(tcp_prober *p) {
  return p->turns_n > 0 ? p->watches[p->turns[0]].due_ns : 0;
}

/* ---- outcomes ---- */

tcp_outcome *lvsd_tcp_next_out(tcp_prober *p) {
  if (p->out_n == p->out_cap) {
    uint32_t cap = p->out_cap ? p->out_cap * 2 : 512;
    tcp_outcome *o = realloc(p->out, sizeof *o * cap);
    if (o == NULL) return NULL;
    p->out = o;
    p->out_cap = cap;
  }
  return &p->out[p->out_n++];
}

static void queue(tcp_prober *p, uint32_t w, int err, double latency_us, uint32_t run) {
  tcp_outcome *o = lvsd_tcp_next_out(p);
  if (o != NULL) *o = (tcp_outcome){.id = w, .epoch = p->watches[w].epoch, .err = err, .run = run, .watch = true, .latency_us = latency_us};
}

static void histogram_add(tcp_prober *p, double latency_us) {
  uint32_t b = 0;
  while (b < p->nbounds && latency_us > p->bounds_us[b]) b++;
  p->hist[b]++;
  p->hist_sum_us += latency_us;
  p->hist_count++;
}

/* Under mu (the run and counters are what status and metrics read). */
void lvsd_tcp_watch_outcome(tcp_prober *p, uint32_t w, int err, double latency_us, uint64_t at) {
  watch *x = &p->watches[w];
  if (err > 0 && err < LOCAL_ERRNO_MAX && p->local_errno[err]) {
    queue(p, w, err, latency_us, 0); /* the director's own: JavaScript logs it and retries; the run stands */
    return;
  }
  int8_t ok = err == 0;
  bool tell;
  if (x->last_ok != ok) {
    x->run = 1;
    tell = true;
  } else {
    if (x->run < UINT32_MAX) x->run++;
    tell = err != x->last_errno || x->run == (ok ? x->rise : x->fall);
  }
  x->last_ok = ok;
  x->last_errno = err;
  x->latency_us = latency_us;
  x->last_at_ns = at;
  if (ok) x->ok_n++;
  else x->fail_n++;
  histogram_add(p, latency_us);
  if (tell) queue(p, w, err, latency_us, x->run);
}

/* ---- turns ---- */

/* Starts every watch whose turn is due by now + COALESCE_NS; each gets its next turn one interval on. */
void lvsd_tcp_run_turns(tcp_prober *p) {
  uint64_t now = lvsd_tcp_now_ns();
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
    turn_push(p, w);
    if (x->slot != NO_SLOT || (p->max_in_flight && p->watch_in_flight >= p->max_in_flight) || !lvsd_tcp_grow(p)) {
      p->skipped++;
      continue;
    }
    int err = 0;
    double latency_us;
    bool try_settle = x->settle_skip == 0;
    if (!try_settle) x->settle_skip--;
    int64_t id = lvsd_tcp_start(p, &x->addr, x->timeout_ms, x->reset, try_settle, &err, &latency_us);
    if (id < 0) { /* settled at once: connected or refused (its latency), or this host's own failure (0) */
      lvsd_tcp_fold_later(p, true, w, x->epoch, err, latency_us, lvsd_tcp_now_ns());
      continue;
    }
    /* still under way after connect(): a server across a real link, where asking costs a connect() for
       nothing; ask again only every SETTLE_SKIP + 1-th probe (a server may move, a loaded host defer) */
    if (try_settle) x->settle_skip = SETTLE_SKIP;
    p->slots[id].watch = w;
    p->slots[id].epoch = x->epoch;
    x->slot = (uint32_t)id;
    p->watch_in_flight++;
  }
}

/* ---- commands ---- */

/* Room for watch id `id`: the array JavaScript's reads share is reallocated under mu. */
static bool reserve(tcp_prober *p, uint32_t id) {
  if (id < p->nturns_cap) return true;
  uint32_t cap = p->nturns_cap ? p->nturns_cap : 256;
  while (cap <= id) cap *= 2;
  uint32_t *t = realloc(p->turns, sizeof *t * cap);
  if (t == NULL) return false;
  p->turns = t;
  uint32_t *sc = realloc(p->scratch, sizeof *sc * cap);
  if (sc == NULL) return false;
  p->scratch = sc;
  pthread_mutex_lock(&p->mu);
  watch *w = realloc(p->watches, sizeof *w * cap);
  if (w != NULL) {
    memset(&w[p->nwatches], 0, sizeof *w * (cap - p->nwatches));
    for (uint32_t i = p->nwatches; i < cap; i++) {
      w[i].heap_pos = NO_HEAP;
      w[i].slot = NO_SLOT;
      w[i].last_ok = -1;
    }
    p->watches = w;
    p->nwatches = cap;
  }
  pthread_mutex_unlock(&p->mu);
  if (w == NULL) return false;
  p->nturns_cap = cap;
  return true;
}

static void unwatch(tcp_prober *p, uint32_t id) {
  watch *x = &p->watches[id];
  turn_remove(p, id);
  if (x->slot != NO_SLOT) { /* under way: closed, its outcome never delivered */
    lvsd_tcp_drop(p, x->slot);
    p->watch_in_flight--;
  }
  x->slot = NO_SLOT;
  x->used = false;
}

void lvsd_tcp_watch_command(tcp_prober *p, const tcp_cmd *c) {
  if (c->op != CMD_WATCH) {
    if (c->id >= p->nwatches || !p->watches[c->id].used || p->watches[c->id].epoch != c->epoch) return;
    if (c->op == CMD_UNWATCH) {
      unwatch(p, c->id);
      return;
    }
    turn_remove(p, c->id); /* CMD_NEXT: the next turn sooner or later than planned, the run kept */
    p->watches[c->id].due_ns = c->due_ns;
    turn_push(p, c->id);
    return;
  }
  if (!reserve(p, c->id)) {
    /* out of memory: the watch cannot be made; JavaScript hears ENOMEM (run 0: this host's own failure) */
    pthread_mutex_lock(&p->mu);
    tcp_outcome *o = lvsd_tcp_next_out(p);
    if (o != NULL) *o = (tcp_outcome){.id = c->id, .epoch = c->epoch, .err = ENOMEM, .run = 0, .watch = true, .latency_us = 0};
    pthread_mutex_unlock(&p->mu);
    uv_async_send(&p->async);
    return;
  }
  watch *x = &p->watches[c->id];
  if (x->used) unwatch(p, c->id);
  x->used = true;
  x->reset = c->reset;
  x->slot = NO_SLOT;
  x->addr = c->addr;
  x->interval_ns = c->interval_ns;
  x->timeout_ms = c->timeout_ms;
  x->rise = c->rise ? c->rise : 1;
  x->fall = c->fall ? c->fall : 1;
  x->due_ns = c->due_ns;
  x->settle_skip = 0;
  pthread_mutex_lock(&p->mu);
  x->epoch = c->epoch;
  x->last_ok = c->run_ok < 0 || c->run == 0 ? -1 : c->run_ok != 0;
  x->last_errno = -1; /* unknown: the next outcome is delivered, its run carried on */
  x->run = x->last_ok < 0 ? 0 : c->run;
  x->latency_us = 0;
  x->last_at_ns = 0;
  x->ok_n = x->fail_n = 0;
  pthread_mutex_unlock(&p->mu);
  turn_push(p, c->id);
}
