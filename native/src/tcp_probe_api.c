/*
 * The TCP prober's JavaScript entry points (the engine is tcp_probe.c, watches tcp_watch.c): arguments
 * read and checked here, then handed on. src/net/tcp-probe.ts is the one caller.
 */
#include <errno.h>
#include <string.h>

#include "tcp_probe.h"
#include "tcp_probe_int.h"

/* An address Buffer (4 or 16 bytes) and a port into a sockaddr; false after throwing. */
bool lvsd_tcp_sockaddr_arg(napi_env env, napi_value addr_v, napi_value port_v, struct sockaddr_storage *sa, socklen_t *salen) {
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

static tcp_prober *handle_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc < want ? NULL : lvsd_tcp_unwrap(env, argv[0]);
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
  return lvsd_tcp_open(env, argv[0]);
}

/*
 * tcpProbe(handle, address: Buffer(4|16), port, timeoutMs[, reset]) -> number
 *   >= 0: the probe is under way with this id (its outcome comes through the callback);
 *   -1: connected at once (loopback can); < -1: failed at once with errno -(n + 1).
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
  struct sockaddr_storage sa;
  socklen_t salen;
  uint32_t timeout_ms;
  bool reset = false;
  if (!lvsd_tcp_sockaddr_arg(env, argv[1], argv[2], &sa, &salen) || !lvsd_arg_u32(env, argv[3], &timeout_ms)) return NULL;
  if (argc >= 5 && !lvsd_arg_bool(env, argv[4], &reset)) return NULL;
  napi_value result;
  if (p->closing) {
    napi_create_int32(env, -1 - EBADF, &result);
    return result;
  }
  int err = 0;
  int64_t id = lvsd_tcp_start(p, &sa, salen, timeout_ms, reset, &err);
  if (id >= 0) lvsd_tcp_arm(p);
  napi_create_int32(env, id >= 0 ? (int32_t)id : -1 - err, &result);
  return result;
}

/* tcpProberLimit(handle, max): watched probes under way at most (0 = no limit); turns beyond it are skipped. */
napi_value lvsd_tcp_prober_limit(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = handle_arg(env, info, 2, argv);
  uint32_t max;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &max)) return NULL;
  p->max_in_flight = max;
  return NULL;
}

/*
 * tcpProberConfigure(handle, localErrnos: number[], boundsUs: number[]): the errnos that are the director's
 * own failures (always delivered, never counted against a server), and the latency histogram's bounds
 * (ascending, at most 32; the histogram restarts).
 */
napi_value lvsd_tcp_prober_configure(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  tcp_prober *p = handle_arg(env, info, 3, argv);
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
  memcpy(p->local_errno, local, sizeof local);
  memcpy(p->bounds_us, bounds, sizeof(double) * nb);
  p->nbounds = nb;
  memset(p->hist, 0, sizeof p->hist);
  p->hist_sum_us = p->hist_count = 0;
  return NULL;
}

/* tcpProberStats(handle) -> [watches queued, watched probes under way, one-off probes under way, turns skipped] */
napi_value lvsd_tcp_prober_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_prober *p = handle_arg(env, info, 1, argv);
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
  napi_value argv[2];
  tcp_prober *p = handle_arg(env, info, 2, argv);
  uint32_t id;
  if (p == NULL || !lvsd_arg_u32(env, argv[1], &id)) return NULL;
  if (p->closing || id >= p->nslots || p->slots[id].fd < 0 || p->slots[id].watch != NO_WATCH) return NULL;
  lvsd_tcp_drop(p, id);
  lvsd_tcp_arm(p);
  return NULL;
}

/* tcpProberClose(handle): close every probe under way (no outcomes) and the prober (idempotent). */
napi_value lvsd_tcp_prober_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  tcp_prober *p = handle_arg(env, info, 1, argv);
  if (p == NULL) return NULL;
  lvsd_tcp_begin_close(p, true);
  return NULL;
}

/* tcpProberRef(handle, ref): whether the prober keeps the event loop alive while probes are under way. */
napi_value lvsd_tcp_prober_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  tcp_prober *p = handle_arg(env, info, 2, argv);
  bool ref;
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
