/*
 * Periodic TCP checks ("watches") of the prober (tcp_probe.c): JavaScript registers a target with its
 * interval, timeout, first turn and its rise and fall; the prober starts its probes on time (turns due
 * within 10 ms of each other share one wake-up) and skips a turn while the previous probe is still under way.
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

static void queue(tcp_prober *p, uint32_t w, int err, double latency_us, uint32_t run) {
  double *o = lvsd_tcp_next_out(p);
  if (o == NULL) return;
  o[0] = (double)w;
  o[1] = (double)err;
  o[2] = latency_us;
  o[3] = 1;
  o[4] = (double)run;
}

static void histogram_add(tcp_prober *p, double latency_us) {
  uint32_t b = 0;
  while (b < p->nbounds && latency_us > p->bounds_us[b]) b++;
  p->hist[b]++;
  p->hist_sum_us += latency_us;
  p->hist_count++;
}

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
    if (x->slot != NO_WATCH || (p->max_in_flight && p->watch_in_flight >= p->max_in_flight) || !lvsd_tcp_grow(p)) {
      p->skipped++;
      continue;
    }
    int err = 0;
    int64_t id = lvsd_tcp_start(p, &x->sa, x->salen, x->timeout_ms, x->reset, &err);
    if (id < 0) {
      lvsd_tcp_watch_outcome(p, w, err, 0, lvsd_tcp_now_ns());
      continue;
    }
    p->slots[id].watch = w;
    x->slot = (uint32_t)id;
    p->watch_in_flight++;
  }
}

/* ---- from JavaScript ---- */

static bool reserve(napi_env env, tcp_prober *p, uint32_t id) {
  if (id < p->nwatches) return true;
  uint32_t cap = p->nwatches ? p->nwatches : 256;
  while (cap <= id) cap *= 2;
  watch *w = realloc(p->watches, sizeof *w * cap);
  if (w != NULL) p->watches = w;
  uint32_t *t = w != NULL ? realloc(p->turns, sizeof *t * cap) : NULL;
  if (t != NULL) p->turns = t;
  uint32_t *sc = t != NULL ? realloc(p->scratch, sizeof *sc * cap) : NULL;
  if (sc == NULL) {
    lvsd_throw_errno(env, "realloc", ENOMEM, "watches");
    return false;
  }
  p->scratch = sc;
  memset(&p->watches[p->nwatches], 0, sizeof *w * (cap - p->nwatches));
  for (uint32_t i = p->nwatches; i < cap; i++) p->watches[i].heap_pos = NO_HEAP;
  p->nwatches = cap;
  return true;
}

/*
 * tcpWatch(handle, id, address, port, intervalMs, timeoutMs, firstInMs, rise, fall, reset, runOk, run):
 * probe every interval from then on. runOk/run carry on a run JavaScript already counted (runOk -1: none).
 */
napi_value lvsd_tcp_watch(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 12) {
    lvsd_throw_type(env, "tcpWatch(handle, id, address, port, intervalMs, timeoutMs, firstInMs, rise, fall, reset, runOk, run)");
    return NULL;
  }
  tcp_prober *p = lvsd_tcp_unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  uint32_t id, interval_ms, timeout_ms, first_ms, rise, fall, run;
  int32_t run_ok;
  bool reset;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (!lvsd_arg_u32(env, argv[1], &id) || !lvsd_tcp_sockaddr_arg(env, argv[2], argv[3], &sa, &salen) ||
      !lvsd_arg_u32(env, argv[4], &interval_ms) || !lvsd_arg_u32(env, argv[5], &timeout_ms) || !lvsd_arg_u32(env, argv[6], &first_ms) ||
      !lvsd_arg_u32(env, argv[7], &rise) || !lvsd_arg_u32(env, argv[8], &fall) || !lvsd_arg_bool(env, argv[9], &reset) ||
      napi_get_value_int32(env, argv[10], &run_ok) != napi_ok || !lvsd_arg_u32(env, argv[11], &run))
    return NULL;
  if (id >= 1u << 24 || interval_ms == 0) {
    lvsd_throw_type(env, "watch id must be below 2^24 and the interval above 0");
    return NULL;
  }
  if (p->closing || !reserve(env, p, id)) return NULL;
  watch *x = &p->watches[id];
  if (x->used) {
    lvsd_throw_type(env, "watch id already in use");
    return NULL;
  }
  memset(x, 0, sizeof *x);
  x->used = true;
  x->reset = reset;
  x->slot = NO_WATCH;
  x->sa = sa;
  x->salen = salen;
  x->interval_ns = (uint64_t)interval_ms * 1000000u;
  x->timeout_ms = timeout_ms;
  x->rise = rise ? rise : 1;
  x->fall = fall ? fall : 1;
  x->last_ok = run_ok < 0 || run == 0 ? -1 : run_ok != 0;
  x->last_errno = -1; /* unknown: the next outcome is delivered, its run carried on */
  x->run = x->last_ok < 0 ? 0 : run;
  x->due_ns = lvsd_tcp_now_ns() + (uint64_t)first_ms * 1000000u;
  turn_push(p, id);
  lvsd_tcp_arm(p);
  return NULL;
}

static watch *watch_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv, tcp_prober **pp, uint32_t *idp) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < want ? NULL : lvsd_tcp_unwrap(env, argv[0]);
  uint32_t id;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &id)) return NULL;
  if (p->closing || id >= p->nwatches || !p->watches[id].used) return NULL;
  *pp = p;
  *idp = id;
  return &p->watches[id];
}

/* tcpUnwatch(handle, id): no more turns; a probe under way is closed and its outcome never delivered. */
napi_value lvsd_tcp_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p;
  uint32_t id;
  watch *x = watch_arg(env, info, 2, argv, &p, &id);
  if (x == NULL) return NULL;
  turn_remove(p, id);
  if (x->slot != NO_WATCH) { /* under way (a finished probe has already cleared x->slot) */
    lvsd_tcp_drop(p, x->slot);
    p->watch_in_flight--;
  }
  x->slot = NO_WATCH;
  x->used = false;
  lvsd_tcp_arm(p);
  return NULL;
}

/* tcpWatchNext(handle, id, inMs): the watch's next turn in inMs (sooner or later than planned), its run kept. */
napi_value lvsd_tcp_watch_next(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tcp_prober *p;
  uint32_t id, in_ms;
  watch *x = watch_arg(env, info, 3, argv, &p, &id);
  if (x == NULL || !lvsd_arg_u32(env, argv[2], &in_ms)) return NULL;
  turn_remove(p, id);
  x->due_ns = lvsd_tcp_now_ns() + (uint64_t)in_ms * 1000000u;
  turn_push(p, id);
  lvsd_tcp_arm(p);
  return NULL;
}

static napi_value float64s(napi_env env, const double *vals, size_t n) {
  void *data;
  napi_value ab, arr;
  napi_create_arraybuffer(env, n * sizeof(double), &data, &ab);
  if (n > 0) memcpy(data, vals, n * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, n, ab, 0, &arr);
  return arr;
}

/*
 * tcpWatchState(handle) -> Float64Array of [lastOk (-1 none), errno, run, latency us, ms since] per watch id
 * (unused ids read -1): what status shows of each watch.
 */
napi_value lvsd_tcp_watch_state(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 1 ? NULL : lvsd_tcp_unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  size_t n = (size_t)p->nwatches * 5;
  double *v = malloc(sizeof(double) * (n ? n : 1));
  if (v == NULL) {
    lvsd_throw_errno(env, "malloc", ENOMEM, "watch state");
    return NULL;
  }
  uint64_t now = lvsd_tcp_now_ns();
  for (uint32_t i = 0; i < p->nwatches; i++) {
    watch *x = &p->watches[i];
    double *r = &v[5 * i];
    bool seen = x->used && x->last_at_ns != 0 && x->last_ok >= 0;
    r[0] = seen ? x->last_ok : -1;
    r[1] = seen ? x->last_errno : -1;
    r[2] = x->used ? x->run : 0;
    r[3] = seen ? x->latency_us : 0;
    r[4] = seen ? (double)(now - x->last_at_ns) / 1e6 : -1;
  }
  napi_value arr = float64s(env, v, n);
  free(v);
  return arr;
}

/*
 * tcpWatchCounts(handle) -> Float64Array: [id, connected, failed] for every watch with outcomes since the
 * last call, then the latency histogram since then: one count per bound and one beyond, sum (us), count.
 * Reading resets them (metrics add them up).
 */
napi_value lvsd_tcp_watch_counts(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tcp_prober *p = argc < 1 ? NULL : lvsd_tcp_unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  uint32_t with = 0;
  for (uint32_t i = 0; i < p->nwatches; i++) {
    watch *x = &p->watches[i];
    if (!x->used) x->ok_n = x->fail_n = 0; /* an unwatched id's last counts go with it */
    if (x->ok_n + x->fail_n > 0) with++;
  }
  size_t n = (size_t)with * 3 + p->nbounds + 3;
  double *v = malloc(sizeof(double) * n);
  if (v == NULL) {
    lvsd_throw_errno(env, "malloc", ENOMEM, "watch counts");
    return NULL;
  }
  size_t k = 0;
  for (uint32_t i = 0; i < p->nwatches; i++) {
    watch *x = &p->watches[i];
    if (x->ok_n + x->fail_n == 0) continue;
    v[k++] = i;
    v[k++] = x->ok_n;
    v[k++] = x->fail_n;
    x->ok_n = x->fail_n = 0;
  }
  for (uint32_t b = 0; b <= p->nbounds; b++) {
    v[k++] = p->hist[b];
    p->hist[b] = 0;
  }
  v[k++] = p->hist_sum_us;
  v[k++] = p->hist_count;
  p->hist_sum_us = p->hist_count = 0;
  napi_value arr = float64s(env, v, n);
  free(v);
  return arr;
}
