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
 *
 * Memory: before it says it runs, the thread locks in memory (mem_lock.c) the top of its stack, this addon's
 * mappings and libc's code, and opens its schedstat once: sending, waiting and reading its times then take
 * no page fault, so the clock never waits for the address space's lock, which a page fault takes and any
 * thread mapping or protecting memory (V8, malloc) holds for writing, for as long as that thread waits for
 * a CPU. The page-out (page_out.c) dropped libc's pages under it before. (A report to JavaScript runs node's
 * code, which is not locked: only after a send that failed or was late.)
 *
 * This file is the thread and the entries' list; vrrp_clock_api.c is what JavaScript calls.
 */
#include "vrrp_clock_int.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mem_lock.h"
#include "vrrp_socket.h"

#define LATE_REPORT_EVERY_NS 1000000000LL
#define SCHED_BASE_EVERY_NS 1000000000LL
/* the top of the thread's stack locked: its frames (a few KiB) and, with glibc, its TLS and descriptor */
#define STACK_LOCKED (64 * 1024)

pthread_once_t clk_once = PTHREAD_ONCE_INIT;
pthread_mutex_t clk_mu;
pthread_cond_t clk_changed; /* entries changed: the thread looks again */
pthread_cond_t clk_started; /* the thread says how it runs */
entry *clk_entries;
uint64_t clk_next_id;
int clk_state;           /* 0 not started, 1 running, -1 could not start */
int clk_start_errno;     /* pthread_create's */
pid_t clk_tid;
int clk_sched_result;    /* 0 SCHED_RR, -1 not asked, else the errno */
bool clk_lock_wanted;
size_t clk_locked_bytes;
int clk_lock_errno;

int64_t clk_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void clk_init_once(void) {
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
  pthread_mutex_init(&clk_mu, &ma);
  pthread_mutexattr_destroy(&ma);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&clk_changed, &ca);
  pthread_cond_init(&clk_started, &ca);
  pthread_condattr_destroy(&ca);
}

/* ---- the thread ---- */

/* The thread's own schedstat, opened once by the thread (no open, path walk or descriptor taken per read). */
static int schedstat_fd = -1;

static bool parse_u64(const char **p, int64_t *out) {
  while (**p == ' ') (*p)++;
  if (**p < '0' || **p > '9') return false;
  int64_t v = 0;
  while (**p >= '0' && **p <= '9') v = v * 10 + (*(*p)++ - '0');
  *out = v;
  return true;
}

/* The thread's schedstat: ns on the CPU, ns runnable on a run queue. */
static bool read_schedstat(int64_t *cpu, int64_t *wait) {
  char buf[128];
  if (schedstat_fd < 0) return false;
  ssize_t n = pread(schedstat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = 0;
  const char *p = buf;
  return parse_u64(&p, cpu) && parse_u64(&p, wait);
}

/* The thread's page faults so far (minor and major). */
static int64_t thread_faults(void) {
  struct rusage ru;
  return getrusage(RUSAGE_THREAD, &ru) == 0 ? (int64_t)(ru.ru_minflt + ru.ru_majflt) : -1;
}

static struct {
  bool ok;
  int64_t at, cpu, wait, faults;
} base; /* the thread's own */

static void rebase(int64_t now) {
  base.ok = read_schedstat(&base.cpu, &base.wait);
  base.faults = thread_faults();
  base.at = now;
}

/* Locks what the thread runs on (mem_lock.c says why): the top of its stack, this addon's mappings and
 * libc's code. The bytes locked; *err the first errno (what could be locked stays locked). */
static size_t lock_pages(int *err) {
  size_t total = 0, bytes;
  *err = 0;
  pthread_attr_t a;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    void *lo;
    size_t size;
    if (pthread_attr_getstack(&a, &lo, &size) == 0) {
      size_t keep = size < STACK_LOCKED ? size : STACK_LOCKED;
      int e = lvsd_mem_lock((char *)lo + size - keep, keep);
      if (e == 0) total += keep;
      else *err = e;
    }
    pthread_attr_destroy(&a);
  }
  int e = lvsd_mem_lock_file_of((const void *)clk_main, false, &bytes);
  total += bytes;
  if (*err == 0) *err = e;
  e = lvsd_mem_lock_file_of((const void *)sendmsg, true, &bytes);
  total += bytes;
  if (*err == 0) *err = e;
  return total;
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
              .faults = -1, .count = e->late_unreported};
  int64_t cpu = 0, wait = 0, faults = thread_faults();
  bool ok = read_schedstat(&cpu, &wait);
  if (ok && base.ok) {
    r.wait_ms = (double)(wait - base.wait) / 1e6;
    r.cpu_ms = (double)(cpu - base.cpu) / 1e6;
    r.window_ms = (double)(now - base.at) / 1e6;
    if (faults >= 0 && base.faults >= 0) r.faults = (double)(faults - base.faults);
  }
  base.ok = ok;
  base.cpu = cpu;
  base.wait = wait;
  base.faults = faults;
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

void *clk_main(void *arg) {
  int priority = (int)(intptr_t)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the Node threads' */
  pthread_setname_np(pthread_self(), "lvsd-advert");
  schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  int lock_err = 0;
  size_t locked = clk_lock_wanted ? lock_pages(&lock_err) : 0;
  int sched = -1;
  if (priority > 0) {
    /* created SCHED_RR already where allowed (no wait for a CPU as an ordinary thread on a loaded host);
       this adds reset-on-fork, or says why it is refused */
    struct sched_param p = {.sched_priority = priority};
    sched = sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &p) == 0 ? 0 : errno;
  }
  pthread_mutex_lock(&clk_mu);
  clk_tid = (pid_t)syscall(SYS_gettid);
  clk_sched_result = sched;
  clk_locked_bytes = locked;
  clk_lock_errno = lock_err;
  clk_state = 1;
  pthread_cond_broadcast(&clk_started);
  for (;;) {
    int64_t now = clk_mono_ns();
    int64_t next = INT64_MAX;
    for (entry *e = clk_entries; e != NULL; e = e->next) {
      if (e->next_ns <= now) {
        fire(e, now);
        now = clk_mono_ns();
      }
      if (e->next_ns < next) next = e->next_ns;
    }
    if (next == INT64_MAX) {
      pthread_cond_wait(&clk_changed, &clk_mu);
    } else if (next > now) {
      struct timespec ts = {.tv_sec = next / 1000000000, .tv_nsec = next % 1000000000};
      pthread_cond_timedwait(&clk_changed, &clk_mu, &ts);
    }
  }
  return NULL;
}

void clk_free_datagrams(datagram *d, uint32_t n) {
  (void)n; /* one block with their bytes (vrrp_clock_api.c) */
  lvsd_own_free(d);
}

/* Under the mutex: the entry of `owner`, unlinked when `unlink`. */
entry *clk_find(lvsd_polled *owner, bool unlink) {
  for (entry **p = &clk_entries; *p != NULL; p = &(*p)->next) {
    if ((*p)->owner == owner) {
      entry *e = *p;
      if (unlink) *p = e->next;
      return e;
    }
  }
  return NULL;
}
