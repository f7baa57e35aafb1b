/*
 * What the advert clock's thread (vrrp_clock.c) and its JavaScript face (vrrp_clock_api.c) share: an entry per
 * VRRP socket, the reports the thread sends to JavaScript, and the one mutex every entry is read and changed
 * under (see vrrp_clock.c).
 */
#ifndef LVSD_VRRP_CLOCK_INT_H
#define LVSD_VRRP_CLOCK_INT_H
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define LATENESS_KEPT 256
#define MAX_DATAGRAMS 64
#define LATE_REPORT_EVERY_NS 1000000000LL
#define SCHED_BASE_EVERY_NS 1000000000LL

enum { REPORT_LATE = 0, REPORT_SEND_FAILED = 1, REPORT_SEND_RECOVERED = 2 };

typedef struct report {
  int kind;
  int err;
  double late_ms, wait_ms, cpu_ms, window_ms, faults;
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

/* defined in vrrp_clock.c; every one read and written under clk_mu, once clk_init_once ran */
extern pthread_once_t clk_once;
extern pthread_mutex_t clk_mu;
extern pthread_cond_t clk_changed; /* entries changed: the thread looks again */
extern pthread_cond_t clk_started; /* the thread says how it runs */
extern entry *clk_entries;
extern uint64_t clk_next_id;
extern int clk_state; /* 0 not started, 1 running, -1 could not start */
extern int clk_start_errno; /* pthread_create's */
extern pid_t clk_tid;
extern int clk_sched_result; /* 0 SCHED_RR, -1 not asked, else the errno */
extern bool clk_lock_wanted;   /* set before the thread starts: lock what it runs on (mem_lock.c) */
extern size_t clk_locked_bytes; /* what the thread locked */
extern int clk_lock_errno;     /* the first errno of its locking, 0 none */

int64_t clk_mono_ns(void);
void clk_init_once(void);
/* The thread: started by vrrpAdvertClock with the SCHED_RR priority as its argument. */
void *clk_main(void *arg);
/* The datagrams of an entry and their bytes are one block of lvsd_own_alloc (mem_lock.h), as is the entry. */
void clk_free_datagrams(datagram *d, uint32_t n);
/* Under the mutex: the entry of `owner`, unlinked when `unlink`. */
entry *clk_find(lvsd_polled *owner, bool unlink);
#endif
