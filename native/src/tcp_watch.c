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

/* ---- the turn heap (watches by due time) ----
   Each entry's due time sits beside its watch id (turn_due[i] is turns[i]'s due_ns): the sifts compare
   contiguous keys instead of reaching into a watch each (at 10,000 watches the watch array is ~1 MiB,
   and every probe sifts through ~14 levels). */

static void turn_set(tcp_prober *p, uint32_t i, uint32_t w, uint64_t due) {
  p->turns[i] = w;
  p->turn_due[i] = due;
  p->watches[w].heap_pos = i;
}

static void turn_fix(tcp_prober *p, uint32_t i) {
  uint32_t w = p->turns[i];
  uint64_t due = p->turn_due[i];
  while (i > 0 && due < p->turn_due[(i - 1) / 2]) {
    uint32_t up = (i - 1) / 2;
    turn_set(p, i, p->turns[up], p->turn_due[up]);
    i = up;
  }
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = l;
    if (l >= p->turns_n) break;
    if (r < p->turns_n && p->turn_due[r] < p->turn_due[l]) m = r;
    if (p->turn_due[m] >= due) break;
    turn_set(p, i, p->turns[m], p->turn_due[m]);
    i = m;
  }
  turn_set(p, i, w, due);
}

static void turn_push(tcp_prober *p, uint32_t w) {
  uint32_t i = p->turns_n++;
  turn_set(p, i, w, p->watches[w].due_ns);
  turn_fix(p, i);
}

static void turn_remove(tcp_prober *p, uint32_t w) {
  uint32_t i = p->watches[w].heap_pos;
  if (i == NO_HEAP) return;
  p->watches[w].heap_pos = NO_HEAP;
  uint32_t last = --p->turns_n;
  if (i == last) return;
  turn_set(p, i, p->turns[last], p->turn_due[last]);
  turn_fix(p, i);
}

uint64_t lvsd_tcp_first_turn(tcp_prober *p) {
  return p->turns_n > 0 ? p->turn_due[0] : 0;
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

/* One watch's probe, its turn taken (skipped while the last is under way or at the limit). */
static void start_turn(tcp_prober *p, uint32_t w) {
  watch *x = &p->watches[w];
  if (x->slot != NO_SLOT || (p->max_in_flight && p->watch_in_flight >= p->max_in_flight) || !lvsd_tcp_grow(p)) {
    p->skipped++;
    return;
  }
  int err = 0;
  double latency_us;
  uint64_t at;
  bool try_settle = x->settle_skip == 0;
  if (!try_settle) x->settle_skip--;
  int64_t id = lvsd_tcp_start(p, &x->addr, x->timeout_ms, x->reset, try_settle, &err, &latency_us, &at);
  if (id < 0) { /* settled at once: connected or refused (its latency), or this host's own failure (0) */
    lvsd_tcp_fold_later(p, true, w, x->epoch, err, latency_us, at != 0 ? at : lvsd_tcp_now_ns());
    return;
  }
  /* still under way after connect(): a server across a real link, where asking costs a connect() for
     nothing; ask again only every SETTLE_SKIP + 1-th probe (a server may move, a loaded host defer) */
  if (try_settle) x->settle_skip = SETTLE_SKIP;
  p->slots[id].watch = w;
  p->slots[id].epoch = x->epoch;
  x->slot = (uint32_t)id;
  p->watch_in_flight++;
}

/* Starts every watch whose turn is due by now + COALESCE_NS; each gets its next turn one interval on. The
   due watch at the top of the heap is moved to its next turn in place (one sift down, not a removal and a
   push); one whose next turn would still fall inside this wake-up (an interval under COALESCE_NS after a
   late wake) is taken out until the end, so that no watch starts twice in one wake-up. */
void lvsd_tcp_run_turns(tcp_prober *p) {
  uint64_t now = lvsd_tcp_now_ns();
  uint64_t horizon = now + COALESCE_NS;
  uint32_t n = 0;
  while (p->turns_n > 0 && p->turn_due[0] <= horizon) {
    uint32_t w = p->turns[0];
    watch *x = &p->watches[w];
    uint64_t due = x->due_ns + x->interval_ns;
    while (due <= now) due += x->interval_ns;
    x->due_ns = due;
    if (due <= horizon) {
      turn_remove(p, w);
      p->scratch[n++] = w;
    } else {
      p->turn_due[0] = due;
      turn_fix(p, 0);
    }
    start_turn(p, w);
  }
  for (uint32_t k = 0; k < n; k++) turn_push(p, p->scratch[k]);
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
  uint64_t *td = realloc(p->turn_due, sizeof *td * cap);
  if (td == NULL) return false;
  p->turn_due = td;
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
