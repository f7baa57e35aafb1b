/*
 * The TCP prober's JavaScript entry points for the prober and one-off probes (watches: tcp_watch_api.c):
 * arguments read and checked here, then queued for the engine as commands or read under the mutex.
 * src/net/tcp-probe.ts is the one caller. Everything here runs on the main thread.
 */
#include <errno.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_probe.h"
#include "tcp_probe_int.h"

bool lvsd_tcp_addr_arg(napi_env env, napi_value addr_v, napi_value port_v, tcp_addr *a) {
  void *addr;
  size_t alen;
  uint32_t port;
  if (!lvsd_arg_buffer(env, addr_v, &addr, &alen) || !lvsd_arg_u32(env, port_v, &port)) return false;
  if ((alen != 4 && alen != 16) || port == 0 || port > 65535) {
    lvsd_throw_type(env, "address must be 4 or 16 bytes and port 1..65535");
    return false;
  }
  memset(a, 0, sizeof *a);
  if (alen == 4) {
    a->in.sin_family = AF_INET;
    a->in.sin_port = htons((uint16_t)port);
    memcpy(&a->in.sin_addr, addr, 4);
  } else {
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_port = htons((uint16_t)port);
    memcpy(&a->in6.sin6_addr, addr, 16);
  }
  return true;
}

tcp_prober *lvsd_tcp_handle_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc < want ? NULL : lvsd_tcp_unwrap(env, argv[0]);
}

/* tcpProberOpen(callback(outcomes: Float64Array)[, engine: 0 thread | 1 the Node loop | 2 as if no thread]) -> handle */
napi_value lvsd_tcp_prober_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype cbt = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &cbt);
  if (cbt != napi_function) {
    lvsd_throw_type(env, "tcpProberOpen(callback[, engine])");
    return NULL;
  }
  uint32_t mode = 0;
  if (argc >= 2 && (!lvsd_arg_u32(env, argv[1], &mode) || mode > 2)) {
    if (mode > 2) lvsd_throw_type(env, "engine must be 0 (thread), 1 (loop) or 2 (thread fails)");
    return NULL;
  }
  return lvsd_tcp_open(env, argv[0], (int)mode);
}

/* Room for one-off id `id` in the main thread's arrays. */
static bool oneoff_reserve(tcp_prober *p, uint32_t id) {
  if (id < p->oneoff_cap) return true;
  uint32_t cap = p->oneoff_cap ? p->oneoff_cap * 2 : 64;
  uint32_t *e = realloc(p->oneoff_epoch, sizeof *e * cap);
  if (e == NULL) return false;
  p->oneoff_epoch = e;
  uint8_t *pd = realloc(p->oneoff_pending, cap);
  if (pd == NULL) return false;
  p->oneoff_pending = pd;
  uint32_t *f = realloc(p->oneoff_free, sizeof *f * cap);
  if (f == NULL) return false;
  p->oneoff_free = f;
  memset(&e[p->oneoff_cap], 0, sizeof *e * (cap - p->oneoff_cap));
  memset(&pd[p->oneoff_cap], 0, cap - p->oneoff_cap);
  p->oneoff_cap = cap;
  return true;
}

/*
 * tcpProbe(handle, address: Buffer(4|16), port, timeoutMs[, reset]) -> number
 *   >= 0: the probe's id (its outcome comes through the callback, even one known at once);
 *   < -1: failed at once with errno -(n + 1) (the prober is closed: EBADF; out of memory).
 */
napi_value lvsd_tcp_probe(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) {
    lvsd_throw_type(env, "tcpProbe(handle, address, port, timeoutMs[, reset])");
    return NULL;
  }
  tcp_prober *p = lvsd_tcp_unwrap(env, argv[0]);
  if (p == NULL) return NULL;
  tcp_cmd c = {.op = CMD_PROBE};
  if (!lvsd_tcp_addr_arg(env, argv[1], argv[2], &c.addr) || !lvsd_arg_ms_u32(env, argv[3], "timeoutMs", 0, &c.timeout_ms)) return NULL;
  if (argc >= 5 && !lvsd_arg_bool(env, argv[4], &c.reset)) return NULL;
  napi_value result;
  int32_t r;
  uint32_t id = p->noneoff_free > 0 ? p->oneoff_free[p->noneoff_free - 1] : p->noneoff;
  if (p->closing) {
    r = -1 - EBADF;
  } else if (!oneoff_reserve(p, id)) {
    r = -1 - ENOMEM;
  } else {
    c.id = id;
    c.epoch = ++p->oneoff_epoch[id];
    if (!lvsd_tcp_command(p, &c)) {
      r = -1 - ENOMEM;
    } else {
      if (p->noneoff_free > 0) p->noneoff_free--;
      else p->noneoff++;
      p->oneoff_pending[id] = 1;
      p->oneoffs_pending++;
      r = (int32_t)id;
      lvsd_tcp_kick(p);
    }
  }
  napi_create_int32(env, r, &result);
  return result;
}

/* tcpProbeCancel(handle, id): close a probe under way; its outcome is never delivered. */
napi_value lvsd_tcp_probe_cancel(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 2, argv);
  uint32_t id;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &id)) return NULL;
  if (p->closing || id >= p->noneoff || !p->oneoff_pending[id]) return NULL;
  tcp_cmd c = {.op = CMD_CANCEL, .id = id, .epoch = p->oneoff_epoch[id]};
  lvsd_tcp_command(p, &c); /* out of memory: the probe runs to its end, its outcome dropped (the id's epoch moves on) */
  p->oneoff_pending[id] = 0;
  p->oneoffs_pending--;
  /* free at once: an outcome of it still queued names the old epoch, and one in a batch being delivered
     was taken off pending when the batch was built (so this id was not pending) */
  p->oneoff_free[p->noneoff_free++] = id;
  return NULL;
}

/* tcpProberLimit(handle, max): watched probes under way at most (0 = no limit); turns beyond it are skipped. */
napi_value lvsd_tcp_prober_limit(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 2, argv);
  uint32_t max;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &max)) return NULL;
  pthread_mutex_lock(&p->mu);
  p->limit = max;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* tcpProberCloseAfter(handle, ms): how long a probe that connected inside connect() keeps its socket before
   closing it (0: closed at once); see lvsd_tcp_close_connected in tcp_socket.c. */
napi_value lvsd_tcp_prober_close_after(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 2, argv);
  uint32_t ms;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &ms)) return NULL;
  if (ms > 1000) {
    lvsd_throw_type(env, "tcpProberCloseAfter: at most 1000 ms");
    return NULL;
  }
  pthread_mutex_lock(&p->mu);
  p->close_after_cfg = (uint64_t)ms * 1000000u;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* tcpProberReuse(handle, on): whether a probe closed with FIN whose server closed first leaves its socket
   spare for the next probe instead of closing it (keep_spare in tcp_socket.c); off closes the spare ones. */
napi_value lvsd_tcp_prober_reuse(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 2, argv);
  bool on;
  if (p == NULL || !lvsd_arg_bool(env, argv[1], &on)) return NULL;
  pthread_mutex_lock(&p->mu);
  p->reuse_cfg = on;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* tcpProberNice(handle, nice -20..19) -> 0 or an errno: the engine thread's nice value (that thread's only:
   Linux schedules threads). Below 0 needs CAP_SYS_NICE (EACCES without); EINVAL when the engine runs on the
   Node loop (the fallback: that would be the main thread's). */
napi_value lvsd_tcp_prober_nice(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 2, argv);
  int32_t nice;
  if (p == NULL) return NULL;
  if (napi_get_value_int32(env, argv[1], &nice) != napi_ok || nice < -20 || nice > 19) {
    lvsd_throw_type(env, "tcpProberNice: an integer -20..19");
    return NULL;
  }
  int err = !p->threaded || p->tid == 0 ? EINVAL : setpriority(PRIO_PROCESS, (id_t)p->tid, nice) == 0 ? 0 : errno;
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/*
 * tcpProberConfigure(handle, localErrnos: number[], boundsUs: number[]): the errnos that are the director's
 * own failures (always delivered, never counted against a server), and the latency histogram's bounds
 * (ascending, at most 32; the histogram restarts).
 */
napi_value lvsd_tcp_prober_configure(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 3, argv);
  if (p == NULL) return NULL;
  uint32_t nl, nb;
  if (napi_get_array_length(env, argv[1], &nl) != napi_ok || napi_get_array_length(env, argv[2], &nb) != napi_ok || nb > MAX_BUCKETS) {
    lvsd_throw_type(env, "tcpProberConfigure(handle, localErrnos[], boundsUs[<= 32])");
    return NULL;
  }
  uint8_t local[LOCAL_ERRNO_MAX] = {0};
  for (uint32_t i = 0; i < nl; i++) {
    napi_value v;
    uint32_t e;
    napi_get_element(env, argv[1], i, &v);
    if (!lvsd_arg_u32(env, v, &e)) return NULL;
    if (e < LOCAL_ERRNO_MAX) local[e] = 1;
  }
  double bounds[MAX_BUCKETS];
  for (uint32_t i = 0; i < nb; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    if (napi_get_value_double(env, v, &bounds[i]) != napi_ok) {
      lvsd_throw_type(env, "histogram bounds must be numbers");
      return NULL;
    }
  }
  pthread_mutex_lock(&p->mu);
  memcpy(p->local_errno, local, sizeof local);
  memcpy(p->bounds_us, bounds, sizeof(double) * nb);
  p->nbounds = nb;
  memset(p->hist, 0, sizeof p->hist);
  p->hist_sum_us = p->hist_count = 0;
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* tcpProberStats(handle) -> [watches queued, watched probes under way, one-off probes under way, turns
   skipped, probes that connected a spare socket, engine on its own thread (1) or on the Node loop (0)]; the
   engine publishes them each turn. */
napi_value lvsd_tcp_prober_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 1, argv);
  if (p == NULL) return NULL;
  double vals[6];
  pthread_mutex_lock(&p->mu);
  memcpy(vals, p->stats, sizeof p->stats);
  pthread_mutex_unlock(&p->mu);
  vals[5] = p->threaded;
  napi_value arr, v;
  napi_create_array_with_length(env, 6, &arr);
  for (uint32_t i = 0; i < 6; i++) {
    napi_create_double(env, vals[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

/* tcpProberClose(handle): stop the engine, close every probe under way (no outcomes) and the prober (idempotent). */
napi_value lvsd_tcp_prober_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 1, argv);
  if (p == NULL) return NULL;
  lvsd_tcp_begin_close(p, true);
  return NULL;
}

/* tcpProberRef(handle, ref): whether the prober keeps the event loop alive while probes are under way. */
napi_value lvsd_tcp_prober_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = lvsd_tcp_handle_arg(env, info, 2, argv);
  bool ref;
  if (p == NULL || !lvsd_arg_bool(env, argv[1], &ref)) return NULL;
  if (p->closing) return NULL;
  uv_handle_t *h[3] = {(uv_handle_t *)&p->async, (uv_handle_t *)&p->poll, (uv_handle_t *)&p->timer};
  for (int i = 0; i < (p->handles_open > 1 ? 3 : 1); i++) {
    if (ref) uv_ref(h[i]);
    else uv_unref(h[i]);
  }
  return NULL;
}
