#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

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
