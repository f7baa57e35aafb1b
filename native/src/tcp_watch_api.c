/*
 * The JavaScript entry points of the TCP prober's watches (periodic checks; the engine's side is
 * tcp_watch.c). Adding, removing and moving a watch are commands queued for the engine; each watch id has
 * an epoch here, bumped when JavaScript makes it again, so an outcome or a count of an earlier incarnation
 * (still queued, or folded before the engine took the removal) is never taken for the new one. Reads
 * (status, metrics) copy the engine's runs and counters under the mutex. Main thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_probe.h"
#include "tcp_probe_int.h"

/* Room for watch id `id` in the main thread's arrays; false after throwing. */
static bool reserve(napi_env env, tcp_prober *p, uint32_t id) {
  if (id < p->js_nwatches) return true;
  uint32_t cap = p->js_nwatches ? p->js_nwatches : 256;
  while (cap <= id) cap *= 2;
  uint32_t *e = realloc(p->js_epoch, sizeof *e * cap);
  if (e != NULL) p->js_epoch = e;
  uint8_t *u = e != NULL ? realloc(p->js_used, cap) : NULL;
  if (u == NULL) {
    lvsd_throw_errno(env, "realloc", ENOMEM, "watches");
    return false;
  }
  p->js_used = u;
  memset(&e[p->js_nwatches], 0, sizeof *e * (cap - p->js_nwatches));
  memset(&u[p->js_nwatches], 0, cap - p->js_nwatches);
  p->js_nwatches = cap;
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
  tcp_cmd c = {.op = CMD_WATCH};
  uint32_t interval_ms, first_ms;
  int32_t run_ok;
  if (!lvsd_arg_u32(env, argv[1], &c.id) || !lvsd_tcp_addr_arg(env, argv[2], argv[3], &c.addr) ||
      !lvsd_arg_ms_u32(env, argv[4], "intervalMs", 1, &interval_ms) || !lvsd_arg_ms_u32(env, argv[5], "timeoutMs", 0, &c.timeout_ms) ||
      !lvsd_arg_ms_u32(env, argv[6], "firstInMs", 0, &first_ms) ||
      !lvsd_arg_u32(env, argv[7], &c.rise) || !lvsd_arg_u32(env, argv[8], &c.fall) || !lvsd_arg_bool(env, argv[9], &c.reset) ||
      napi_get_value_int32(env, argv[10], &run_ok) != napi_ok || !lvsd_arg_u32(env, argv[11], &c.run))
    return NULL;
  if (c.id >= 1u << 24 || interval_ms == 0) {
    lvsd_throw_type(env, "watch id must be below 2^24 and the interval above 0");
    return NULL;
  }
  if (p->closing || !reserve(env, p, c.id)) return NULL;
  if (p->js_used[c.id]) {
    lvsd_throw_type(env, "watch id already in use");
    return NULL;
  }
  c.run_ok = (int8_t)(run_ok < 0 ? -1 : run_ok != 0);
  c.interval_ns = (uint64_t)interval_ms * 1000000u;
  c.due_ns = lvsd_tcp_now_ns() + (uint64_t)first_ms * 1000000u;
  c.epoch = p->js_epoch[c.id] + 1;
  if (!lvsd_tcp_command(p, &c)) {
    lvsd_throw_errno(env, "realloc", ENOMEM, "watch command");
    return NULL;
  }
  p->js_epoch[c.id] = c.epoch;
  p->js_used[c.id] = 1;
  return NULL;
}

static bool watched(napi_env env, napi_callback_info info, size_t want, napi_value *argv, tcp_prober **pp, uint32_t *idp) {
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, want, argv);
  uint32_t id;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &id)) return false;
  if (p->closing || id >= p->js_nwatches || !p->js_used[id]) return false;
  *pp = p;
  *idp = id;
  return true;
}

/* tcpUnwatch(handle, id): no more turns; a probe under way is closed and its outcome never delivered. */
napi_value lvsd_tcp_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p;
  uint32_t id;
  if (!watched(env, info, 2, argv, &p, &id)) return NULL;
  tcp_cmd c = {.op = CMD_UNWATCH, .id = id, .epoch = p->js_epoch[id]};
  /* out of memory: the engine keeps probing it, but nothing of it is told or read (not used here), and
     the id made again gets another epoch, whose command replaces it */
  lvsd_tcp_command(p, &c);
  p->js_used[id] = 0;
  return NULL;
}

/* tcpWatchNext(handle, id, inMs): the watch's next turn in inMs (sooner or later than planned), its run kept. */
napi_value lvsd_tcp_watch_next(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tcp_prober *p;
  uint32_t id, in_ms;
  if (!watched(env, info, 3, argv, &p, &id) || !lvsd_arg_ms_u32(env, argv[2], "inMs", 0, &in_ms)) return NULL;
  tcp_cmd c = {.op = CMD_NEXT, .id = id, .epoch = p->js_epoch[id], .due_ns = lvsd_tcp_now_ns() + (uint64_t)in_ms * 1000000u};
  lvsd_tcp_command(p, &c); /* out of memory: the turn stays as planned */
  return NULL;
}

/* The engine's record of watch i when it is JavaScript's current incarnation of it (under mu). */
static watch *current(tcp_prober *p, uint32_t i) {
  if (i >= p->nwatches || !p->js_used[i]) return NULL;
  watch *x = &p->watches[i];
  return x->used && x->epoch == p->js_epoch[i] ? x : NULL;
}

/*
 * tcpWatchState(handle) -> Float64Array of [lastOk (-1 none), errno, run, latency us, ms since] per watch id
 * (unused ids read -1): what status shows of each watch.
 */
napi_value lvsd_tcp_watch_state(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 1, argv);
  if (p == NULL) return NULL;
  size_t n = p->closing ? 0 : (size_t)p->js_nwatches * 5;
  void *data;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, n * sizeof(double), &data, &ab) != napi_ok) return NULL;
  double *v = data;
  uint64_t now = lvsd_tcp_now_ns();
  if (n > 0) pthread_mutex_lock(&p->mu);
  for (uint32_t i = 0; i < n / 5; i++) {
    watch *x = current(p, i);
    double *r = &v[5 * i];
    bool seen = x != NULL && x->last_at_ns != 0 && x->last_ok >= 0;
    r[0] = seen ? x->last_ok : -1;
    r[1] = seen ? x->last_errno : -1;
    r[2] = x != NULL ? x->run : 0;
    r[3] = seen ? x->latency_us : 0;
    r[4] = seen ? (double)(now - x->last_at_ns) / 1e6 : -1;
  }
  if (n > 0) pthread_mutex_unlock(&p->mu);
  napi_create_typedarray(env, napi_float64_array, n, ab, 0, &arr);
  return arr;
}

/*
 * tcpWatchCounts(handle) -> Float64Array: [id, connected, failed] for every watch with outcomes since the
 * last call, then the latency histogram since then: one count per bound and one beyond, sum (us), count.
 * Reading resets them (metrics add them up).
 */
napi_value lvsd_tcp_watch_counts(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 1, argv);
  if (p == NULL) return NULL;
  size_t max = (size_t)(p->closing ? 0 : p->js_nwatches) * 3 + MAX_BUCKETS + 3;
  double *v = malloc(sizeof(double) * max);
  if (v == NULL) {
    lvsd_throw_errno(env, "malloc", ENOMEM, "watch counts");
    return NULL;
  }
  size_t k = 0;
  pthread_mutex_lock(&p->mu);
  for (uint32_t i = 0; !p->closing && i < p->js_nwatches && i < p->nwatches; i++) {
    watch *x = &p->watches[i];
    if (x->ok_n + x->fail_n == 0) continue;
    if (current(p, i) != NULL) {
      v[k++] = i;
      v[k++] = x->ok_n;
      v[k++] = x->fail_n;
    }
    x->ok_n = x->fail_n = 0; /* an unwatched id's last counts go with it */
  }
  for (uint32_t b = 0; b <= p->nbounds; b++) {
    v[k++] = p->hist[b];
    p->hist[b] = 0;
  }
  v[k++] = p->hist_sum_us;
  v[k++] = p->hist_count;
  p->hist_sum_us = p->hist_count = 0;
  pthread_mutex_unlock(&p->mu);
  void *data;
  napi_value ab, arr;
  napi_create_arraybuffer(env, k * sizeof(double), &data, &ab);
  memcpy(data, v, k * sizeof(double));
  free(v);
  napi_create_typedarray(env, napi_float64_array, k, ab, 0, &arr);
  return arr;
}
