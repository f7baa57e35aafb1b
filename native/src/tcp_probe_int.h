/*
 * The TCP prober's insides, shared by its files: tcp_probe.c (the engine: starting probes, the epoll set,
 * waking, delivery), tcp_deadline.c (the deadline heap), tcp_prober.c (lifetime), tcp_watch.c (periodic
 * checks: the turn heap, folding outcomes into runs and counters) and tcp_probe_api.c (the JavaScript
 * entry points). Not part of the addon's interface.
 */
#ifndef LVSD_TCP_PROBE_INT_H
#define LVSD_TCP_PROBE_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "util.h"

#define NO_HEAP UINT32_MAX
#define NO_WATCH UINT32_MAX
#define COALESCE_NS 10000000u /* turns due within 10 ms share a wake-up */
#define OUT_WIDTH 5           /* doubles per delivered outcome: id, errno, latency us, watch, run */
#define LOCAL_ERRNO_MAX 256   /* errnos below this can be marked "the director's own" */
#define MAX_BUCKETS 32        /* latency histogram bounds at most */

typedef struct probe_slot {
  int fd;            /* -1: free */
  uint32_t heap_pos; /* index in the deadline heap, NO_HEAP when not in it */
  uint32_t watch;    /* the watch this probe is for, NO_WATCH for a one-off */
  uint64_t start_ns;
  uint64_t deadline_ns;
} probe_slot;

typedef struct watch {
  bool used;
  bool reset;        /* close with RST (SO_LINGER 0): no TIME_WAIT left behind */
  uint32_t heap_pos; /* index in the turn heap */
  uint32_t slot;     /* the probe under way, NO_WATCH when none */
  struct sockaddr_storage sa;
  socklen_t salen;
  uint64_t interval_ns;
  uint32_t timeout_ms;
  uint64_t due_ns;
  /* the run: consecutive outcomes of one verdict (local failures are not outcomes of the server) */
  uint32_t rise, fall;  /* a run reaching these is delivered (up after rise successes, down after fall failures) */
  int8_t last_ok;       /* -1: no outcome yet */
  int last_errno;       /* of the last outcome; a different one is delivered (the reason changed) */
  uint32_t run;
  /* for status and metrics, read by JavaScript when it wants them */
  double latency_us;    /* of the last outcome */
  uint64_t last_at_ns;  /* when it came (0: never) */
  double ok_n, fail_n;  /* outcomes since the counters were last read */
} watch;

typedef struct tcp_prober {
  napi_env env;
  int epfd;
  uv_poll_t poll;
  uv_timer_t timer;
  uint64_t armed_ns; /* deadline the timer is armed for; 0 = not armed */
  napi_ref callback;
  napi_async_context async_context;
  probe_slot *slots;
  uint32_t nslots; /* slots ever used (high-water mark) */
  uint32_t cap;
  uint32_t *free_ids;
  uint32_t nfree;
  uint32_t *heap; /* slot ids ordered by deadline */
  uint32_t heap_n;
  double *out; /* outcomes waiting for delivery, OUT_WIDTH doubles each */
  uint32_t out_n;
  uint32_t out_cap;
  uint32_t *done; /* slots whose outcome is queued: freed after delivery */
  uint32_t done_n;
  watch *watches; /* by JavaScript's id */
  uint32_t nwatches;
  uint32_t *turns;   /* watch ids ordered by due_ns */
  uint32_t *scratch; /* the watches due in one wake-up */
  uint32_t turns_n;
  uint32_t max_in_flight; /* watched probes under way at most; 0 = no limit */
  uint32_t watch_in_flight;
  double skipped; /* turns skipped: previous probe still under way, or the limit reached */
  uint8_t local_errno[LOCAL_ERRNO_MAX]; /* 1: the director's own failure, always delivered, never counted */
  /* latency histogram of the watches' outcomes (local failures excluded), since last read */
  uint32_t nbounds;
  double bounds_us[MAX_BUCKETS];
  double hist[MAX_BUCKETS + 1];
  double hist_sum_us;
  double hist_count;
  bool delivering;
  bool closing;
  bool poll_dead; /* the epoll fd cannot be polled again: the timer collects completions every 10 ms */
  int handles_open; /* uv handles not yet closed (poll, timer) */
  bool finalized;
  napi_async_cleanup_hook_handle cleanup_hook;
} tcp_prober;

/* tcp_deadline.c: the deadline heap */
void lvsd_tcp_deadline_push(tcp_prober *p, uint32_t id);
void lvsd_tcp_deadline_remove(tcp_prober *p, uint32_t id);

/* tcp_prober.c: lifetime */
bool lvsd_tcp_grow(tcp_prober *p);
void lvsd_tcp_begin_close(tcp_prober *p, bool from_js);
tcp_prober *lvsd_tcp_unwrap(napi_env env, napi_value v);
napi_value lvsd_tcp_open(napi_env env, napi_value callback);

/* tcp_probe.c: the engine */
uint64_t lvsd_tcp_now_ns(void);
void lvsd_tcp_on_poll(uv_poll_t *handle, int status, int events);
/* Opens and connects a socket; returns the slot id, or -1 with *done set: 0 connected at once, else errno. */
int64_t lvsd_tcp_start(tcp_prober *p, const struct sockaddr_storage *sa, socklen_t salen, uint32_t timeout_ms, bool reset, int *done);
/* Close a probe under way without an outcome. */
void lvsd_tcp_drop(tcp_prober *p, uint32_t id);
/* Room for one more queued outcome, or NULL when out of memory. */
double *lvsd_tcp_next_out(tcp_prober *p);
void lvsd_tcp_arm(tcp_prober *p);
/* tcp_probe_api.c: an address Buffer (4 or 16 bytes) and a port into a sockaddr; false after throwing. */
bool lvsd_tcp_sockaddr_arg(napi_env env, napi_value addr_v, napi_value port_v, struct sockaddr_storage *sa, socklen_t *salen);

/* tcp_watch.c: periodic checks */
void lvsd_tcp_run_turns(tcp_prober *p);
/* The watch's outcome: folded into its run and counters; queued for JavaScript when it can change something. */
void lvsd_tcp_watch_outcome(tcp_prober *p, uint32_t w, int err, double latency_us, uint64_t at);
uint64_t lvsd_tcp_first_turn(tcp_prober *p); /* 0: none */

#endif
