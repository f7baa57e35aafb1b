/*
 * The advert clock: one thread per process that sends the steady-state adverts of VRRP masters, so a
 * master's adverts need no JavaScript (no wake of the VRRP thread's event loop 10 times a second at 100 ms
 * adverts) and keep time whatever holds the loop that owns the instance.
 *
 * Each entry belongs to one VRRP socket (vrrp_socket.c): the encoded datagrams JavaScript gave with their
 * destinations and source, an interval and the next due time on CLOCK_MONOTONIC. The thread sleeps until
 * the earliest due time (a condition variable on CLOCK_MONOTONIC, woken when an entry is added, replaced or
 * removed), sends what is due with sendmsg on the socket's fd, and sets the next due time one interval on
 * (fixed phase: no drift; after a stall longer than an interval the next one is an interval from the send,
 * never a burst to catch up). Per entry it counts since JavaScript last read: adverts sent, send failures
 * (and the last errno), the send-time lateness of the last 256 adverts.
 *
 * JavaScript is woken (a thread-safe function into the loop of the thread that scheduled the entry) only for
 * what needs it: a send that fails after sends that did not (once per failing run), the first send that
 * works again, and an advert later than the threshold it gave (at most one a second; those in between are
 * counted into the next), with the clock thread's run-queue wait and CPU time since its last baseline.
 *
 * Lifetime: every entry is added, replaced and removed under one mutex (priority inheritance: the thread
 * runs SCHED_RR, JavaScript does not), which the thread holds while it sends. The socket's close hook
 * (lvsd_polled.before_close, on every path: JS, GC, environment teardown) removes its entry before the fd
 * is closed, so no send ever goes out on a closed or reused descriptor.
 */
#include "vrrp_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vrrp_socket.h"

#define LATENESS_KEPT 256
#define MAX_DATAGRAMS 64
#define LATE_REPORT_EVERY_NS 1000000000LL
#define SCHED_BASE_EVERY_NS 1000000000LL
#define BAD_HANDLE "expected a VRRP socket handle"

enum { REPORT_LATE = 0, REPORT_SEND_FAILED = 1, REPORT_SEND_RECOVERED = 2 };

typedef struct report {
  int kind;
  int err;
  double late_ms, wait_ms, cpu_ms, window_ms;
  uint32_t count;
} report;

typedef struct datagram {
  uint8_t *bytes;
  size_t len;
  uint8_t dest[16];
} datagram;

typedef struct entry {
  struct entry *next;
  lvsd_polled *owner; /* the socket: the key, never dereferenced here */
  uint64_t id;        /* the thread-safe function's key (an owner's address may be reused) */
  int fd, family;
  unsigned ifindex;
  datagram *d;
  uint32_t n;
  uint8_t source[16];
  bool has_source;
  int64_t interval_ns, next_ns, late_ns;
  /* since JavaScript last read */
  double sent, errors;
  int last_errno;
  float lateness[LATENESS_KEPT];
  uint64_t lat_count;
  /* reports */
  bool failing;
  uint32_t failed_rounds;
  int64_t late_reported_at;
  uint32_t late_unreported;
  napi_threadsafe_function tsfn; /* NULL once Node finalized it (environment teardown) */
} entry;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu;
static pthread_cond_t changed; /* entries changed: the thread looks again */
static pthread_cond_t started; /* the thread says how it runs */
static entry *entries;
static uint64_t next_id;
static int state;           /* 0 not started, 1 running, -1 could not start */
static int start_errno;     /* pthread_create's */
static pid_t thread_tid;
static int sched_result;    /* 0 SCHED_RR, -1 not asked, else the errno */

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void init_once(void) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
  pthread_mutex_init(&mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&changed, &ca);
  pthread_cond_init(&started, &ca);
  pthread_condattr_destroy(&ca);
}

/* ---- the thread ---- */

/* The calling thread's schedstat: ns on the CPU, ns runnable on a run queue. */
static bool read_schedstat(int64_t *cpu, int64_t *wait) {
  char buf[128];
  int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  long long c, w;
  if (sscanf(buf, "%lld %lld", &c, &w) != 2) return false;
  *cpu = c;
  *wait = w;
  return true;
}

static struct {
  bool ok;
  int64_t at, cpu, wait;
} base; /* the thread's own */

static void rebase(int64_t now) {
  base.ok = read_schedstat(&base.cpu, &base.wait);
  base.at = now;
}

static void notify(entry *e, const report *r) {
  if (e->tsfn == NULL) return;
  report *copy = malloc(sizeof *copy);
  if (copy == NULL) return;
  *copy = *r;
  if (napi_call_threadsafe_function(e->tsfn, copy, napi_tsfn_nonblocking) != napi_ok) free(copy);
}

static void late_advert(entry *e, int64_t now, int64_t late) {
  if (e->late_reported_at != 0 && now - e->late_reported_at < LATE_REPORT_EVERY_NS) {
    e->late_unreported++;
    return;
  }
  report r = {.kind = REPORT_LATE, .late_ms = (double)late / 1e6, .wait_ms = -1, .cpu_ms = -1, .window_ms = -1,
              .count = e->late_unreported};
  int64_t cpu = 0, wait = 0;
  bool ok = read_schedstat(&cpu, &wait);
  if (ok && base.ok) {
    r.wait_ms = (double)(wait - base.wait) / 1e6;
    r.cpu_ms = (double)(cpu - base.cpu) / 1e6;
    r.window_ms = (double)(now - base.at) / 1e6;
  }
  base.ok = ok;
  base.cpu = cpu;
  base.wait = wait;
  base.at = now;
  e->late_reported_at = now;
  e->late_unreported = 0;
  notify(e, &r);
}

static void fire(entry *e, int64_t now) {
  int64_t late = now - e->next_ns;
  if (late < 0) late = 0;
  int err = 0;
  for (uint32_t i = 0; i < e->n; i++) {
    const datagram *d = &e->d[i];
    e->sent++;
    if (lvsd_vrrp_sendmsg(e->fd, e->family, e->ifindex, d->bytes, d->len, d->dest, e->has_source ? e->source : NULL) < 0) {
      err = errno;
      e->errors++;
      e->last_errno = err;
    }
  }
  e->lateness[e->lat_count++ % LATENESS_KEPT] = (float)((double)late / 1e6);
  if (err != 0) {
    if (!e->failing) {
      e->failing = true;
      e->failed_rounds = 0;
      report r = {.kind = REPORT_SEND_FAILED, .err = err, .count = 1};
      notify(e, &r);
    }
    e->failed_rounds++;
  } else if (e->failing) {
    e->failing = false;
    report r = {.kind = REPORT_SEND_RECOVERED, .err = e->last_errno, .count = e->failed_rounds};
    notify(e, &r);
  }
  if (late > e->late_ns) late_advert(e, now, late);
  else if (!base.ok || now - base.at >= SCHED_BASE_EVERY_NS) rebase(now);
  e->next_ns += e->interval_ns;
  if (e->next_ns <= now) e->next_ns = now + e->interval_ns;
}

static void *clock_main(void *arg) {
  int priority = (int)(intptr_t)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the Node threads' */
  pthread_setname_np(pthread_self(), "lvsd-advert");
  int sched = -1;
  if (priority > 0) {
    /* created SCHED_RR already where allowed (no wait for a CPU as an ordinary thread on a loaded host);
       this adds reset-on-fork, or says why it is refused */
    struct sched_param p = {.sched_priority = priority};
    sched = sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &p) == 0 ? 0 : errno;
  }
  pthread_mutex_lock(&mu);
  thread_tid = (pid_t)syscall(SYS_gettid);
  sched_result = sched;
  state = 1;
  pthread_cond_broadcast(&started);
  for (;;) {
    int64_t now = mono_ns();
    int64_t next = INT64_MAX;
    for (entry *e = entries; e != NULL; e = e->next) {
      if (e->next_ns <= now) {
        fire(e, now);
        now = mono_ns();
      }
      if (e->next_ns < next) next = e->next_ns;
    }
    if (next == INT64_MAX) {
      pthread_cond_wait(&changed, &mu);
    } else if (next > now) {
      struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
      pthread_cond_timedwait(&changed, &mu, &ts);
    }
  }
  return NULL;
}

/* ---- the JavaScript side ---- */

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  report *r = data;
  if (env != NULL && js_cb != NULL) {
    napi_value argv[7], undefined;
    napi_create_int32(env, r->kind, &argv[0]);
    napi_create_int32(env, r->err, &argv[1]);
    napi_create_double(env, r->late_ms, &argv[2]);
    napi_create_double(env, r->wait_ms, &argv[3]);
    napi_create_double(env, r->cpu_ms, &argv[4]);
    napi_create_double(env, r->window_ms, &argv[5]);
    napi_create_uint32(env, r->count, &argv[6]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, js_cb, 7, argv, NULL);
  }
  free(r);
}

/* Node finalized the thread-safe function (environment teardown): its entry must not call it again. */
static void tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  uint64_t id = (uint64_t)(uintptr_t)data;
  pthread_mutex_lock(&mu);
  for (entry *e = entries; e != NULL; e = e->next)
    if (e->id == id) e->tsfn = NULL;
  pthread_mutex_unlock(&mu);
}

static void free_datagrams(datagram *d, uint32_t n) {
  if (d == NULL) return;
  for (uint32_t i = 0; i < n; i++) free(d[i].bytes);
  free(d);
}

static void free_entry(entry *e) {
  if (e->tsfn != NULL) napi_release_threadsafe_function(e->tsfn, napi_tsfn_release);
  free_datagrams(e->d, e->n);
  free(e);
}

/* Under the mutex: the entry of `owner`, unlinked when `unlink`. */
static entry *find(lvsd_polled *owner, bool unlink) {
  for (entry **p = &entries; *p != NULL; p = &(*p)->next) {
    if ((*p)->owner == owner) {
      entry *e = *p;
      if (unlink) *p = e->next;
      return e;
    }
  }
  return NULL;
}

/* Under the mutex: what was counted since the last read, as [sent, errors, last errno, lateness ms...]; reset. */
static napi_value take_stats(napi_env env, entry *e) {
  uint32_t kept = e->lat_count < LATENESS_KEPT ? (uint32_t)e->lat_count : LATENESS_KEPT;
  size_t len = 3 + kept;
  double *out;
  napi_value ab, arr;
  if (napi_create_arraybuffer(env, len * sizeof(double), (void **)&out, &ab) != napi_ok) return NULL;
  out[0] = e->sent;
  out[1] = e->errors;
  out[2] = e->last_errno;
  uint64_t first = e->lat_count - kept;
  for (uint32_t i = 0; i < kept; i++) out[3 + i] = e->lateness[(first + i) % LATENESS_KEPT];
  e->sent = 0;
  e->errors = 0;
  e->lat_count = 0;
  napi_create_typedarray(env, napi_float64_array, len, ab, 0, &arr);
  return arr;
}

/*
 * vrrpAdvertClock(priority: 0..99) -> [tid, sched]
 * Starts the process's clock thread once (later calls say how the first one runs): SCHED_RR `priority`
 * with reset-on-fork (0: ordinary scheduling). sched: 0 real-time, -1 not asked, else the errno of
 * sched_setscheduler (the thread then runs ordinary scheduling). Throws the errno when no thread can start.
 */
napi_value lvsd_advert_clock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t priority = 0;
  if (argc >= 1 && !lvsd_arg_u32(env, argv[0], &priority)) return NULL;
  if (priority > 99) {
    lvsd_throw_type(env, "priority must be 0..99");
    return NULL;
  }
  pthread_once(&once, init_once);
  pthread_mutex_lock(&mu);
  if (state == 0) {
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
      rc = pthread_create(&t, &attr, clock_main, (void *)(intptr_t)priority);
      pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
    }
    if (rc != 0) rc = pthread_create(&t, &attr, clock_main, (void *)(intptr_t)priority);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      state = -1;
      start_errno = rc;
    } else {
      while (state == 0) pthread_cond_wait(&started, &mu);
    }
  }
  int st = state, err = start_errno, sched = sched_result;
  pid_t tid = thread_tid;
  pthread_mutex_unlock(&mu);
  if (st < 0) {
    lvsd_throw_errno(env, "pthread_create", err, "advert clock");
    return NULL;
  }
  napi_value out, v;
  napi_create_array_with_length(env, 2, &out);
  napi_create_int64(env, tid, &v);
  napi_set_element(env, out, 0, v);
  napi_create_int32(env, sched, &v);
  napi_set_element(env, out, 1, v);
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
  if (napi_get_value_double(env, argv[4], &interval_ms) != napi_ok || napi_get_value_double(env, argv[5], &due_ms) != napi_ok ||
      napi_get_value_double(env, argv[6], &late_ms) != napi_ok || !(interval_ms >= 1) || !(late_ms >= 0) || cbt != napi_function) {
    lvsd_throw_type(env, "intervalMs (>= 1), dueMs, lateMs (>= 0) must be numbers and callback a function");
    return NULL;
  }
  datagram *d = calloc(n, sizeof *d);
  if (d == NULL) {
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value p, dst;
    void *bytes, *dest;
    size_t len;
    napi_get_element(env, argv[1], i, &p);
    napi_get_element(env, argv[2], i, &dst);
    if (!lvsd_arg_buffer(env, p, &bytes, &len) || !lvsd_arg_opt_address(env, dst, alen, &dest)) {
      free_datagrams(d, n);
      return NULL;
    }
    if (dest == NULL || len == 0) {
      free_datagrams(d, n);
      lvsd_throw_type(env, "each datagram needs bytes and a destination");
      return NULL;
    }
    d[i].bytes = malloc(len);
    if (d[i].bytes == NULL) {
      free_datagrams(d, n);
      lvsd_throw_errno(env, "malloc", ENOMEM, NULL);
      return NULL;
    }
    memcpy(d[i].bytes, bytes, len);
    d[i].len = len;
    memcpy(d[i].dest, dest, alen);
  }
  pthread_once(&once, init_once);
  pthread_mutex_lock(&mu);
  bool running = state == 1;
  entry *e = running ? find(t.owner, false) : NULL;
  pthread_mutex_unlock(&mu);
  if (!running) {
    free_datagrams(d, n);
    lvsd_throw_errno(env, "vrrpAdvertSchedule", ESRCH, "the advert clock is not running");
    return NULL;
  }
  entry *fresh = NULL;
  if (e == NULL) {
    /* only this thread adds or removes this socket's entry: none appears meanwhile */
    fresh = calloc(1, sizeof *fresh);
    if (fresh == NULL) {
      free_datagrams(d, n);
      lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
      return NULL;
    }
    fresh->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    napi_value name;
    napi_create_string_utf8(env, "lvsd:AdvertClock", NAPI_AUTO_LENGTH, &name);
    napi_status st = napi_create_threadsafe_function(env, argv[7], NULL, name, 0, 1, (void *)(uintptr_t)fresh->id,
                                                     tsfn_finalized, NULL, call_js, &fresh->tsfn);
    if (st != napi_ok) {
      free(fresh);
      free_datagrams(d, n);
      lvsd_throw_type(env, "cannot create the advert clock's callback");
      return NULL;
    }
    napi_unref_threadsafe_function(env, fresh->tsfn);
    fresh->owner = t.owner;
  }
  int64_t now = mono_ns();
  datagram *old = NULL;
  uint32_t old_n = 0;
  pthread_mutex_lock(&mu);
  if (fresh != NULL) {
    e = fresh;
    e->next = entries;
    entries = e;
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
  pthread_cond_signal(&changed);
  pthread_mutex_unlock(&mu);
  free_datagrams(old, old_n);
  return NULL;
}

/* vrrpAdvertStop(handle) -> stats | null: removes the socket's entry; what it counted since the last read. */
napi_value lvsd_advert_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  lvsd_polled *h = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (h == NULL) return NULL;
  pthread_once(&once, init_once);
  pthread_mutex_lock(&mu);
  entry *e = find(h, true);
  if (e != NULL) out = take_stats(env, e);
  pthread_mutex_unlock(&mu);
  if (e != NULL) free_entry(e);
  if (out == NULL) napi_get_null(env, &out);
  return out;
}

/* vrrpAdvertRead(handle) -> stats | null: [sent, errors, last errno, lateness ms of up to 256 sends...] since the last read. */
napi_value lvsd_advert_read(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  lvsd_polled *h = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (h == NULL) return NULL;
  pthread_once(&once, init_once);
  pthread_mutex_lock(&mu);
  entry *e = find(h, false);
  if (e != NULL) out = take_stats(env, e);
  pthread_mutex_unlock(&mu);
  if (out == NULL) napi_get_null(env, &out);
  return out;
}

void lvsd_advert_forget(lvsd_polled *h) {
  pthread_once(&once, init_once);
  pthread_mutex_lock(&mu);
  entry *e = find(h, true);
  pthread_mutex_unlock(&mu);
  /* unlinked under the mutex the thread sends under: no send on this fd is under way, none will be */
  if (e != NULL) free_entry(e);
}
