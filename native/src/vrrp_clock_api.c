/*
 * The advert clock's JavaScript face (vrrpAdvertClock, vrrpAdvertSchedule, vrrpAdvertStop, vrrpAdvertRead)
 * and the close hook of a VRRP socket: entries added, replaced, read and removed under the clock's mutex;
 * reports from the thread delivered on the loop of the thread that scheduled the entry. How the clock
 * works: vrrp_clock.c.
 */
#include "vrrp_clock.h"
#include "vrrp_clock_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mem_lock.h"
#include "vrrp_socket.h"

#define BAD_HANDLE "expected a VRRP socket handle"

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  report *r = data;
  if (env != NULL && js_cb != NULL) {
    napi_value argv[8], undefined;
    napi_create_int32(env, r->kind, &argv[0]);
    napi_create_int32(env, r->err, &argv[1]);
    napi_create_double(env, r->late_ms, &argv[2]);
    napi_create_double(env, r->wait_ms, &argv[3]);
    napi_create_double(env, r->cpu_ms, &argv[4]);
    napi_create_double(env, r->window_ms, &argv[5]);
    napi_create_uint32(env, r->count, &argv[6]);
    napi_create_double(env, r->faults, &argv[7]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, js_cb, 8, argv, NULL);
  }
  free(r);
}

/* Node finalized the thread-safe function (environment teardown): its entry must not call it again. */
static void tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  uint64_t id = (uint64_t)(uintptr_t)data;
  pthread_mutex_lock(&clk_mu);
  for (entry *e = clk_entries; e != NULL; e = e->next)
    if (e->id == id) e->tsfn = NULL;
  pthread_mutex_unlock(&clk_mu);
}

static void free_entry(entry *e) {
  if (e->tsfn != NULL) napi_release_threadsafe_function(e->tsfn, napi_tsfn_release);
  clk_free_datagrams(e->d, e->n);
  lvsd_own_free(e);
}

/* Under the mutex: what was counted since the last read, as [sent, errors, last errno, lateness ms...]; reset. */
/* What an entry counted since the last read, copied out under the mutex (no V8 call there: see stats_of). */
typedef struct {
  double head[3]; /* sent, errors, last errno */
  uint32_t kept;
  double lateness[LATENESS_KEPT];
} stats_copy;

static void copy_stats(entry *e, stats_copy *c) {
  uint32_t kept = e->lat_count < LATENESS_KEPT ? (uint32_t)e->lat_count : LATENESS_KEPT;
  c->head[0] = e->sent;
  c->head[1] = e->errors;
  c->head[2] = e->last_errno;
  c->kept = kept;
  uint64_t first = e->lat_count - kept;
  for (uint32_t i = 0; i < kept; i++) c->lateness[i] = e->lateness[(first + i) % LATENESS_KEPT];
  e->sent = 0;
  e->errors = 0;
  e->lat_count = 0;
}

static napi_value stats_value(napi_env env, const stats_copy *c) {
  size_t len = 3 + c->kept;
  double *out;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, len * sizeof(double), (void **)&out, &ab) != napi_ok) return NULL;
  memcpy(out, c->head, sizeof c->head);
  memcpy(out + 3, c->lateness, c->kept * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, len, ab, 0, &arr);
  return arr;
}

/*
 * vrrpAdvertClock(priority: 0..99, lock = true) -> [tid, sched, lockedBytes, lockErrno]
 * Starts the process's clock thread once (later calls say how the first one runs): SCHED_RR `priority`
 * with reset-on-fork (0: ordinary scheduling). sched: 0 real-time, -1 not asked, else the errno of
 * sched_setscheduler (the thread then runs ordinary scheduling). With `lock` the thread first locks in
 * memory what it runs on (vrrp_clock.c, mem_lock.c): lockedBytes, and the first errno of that (0: none; the
 * thread runs either way). Throws the errno when no thread can start.
 */
napi_value lvsd_advert_clock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t priority = 0;
  bool lock = true;
  if (argc >= 1 && !lvsd_arg_u32(env, argv[0], &priority)) return NULL;
  if (argc >= 2 && !lvsd_arg_bool(env, argv[1], &lock)) return NULL;
  if (priority > 99) {
    lvsd_throw_type(env, "priority must be 0..99");
    return NULL;
  }
  pthread_once(&clk_once, clk_init_once);
  pthread_mutex_lock(&clk_mu);
  if (clk_state == 0) {
    clk_lock_wanted = lock;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = EPERM;
    if (priority > 0) {
      struct sched_param p = {.sched_priority = (int)priority};
      pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
      pthread_attr_setschedpolicy(&attr, SCHED_RR);
      pthread_attr_setschedparam(&attr, &p);
      rc = pthread_create(&t, &attr, clk_main, (void *)(intptr_t)priority);
      pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
    }
    if (rc != 0) rc = pthread_create(&t, &attr, clk_main, (void *)(intptr_t)priority);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      clk_state = -1;
      clk_start_errno = rc;
    } else {
      while (clk_state == 0) pthread_cond_wait(&clk_started, &clk_mu);
    }
  }
  int st = clk_state, err = clk_start_errno, sched = clk_sched_result, lock_err = clk_lock_errno;
  size_t locked = clk_locked_bytes;
  pid_t tid = clk_tid;
  pthread_mutex_unlock(&clk_mu);
  if (st < 0) {
    lvsd_throw_errno(env, "pthread_create", err, "advert clock");
    return NULL;
  }
  napi_value out, v;
  napi_create_array_with_length(env, 4, &out);
  napi_create_int64(env, tid, &v);
  napi_set_element(env, out, 0, v);
  napi_create_int32(env, sched, &v);
  napi_set_element(env, out, 1, v);
  napi_create_double(env, (double)locked, &v);
  napi_set_element(env, out, 2, v);
  napi_create_int32(env, lock_err, &v);
  napi_set_element(env, out, 3, v);
  return out;
}

/*
 * vrrpAdvertSchedule(handle, payloads: Buffer[], destinations: Buffer[], source: Buffer | null,
 *                    intervalMs, dueMs, lateMs, callback(kind, errno, lateMs, waitMs, cpuMs, windowMs, count))
 * Sends payloads[i] to destinations[i] on the socket every intervalMs from dueMs (CLOCK_MONOTONIC ms), until
 * vrrpAdvertStop or the socket closes; a second call replaces the datagrams, interval and threshold, and keeps
 * the next due time when dueMs is NaN (the counters carry on). Adverts sent more than lateMs after they were
 * due are reported. The callback (given at the first call) runs on this thread's loop, without keeping it alive.
 */
napi_value lvsd_advert_schedule(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) {
    lvsd_throw_type(env, "vrrpAdvertSchedule(handle, payloads, destinations, source, intervalMs, dueMs, lateMs, callback)");
    return NULL;
  }
  lvsd_vrrp_target t;
  if (!lvsd_vrrp_socket_get(env, argv[0], &t)) return NULL;
  size_t alen = t.family == AF_INET ? 4 : 16;
  uint32_t n = 0, nd = 0;
  bool isarr = false, isarr2 = false;
  napi_is_array(env, argv[1], &isarr);
  napi_is_array(env, argv[2], &isarr2);
  if (isarr) napi_get_array_length(env, argv[1], &n);
  if (isarr2) napi_get_array_length(env, argv[2], &nd);
  if (!isarr || !isarr2 || n != nd || n == 0 || n > MAX_DATAGRAMS) {
    lvsd_throw_type(env, "payloads and destinations must be arrays of the same length, 1..64");
    return NULL;
  }
  void *source;
  double interval_ms, due_ms, late_ms;
  napi_valuetype cbt;
  napi_typeof(env, argv[7], &cbt);
  if (!lvsd_arg_opt_address(env, argv[3], alen, &source)) return NULL;
  /* each scaled to int64 nanoseconds below: refused here unless finite and in range (dueMs NaN: keep) */
  if (!lvsd_arg_ms(env, argv[4], "intervalMs", 1, LVSD_MS_MAX, false, &interval_ms) ||
      !lvsd_arg_ms(env, argv[5], "dueMs", 0, LVSD_MS_MAX, true, &due_ms) ||
      !lvsd_arg_ms(env, argv[6], "lateMs", 0, LVSD_MS_MAX, false, &late_ms))
    return NULL;
  if (cbt != napi_function) {
    lvsd_throw_type(env, "callback must be a function");
    return NULL;
  }
  /* the datagrams and their bytes in one block of the clock's own memory (locked like the thread's pages) */
  void *bytes_of[MAX_DATAGRAMS], *dest_of[MAX_DATAGRAMS];
  size_t len_of[MAX_DATAGRAMS], total = n * sizeof(datagram);
  for (uint32_t i = 0; i < n; i++) {
    napi_value p, dst;
    napi_get_element(env, argv[1], i, &p);
    napi_get_element(env, argv[2], i, &dst);
    if (!lvsd_arg_buffer(env, p, &bytes_of[i], &len_of[i]) || !lvsd_arg_opt_address(env, dst, alen, &dest_of[i])) return NULL;
    if (dest_of[i] == NULL || len_of[i] == 0) {
      lvsd_throw_type(env, "each datagram needs bytes and a destination");
      return NULL;
    }
    total += len_of[i];
  }
  pthread_once(&clk_once, clk_init_once);
  pthread_mutex_lock(&clk_mu);
  bool lock = clk_lock_wanted;
  pthread_mutex_unlock(&clk_mu);
  datagram *d = lvsd_own_alloc(total, lock);
  if (d == NULL) {
    lvsd_throw_errno(env, "mmap", ENOMEM, "advert clock datagrams");
    return NULL;
  }
  uint8_t *at = (uint8_t *)(d + n);
  for (uint32_t i = 0; i < n; i++) {
    d[i].bytes = at;
    memcpy(at, bytes_of[i], len_of[i]);
    at += len_of[i];
    d[i].len = len_of[i];
    memcpy(d[i].dest, dest_of[i], alen);
  }
  pthread_mutex_lock(&clk_mu);
  bool running = clk_state == 1;
  entry *e = running ? clk_find(t.owner, false) : NULL;
  pthread_mutex_unlock(&clk_mu);
  if (!running) {
    clk_free_datagrams(d, n);
    lvsd_throw_errno(env, "vrrpAdvertSchedule", ESRCH, "the advert clock is not running");
    return NULL;
  }
  entry *fresh = NULL;
  if (e == NULL) {
    /* only this thread adds or removes this socket's entry: none appears meanwhile */
    fresh = lvsd_own_alloc(sizeof *fresh, lock);
    if (fresh == NULL) {
      clk_free_datagrams(d, n);
      lvsd_throw_errno(env, "mmap", ENOMEM, "advert clock entry");
      return NULL;
    }
    fresh->id = __atomic_add_fetch(&clk_next_id, 1, __ATOMIC_RELAXED);
    napi_value name;
    napi_create_string_utf8(env, "lvsd:AdvertClock", NAPI_AUTO_LENGTH, &name);
    napi_status st = napi_create_threadsafe_function(env, argv[7], NULL, name, 0, 1, (void *)(uintptr_t)fresh->id,
                                                     tsfn_finalized, NULL, call_js, &fresh->tsfn);
    if (st != napi_ok) {
      lvsd_own_free(fresh);
      clk_free_datagrams(d, n);
      lvsd_throw_type(env, "cannot create the advert clock's callback");
      return NULL;
    }
    napi_unref_threadsafe_function(env, fresh->tsfn);
    fresh->owner = t.owner;
  }
  int64_t now = clk_mono_ns();
  datagram *old = NULL;
  uint32_t old_n = 0;
  pthread_mutex_lock(&clk_mu);
  if (fresh != NULL) {
    e = fresh;
    e->next = clk_entries;
    clk_entries = e;
    e->next_ns = now + (int64_t)(interval_ms * 1e6);
  } else {
    old = e->d;
    old_n = e->n;
  }
  e->fd = t.fd;
  e->family = t.family;
  e->ifindex = t.ifindex;
  e->d = d;
  e->n = n;
  e->has_source = source != NULL;
  if (source != NULL) memcpy(e->source, source, alen);
  e->interval_ns = (int64_t)(interval_ms * 1e6);
  e->late_ns = (int64_t)(late_ms * 1e6);
  if (!isnan(due_ms)) e->next_ns = (int64_t)(due_ms * 1e6);
  pthread_cond_signal(&clk_changed);
  pthread_mutex_unlock(&clk_mu);
  clk_free_datagrams(old, old_n);
  return NULL;
}

/* The entry of the handle in argv[0], removed when `remove`: what it counted since the last read, or null. */
static napi_value stats_of(napi_env env, napi_callback_info info, bool remove) {
  size_t argc = 2;
  napi_value argv[2], out = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  lvsd_polled *h = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (h == NULL) return NULL;
  /* tests only: spend this long making the value, as a V8 collection there would (see below) */
  double hold_ms = 0;
  if (argc >= 2) napi_get_value_double(env, argv[1], &hold_ms);
  pthread_once(&clk_once, clk_init_once);
  /* The counts are copied under the mutex and turned into JavaScript values after it: creating them can
   * start a V8 collection (tens to hundreds of ms in the test VM), and the clock thread, which sends every
   * advert under this mutex, waited that long behind it (late adverts "blocked" every ~10 s, up to 160 ms). */
  stats_copy c;
  pthread_mutex_lock(&clk_mu);
  entry *e = clk_find(h, remove);
  if (e != NULL) copy_stats(e, &c);
  pthread_mutex_unlock(&clk_mu);
  if (remove && e != NULL) free_entry(e);
  if (hold_ms > 0 && hold_ms < 10000) {
    struct timespec ts = {(time_t)(hold_ms / 1000), (long)(fmod(hold_ms, 1000) * 1e6)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
  }
  if (e != NULL) out = stats_value(env, &c);
  if (out == NULL) napi_get_null(env, &out);
  return out;
}

/* vrrpAdvertStop(handle) -> stats | null: removes the socket's entry; what it counted since the last read. */
napi_value lvsd_advert_stop(napi_env env, napi_callback_info info) {
  return stats_of(env, info, true);
}

/* vrrpAdvertRead(handle) -> stats | null: [sent, errors, last errno, lateness ms of up to 256 sends...] since the last read. */
napi_value lvsd_advert_read(napi_env env, napi_callback_info info) {
  return stats_of(env, info, false);
}

void lvsd_advert_forget(lvsd_polled *h) {
  pthread_once(&clk_once, clk_init_once);
  pthread_mutex_lock(&clk_mu);
  entry *e = clk_find(h, true);
  pthread_mutex_unlock(&clk_mu);
  /* unlinked under the mutex the thread sends under: no send on this fd is under way, none will be */
  if (e != NULL) free_entry(e);
}
