/*
 * A signal heard on the calling thread's own event loop: signalWatch(signum, cb) -> handle. libuv hands a
 * process signal to every uv_signal_t watching it, whatever loop it is on, so a worker thread hears
 * SIGTERM itself, as soon as it is delivered, and not only once the main thread's JavaScript gets to it
 * (node lets only the main thread's `process.on`). The VRRP thread uses it to hand over at once on SIGTERM
 * (src/vrrp/worker.ts): a busy or badly scheduled main thread no longer delays the priority-0 advert and
 * the VIPs' release. The handle does not keep the loop alive; it ends with signalWatchClose, the handle's
 * collection or the thread's teardown (which waits for it to close).
 */
#include "signal_watch.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "util.h"

#define BAD_HANDLE "expected a signal watch handle"

typedef struct sigwatch {
  napi_env env;
  uv_signal_t signal;
  napi_ref callback;
  napi_async_context async_context;
  bool closing, handle_closed, finalized;
  napi_async_cleanup_hook_handle cleanup_hook;
} sigwatch;

static void closed(uv_handle_t *handle) {
  sigwatch *w = handle->data;
  w->handle_closed = true;
  if (w->cleanup_hook != NULL) napi_remove_async_cleanup_hook(w->cleanup_hook);
  w->cleanup_hook = NULL;
  if (w->finalized) free(w);
}

static void begin_close(sigwatch *w, bool from_js) {
  if (w->closing) return;
  w->closing = true;
  uv_signal_stop(&w->signal);
  if (from_js) lvsd_async_release(w->env, &w->callback, &w->async_context);
  uv_close((uv_handle_t *)&w->signal, closed);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  begin_close(arg, false);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sigwatch *w = data;
  w->finalized = true;
  if (!w->closing) begin_close(w, true);
  else if (w->handle_closed) free(w);
}

static void on_signal(uv_signal_t *handle, int signum) {
  sigwatch *w = handle->data;
  if (w->closing) return;
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  napi_value argv[1];
  napi_create_int32(w->env, signum, &argv[0]);
  lvsd_call_js(w->env, w->callback, w->async_context, 1, argv);
  napi_close_handle_scope(w->env, scope);
}

/* signalWatch(signum: number, callback: (signum) => void) -> handle */
napi_value lvsd_signal_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t signum;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (argc < 2 || !lvsd_arg_u32(env, argv[0], &signum) || t != napi_function) {
    if (argc < 2 || t != napi_function) lvsd_throw_type(env, "signalWatch(signum, callback)");
    return NULL;
  }
  if (signum < 1 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP) {
    napi_throw_range_error(env, NULL, "signum must be a signal that can be caught");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  sigwatch *w = calloc(1, sizeof *w);
  if (w == NULL) {
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  w->env = env;
  int rc = uv_signal_init(loop, &w->signal);
  if (rc < 0) {
    free(w);
    lvsd_throw_errno(env, "uv_signal_init", -rc, NULL);
    return NULL;
  }
  w->signal.data = w;
  lvsd_async_init(env, argv[1], "lvsd.signal", &w->callback, &w->async_context, env_cleanup, w, &w->cleanup_hook);
  rc = uv_signal_start(&w->signal, on_signal, (int)signum);
  uv_unref((uv_handle_t *)&w->signal);
  napi_value handle;
  napi_create_external(env, w, finalize, NULL, &handle);
  if (rc < 0) {
    begin_close(w, true);
    lvsd_throw_errno(env, "uv_signal_start", -rc, NULL);
    return NULL;
  }
  return handle;
}

/* signalWatchClose(handle): no more calls (idempotent). */
napi_value lvsd_signal_watch_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sigwatch *w = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], BAD_HANDLE);
  if (w != NULL) begin_close(w, true);
  return NULL;
}
