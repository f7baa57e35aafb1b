#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

napi_value lvsd_errno_error(napi_env env, const char *syscall, int err, const char *what) {
  char text[256];
  if (what != NULL && what[0] != '\0')
    snprintf(text, sizeof text, "%s (%s): %s", syscall, what, strerror(err));
  else
    snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_value msg, error, num, sys;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "syscall", sys);
  return error;
}

void lvsd_throw_errno(napi_env env, const char *syscall, int err, const char *what) {
  napi_throw(env, lvsd_errno_error(env, syscall, err, what));
}

void lvsd_throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
}

bool lvsd_arg_u32(napi_env env, napi_value v, uint32_t *out) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    lvsd_throw_type(env, "expected a number");
    return false;
  }
  return true;
}

bool lvsd_arg_ms(napi_env env, napi_value v, const char *name, double min, double max, bool allow_nan, double *out) {
  napi_valuetype t;
  double d;
  char message[160];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok) {
    snprintf(message, sizeof message, "%s must be a number (milliseconds)", name);
    lvsd_throw_type(env, message);
    return false;
  }
  if (isnan(d) && allow_nan) {
    *out = d;
    return true;
  }
  if (!(d >= min && d <= max)) { /* NaN, infinities and what is out of range */
    char value[32]; /* as JavaScript writes it */
    if (isnan(d)) snprintf(value, sizeof value, "NaN");
    else if (isinf(d)) snprintf(value, sizeof value, "%sInfinity", d < 0 ? "-" : "");
    else snprintf(value, sizeof value, "%.17g", d);
    snprintf(message, sizeof message, "%s must be a finite number of milliseconds from %.15g to %.15g, not %s", name, min, max, value);
    napi_throw_range_error(env, NULL, message);
    return false;
  }
  *out = d;
  return true;
}

bool lvsd_arg_ms_u32(napi_env env, napi_value v, const char *name, uint32_t min, uint32_t *out) {
  double d;
  if (!lvsd_arg_ms(env, v, name, (double)min, (double)UINT32_MAX, false, &d)) return false;
  *out = (uint32_t)d;
  return true;
}

bool lvsd_arg_bool(napi_env env, napi_value v, bool *out) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    lvsd_throw_type(env, "expected a boolean");
    return false;
  }
  return true;
}

bool lvsd_arg_ifname(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    lvsd_throw_type(env, "expected an interface name");
    return false;
  }
  if (len == 0 || len >= size) {
    lvsd_throw_type(env, "interface name is empty or too long");
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, size, &len);
  return true;
}

bool lvsd_arg_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is = false;
  napi_is_buffer(env, v, &is);
  if (!is || napi_get_buffer_info(env, v, data, len) != napi_ok) {
    lvsd_throw_type(env, "expected a Buffer");
    return false;
  }
  return true;
}

bool lvsd_arg_opt_address(napi_env env, napi_value v, size_t len, void **data) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) {
    *data = NULL;
    return true;
  }
  size_t got = 0;
  if (!lvsd_arg_buffer(env, v, data, &got)) return false;
  if (got != len) {
    lvsd_throw_type(env, "address Buffer has the wrong length");
    return false;
  }
  return true;
}

bool lvsd_setsockopt_int(napi_env env, int fd, int level, int name, int value, const char *optname) {
  if (setsockopt(fd, level, name, &value, sizeof value) < 0) {
    lvsd_throw_errno(env, "setsockopt", errno, optname);
    return false;
  }
  return true;
}

void lvsd_call_js(napi_env env, napi_ref ref, napi_async_context context, size_t argc, napi_value *argv) {
  napi_value cb, recv, result;
  if (ref == NULL || napi_get_reference_value(env, ref, &cb) != napi_ok || cb == NULL) return;
  /* node::MakeCallback needs an object receiver: the global object. */
  napi_get_global(env, &recv);
  napi_make_callback(env, context, recv, cb, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

void lvsd_async_init(napi_env env, napi_value callback, const char *name, napi_ref *ref, napi_async_context *context,
                     napi_async_cleanup_hook hook, void *arg, napi_async_cleanup_hook_handle *hook_handle) {
  napi_create_reference(env, callback, 1, ref);
  napi_value resource, resource_name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, resource, resource_name, context);
  napi_add_async_cleanup_hook(env, hook, arg, hook_handle);
}

void lvsd_async_release(napi_env env, napi_ref *ref, napi_async_context *context) {
  if (*ref != NULL) napi_delete_reference(env, *ref);
  *ref = NULL;
  if (*context != NULL) napi_async_destroy(env, *context);
  *context = NULL;
}

void *lvsd_unwrap(napi_env env, napi_value v, const char *message) {
  void *data = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    lvsd_throw_type(env, message);
    return NULL;
  }
  return data;
}

void lvsd_set_rcvbuf(int fd, int size) {
  if (size <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

int lvsd_so_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
  return err;
}

/* ---- a socket polled on the event loop ---- */

#define MAX_IDLE_ERROR_WAKES 16 /* POLLERR wakes in a row with no error, nothing queued and nothing read */
#define MAX_ERRQUEUE_READS 64

static void polled_handle_closed(uv_handle_t *handle) {
  lvsd_polled *h = handle->data;
  h->handle_closed = true;
  if (h->cleanup_hook != NULL) napi_remove_async_cleanup_hook(h->cleanup_hook);
  h->cleanup_hook = NULL;
  if (h->finalized) free(h);
}

/* `from_js` says JS state (references, async context) may still be released. */
static void polled_begin_close(lvsd_polled *h, bool from_js) {
  if (h->closing) return;
  h->closing = true;
  if (h->before_close != NULL) h->before_close(h);
  /* Once polling stopped the fd can go at once, even if the loop never runs the close callback again
     (a worker thread being torn down). */
  uv_poll_stop(&h->poll);
  close(h->fd);
  h->fd = -1;
  if (from_js) lvsd_async_release(h->env, &h->callback, &h->async_context);
  uv_close((uv_handle_t *)&h->poll, polled_handle_closed);
}

/* Environment teardown: close; polled_handle_closed then tells Node we are done. */
static void polled_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle; /* the same handle we registered, removed in polled_handle_closed */
  polled_begin_close(arg, false);
}

static void polled_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  lvsd_polled *h = data;
  h->finalized = true;
  if (!h->closing) polled_begin_close(h, true);
  else if (h->handle_closed) free(h);
}

napi_value lvsd_polled_start(napi_env env, lvsd_polled *h, int fd, napi_value callback, const char *name,
                             uv_poll_cb on_poll, bool ref) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    free(h);
    lvsd_throw_type(env, "no event loop");
    return NULL;
  }
  if (h == NULL) {
    close(fd);
    lvsd_throw_errno(env, "calloc", ENOMEM, NULL);
    return NULL;
  }
  h->env = env;
  h->fd = fd;
  h->on_poll = on_poll;
  int rc = uv_poll_init(loop, &h->poll, fd);
  if (rc < 0) {
    close(fd);
    free(h);
    lvsd_throw_errno(env, "uv_poll_init", -rc, NULL);
    return NULL;
  }
  h->poll.data = h;
  lvsd_async_init(env, callback, name, &h->callback, &h->async_context, polled_env_cleanup, h, &h->cleanup_hook);
  rc = uv_poll_start(&h->poll, UV_READABLE, on_poll);
  if (!ref) uv_unref((uv_handle_t *)&h->poll);
  napi_value handle;
  napi_create_external(env, h, polled_finalize, NULL, &handle);
  if (rc < 0) {
    polled_begin_close(h, true);
    lvsd_throw_errno(env, "uv_poll_start", -rc, NULL);
    return NULL;
  }
  return handle;
}

void lvsd_polled_close(lvsd_polled *h) {
  polled_begin_close(h, true);
}

void lvsd_polled_call(lvsd_polled *h, size_t argc, napi_value *argv) {
  lvsd_call_js(h->env, h->callback, h->async_context, argc, argv);
}

void lvsd_polled_stop(lvsd_polled *h, napi_value error) {
  uv_poll_stop(&h->poll);
  napi_value yes;
  napi_get_boolean(h->env, true, &yes);
  napi_set_named_property(h->env, error, "stopped", yes);
}

/* Drain the error queue; returns how many entries were dropped. */
static int drain_error_queue(int fd) {
  uint8_t buf[512];
  uint8_t control[512];
  int drained = 0;
  for (int i = 0; i < MAX_ERRQUEUE_READS; i++) {
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    drained++;
  }
  return drained;
}

napi_value lvsd_polled_pending_error(lvsd_polled *h, const char *syscall, bool drain_errqueue, bool *progress,
                                     bool *stopped) {
  int err = lvsd_so_error(h->fd);
  if (err < 0) {
    napi_value error = lvsd_errno_error(h->env, "getsockopt", -err, "SO_ERROR");
    lvsd_polled_stop(h, error);
    *stopped = true;
    return error;
  }
  if (drain_errqueue && drain_error_queue(h->fd) > 0) *progress = true;
  if (err == 0) return NULL;
  *progress = true;
  return lvsd_errno_error(h->env, syscall, err, NULL);
}

napi_value lvsd_polled_rearm(lvsd_polled *h, int status, bool progress, bool stopped) {
  if (status >= 0) {
    h->idle_error_wakes = 0;
    return NULL;
  }
  if (h->closing || stopped) return NULL; /* stopped: its error is already on its way */
  h->idle_error_wakes = progress ? 0 : h->idle_error_wakes + 1;
  napi_value error = NULL;
  if (h->idle_error_wakes >= MAX_IDLE_ERROR_WAKES) {
    error = lvsd_errno_error(h->env, "uv_poll", -status, "socket keeps failing");
  } else {
    int rc = uv_poll_start(&h->poll, UV_READABLE, h->on_poll);
    if (rc < 0) error = lvsd_errno_error(h->env, "uv_poll_start", -rc, NULL);
  }
  /* Cannot be brought back: say so (JavaScript opens a new socket), never carry on deaf in silence. */
  if (error != NULL) lvsd_polled_stop(h, error);
  return error;
}

napi_value lvsd_polled_close_call(napi_env env, napi_callback_info info, const char *bad_handle) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  lvsd_polled *h = argc < 1 ? NULL : lvsd_unwrap(env, argv[0], bad_handle);
  if (h != NULL) lvsd_polled_close(h);
  return NULL;
}

napi_value lvsd_polled_ref_call(napi_env env, napi_callback_info info, const char *bad_handle) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ref;
  lvsd_polled *h = argc < 2 ? NULL : lvsd_unwrap(env, argv[0], bad_handle);
  if (h == NULL || !lvsd_arg_bool(env, argv[1], &ref)) return NULL;
  if (!h->closing) {
    if (ref) uv_ref((uv_handle_t *)&h->poll);
    else uv_unref((uv_handle_t *)&h->poll);
  }
  return NULL;
}

void lvsd_batch_init(lvsd_batch *b, napi_env env) {
  b->env = env;
  b->count = 0;
  napi_create_array(env, &b->items);
}

void lvsd_batch_push(lvsd_batch *b, napi_value item) {
  if (item != NULL) napi_set_element(b->env, b->items, b->count++, item);
}
