/*
 * Small helpers shared by the addon's C files: argument reading, errno errors, and the plumbing of a socket
 * read on the Node event loop with a uv_poll_t (lifetime, POLLERR recovery, batch delivery to JavaScript).
 * Errors thrown to JavaScript are plain Error objects with `errno` (positive number) and `syscall`
 * properties; src/net/native.ts turns them into LvsdError with the errno's name.
 */
#ifndef LVSD_UTIL_H
#define LVSD_UTIL_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Throw an Error carrying errno and syscall; `what` (may be NULL) names the object, e.g. the interface. */
void lvsd_throw_errno(napi_env env, const char *syscall, int err, const char *what);
/* Build (without throwing) the same kind of Error. */
napi_value lvsd_errno_error(napi_env env, const char *syscall, int err, const char *what);
/* Throw a TypeError for a bad argument. */
void lvsd_throw_type(napi_env env, const char *message);

/* Argument readers: return false after throwing a TypeError. */
bool lvsd_arg_u32(napi_env env, napi_value v, uint32_t *out);
bool lvsd_arg_bool(napi_env env, napi_value v, bool *out);
bool lvsd_arg_ifname(napi_env env, napi_value v, char *buf, size_t size);
bool lvsd_arg_buffer(napi_env env, napi_value v, void **data, size_t *len);
/*
 * A duration or a time in milliseconds for the argument `name`: a TypeError naming it when `v` is not a
 * number, a RangeError naming it and the value when it is not finite or outside [min, max] (NaN passes,
 * unchanged, when `allow_nan`: "keep"). What reaches C is then safe to scale to int64 nanoseconds, which
 * a NaN, an infinity or a value past ~9.2e12 ms is not (undefined behaviour in the cast).
 */
bool lvsd_arg_ms(napi_env env, napi_value v, const char *name, double min, double max, bool allow_nan, double *out);
/* The same for a whole number of milliseconds held in a uint32 (a fraction is dropped, as before): [min, 2^32-1]. */
bool lvsd_arg_ms_u32(napi_env env, napi_value v, const char *name, uint32_t min, uint32_t *out);
/* The most milliseconds any time or duration given to the addon may be: 1e12 (~31.7 years; x 1e6 fits int64). */
#define LVSD_MS_MAX 1e12
/* A Buffer of exactly `len` bytes, or null/undefined (then *data = NULL). */
bool lvsd_arg_opt_address(napi_env env, napi_value v, size_t len, void **data);

/* Call a JS callback held by `ref` from a libuv callback (node::MakeCallback semantics, the global object as
   receiver); an exception it throws is reported as uncaught, as an event emitter's listener would be. */
void lvsd_call_js(napi_env env, napi_ref ref, napi_async_context context, size_t argc, napi_value *argv);
/* The JS side of a polled handle: a reference to `callback`, an async context named `name`, and the
   environment cleanup hook (so teardown waits for the uv handles to close). */
void lvsd_async_init(napi_env env, napi_value callback, const char *name, napi_ref *ref, napi_async_context *context,
                     napi_async_cleanup_hook hook, void *arg, napi_async_cleanup_hook_handle *hook_handle);

/* Set an integer socket option, throwing on failure (returns false). */
bool lvsd_setsockopt_int(napi_env env, int fd, int level, int name, int value, const char *optname);

/* Release what lvsd_async_init took (the callback reference and the async context); idempotent. */
void lvsd_async_release(napi_env env, napi_ref *ref, napi_async_context *context);

/* The pointer held by a handle External, or NULL after throwing a TypeError with `message`. */
void *lvsd_unwrap(napi_env env, napi_value v, const char *message);

/* Receive buffer of `size` bytes (nothing when size <= 0): SO_RCVBUFFORCE (CAP_NET_ADMIN, beyond
   net.core.rmem_max), else SO_RCVBUF (capped by it). Best effort: never fails. */
void lvsd_set_rcvbuf(int fd, int size);

/* The socket's pending error, read with SO_ERROR (which clears it): 0 when none, -errno when getsockopt
   itself fails (the fd is no longer a socket). */
int lvsd_so_error(int fd);

/*
 * A socket read on the event loop with a uv_poll_t. Embed it as the FIRST member of a struct allocated with
 * calloc: the struct is freed with free() once both the uv handle is closed and the JS External is gone.
 * Its lifetime: JS closes it (lvsd_polled_close), or GC does (the External's finalizer), or environment
 * teardown does (the async cleanup hook: a worker thread ending waits for the handle to close).
 */
typedef struct lvsd_polled {
  napi_env env;
  int fd; /* -1 once closed */
  uv_poll_t poll;
  uv_poll_cb on_poll;
  napi_ref callback;
  napi_async_context async_context;
  int idle_error_wakes;
  bool closing;       /* close requested (by JS, GC or env teardown) */
  bool handle_closed; /* uv_close callback ran */
  bool finalized;     /* the JS External is gone */
  napi_async_cleanup_hook_handle cleanup_hook;
  /* Called once, on the loop's thread, before the fd is closed (by JS, GC or teardown): what another thread
     holds of the fd is let go of here (the VRRP advert clock, vrrp_clock.c), so it never sends on a closed
     or reused descriptor. NULL: nothing. */
  void (*before_close)(struct lvsd_polled *h);
} lvsd_polled;

/* Poll `fd` (open, configured) for `h` (zeroed, NULL if its allocation failed) and call `on_poll` when it is
   readable; `callback` is the JS function lvsd_polled_call calls, `name` names its async resource; `ref`
   false: the handle does not keep the loop alive. Returns the JS handle (an External), or NULL after
   throwing, with fd closed and h freed. */
napi_value lvsd_polled_start(napi_env env, lvsd_polled *h, int fd, napi_value callback, const char *name,
                             uv_poll_cb on_poll, bool ref);
/* Stop polling, close the fd and the handle (idempotent); JS state is released. */
void lvsd_polled_close(lvsd_polled *h);
/* Call the JS callback with argv (from a libuv callback, inside a handle scope). */
void lvsd_polled_call(lvsd_polled *h, size_t argc, napi_value *argv);

/* A POLLERR wake (on_poll status < 0: libuv stopped the poll and reports EBADF). Takes the pending socket
   error and, with `drain_errqueue`, discards what waits in the error queue (IP sockets with *_RECVERR,
   whose queued entry would wake a restarted poll at once; never netlink, where MSG_ERRQUEUE reads a
   datagram). Returns the pending error as an Error value named `syscall`, or NULL when there is none;
   *progress is set when there was one or something was drained. If the fd is no longer a socket (polling
   it again would make libuv abort in epoll_ctl) it returns the getsockopt Error already stopped
   (lvsd_polled_stop) and sets *stopped: deliver it, read nothing. */
napi_value lvsd_polled_pending_error(lvsd_polled *h, const char *syscall, bool drain_errqueue, bool *progress,
                                     bool *stopped);
/* The end of every wake, after reading. After a POLLERR wake the poll is started again, unless the socket
   is closing or `stopped` (already reported); when it cannot be (16 POLLERR wakes in a row without `progress`: "uv_poll ...
   socket keeps failing", or uv_poll_start failing) the stopping Error is returned (stopped, to deliver).
   NULL otherwise. A normal wake resets the count. */
napi_value lvsd_polled_rearm(lvsd_polled *h, int status, bool progress, bool stopped);
/* The socket cannot be read again: stop polling and mark `error` with `stopped: true` (JavaScript then
   closes it and opens another). */
void lvsd_polled_stop(lvsd_polled *h, napi_value error);

/* Bodies of the xxxClose(handle) and xxxRef(handle, ref: boolean) functions of a polled socket;
   `bad_handle` is the TypeError message for a wrong handle. Ref: whether an open socket keeps the loop alive. */
napi_value lvsd_polled_close_call(napi_env env, napi_callback_info info, const char *bad_handle);
napi_value lvsd_polled_ref_call(napi_env env, napi_callback_info info, const char *bad_handle);

/* Items gathered in one wake, delivered to JavaScript in one call as an Array (Buffers and Error values). */
typedef struct lvsd_batch {
  napi_env env;
  napi_value items;
  uint32_t count;
} lvsd_batch;
void lvsd_batch_init(lvsd_batch *b, napi_env env);
/* Append `item` (NULL: nothing). */
void lvsd_batch_push(lvsd_batch *b, napi_value item);

#endif
