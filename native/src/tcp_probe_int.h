/*
 * The TCP prober's insides, shared by its files: tcp_probe.c (the engine: starting probes, completions,
 * deadlines, one turn), tcp_socket.c (sockets kept, held and spare), tcp_deadline.c (the deadline heap),
 * tcp_watch.c (periodic checks: the turn heap, folding outcomes into runs and counters), tcp_runner.c
 * (where the engine runs: its own thread, or the Node loop as a fallback; delivery to JavaScript),
 * tcp_prober.c (lifetime), tcp_probe_api.c and tcp_watch_api.c (the JavaScript entry points). Not part of
 * the addon's interface.
 *
 * Who touches what. The engine (one thread at a time: the prober's thread, or the main thread when it
 * runs on the Node loop) owns the sockets, the slots, both heaps and each watch's schedule: no lock. The
 * main thread (JavaScript) never touches those: it queues commands (add, remove or move a watch, start or
 * cancel a one-off probe) and wakes the engine through an eventfd. What both read or write is under `mu`:
 * the command queue, the outcomes waiting for JavaScript, each watch's run and counters (the engine folds
 * outcomes into them; status and metrics read them), the latency histogram, the settings and the
 * published stats. `mu` is never held across a syscall or a call into JavaScript: a critical section is a
 * copy or a fold.
 */
#ifndef LVSD_TCP_PROBE_INT_H
#define LVSD_TCP_PROBE_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <uv.h>

#include "util.h"

#define NO_HEAP UINT32_MAX
#define NO_WATCH UINT32_MAX
#define NO_SLOT UINT32_MAX
#define WAKE_ID UINT32_MAX    /* the eventfd's epoll data: commands are waiting */
#define POOLED 0x80000000u    /* epoll data of a kept socket (close: reset): POOLED | its fd */
#define COALESCE_NS 10000000u /* turns due within 10 ms share a wake-up */
#define OUT_WIDTH 5           /* doubles per delivered outcome: id, errno, latency us, watch, run */
#define LOCAL_ERRNO_MAX 256   /* errnos below this can be marked "the director's own" */
#define MAX_BUCKETS 32        /* latency histogram bounds at most */
#define MAX_EVENTS 256
#define SETTLE_SKIP 3          /* a watch whose probe connect() did not settle starts this many more without asking */
#define IDLE_MAX 1024         /* kept sockets per family at most (the rest are closed): the peak of reset probes under way */
#define SPARE_MAX 512         /* spare sockets per family at most (FIN probes that ended cleanly; the rest are closed) */

/* A target: IPv4 or IPv6 (28 bytes, not a sockaddr_storage's 128: one per watch). */
typedef union tcp_addr {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
} tcp_addr;

static inline socklen_t lvsd_tcp_addr_len(const tcp_addr *a) {
  return a->sa.sa_family == AF_INET6 ? sizeof a->in6 : sizeof a->in;
}

typedef struct probe_slot {
  int fd;            /* -1: free */
  bool pooled;       /* the socket is a kept one (close: reset): disconnected and kept, not closed */
  bool v6;
  uint32_t heap_pos; /* index in the deadline heap, NO_HEAP when not in it */
  uint32_t watch;    /* the watch this probe is for, NO_WATCH for a one-off */
  uint32_t oneoff;   /* a one-off's id (JavaScript's) */
  uint32_t epoch;    /* the watch's or the one-off id's epoch when it started */
  uint64_t start_ns;
  uint64_t deadline_ns;
} probe_slot;

typedef struct watch {
  /* the engine's alone */
  bool used;
  bool reset;        /* close with RST (SO_LINGER 0): no TIME_WAIT left behind */
  uint32_t heap_pos; /* index in the turn heap */
  uint32_t slot;     /* the probe under way, NO_SLOT when none */
  tcp_addr addr;
  uint64_t interval_ns;
  uint32_t timeout_ms;
  uint64_t due_ns;
  uint32_t rise, fall; /* a run reaching these is delivered (up after rise successes, down after fall failures) */
  uint8_t settle_skip; /* probes to start without asking whether connect() settled them (it did not last time) */
  /* under mu: written by the engine, read by status and metrics */
  uint32_t epoch;       /* JavaScript's incarnation of this id: its reads and outcomes name it */
  int8_t last_ok;       /* -1: no outcome yet */
  int last_errno;       /* of the last outcome; a different one is delivered (the reason changed) */
  uint32_t run;         /* consecutive outcomes of one verdict (local failures are not outcomes of the server) */
  double latency_us;    /* of the last outcome */
  uint64_t last_at_ns;  /* when it came (0: never) */
  double ok_n, fail_n;  /* outcomes since the counters were last read */
} watch;

enum { CMD_WATCH, CMD_UNWATCH, CMD_NEXT, CMD_PROBE, CMD_CANCEL };

/* What JavaScript asks of the engine, in order. */
typedef struct tcp_cmd {
  uint8_t op;
  bool reset;
  int8_t run_ok; /* CMD_WATCH: the verdict of a run already counted, -1 none */
  uint32_t id, epoch;
  uint32_t timeout_ms, rise, fall, run;
  uint64_t interval_ns, due_ns;
  tcp_addr addr;
} tcp_cmd;

/* An outcome waiting for JavaScript (under mu until the main thread takes the queue). */
typedef struct tcp_outcome {
  uint32_t id, epoch;
  int err;
  uint32_t run;
  bool watch;
  double latency_us;
} tcp_outcome;

/* An outcome the engine has, to fold under mu at the end of its turn (one lock per turn, not per probe). */
typedef struct tcp_fold {
  uint32_t id, epoch; /* a watch's index, or a one-off's id */
  bool watch;
  int err;
  double latency_us;
  uint64_t at;
} tcp_fold;

/* Connected sockets held for their close at most (~5 ms of 100,000 probes a second); past it closed at once */
#define HELD_MAX 512

typedef struct tcp_prober {
  napi_env env;

  /* ---- the engine's (its thread, or the main thread in loop mode) ---- */
  int epfd;
  int wakefd; /* eventfd in the epoll set: JavaScript queued commands, or the thread is to stop */
  probe_slot *slots;
  uint32_t nslots; /* slots ever used (high-water mark) */
  uint32_t cap;
  uint32_t *free_ids;
  uint32_t nfree;
  uint32_t *heap; /* slot ids ordered by deadline */
  uint32_t heap_n;
  uint32_t *turns;   /* watch ids ordered by due_ns (a binary heap) */
  uint64_t *turn_due; /* turn_due[i]: turns[i]'s due_ns, the heap's keys side by side */
  uint32_t *scratch; /* the watches due in one wake-up */
  uint32_t turns_n;
  uint32_t nturns_cap; /* capacity of turns and scratch */
  uint32_t *oneoff_slot; /* a one-off id's slot, NO_SLOT when none */
  uint32_t noneoff_slot;
  uint32_t max_in_flight; /* copied from `limit` at each turn */
  uint32_t watch_in_flight;
  double skipped; /* turns skipped: previous probe still under way, or the limit reached */
  tcp_fold *folds;
  uint32_t folds_n, folds_cap;
  /* Sockets of `close: reset` probes, kept between probes: a connect to AF_UNSPEC ends a probe (an RST, as
     SO_LINGER 0 and close would send) and leaves the socket unconnected, still in the epoll set
     (edge-triggered, data POOLED | fd), so the next probe of that family is a connect alone: no socket(),
     setsockopt(), epoll_ctl() or close(). idle[0] IPv4, idle[1] IPv6. */
  int *idle[2];
  uint32_t idle_n[2], idle_cap[2];
  uint32_t *fd_slot; /* a kept socket's probe slot, by fd; NO_SLOT while it is idle */
  uint32_t fd_slot_cap;
  /* Sockets of probes that connected inside connect() itself, each closed (or kept spare) at the engine's
     first turn at least close_after_ns later (lvsd_tcp_close_connected in tcp_socket.c): a real server that
     closes as soon as it accepts then closes first, and the TIME_WAIT is its own, not the director's (as when
     a checker closes an epoll round later). In the order held, so due in order (a hold shortened meanwhile
     closes late, never early). At most HELD_MAX: past that a socket is closed at once. close_after_ns is
     copied from close_after_cfg each turn. */
  int held_fd[HELD_MAX];
  uint64_t held_due[HELD_MAX];
  bool held_v6[HELD_MAX];
  uint32_t held_n;
  uint64_t close_after_ns;
  /* Spare sockets (FIN probes, `reuse`): a held socket whose server has closed first is shut down (its FIN,
     the passive close's) and, once closed, disconnected (a connect to AF_UNSPEC: nothing is sent, the local
     port is let go) instead of closed; the next FIN probe of its family connects it instead of opening a
     socket: no socket() and no close(), the allocation and release of a socket and its file. Never in the
     epoll set while spare. spare[0] IPv4, spare[1] IPv6. reuse is copied from reuse_cfg each turn. */
  int *spare[2];
  uint32_t spare_n[2];
  bool reuse;
  double reused; /* probes that connected a spare socket (published in stats) */
  tcp_cmd *work; /* the commands being applied (swapped with `cmds`) */
  uint32_t work_cap;
  bool stop_seen;
  int tid; /* the engine thread's id (gettid), published as it starts: tcpProberNice sets its priority */

  /* ---- shared, under mu ---- */
  pthread_mutex_t mu;
  tcp_cmd *cmds;
  uint32_t cmds_n, cmds_cap;
  bool wake_pending; /* the eventfd was written and the engine has not taken the commands yet */
  bool stop;
  tcp_outcome *out;
  uint32_t out_n, out_cap;
  watch *watches; /* by JavaScript's id; reallocated by the engine only, under mu */
  uint32_t nwatches;
  uint32_t limit;
  uint64_t close_after_cfg; /* tcpProberCloseAfter: ns a connected probe's socket stays open (0: closed at once) */
  bool reuse_cfg;           /* tcpProberReuse: FIN probes' sockets are kept spare when their server closed first */
  uint8_t local_errno[LOCAL_ERRNO_MAX]; /* 1: the director's own failure, always delivered, never counted */
  uint32_t nbounds; /* latency histogram of the watches' outcomes (local failures excluded), since last read */
  double bounds_us[MAX_BUCKETS];
  double hist[MAX_BUCKETS + 1];
  double hist_sum_us;
  double hist_count;
  double stats[5]; /* published at each turn: watches queued, watched under way, one-offs under way, skipped, spare sockets reused */

  /* ---- the main thread's ---- */
  bool threaded;     /* the engine runs on its own thread (else on the Node loop: uv poll + timer) */
  pthread_t thread;
  uv_async_t async;  /* the engine has outcomes for JavaScript */
  uv_poll_t poll;    /* loop mode */
  uv_timer_t timer;  /* loop mode */
  uint64_t armed_ns; /* loop mode: deadline the timer is armed for; 0 = not armed */
  napi_ref callback;
  napi_async_context async_context;
  tcp_outcome *taken; /* the queue taken from the engine (swapped with `out`) */
  uint32_t taken_cap;
  double *deliver_buf;
  uint32_t deliver_cap;
  uint32_t *js_epoch; /* per watch id: its incarnation */
  uint8_t *js_used;
  uint32_t js_nwatches;
  uint32_t *oneoff_epoch; /* per one-off id */
  uint8_t *oneoff_pending; /* 1: started, its outcome not yet delivered */
  uint32_t *oneoff_free;
  uint32_t noneoff, noneoff_free, oneoff_cap;
  uint32_t *done; /* one-off ids delivered in this call: freed after it (a probe started from it cannot reuse one) */
  uint32_t done_cap;
  uint32_t oneoffs_pending;
  bool delivering;
  bool closing;
  bool poll_dead; /* loop mode: the epoll fd cannot be polled again: the timer wakes every 10 ms */
  int handles_open;
  bool finalized;
  napi_async_cleanup_hook_handle cleanup_hook;
} tcp_prober;

/* tcp_deadline.c: the deadline heap */
void lvsd_tcp_deadline_push(tcp_prober *p, uint32_t id);
void lvsd_tcp_deadline_remove(tcp_prober *p, uint32_t id);

/* tcp_probe.c: the engine */
uint64_t lvsd_tcp_now_ns(void);
/* One turn of the engine: the completions in ev[0..k) (k < 0: read the epoll set for them), the commands queued, the
   deadlines passed, the watches due; folds and queues the outcomes. Returns the next deadline or turn
   (CLOCK_MONOTONIC ns), 0 when there is none. */
uint64_t lvsd_tcp_turn(tcp_prober *p, const struct epoll_event *ev, int k);
/* tcp_socket.c: where a probe's socket comes from and goes */
/* A kept socket (close: reset) of the family, or a new one registered for good; -1 when there is none to keep. */
int lvsd_tcp_kept_socket(tcp_prober *p, int family);
/* The end of a probe on a kept socket: disconnected (RST when established) and kept, or closed. */
void lvsd_tcp_end_kept(tcp_prober *p, int fd, bool v6);
/* A probe that connected inside connect(): its socket held close_after_ns, then closed or kept spare. */
void lvsd_tcp_close_connected(tcp_prober *p, int fd, bool v6, uint64_t at);
/* A spare socket of the family (FIN probes), or -1 when there is none. */
int lvsd_tcp_spare_socket(tcp_prober *p, bool v6);
/* A probe's socket at its end: a kept one disconnected and kept, any other closed. */
void lvsd_tcp_end_socket(tcp_prober *p, probe_slot *s);
/* Closes the sockets held after connecting whose hold is over, or keeps them spare (every one closed with
   `all`: the prober closing). */
void lvsd_tcp_close_held(tcp_prober *p, bool all);
/* Closes the spare sockets. */
void lvsd_tcp_close_spare(tcp_prober *p);
/* Opens and connects a socket; returns the slot id, or -1 with *done set: 0 connected at once, else errno, and
   *latency_us the connect's time when the handshake settled inside it (0 when connect() itself failed) and
   *at when it ended (the clock read once for both).
   try_settle: ask the socket after connect() whether the handshake has ended (one connect() more). */
int64_t lvsd_tcp_start(tcp_prober *p, const tcp_addr *addr, uint32_t timeout_ms, bool reset, bool try_settle, int *done, double *latency_us, uint64_t *at);
/* Close a probe under way without an outcome. */
void lvsd_tcp_drop(tcp_prober *p, uint32_t id);
/* An outcome to fold at the end of this turn; false when out of memory (it is lost). */
bool lvsd_tcp_fold_later(tcp_prober *p, bool watch, uint32_t id, uint32_t epoch, int err, double latency_us, uint64_t at);
bool lvsd_tcp_grow(tcp_prober *p);

/* tcp_watch.c: periodic checks (the engine's side) */
void lvsd_tcp_run_turns(tcp_prober *p);
uint64_t lvsd_tcp_first_turn(tcp_prober *p); /* 0: none */
/* CMD_WATCH, CMD_UNWATCH, CMD_NEXT */
void lvsd_tcp_watch_command(tcp_prober *p, const tcp_cmd *c);
/* Under mu: a watch's outcome folded into its run and counters; queued for JavaScript when it can change something. */
void lvsd_tcp_watch_outcome(tcp_prober *p, uint32_t w, int err, double latency_us, uint64_t at);
/* Under mu: room for one more outcome for JavaScript, or NULL when out of memory. */
tcp_outcome *lvsd_tcp_next_out(tcp_prober *p);

/* tcp_runner.c: where the engine runs, and delivery */
/* Start the engine on its own thread (mode 0), on the Node loop (mode 1), or as if the thread could not
   be created (mode 2: tests); a thread that cannot be created falls back to the loop. 0 or -errno. */
int lvsd_tcp_run(tcp_prober *p, uv_loop_t *loop, int mode);
/* Stop the engine: the thread joined, or the loop's poll and timer stopped. */
void lvsd_tcp_stop(tcp_prober *p);
/* Loop mode: one turn now (a one-off probe starts when asked, as a thread would start it). */
void lvsd_tcp_kick(tcp_prober *p);
/* Queue a command (main thread) and wake the engine; false when out of memory. */
bool lvsd_tcp_command(tcp_prober *p, const tcp_cmd *c);

/* tcp_prober.c: lifetime */
void lvsd_tcp_begin_close(tcp_prober *p, bool from_js);
void lvsd_tcp_handle_closed(uv_handle_t *handle);
tcp_prober *lvsd_tcp_unwrap(napi_env env, napi_value v);
napi_value lvsd_tcp_open(napi_env env, napi_value callback, int mode);

/* tcp_probe_api.c: an address Buffer (4 or 16 bytes) and a port; false after throwing. */
bool lvsd_tcp_addr_arg(napi_env env, napi_value addr_v, napi_value port_v, tcp_addr *addr);
/* The JavaScript handle's prober and argv (NULL unless there are `want` arguments). */
tcp_prober *lvsd_tcp_handle_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv);

#endif
